"""Layer compositing of one displayed slice into an RGB uint8 image.

Layers are painted in list order ("over" operator) onto an opaque grey or RGB base. Each
layer carries the display position of its top-left pixel, so a structure or dose crop only
touches its own box. Arithmetic is integer: ``(dst * (255 - a) + src * a) / 255`` rounded,
with the division done as ``(x + 128 + ((x + 128) >> 8)) >> 8``, which is exact for
``x <= 255 * 255``. Uniform-colour layers are a per-channel 256-entry LUT of the old value.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lundprobe_gui.render.colormaps import RGB, alpha8

log = logging.getLogger(__name__)


@dataclass
class RgbaLayer:
    """A per-pixel RGBA image (dose wash, uncertainty map).

    Attributes
    ----------
    rgba : numpy.ndarray
        uint8 (h, w, 4), straight (not premultiplied) alpha.
    offset : tuple of int
        Display (row, col) of ``rgba[0, 0]``; the layer may extend past the slice edges.
    """

    rgba: np.ndarray
    offset: tuple[int, int] = (0, 0)


@dataclass
class MaskLayer:
    """A boolean region painted in one colour (structure fill).

    Attributes
    ----------
    mask : numpy.ndarray
        bool (h, w).
    colour : tuple of int
        RGB 0-255.
    opacity : float
        0-1.
    offset : tuple of int
        Display (row, col) of ``mask[0, 0]``.
    """

    mask: np.ndarray
    colour: RGB
    opacity: float = 1.0
    offset: tuple[int, int] = (0, 0)


@dataclass
class LineLayer:
    """Thin lines (outlines, isodose lines) held as a pixel list.

    Lines cover a few per cent of their box, so keeping the pixel coordinates lets the
    compositor touch only those pixels instead of scanning the box at every repaint.

    Attributes
    ----------
    rows, cols : numpy.ndarray
        Integer display coordinates of the line pixels (after adding ``offset``).
    colour : tuple of int
        RGB 0-255.
    opacity : float
        0-1.
    """

    rows: np.ndarray
    cols: np.ndarray
    colour: RGB
    opacity: float = 1.0

    @classmethod
    def from_mask(
        cls, mask: np.ndarray, colour: RGB, opacity: float = 1.0, offset: tuple[int, int] = (0, 0)
    ) -> LineLayer:
        """Build from a boolean line image whose top-left pixel is at display ``offset``."""
        # flatnonzero + divmod: 2-D np.nonzero is ~20x slower on a full slice.
        flat = np.flatnonzero(mask)
        rows, cols = np.divmod(flat, mask.shape[1])
        return cls(
            rows.astype(np.int32) + np.int32(offset[0]), cols.astype(np.int32) + np.int32(offset[1]), colour, opacity
        )

    def __len__(self) -> int:
        return int(self.rows.shape[0])


Layer = RgbaLayer | MaskLayer | LineLayer


class _Scratch(threading.local):
    """Grow-only work buffers, one set per thread, so repaints and layers do not allocate.

    Views of different sizes (axial, coronal, sagittal) share them without reallocating.
    """

    def __init__(self) -> None:
        self.u8 = np.empty(0, dtype=np.uint8)
        self.u16 = np.empty(0, dtype=np.uint16)

    def get_planes(self, h: int, w: int) -> np.ndarray:
        if self.u8.size < 3 * h * w:
            self.u8 = np.empty(3 * h * w, dtype=np.uint8)
        return self.u8[: 3 * h * w].reshape(3, h, w)

    def get_u16(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = h * w
        if self.u16.size < 4 * n:
            self.u16 = np.empty(4 * n, dtype=np.uint16)
        return tuple(self.u16[i * n : (i + 1) * n].reshape(h, w) for i in range(4))  # type: ignore[return-value]


_scratch = _Scratch()


def blend_lut(colour: RGB, alpha: int) -> np.ndarray:
    """Per-channel table of ``old -> old over colour`` for a uniform colour and alpha.

    Parameters
    ----------
    colour : tuple of int
        RGB 0-255.
    alpha : int
        0-255.

    Returns
    -------
    numpy.ndarray
        uint8 (3, 256); ``lut[c, v]`` is the new value of channel ``c`` that was ``v``.
    """
    v = np.arange(256, dtype=np.uint32)[None, :]
    c = np.asarray(colour, dtype=np.uint32)[:, None]
    x = v * (255 - alpha) + c * alpha + 128
    return ((x + (x >> 8)) >> 8).astype(np.uint8)


def _clip(offset: tuple[int, int], shape: tuple[int, int], out_shape: tuple[int, ...]):
    """Destination and source slices of a layer box clipped to the output, or None."""
    r0, c0 = int(offset[0]), int(offset[1])
    h, w = shape
    dr0, dc0 = max(r0, 0), max(c0, 0)
    dr1, dc1 = min(r0 + h, out_shape[0]), min(c0 + w, out_shape[1])
    if dr0 >= dr1 or dc0 >= dc1:
        return None
    return (slice(dr0, dr1), slice(dc0, dc1)), (slice(dr0 - r0, dr1 - r0), slice(dc0 - c0, dc1 - c0))


def _paint_rgba(planes: np.ndarray, layer: RgbaLayer) -> None:
    rgba = layer.rgba
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"RgbaLayer needs uint8 (h, w, 4), got {rgba.dtype} {rgba.shape}")
    clipped = _clip(layer.offset, rgba.shape[:2], planes.shape[1:])
    if clipped is None:
        return
    dst_sl, src_sl = clipped
    src = rgba[src_sl]
    h, w = src.shape[:2]
    a, inv, t, u = _scratch.get_u16(h, w)
    np.copyto(a, src[:, :, 3])
    np.subtract(np.uint16(255), a, out=inv)
    for ch in range(3):
        dst = planes[ch][dst_sl]
        np.multiply(src[:, :, ch], a, out=t)
        np.multiply(dst, inv, out=u)
        t += u
        t += np.uint16(128)
        np.right_shift(t, 8, out=u)
        t += u
        t >>= 8
        np.copyto(dst, t, casting="unsafe")


def _paint_pixels(planes: np.ndarray, flat: np.ndarray, colour: RGB, alpha: int) -> None:
    """Blend a uniform colour into the pixels at flat indices of the (3, H, W) planes."""
    lut = blend_lut(colour, alpha) if alpha < 255 else None
    for ch in range(3):
        plane = planes[ch].reshape(-1)
        if lut is None:
            plane[flat] = colour[ch]
        else:
            plane[flat] = lut[ch][plane[flat]]


def _paint_mask(planes: np.ndarray, layer: MaskLayer) -> None:
    a = alpha8(layer.opacity)
    if a == 0:
        return
    mask = layer.mask
    if mask.ndim != 2:
        raise ValueError(f"MaskLayer needs a 2-D bool mask, got shape {mask.shape}")
    clipped = _clip(layer.offset, mask.shape, planes.shape[1:])
    if clipped is None:
        return
    (dr, dc), src_sl = clipped
    # One scan of the mask gives indices reused for all three channels.
    sub = mask[src_sl]
    rows, cols = np.divmod(np.flatnonzero(sub), sub.shape[1])
    flat = (rows + dr.start) * planes.shape[2] + (cols + dc.start)
    _paint_pixels(planes, flat, layer.colour, a)


def _paint_line(planes: np.ndarray, layer: LineLayer) -> None:
    a = alpha8(layer.opacity)
    if a == 0 or len(layer) == 0:
        return
    rows, cols = layer.rows, layer.cols
    h, w = planes.shape[1:]
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= h or cols.max() >= w:
        keep = (rows >= 0) & (cols >= 0) & (rows < h) & (cols < w)
        rows, cols = rows[keep], cols[keep]
    flat = rows.astype(np.intp) * w + cols
    _paint_pixels(planes, flat, layer.colour, a)


def compose_slice(base: np.ndarray, layers: Sequence[Layer], out: np.ndarray | None = None) -> np.ndarray:
    """Paint layers over a windowed slice.

    Parameters
    ----------
    base : numpy.ndarray
        uint8 grey (H, W) or RGB (H, W, 3), e.g. from :func:`~lundprobe_gui.render.window.apply_window`.
    layers : sequence of RgbaLayer, MaskLayer or LineLayer
        Painted in order, first at the bottom.
    out : numpy.ndarray, optional
        C-contiguous uint8 (H, W, 3) to reuse between repaints (may not be ``base``).

    Returns
    -------
    numpy.ndarray
        C-contiguous uint8 RGB (H, W, 3).
    """
    if base.dtype != np.uint8 or base.ndim not in (2, 3) or (base.ndim == 3 and base.shape[2] != 3):
        raise ValueError(f"base must be uint8 (H, W) or (H, W, 3), got {base.dtype} {base.shape}")
    shape = (*base.shape[:2], 3)
    if out is None:
        out = np.empty(shape, dtype=np.uint8)
    elif out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous uint8 {shape}")
    elif np.shares_memory(out, base):
        raise ValueError("out must not share memory with base")
    # Painting happens on three contiguous channel planes: numpy is an order of magnitude
    # slower on (..., 3) arrays, whose innermost loop is only three elements long.
    planes = _scratch.get_planes(*shape[:2])
    for ch in range(3):
        planes[ch] = base if base.ndim == 2 else base[:, :, ch]
    for layer in layers:
        if isinstance(layer, LineLayer):
            _paint_line(planes, layer)
        elif isinstance(layer, MaskLayer):
            _paint_mask(planes, layer)
        elif isinstance(layer, RgbaLayer):
            _paint_rgba(planes, layer)
        else:
            raise TypeError(f"not a layer: {type(layer).__name__}")
    for ch in range(3):
        out[:, :, ch] = planes[ch]
    return out
