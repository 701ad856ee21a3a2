"""Structure colours: the packaged ``colours.json`` (or a user's), its patterns, and the fallback palette.

A structure's colour comes from its source when the source has one (observers are told apart), from
the source's own version of the structure (the DL CTV and the DL rectum differ), as a shade of a base
source's colour for numbered sources (the ten folds), else from the structure name; names nothing
matches get a palette colour of a stable hash. Edited structures take the edit colours in turn.
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import logging
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..io.small_files import TABLE_MAX_BYTES, read_json_file

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class ColourTable:
    """Parsed ``colours.json``: exact (lower-case) names, glob patterns and the fallback palette."""

    structures: dict[str, RGB]
    structure_patterns: list[tuple[str, RGB]]
    halos: dict[str, RGB]
    halo_patterns: list[tuple[str, RGB]]
    sources: dict[str, RGB | None]
    source_patterns: list[tuple[str, RGB | None]]
    palette: list[RGB]
    source_structures: dict[tuple[str, str], RGB] = field(default_factory=dict)
    """(lower-case source, lower-case structure) -> colour of that source's version of the structure."""
    graded_sources: list[tuple[str, str]] = field(default_factory=list)
    """(source pattern, base source): numbered sources shaded from the base source's colour."""
    edits: list[RGB] = field(default_factory=list)
    """Outline colours of edited structures, in the order they are opened."""


def _rgb(v) -> RGB | None:
    if v is None:
        return None
    if len(v) != 3 or not all(0 <= int(c) <= 255 for c in v):
        raise ValueError(f"bad colour {v!r}: expected three integers 0-255")
    return (int(v[0]), int(v[1]), int(v[2]))


def _split(section: dict) -> tuple[dict, list]:
    exact, patterns = {}, []
    for key, val in section.items():
        if any(ch in key for ch in "*?["):
            # File order is kept: the first matching pattern wins.
            patterns.append((key.lower(), _rgb(val)))
        else:
            exact[key.lower()] = _rgb(val)
    return exact, patterns


def _default_path():
    try:
        return importlib.resources.files("lundprobe_gui.resources") / "colours.json"
    except ModuleNotFoundError:
        # Running from a source tree that was never installed.
        return Path(__file__).resolve().parents[2] / "resources" / "colours.json"


@lru_cache(maxsize=4)
def load_colour_table(path: str | None = None) -> ColourTable:
    """Read a colour table (the packaged ``colours.json`` by default).

    Parameters
    ----------
    path : str, optional
        JSON file; see the ``_about`` entry of the packaged file for the format.

    Returns
    -------
    ColourTable
        Cached per path.
    """
    src = Path(path) if path is not None else _default_path()
    data = read_json_file(src, TABLE_MAX_BYTES, "colour table")
    structures, structure_patterns = _split(data.get("structures", {}))
    halos, halo_patterns = _split(data.get("halos", {}))
    sources, source_patterns = _split(data.get("sources", {}))
    palette = [_rgb(c) for c in data.get("palette", [])]
    if not palette:
        raise ValueError(f"{src}: the palette must hold at least one colour")
    source_structures = {
        (src_name.lower(), name.lower()): _rgb(c)
        for src_name, names in data.get("source_structures", {}).items()
        for name, c in names.items()
    }
    graded = [(k.lower(), str(v)) for k, v in data.get("graded_sources", {}).items()]
    edits = [_rgb(c) for c in data.get("edits", [])] or [(0, 255, 255)]
    log.debug("loaded %d structure and %d source colours from %s", len(structures), len(sources), src)
    return ColourTable(
        structures,
        structure_patterns,
        halos,
        halo_patterns,
        sources,
        source_patterns,
        palette,  # type: ignore[arg-type]
        source_structures,  # type: ignore[arg-type]
        graded,
        edits,  # type: ignore[arg-type]
    )


_MISSING = object()


def _lookup(exact: dict, patterns: list, name: str):
    key = name.strip().lower()
    if key in exact:
        return exact[key]
    for pattern, val in patterns:
        if fnmatch.fnmatchcase(key, pattern):
            return val
    return _MISSING


def palette_colour(name: str, table: ColourTable | None = None) -> RGB:
    """Deterministic palette colour for a name the table does not know.

    Parameters
    ----------
    name : str
        Structure or source name (case and surrounding spaces ignored).
    table : ColourTable, optional
        Defaults to the packaged table.

    Returns
    -------
    tuple of int
        RGB; the same on every run and machine (CRC-32, not Python's salted ``hash``).
    """
    table = table or load_colour_table()
    return table.palette[zlib.crc32(name.strip().lower().encode("utf-8")) % len(table.palette)]


def structure_colour(name: str, source: str | None = None, table: ColourTable | None = None) -> RGB:
    """Display colour of a structure.

    Parameters
    ----------
    name : str
        Structure name, e.g. ``"Bladder"``.
    source : str, optional
        Who drew it (``"step1_obsB"``, ``"nnUNet"``, ``"nnUNet_fold_3"``...). A source with its own colour
        wins, so several observers' versions of one structure are told apart; a source mapped
        to null (``"clinical"``) or None uses the structure colour; an unknown source gets a
        palette colour of its own name.
    table : ColourTable, optional
        Defaults to the packaged table.

    Returns
    -------
    tuple of int
        RGB 0-255.
    """
    table = table or load_colour_table()
    if source:
        own = table.source_structures.get((source.strip().lower(), name.strip().lower()))
        if own is not None:
            return own
        graded = _graded_colour(name, source, table)
        if graded is not None:
            return graded
        col = _lookup(table.sources, table.source_patterns, source)
        if col is _MISSING:
            return palette_colour(source, table)
        if col is not None:
            return col
    col = _lookup(table.structures, table.structure_patterns, name)
    return palette_colour(name, table) if col is _MISSING else col


GRADED_STEPS = 10
"""Shades of a graded set (the ten nnU-Net folds, numbered 0-9)."""


def shade(colour: RGB, i: int, n: int = GRADED_STEPS) -> RGB:
    """The ``i``-th of ``n`` shades of a colour, from half as dark (0) to half way to white (n - 1).

    Parameters
    ----------
    colour : tuple of int
        The base colour.
    i, n : int
        Index and number of shades.

    Returns
    -------
    tuple of int
        RGB 0-255.
    """
    f = (min(max(i, 0), n - 1) / max(n - 1, 1)) - 0.5
    c = np.asarray(colour, float)
    out = c * (1.0 + f) if f < 0 else c + (255.0 - c) * f
    return tuple(int(round(v)) for v in out)  # type: ignore[return-value]


def _graded_colour(name: str, source: str, table: ColourTable) -> RGB | None:
    key = source.strip().lower()
    for pattern, base in table.graded_sources:
        if fnmatch.fnmatchcase(key, pattern):
            number = re.search(r"(\d+)$", key)  # "nnunet_fold_3" is shade 3
            return None if number is None else shade(structure_colour(name, base, table), int(number.group(1)))
    return None


def edit_colour(i: int, table: ColourTable | None = None) -> RGB:
    """Outline colour of the ``i``-th structure opened for editing (the edit palette repeats)."""
    table = table or load_colour_table()
    return table.edits[i % len(table.edits)]


def structure_halo_colour(name: str, table: ColourTable | None = None) -> RGB | None:
    """Colour of a 1-pixel ring drawn around a structure, or None.

    Dark markers such as fiducials are invisible on dark MRI without it.

    Parameters
    ----------
    name : str
        Structure name.
    table : ColourTable, optional
        Defaults to the packaged table.

    Returns
    -------
    tuple of int or None
        RGB of the halo.
    """
    table = table or load_colour_table()
    col = _lookup(table.halos, table.halo_patterns, name)
    return None if col is _MISSING else col
