"""Help > About: version, licence and the citations users need."""

from __future__ import annotations

from PySide6 import QtWidgets

from ..version import __version__

CITATIONS = (
    "The LUND-PROBE dataset: please cite the dataset's own publication (see its landing page).",
    "The two-step uncertainty reader study: Rogowski et al., J Appl Clin Med Phys 2025; arXiv:2502.18973.",
)


def about_html() -> str:
    """The About text."""
    cites = "".join(f"<li>{c}</li>" for c in CITATIONS)
    return (
        f"<h3>lundprobe_gui {__version__}</h3>"
        "<p>Review and correct radiotherapy contours: LUND-PROBE, StructSeg and multi-label NIfTI data.</p>"
        "<p>Licence: MIT.</p>"
        f"<p>If you use it, please cite:</p><ul>{cites}</ul>"
    )


class AboutDialog(QtWidgets.QMessageBox):
    """The About box."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About lundprobe_gui")
        self.setText(about_html())
        from .icon import app_icon

        self.setIconPixmap(app_icon().pixmap(64, 64))
