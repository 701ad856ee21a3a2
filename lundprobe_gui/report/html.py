"""``report.html``: one self-contained page (no external file, script or font) with the figures, tables and text.

Figures are embedded as PNG data URIs; every text taken from the data (names, comments, question
wording) is HTML-escaped. The per-case tables stay in the CSV files beside the page; the page
shows the summaries and names the files.
"""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
p.meta { color: #555; font-size: 0.9em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } td.t { text-align: left; }
.note { color: #a33; }
"""


def _cell(v: Any) -> tuple[str, bool]:
    """(text, is_text) of a table cell: numbers to 3 significant digits, None as a dash."""
    if v is None or v == "":
        return "\u2013", False
    if isinstance(v, bool):
        return ("yes" if v else "no"), True
    if isinstance(v, int):
        return str(v), False
    if isinstance(v, float):
        if v != 0 and (abs(v) < 0.001 or abs(v) >= 1e5):
            return f"{v:.3g}", False
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}", False
    return str(v), True


def table_html(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], limit: int = 400) -> str:
    """An HTML table of ``rows`` (at most ``limit`` rows; the CSV file has them all)."""
    if not rows:
        return "<p><em>No rows.</em></p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows[:limit]:
        cells = []
        for c in columns:
            text, is_text = _cell(r.get(c))
            cls = ' class="t"' if is_text else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p><em>{len(rows) - limit} more rows in the CSV file.</em></p>" if len(rows) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def figure_html(png: bytes, caption: str, stem: str) -> str:
    """A figure as an embedded PNG with its caption and the names of its files."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)} (<code>{html.escape(stem)}.png</code>, "
        f"<code>{html.escape(stem)}.svg</code>)</figcaption></figure>"
    )


def page(
    title: str,
    meta: str,
    paragraphs: Sequence[tuple[str, str]],
    figures: Sequence[tuple[str, str, bytes]],
    tables: Sequence[tuple[str, str, Sequence[Mapping[str, Any]], Sequence[str]]],
    files: Sequence[str],
    notes: Sequence[str] = (),
) -> str:
    """The whole page.

    Parameters
    ----------
    title, meta : str
        Heading and the line under it.
    paragraphs : sequence of (heading, text)
        Methods and results.
    figures : sequence of (stem, caption, png bytes)
    tables : sequence of (heading, file name, rows, columns)
    files : sequence of str
        Every file the report wrote.
    notes : sequence of str
        Warnings to show (patients left out...).
    """
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(meta)}</p>',
    ]
    for heading, text in paragraphs:
        out.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(text)}</p>")
    if notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f'<li class="note">{html.escape(n)}</li>' for n in notes) + "</ul>")
    out.append("<h2>Figures</h2>")
    out.extend(figure_html(png, caption, stem) for stem, caption, png in figures)
    out.append("<h2>Tables</h2>")
    for heading, name, rows, columns in tables:
        out.append(f"<h3>{html.escape(heading)} <small>(<code>{html.escape(name)}</code>)</small></h3>")
        out.append(table_html(rows, columns))
    out.append("<h2>Files</h2><ul>" + "".join(f"<li><code>{html.escape(f)}</code></li>" for f in files) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
