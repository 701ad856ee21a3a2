"""Overlay building blocks: structure outlines and fills, isodose lines, dose and uncertainty
layers cropped to where they are visible, and MRI/sCT fusion (checkerboard, blend).

All functions take plain 2-D arrays already in display order (see
:func:`~lundprobe_gui.render.slicing.display_slice`) and return layers for
:func:`~lundprobe_gui.render.compose.compose_slice` or uint8 images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lundprobe_gui.core.patient import LUNDPROBE_PRESCRIPTION_GY
from lundprobe_gui.render.colormaps import (
    RGB,
    DoseWashSettings,
    UncertaintySettings,
    dose_colour,
    dose_to_rgba,
    uncertainty_range,
    uncertainty_to_rgba,
)
from lundprobe_gui.render.compose import Layer, LineLayer, MaskLayer, RgbaLayer

log = logging.getLogger(__name__)

Box2D = tuple[tuple[int, int], tuple[int, int]]
"""A 2-D box ((row0, row1), (col0, col1)), stop exclusive."""

DEFAULT_ISODOSE_LEVELS = (95.0, 80.0, 60.0, 40.0, 20.0)


# -- boxes and outlines ------------------------------------------------------------------------
def bbox2d(mask2d: np.ndarray) -> Box2D | None:
    """Tight bounding box of the set pixels of a 2-D array.

    Parameters
    ----------
    mask2d : numpy.ndarray
        2-D array; non-zero is set.

    Returns
    -------
    tuple or None
        ``((row0, row1), (col0, col1))``, or None when nothing is set.
    """
    rows = np.flatnonzero(mask2d.any(axis=1))
    if rows.size == 0:
        return None
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(mask2d[r0:r1].any(axis=0))
    return (r0, r1), (int(cols[0]), int(cols[-1]) + 1)


def _erode4(m: np.ndarray) -> np.ndarray:
    """4-neighbour erosion; pixels beyond the array count as outside."""
    inner = np.zeros_like(m)
    if m.shape[0] > 2 and m.shape[1] > 2:
        c = m[1:-1, 1:-1]
        inner[1:-1, 1:-1] = c & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return inner


def _dilate4(m: np.ndarray) -> np.ndarray:
    """4-neighbour dilation within the array."""
    out = m.copy()
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    out[:, 1:] |= m[:, :-1]
    out[:, :-1] |= m[:, 1:]
    return out


def _widths(width: int | tuple[int, int]) -> tuple[int, int]:
    wr, wc = (width, width) if isinstance(width, (int, np.integer)) else width
    if wr < 1 or wc < 1:
        raise ValueError(f"outline width must be >= 1, got {width}")
    return int(wr), int(wc)


def _steps(wr: int, wc: int) -> list[int | None]:
    """Growth steps for a (rows, cols) thickness: 4-neighbour steps (None), then single-axis ones."""
    return [None] * min(wr, wc) + [0 if wr > wc else 1] * abs(wr - wc)


def _erode_along(m: np.ndarray, axis: int) -> np.ndarray:
    """Erosion by the two neighbours along one axis; pixels beyond the array count as outside."""
    inner = np.zeros_like(m)
    if axis == 0 and m.shape[0] > 2:
        inner[1:-1] = m[1:-1] & m[:-2] & m[2:]
    elif axis == 1 and m.shape[1] > 2:
        inner[:, 1:-1] = m[:, 1:-1] & m[:, :-2] & m[:, 2:]
    return inner


def _dilate_along(m: np.ndarray, axis: int) -> np.ndarray:
    out = m.copy()
    if axis == 0:
        out[1:] |= m[:-1]
        out[:-1] |= m[1:]
    else:
        out[:, 1:] |= m[:, :-1]
        out[:, :-1] |= m[:, 1:]
    return out


def outline_cropped(
    mask2d: np.ndarray, width: int | tuple[int, int] = 1, offset: tuple[int, int] = (0, 0), box: Box2D | None = None
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Inner boundary of a mask, cropped to the mask's bounding box.

    Parameters
    ----------
    mask2d : numpy.ndarray
        2-D bool mask (a full slice or a crop of one).
    width : int or (int, int)
        Line width in pixels; >1 thickens inwards (pixels within ``width`` 4-steps of outside).
        A pair gives the thickness across rows and across columns apart, so that a line on
        pixels shown smaller than a screen pixel, or taller than wide, stays one screen pixel
        wide: ``min`` 4-steps, then the rest along the thicker axis only.
    offset : tuple of int
        Display position of ``mask2d[0, 0]``, added to the returned position.
    box : tuple, optional
        Known bounding box of ``mask2d`` (from :func:`bbox2d`), to skip searching for it.

    Returns
    -------
    tuple or None
        ``(line, (row0, col0))``: a bool crop and the display position of its top-left pixel;
        None when the mask is empty.

    Notes
    -----
    Pixels beyond the edges of ``mask2d`` count as outside, so a structure cut by the field of
    view still gets a closed outline. Pass a crop only if the mask is empty around it.
    """
    wr, wc = _widths(width)
    box = bbox2d(mask2d) if box is None else box
    if box is None:
        return None
    (r0, r1), (c0, c1) = box
    # Everything outside the box is unset, so a one-pixel False margin stands in for it (and
    # for whatever lies beyond the slice edge).
    crop = np.zeros((r1 - r0 + 2, c1 - c0 + 2), dtype=bool)
    crop[1:-1, 1:-1] = mask2d[r0:r1, c0:c1]
    inner = crop
    for along in _steps(wr, wc):
        inner = _erode4(inner) if along is None else _erode_along(inner, along)
        if not inner.any():
            break
    line = crop[1:-1, 1:-1] & ~inner[1:-1, 1:-1]
    return line, (offset[0] + r0, offset[1] + c0)


def outline(mask2d: np.ndarray, width: int | tuple[int, int] = 1) -> np.ndarray:
    """Full-size inner boundary of a mask.

    Parameters
    ----------
    mask2d : numpy.ndarray
        2-D bool mask.
    width : int or (int, int)
        Line width in pixels, thickened inwards (see :func:`outline_cropped`).

    Returns
    -------
    numpy.ndarray
        bool array of ``mask2d.shape``: the mask pixels with a 4-neighbour outside the mask (or
        beyond the slice edge), and for ``width > 1`` those within ``width`` steps of outside.
    """
    out = np.zeros(mask2d.shape, dtype=bool)
    res = outline_cropped(mask2d, width)
    if res is not None:
        line, (r0, c0) = res
        out[r0 : r0 + line.shape[0], c0 : c0 + line.shape[1]] = line
    return out


def halo_cropped(
    mask2d: np.ndarray, offset: tuple[int, int] = (0, 0), box: Box2D | None = None, width: int | tuple[int, int] = 1
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Ring just outside a mask (4-neighbours of it that are not in it; thicker for ``width`` > 1).

    Parameters
    ----------
    mask2d : numpy.ndarray
        2-D bool mask.
    offset : tuple of int
        Display position of ``mask2d[0, 0]``.
    box : tuple, optional
        Known bounding box of ``mask2d``.
    width : int or (int, int)
        Ring thickness in pixels (rows, columns), grown outwards as :func:`outline_cropped` grows inwards.

    Returns
    -------
    tuple or None
        ``(ring, (row0, col0))`` with the ring clipped to ``mask2d``'s extent; None when empty.
    """
    box = bbox2d(mask2d) if box is None else box
    if box is None:
        return None
    wr, wc = _widths(width)
    (r0, r1), (c0, c1) = box
    pr0, pr1 = max(r0 - wr, 0), min(r1 + wr, mask2d.shape[0])
    pc0, pc1 = max(c0 - wc, 0), min(c1 + wc, mask2d.shape[1])
    crop = mask2d[pr0:pr1, pc0:pc1] != 0
    grown = crop
    for along in _steps(wr, wc):
        grown = _dilate4(grown) if along is None else _dilate_along(grown, along)
    return grown & ~crop, (offset[0] + pr0, offset[1] + pc0)


# -- structures --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StructureStyle:
    """How a structure is drawn.

    Attributes
    ----------
    style : {"outline", "fill", "both"}
        Outline only, filled region only, or a translucent fill under an outline.
    line_width : int
        Outline width in pixels (thickened inwards).
    line_opacity : float
        Alpha of the outline, 0-1.
    fill_opacity : float
        Alpha of the fill, 0-1.
    """

    style: Literal["outline", "fill", "both"] = "outline"
    line_width: int = 1
    line_opacity: float = 1.0
    fill_opacity: float = 0.3


def structure_layers(
    mask2d: np.ndarray,
    colour: RGB,
    style: StructureStyle = StructureStyle(),
    offset: tuple[int, int] = (0, 0),
    halo: RGB | None = None,
    scale: tuple[int, int] = (1, 1),
) -> list[Layer]:
    """Layers that draw one structure on one slice.

    Parameters
    ----------
    mask2d : numpy.ndarray
        2-D bool mask in display order (full slice, or a crop placed at ``offset`` such as
        :func:`~lundprobe_gui.render.slicing.cropped_slice` returns).
    colour : tuple of int
        RGB of the structure.
    style : StructureStyle
        Outline / fill / both.
    offset : tuple of int
        Display position of ``mask2d[0, 0]``.
    halo : tuple of int, optional
        Colour of a 1-pixel ring around the structure (e.g. light edge around black fiducials).
    scale : tuple of int
        Image pixels (rows, columns) per screen pixel, rounded up: lines and the halo are that
        many times thicker, so that they stay whole when the view shows the slice smaller.

    Returns
    -------
    list
        Layers in painting order; empty when the mask is empty on this slice.
    """
    if style.style not in ("outline", "fill", "both"):
        raise ValueError(f"unknown structure style {style.style!r}")
    box = bbox2d(mask2d)
    if box is None:
        return []
    layers: list[Layer] = []
    (r0, r1), (c0, c1) = box
    if halo is not None:
        ring, pos = halo_cropped(mask2d, offset, box, scale)  # type: ignore[misc]
        layers.append(LineLayer.from_mask(ring, halo, 1.0, pos))
    if style.style in ("fill", "both"):
        layers.append(
            MaskLayer(
                np.ascontiguousarray(mask2d[r0:r1, c0:c1] != 0),
                colour,
                style.fill_opacity,
                (offset[0] + r0, offset[1] + c0),
            )
        )
    if style.style in ("outline", "both"):
        width = (style.line_width * scale[0], style.line_width * scale[1])
        line, pos = outline_cropped(mask2d, width, offset, box)  # type: ignore[misc]
        layers.append(LineLayer.from_mask(line, colour, style.line_opacity, pos))
    return layers


# -- dose --------------------------------------------------------------------------------------
def dose_wash_layer(
    dose2d: np.ndarray, dose_max: float, settings: DoseWashSettings = DoseWashSettings()
) -> RgbaLayer | None:
    """Dose colour wash, computed only over the box where dose reaches the threshold.

    Parameters
    ----------
    dose2d : numpy.ndarray
        Dose slice in Gy, display order.
    dose_max : float
        Maximum of the whole dose volume (red).
    settings : DoseWashSettings
        Prescription, threshold, opacity.

    Returns
    -------
    RgbaLayer or None
        None when no pixel reaches the threshold.
    """
    thr = settings.threshold * settings.prescription_gy
    box = bbox2d(dose2d >= thr)
    if box is None:
        return None
    (r0, r1), (c0, c1) = box
    rgba = dose_to_rgba(dose2d[r0:r1, c0:c1], settings.prescription_gy, dose_max, settings.threshold, settings.opacity)
    return RgbaLayer(rgba, (r0, c0))


@dataclass(frozen=True)
class IsodoseLine:
    """One isodose level on one slice.

    Attributes
    ----------
    level_pct : float
        Level in % of the prescription.
    dose_gy : float
        Level in Gy.
    colour : tuple of int
        Wash colour at this dose.
    label : str
        Text for the label, e.g. ``"95 %"``.
    line : numpy.ndarray
        bool crop: boundary pixels of ``dose >= dose_gy``.
    offset : tuple of int
        Display (row, col) of ``line[0, 0]``.
    anchor : tuple of int
        Display (row, col) of a line pixel where the label goes: the rightmost pixel of the
        line (middle one if several), so nested levels get separate label spots.
    """

    level_pct: float
    dose_gy: float
    colour: RGB
    label: str
    line: np.ndarray
    offset: tuple[int, int]
    anchor: tuple[int, int]

    def layer(self, opacity: float = 1.0) -> LineLayer:
        """The line as a compositor layer."""
        return LineLayer.from_mask(self.line, self.colour, opacity, self.offset)


def _label(level: float) -> str:
    return f"{level:g} %"


def isodose_lines(
    dose2d: np.ndarray,
    prescription: float = LUNDPROBE_PRESCRIPTION_GY,
    levels: Sequence[float] = DEFAULT_ISODOSE_LEVELS,
    dose_max: float | None = None,
    width: int | tuple[int, int] = 1,
) -> list[IsodoseLine]:
    """Isodose lines of a dose slice.

    Parameters
    ----------
    dose2d : numpy.ndarray
        Dose slice in Gy, display order.
    prescription : float
        Prescribed dose in Gy.
    levels : sequence of float
        Levels in % of the prescription (default 95, 80, 60, 40, 20).
    dose_max : float, optional
        Maximum of the dose volume, for the line colours (defaults to 107 % of prescription).
    width : int or (int, int)
        Line width in pixels (rows, columns), thickened inwards (see :func:`outline_cropped`).

    Returns
    -------
    list of IsodoseLine
        One per level that the slice reaches, in the order of ``levels``.
    """
    dose = np.asarray(dose2d)
    if not levels:
        return []
    # Higher levels are nested in the lowest one, so its box bounds all the work.
    lowest = min(levels) / 100.0 * prescription
    box = bbox2d(dose >= lowest)
    if box is None:
        return []
    (r0, r1), (c0, c1) = box
    crop = dose[r0:r1, c0:c1]
    out = []
    for level in levels:
        gy = level / 100.0 * prescription
        res = outline_cropped(crop >= gy, width, (r0, c0))
        if res is None:
            continue
        line, off = res
        anchor = _anchor(line, off)
        out.append(
            IsodoseLine(float(level), gy, dose_colour(gy, prescription, dose_max), _label(level), line, off, anchor)
        )
    return out


def _anchor(line: np.ndarray, offset: tuple[int, int]) -> tuple[int, int]:
    cols = np.flatnonzero(line.any(axis=0))
    c = int(cols[-1])
    rows = np.flatnonzero(line[:, c])
    return offset[0] + int(rows[rows.size // 2]), offset[1] + c


# -- uncertainty -------------------------------------------------------------------------------
def uncertainty_layer(
    unc2d: np.ndarray, map_max: float | None = None, settings: UncertaintySettings = UncertaintySettings()
) -> RgbaLayer | None:
    """Uncertainty heat map, computed only over the box of visible values.

    Parameters
    ----------
    unc2d : numpy.ndarray
        Uncertainty slice, display order.
    map_max : float, optional
        Maximum of the whole map (needed for the per-map scale).
    settings : UncertaintySettings
        Scale and opacity.

    Returns
    -------
    RgbaLayer or None
        None when nothing is visible.
    """
    lo, hi = uncertainty_range(settings, map_max)
    box = bbox2d((unc2d > 0) & (unc2d >= lo))
    if box is None:
        return None
    (r0, r1), (c0, c1) = box
    return RgbaLayer(uncertainty_to_rgba(unc2d[r0:r1, c0:c1], lo, hi, settings.opacity, settings.colours), (r0, c0))


# -- fusion ------------------------------------------------------------------------------------
def checkerboard(
    a_rgb: np.ndarray, b_rgb: np.ndarray, tile_px: int | tuple[int, int] = 32, origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Checkerboard of two equally shaped images; the top-left tile comes from ``a_rgb``.

    Parameters
    ----------
    a_rgb, b_rgb : numpy.ndarray
        uint8 images (H, W) or (H, W, C) of the same shape, e.g. windowed MRI and sCT.
    tile_px : int or (int, int)
        Tile edge in pixels, or (rows, columns) for pixels that are not square.
    origin : (int, int)
        Row and column of ``a_rgb[0, 0]`` in the whole image, so a part of it gets the same tiles.

    Returns
    -------
    numpy.ndarray
        New C-contiguous array of the same shape and dtype.
    """
    if a_rgb.shape != b_rgb.shape:
        raise ValueError(f"checkerboard needs equal shapes, got {a_rgb.shape} and {b_rgb.shape}")
    tile_r, tile_c = (tile_px, tile_px) if isinstance(tile_px, (int, np.integer)) else tile_px
    if min(tile_r, tile_c) < 1:
        raise ValueError(f"tile_px must be >= 1, got {tile_px}")
    h, w = a_rgb.shape[:2]
    odd_rows = ((origin[0] + np.arange(h)) // tile_r) % 2 == 1
    odd_cols = ((origin[1] + np.arange(w)) // tile_c) % 2 == 1
    take_b = odd_rows[:, None] ^ odd_cols[None, :]
    out = np.array(a_rgb, copy=True, order="C")
    if a_rgb.ndim == 3:
        take_b = take_b[:, :, None]
    np.copyto(out, b_rgb, where=take_b)
    return out


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """Cross-fade two uint8 images: ``(1 - alpha) * a + alpha * b``, rounded.

    Parameters
    ----------
    a, b : numpy.ndarray
        uint8 images of the same shape.
    alpha : float
        Weight of ``b``, 0-1 (0 gives ``a``, 1 gives ``b`` exactly).

    Returns
    -------
    numpy.ndarray
        uint8 array of the same shape.
    """
    if a.shape != b.shape:
        raise ValueError(f"blend needs equal shapes, got {a.shape} and {b.shape}")
    w = int(round(min(max(float(alpha), 0.0), 1.0) * 256))
    acc = np.multiply(a, np.uint16(256 - w), dtype=np.uint16)
    acc += np.multiply(b, np.uint16(w), dtype=np.uint16)
    acc += np.uint16(128)
    acc >>= 8
    return acc.astype(np.uint8)
