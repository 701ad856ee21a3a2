"""Colour scales (dose wash, uncertainty heat map), colour bars and structure colours.

Scales are RGBA uint8 look-up tables built by linear interpolation between colour stops. The
mapping functions apply the transparency cut-offs on the float values themselves, not on LUT
bins, so a dose a hair below the threshold is never drawn however coarse the LUT is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np

from ..core.patient import LUNDPROBE_PRESCRIPTION_GY

# structure colours live in their own module; these names stay importable from here
from .structure_colours import (  # noqa: F401
    RGB,
    ColourTable,
    edit_colour,
    load_colour_table,
    palette_colour,
    shade,
    structure_colour,
    structure_halo_colour,
)

log = logging.getLogger(__name__)

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
"""The dataset's uncertainty heat map colours (a rainbow), evenly spaced from the low to the high end."""

UNCERTAINTY_MAGENTA: tuple[RGB, ...] = (
    (55, 0, 85),  # dark purple
    (120, 0, 170),  # purple
    (200, 0, 220),  # violet
    (255, 40, 255),  # magenta
    (255, 200, 255),  # pale pink
)
"""One hue family the dose wash never uses (it runs blue-cyan-green-yellow-red), so the two cannot be confused."""

UNCERTAINTY_SCALES: dict[str, tuple[RGB, ...]] = {"magenta": UNCERTAINTY_MAGENTA, "rainbow": UNCERTAINTY_COLOURS}
"""Named uncertainty colour scales: "rainbow" is the dataset's (and the reader study's), "magenta" the viewer's."""


def _uncertainty_stops(colours: str) -> tuple[RGB, ...]:
    try:
        return UNCERTAINTY_SCALES[colours]
    except KeyError:
        raise ValueError(f"unknown uncertainty colour scale {colours!r}; known: {sorted(UNCERTAINTY_SCALES)}") from None


# The mapping LUT is finer than the 256-entry display LUT so that colours at the stops are
# exact to within rounding; the gather costs the same whatever the table size.
_MAP_LUT_SIZE = 4096


# -- generic ramp ------------------------------------------------------------------------------
def _ramp_rgb(positions: Sequence[float] | np.ndarray, colours: Sequence[RGB], values: np.ndarray) -> np.ndarray:
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
    return packed.view(np.uint8).reshape((*values.shape, 4))


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

    prescription_gy: float = LUNDPROBE_PRESCRIPTION_GY
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
    return [*pos, float(dose_max)], [*cols, DOSE_MAX_COLOUR]


def dose_colour(dose_gy: float, prescription: float = LUNDPROBE_PRESCRIPTION_GY, dose_max: float | None = None) -> RGB:
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
    prescription: float = LUNDPROBE_PRESCRIPTION_GY,
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
    prescription: float = LUNDPROBE_PRESCRIPTION_GY,
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
        return np.zeros((*dose.shape, 4), dtype=np.uint8)
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
    colours : str
        A name of :data:`UNCERTAINTY_SCALES`.
    """

    scale: Literal["fixed", "per_map"] = "fixed"
    fixed_range: tuple[float, float] = (0.0, 0.5)
    per_map_fraction: tuple[float, float] = (0.1, 1.0)
    opacity: float = DEFAULT_OPACITY
    colours: str = "rainbow"


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


def uncertainty_lut(
    lo: float = 0.0, hi: float = 0.5, opacity: float = DEFAULT_OPACITY, n: int = 256, colours: str = "rainbow"
) -> np.ndarray:
    """RGBA LUT of the uncertainty heat map over ``[lo, hi]``.

    Parameters
    ----------
    lo, hi : float
        Scale ends (dark blue and red for the rainbow).
    opacity : float
        Alpha, 0-1.
    n : int
        Number of entries.
    colours : str
        A name of :data:`UNCERTAINTY_SCALES`.

    Returns
    -------
    numpy.ndarray
        uint8 (n, 4); entry ``i`` is the colour of ``lo + i * (hi - lo) / (n - 1)``.
    """
    stops = _uncertainty_stops(colours)
    lut = np.empty((n, 4), dtype=np.uint8)
    lut[:, :3] = _ramp_rgb(np.linspace(0.0, 1.0, len(stops)), stops, np.linspace(0.0, 1.0, n))
    lut[:, 3] = alpha8(opacity)
    return lut


@lru_cache(maxsize=8)
def _uncertainty_table32(opacity: float, colours: str) -> np.ndarray:
    table = _pack(uncertainty_lut(0.0, 1.0, opacity, _MAP_LUT_SIZE, colours))
    table.flags.writeable = False
    return table


def uncertainty_to_rgba(
    unc2d: np.ndarray, lo: float = 0.0, hi: float = 0.5, opacity: float = DEFAULT_OPACITY, colours: str = "rainbow"
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
    colours : str
        A name of :data:`UNCERTAINTY_SCALES`.

    Returns
    -------
    numpy.ndarray
        uint8 RGBA of shape ``unc2d.shape + (4,)``.
    """
    unc = np.asarray(unc2d)
    transparent = ~((unc > 0) & (unc >= lo))
    return _map_through(unc, float(lo), float(hi), _uncertainty_table32(float(opacity), colours), transparent)


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
    prescription: float = LUNDPROBE_PRESCRIPTION_GY,
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
    lo: float = 0.0,
    hi: float = 0.5,
    height: int = 256,
    width: int = 16,
    n_ticks: int = 6,
    opacity: float = 1.0,
    colours: str = "rainbow",
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
    colours : str
        A name of :data:`UNCERTAINTY_SCALES`.

    Returns
    -------
    ColourBar
        Image plus ticks labelled with the uncertainty values.
    """
    stops = _uncertainty_stops(colours)
    frac = _bar_rows(0.0, 1.0, height)
    column = _ramp_rgb(np.linspace(0.0, 1.0, len(stops)), stops, frac)
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
