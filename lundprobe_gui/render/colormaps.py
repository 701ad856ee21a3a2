"""Colour scales (dose wash, uncertainty heat map), colour bars and structure colours.

Scales are RGBA uint8 look-up tables built by linear interpolation between colour stops. The
mapping functions apply the transparency cut-offs on the float values themselves, not on LUT
bins, so a dose a hair below the threshold is never drawn however coarse the LUT is.
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import logging
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ..core.patient import LUNDPROBE_PRESCRIPTION_GY
from ..io.small_files import TABLE_MAX_BYTES, read_json_file

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]

DEFAULT_PRESCRIPTION_GY = LUNDPROBE_PRESCRIPTION_GY
DEFAULT_OPACITY = 0.4

DOSE_STOPS: tuple[tuple[float, RGB], ...] = (
    (0.10, (0, 0, 255)),  # blue
    (0.30, (0, 128, 255)),  # light blue
    (0.40, (0, 255, 255)),  # cyan
    (0.60, (0, 255, 0)),  # green
    (0.80, (255, 255, 0)),  # yellow
)
"""Dose wash stops as (fraction of prescription, RGB); red is added at the dose maximum."""
DOSE_MAX_COLOUR: RGB = (255, 0, 0)

UNCERTAINTY_COLOURS: tuple[RGB, ...] = (
    (0, 0, 139),  # dark blue
    (0, 0, 255),  # blue
    (0, 128, 255),  # light blue
    (0, 255, 0),  # green
    (0, 255, 255),  # cyan
    (255, 255, 0),  # yellow
    (255, 0, 0),  # red
)
"""Uncertainty heat map colours, evenly spaced from the low to the high end of the scale."""

# The mapping LUT is finer than the 256-entry display LUT so that colours at the stops are
# exact to within rounding; the gather costs the same whatever the table size.
_MAP_LUT_SIZE = 4096


# -- generic ramp ------------------------------------------------------------------------------
def _ramp_rgb(positions: Sequence[float], colours: Sequence[RGB], values: np.ndarray) -> np.ndarray:
    """Linear interpolation of RGB stops at ``values`` (clamped at both ends); uint8 (n, 3)."""
    pos = np.asarray(positions, dtype=np.float64)
    cols = np.asarray(colours, dtype=np.float64)
    rgb = np.stack([np.interp(values, pos, cols[:, c]) for c in range(3)], axis=-1)
    return np.floor(rgb + 0.5).astype(np.uint8)


def alpha8(opacity: float) -> int:
    """Opacity 0-1 to an integer alpha 0-255 (rounded, clamped).

    Parameters
    ----------
    opacity : float
        Fraction.

    Returns
    -------
    int
        Alpha.
    """
    return int(round(min(max(float(opacity), 0.0), 1.0) * 255))


def _map_through(values: np.ndarray, lo: float, hi: float, table32: np.ndarray, transparent: np.ndarray) -> np.ndarray:
    """Gather ``table32`` (uint32-packed RGBA over [lo, hi]) at ``values``; zero where ``transparent``."""
    n = table32.shape[0]
    scale = (n - 1) / (hi - lo) if hi > lo else 0.0
    idx = np.subtract(values, np.float32(lo), dtype=np.float32)
    idx *= np.float32(scale)
    idx += np.float32(0.5)
    # NaN would survive the clip and give an arbitrary index; it is transparent anyway.
    np.copyto(idx, 0.0, where=transparent)
    np.clip(idx, 0.0, n - 1, out=idx)
    packed = np.take(table32, idx.astype(np.intp))
    packed[transparent] = 0
    return packed.view(np.uint8).reshape(values.shape + (4,))


def _pack(rgba: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgba, dtype=np.uint8).view(np.uint32).reshape(-1)


# -- dose wash ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DoseWashSettings:
    """How the dose colour wash is drawn.

    Attributes
    ----------
    prescription_gy : float
        Prescribed dose; the colour stops are fractions of it.
    threshold : float
        Fraction of the prescription below which dose is transparent.
    opacity : float
        Alpha of the wash, 0-1.
    """

    prescription_gy: float = DEFAULT_PRESCRIPTION_GY
    threshold: float = 0.10
    opacity: float = DEFAULT_OPACITY


def dose_stops(prescription: float, dose_max: float) -> tuple[list[float], list[RGB]]:
    """Colour stops in Gy for a given prescription and dose maximum.

    Parameters
    ----------
    prescription : float
        Prescribed dose in Gy.
    dose_max : float
        Maximum dose in Gy; red sits here.

    Returns
    -------
    positions : list of float
        Increasing dose values in Gy.
    colours : list of tuple
        RGB at each position.
    """
    pos = [f * prescription for f, _ in DOSE_STOPS if f * prescription < dose_max]
    cols = [c for f, c in DOSE_STOPS if f * prescription < dose_max]
    return pos + [float(dose_max)], cols + [DOSE_MAX_COLOUR]


def dose_colour(dose_gy: float, prescription: float = DEFAULT_PRESCRIPTION_GY, dose_max: float | None = None) -> RGB:
    """RGB of the wash at one dose value (used for isodose line colours).

    Parameters
    ----------
    dose_gy : float
        Dose in Gy.
    prescription : float
        Prescribed dose in Gy.
    dose_max : float, optional
        Dose maximum; defaults to 107 % of the prescription.

    Returns
    -------
    tuple of int
        RGB 0-255.
    """
    dose_max = 1.07 * prescription if dose_max is None else float(dose_max)
    pos, cols = dose_stops(prescription, dose_max)
    return tuple(int(v) for v in _ramp_rgb(pos, cols, np.array([dose_gy]))[0])  # type: ignore[return-value]


def dose_lut(
    prescription: float = DEFAULT_PRESCRIPTION_GY,
    dose_max: float | None = None,
    threshold: float = 0.10,
    opacity: float = DEFAULT_OPACITY,
    n: int = 256,
) -> np.ndarray:
    """RGBA LUT of the dose wash over ``[0, dose_max]`` Gy.

    Parameters
    ----------
    prescription : float
        Prescribed dose in Gy.
    dose_max : float, optional
        Top of the LUT (red); defaults to 107 % of the prescription.
    threshold : float
        Fraction of the prescription below which entries are transparent.
    opacity : float
        Alpha of the visible entries, 0-1.
    n : int
        Number of entries.

    Returns
    -------
    numpy.ndarray
        uint8 (n, 4); entry ``i`` is the colour of ``i * dose_max / (n - 1)`` Gy.
    """
    dose_max = 1.07 * prescription if dose_max is None else float(dose_max)
    values = np.linspace(0.0, dose_max, n)
    pos, cols = dose_stops(prescription, dose_max)
    lut = np.empty((n, 4), dtype=np.uint8)
    lut[:, :3] = _ramp_rgb(pos, cols, values)
    lut[:, 3] = np.where(values >= threshold * prescription, alpha8(opacity), 0)
    return lut


@lru_cache(maxsize=16)
def _dose_table32(prescription: float, dose_max: float, opacity: float) -> np.ndarray:
    # Threshold 0: transparency is decided on the values by the caller.
    table = _pack(dose_lut(prescription, dose_max, 0.0, opacity, _MAP_LUT_SIZE))
    table.flags.writeable = False
    return table


def dose_to_rgba(
    dose2d: np.ndarray,
    prescription: float = DEFAULT_PRESCRIPTION_GY,
    dose_max: float | None = None,
    threshold: float = 0.10,
    opacity: float = DEFAULT_OPACITY,
) -> np.ndarray:
    """Colour-wash a dose slice.

    Parameters
    ----------
    dose2d : numpy.ndarray
        Dose in Gy, any shape (normally a 2-D slice or a crop of one).
    prescription : float
        Prescribed dose in Gy (default 42.7).
    dose_max : float, optional
        Dose at which the wash is red. Pass the maximum of the whole dose volume so colours
        do not change from slice to slice; defaults to the maximum of ``dose2d``.
    threshold : float
        Fraction of the prescription below which the wash is fully transparent (default 0.10).
    opacity : float
        Alpha of the wash (default 0.4).

    Returns
    -------
    numpy.ndarray
        uint8 RGBA of shape ``dose2d.shape + (4,)``; transparent pixels are (0, 0, 0, 0).
    """
    dose = np.asarray(dose2d)
    thr = float(threshold) * float(prescription)
    transparent = ~(dose >= thr)
    if dose_max is None:
        visible = dose[~transparent]
        dose_max = float(visible.max()) if visible.size else thr
    dose_max = float(dose_max)
    if not np.isfinite(dose_max) or dose_max <= 0.0:
        return np.zeros(dose.shape + (4,), dtype=np.uint8)
    table = _dose_table32(float(prescription), dose_max, float(opacity))
    return _map_through(dose, 0.0, dose_max, table, transparent)


# -- uncertainty -------------------------------------------------------------------------------
@dataclass(frozen=True)
class UncertaintySettings:
    """How the uncertainty heat map is drawn.

    Attributes
    ----------
    scale : {"fixed", "per_map"}
        "fixed" uses ``fixed_range`` for every map so maps are comparable; "per_map" spans
        ``per_map_fraction`` of each map's own maximum.
    fixed_range : tuple of float
        (low, high) of the fixed scale; values at or above high are red.
    per_map_fraction : tuple of float
        (low, high) fractions of the map maximum for the per-map scale.
    opacity : float
        Alpha of the heat map, 0-1.
    """

    scale: Literal["fixed", "per_map"] = "fixed"
    fixed_range: tuple[float, float] = (0.0, 0.5)
    per_map_fraction: tuple[float, float] = (0.1, 1.0)
    opacity: float = DEFAULT_OPACITY


def uncertainty_range(
    settings: UncertaintySettings = UncertaintySettings(), map_max: float | None = None
) -> tuple[float, float]:
    """Low and high end of the uncertainty colour scale.

    Parameters
    ----------
    settings : UncertaintySettings
        Scale choice.
    map_max : float, optional
        Maximum of the whole uncertainty map; required for the per-map scale.

    Returns
    -------
    tuple of float
        ``(lo, hi)``; values below ``lo`` (and zero) are transparent, ``hi`` and above are red.
    """
    if settings.scale == "fixed":
        lo, hi = settings.fixed_range
    elif settings.scale == "per_map":
        if map_max is None:
            raise ValueError("the per-map uncertainty scale needs the map maximum")
        lo, hi = (float(f) * float(map_max) for f in settings.per_map_fraction)
    else:
        raise ValueError(f"unknown uncertainty scale {settings.scale!r}")
    return float(lo), float(hi)


def uncertainty_lut(lo: float = 0.0, hi: float = 0.5, opacity: float = DEFAULT_OPACITY, n: int = 256) -> np.ndarray:
    """RGBA LUT of the uncertainty heat map over ``[lo, hi]``.

    Parameters
    ----------
    lo, hi : float
        Scale ends (dark blue, red).
    opacity : float
        Alpha, 0-1.
    n : int
        Number of entries.

    Returns
    -------
    numpy.ndarray
        uint8 (n, 4); entry ``i`` is the colour of ``lo + i * (hi - lo) / (n - 1)``.
    """
    k = len(UNCERTAINTY_COLOURS)
    lut = np.empty((n, 4), dtype=np.uint8)
    lut[:, :3] = _ramp_rgb(np.linspace(0.0, 1.0, k), UNCERTAINTY_COLOURS, np.linspace(0.0, 1.0, n))
    lut[:, 3] = alpha8(opacity)
    return lut


@lru_cache(maxsize=8)
def _uncertainty_table32(opacity: float) -> np.ndarray:
    table = _pack(uncertainty_lut(0.0, 1.0, opacity, _MAP_LUT_SIZE))
    table.flags.writeable = False
    return table


def uncertainty_to_rgba(
    unc2d: np.ndarray, lo: float = 0.0, hi: float = 0.5, opacity: float = DEFAULT_OPACITY
) -> np.ndarray:
    """Heat-map an uncertainty slice.

    Parameters
    ----------
    unc2d : numpy.ndarray
        Uncertainty values, any shape.
    lo, hi : float
        Scale ends, e.g. from :func:`uncertainty_range`. Values that are zero (or negative, or
        NaN) or below ``lo`` are transparent; ``hi`` and above are red.
    opacity : float
        Alpha (default 0.4).

    Returns
    -------
    numpy.ndarray
        uint8 RGBA of shape ``unc2d.shape + (4,)``.
    """
    unc = np.asarray(unc2d)
    transparent = ~((unc > 0) & (unc >= lo))
    return _map_through(unc, float(lo), float(hi), _uncertainty_table32(float(opacity)), transparent)


# -- colour bars -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColourBarTick:
    """One labelled position on a colour bar."""

    row: int
    value: float
    label: str


@dataclass(frozen=True)
class ColourBar:
    """A vertical colour bar: high values at row 0 (top).

    Attributes
    ----------
    image : numpy.ndarray
        uint8 RGBA (height, width, 4).
    ticks : list of ColourBarTick
        Label positions, top to bottom.
    lo, hi : float
        Values at the bottom and top row.
    unit : str
        Unit of ``lo``/``hi`` ("Gy", or "" for uncertainty).
    """

    image: np.ndarray
    ticks: list[ColourBarTick] = field(default_factory=list)
    lo: float = 0.0
    hi: float = 1.0
    unit: str = ""


def _bar_rows(lo: float, hi: float, height: int) -> np.ndarray:
    return np.linspace(hi, lo, height)


def _value_row(value: float, lo: float, hi: float, height: int) -> int:
    if hi <= lo:
        return 0
    return int(round((hi - value) / (hi - lo) * (height - 1)))


def dose_colour_bar(
    prescription: float = DEFAULT_PRESCRIPTION_GY,
    dose_max: float | None = None,
    threshold: float = 0.10,
    height: int = 256,
    width: int = 16,
    opacity: float = 1.0,
) -> ColourBar:
    """Colour bar of the dose wash from the threshold (bottom) to the maximum (top).

    Parameters
    ----------
    prescription : float
        Prescribed dose in Gy.
    dose_max : float, optional
        Dose maximum (top, red); defaults to 107 % of the prescription.
    threshold : float
        Fraction of the prescription at the bottom of the bar.
    height, width : int
        Image size in pixels.
    opacity : float
        Alpha of the bar; opaque by default so the legend stays legible over any background.

    Returns
    -------
    ColourBar
        Image plus ticks at the threshold, every colour stop and the maximum, labelled
        ``"25.6 Gy (60 %)"``.
    """
    dose_max = 1.07 * prescription if dose_max is None else float(dose_max)
    lo, hi = float(threshold) * prescription, dose_max
    pos, cols = dose_stops(prescription, dose_max)
    column = _ramp_rgb(pos, cols, _bar_rows(lo, hi, height))
    image = np.empty((height, width, 4), dtype=np.uint8)
    image[:, :, :3] = column[:, None, :]
    image[:, :, 3] = alpha8(opacity)
    tick_values = sorted({round(v, 6) for v in [lo, *pos] if lo <= v <= hi}, reverse=True)
    ticks = [
        ColourBarTick(_value_row(v, lo, hi, height), v, f"{v:.1f} Gy ({100.0 * v / prescription:.0f} %)")
        for v in tick_values
    ]
    return ColourBar(image, ticks, lo, hi, "Gy")


def uncertainty_colour_bar(
    lo: float = 0.0, hi: float = 0.5, height: int = 256, width: int = 16, n_ticks: int = 6, opacity: float = 1.0
) -> ColourBar:
    """Colour bar of the uncertainty heat map.

    Parameters
    ----------
    lo, hi : float
        Scale ends (bottom, top).
    height, width : int
        Image size in pixels.
    n_ticks : int
        Number of evenly spaced labelled values, ends included.
    opacity : float
        Alpha of the bar.

    Returns
    -------
    ColourBar
        Image plus ticks labelled with the uncertainty values.
    """
    k = len(UNCERTAINTY_COLOURS)
    frac = _bar_rows(0.0, 1.0, height)
    column = _ramp_rgb(np.linspace(0.0, 1.0, k), UNCERTAINTY_COLOURS, frac)
    image = np.empty((height, width, 4), dtype=np.uint8)
    image[:, :, :3] = column[:, None, :]
    image[:, :, 3] = alpha8(opacity)
    span = hi - lo
    # Enough decimals that neighbouring ticks print differently.
    step = span / max(n_ticks - 1, 1)
    decimals = max(0, int(np.ceil(-np.log10(step))) + 1) if step > 0 else 2
    values = np.linspace(hi, lo, n_ticks)
    ticks = [ColourBarTick(_value_row(v, lo, hi, height), float(v), f"{v:.{decimals}f}") for v in values]
    return ColourBar(image, ticks, float(lo), float(hi), "")


# -- structure colours -------------------------------------------------------------------------
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
    log.debug("loaded %d structure and %d source colours from %s", len(structures), len(sources), src)
    return ColourTable(structures, structure_patterns, halos, halo_patterns, sources, source_patterns, palette)  # type: ignore[arg-type]


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
        col = _lookup(table.sources, table.source_patterns, source)
        if col is _MISSING:
            return palette_colour(source, table)
        if col is not None:
            return col
    col = _lookup(table.structures, table.structure_patterns, name)
    return palette_colour(name, table) if col is _MISSING else col


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
