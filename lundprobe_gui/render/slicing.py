"""From (z, y, x) voxel arrays to what the screen shows: slice order, aspect and orientation.

The functions below work on the *display array*: the stored array reoriented by
:class:`~lundprobe_gui.core.orientation.Orientation` so that its axes run I->S, A->P, R->L, like
a volume stored the DICOM way (LPS). For LPS storage that is the stored array itself; for any
other storage it is a view of it, and functions that take an ``orient`` map stored data into it.

Views
-----
axis 0, axial
    Slice ``z``, plane ``(y, x)``: anterior at the top, the patient's right on the screen's left.
axis 1, coronal
    Slice ``y``, plane ``(z, x)``; flipped vertically so that high z (superior) is at the top.
axis 2, sagittal
    Slice ``x``, plane ``(z, y)``; flipped vertically the same way (anterior on the left).

Display row 0 is the top of the screen. Continuous coordinates follow the voxel-centre
convention: integer values are voxel centres, so voxel ``z`` lies on display row ``nz - 1 - z``
and the maps below are exact inverses for floats as well as for integers. A view that reports
pixel-edge coordinates (pixel ``i`` spanning ``[i, i + 1)``) must subtract 0.5 first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from lundprobe_gui.core.geometry import Geometry
from lundprobe_gui.core.mask import Mask
from lundprobe_gui.core.orientation import Orientation

log = logging.getLogger(__name__)

AXIAL, CORONAL, SAGITTAL = 0, 1, 2
VIEW_NAMES = {AXIAL: "axial", CORONAL: "coronal", SAGITTAL: "sagittal"}

# The array axes (z=0, y=1, x=2) that become display rows and columns for each view.
_ROW_AXIS = {AXIAL: 1, CORONAL: 0, SAGITTAL: 0}
_COL_AXIS = {AXIAL: 2, CORONAL: 2, SAGITTAL: 1}


def _check_axis(axis: int) -> int:
    if axis not in (AXIAL, CORONAL, SAGITTAL):
        raise ValueError(f"view axis must be 0, 1 or 2, got {axis!r}")
    return int(axis)


def is_flipped(axis: int) -> bool:
    """Whether the view shows its stored plane upside down.

    Parameters
    ----------
    axis : int
        View axis (0 axial, 1 coronal, 2 sagittal).

    Returns
    -------
    bool
        True for coronal and sagittal, whose stored rows run from inferior to superior.
    """
    return _check_axis(axis) != AXIAL


def plane_axes(axis: int) -> tuple[int, int]:
    """Array axes (0 = z, 1 = y, 2 = x) shown along display rows and columns.

    Parameters
    ----------
    axis : int
        View axis.

    Returns
    -------
    tuple of int
        ``(row_axis, col_axis)``.
    """
    axis = _check_axis(axis)
    return _ROW_AXIS[axis], _COL_AXIS[axis]


def display_shape(axis: int, shape_zyx: Sequence[int]) -> tuple[int, int]:
    """Shape ``(rows, cols)`` of a displayed slice of a volume of ``shape_zyx``.

    Parameters
    ----------
    axis : int
        View axis.
    shape_zyx : sequence of int
        Volume shape.

    Returns
    -------
    tuple of int
        Number of display rows and columns.
    """
    r, c = plane_axes(axis)
    return int(shape_zyx[r]), int(shape_zyx[c])


def display_slice(arr2d_plane: np.ndarray, axis: int) -> np.ndarray:
    """Put a stored plane into display order.

    Parameters
    ----------
    arr2d_plane : numpy.ndarray
        The plane as ``volume.take(index, axis)`` gives it: (y, x), (z, x) or (z, y). Extra
        trailing axes (e.g. RGBA) are carried along.
    axis : int
        View axis.

    Returns
    -------
    numpy.ndarray
        C-contiguous array, row 0 at the top of the screen. It is a copy whenever a flip or a
        non-contiguous input requires one, and the input itself otherwise.
    """
    if arr2d_plane.ndim < 2:
        raise ValueError(f"expected at least a 2-D plane, got shape {arr2d_plane.shape}")
    if is_flipped(axis):
        arr2d_plane = arr2d_plane[::-1]
    return np.ascontiguousarray(arr2d_plane)


def display_to_voxel(
    axis: int, slice_index: float, row: float, col: float, shape_zyx: Sequence[int]
) -> tuple[float, float, float]:
    """Voxel ``(z, y, x)`` under a display position.

    Parameters
    ----------
    axis : int
        View axis.
    slice_index : float
        Index along ``axis`` of the shown slice.
    row, col : float
        Display position (voxel-centre convention, may be fractional).
    shape_zyx : sequence of int
        Volume shape.

    Returns
    -------
    tuple of float
        ``(z, y, x)``; integers in give integer-valued floats out.
    """
    axis = _check_axis(axis)
    nz = shape_zyx[0]
    if axis == AXIAL:
        return float(slice_index), float(row), float(col)
    z = (nz - 1) - float(row)
    if axis == CORONAL:
        return z, float(slice_index), float(col)
    return z, float(col), float(slice_index)


def voxel_to_display(axis: int, zyx: Sequence[float], shape_zyx: Sequence[int]) -> tuple[float, float]:
    """Display ``(row, col)`` of a voxel position; inverse of :func:`display_to_voxel`.

    Parameters
    ----------
    axis : int
        View axis.
    zyx : sequence of float
        Voxel position (may be fractional).
    shape_zyx : sequence of int
        Volume shape.

    Returns
    -------
    tuple of float
        ``(row, col)``. The coordinate along ``axis`` is dropped; it is the slice index.
    """
    axis = _check_axis(axis)
    z, y, x = (float(v) for v in zyx)
    if axis == AXIAL:
        return y, x
    row = (shape_zyx[0] - 1) - z
    return (row, x) if axis == CORONAL else (row, y)


def pixel_aspect(axis: int, spacing_zyx: Sequence[float]) -> tuple[float, float]:
    """Physical size of one display pixel.

    Parameters
    ----------
    axis : int
        View axis.
    spacing_zyx : sequence of float
        Voxel spacing in mm in array order.

    Returns
    -------
    tuple of float
        ``(row_mm, col_mm)``: the view scales rows and columns by these so anatomy is not
        squashed (a sagittal slice of a 0.47 x 0.47 x 2.5 mm MRI has 2.5 mm rows).
    """
    r, c = plane_axes(axis)
    return float(spacing_zyx[r]), float(spacing_zyx[c])


def orientation_labels(axis: int, geometry: Geometry) -> dict[str, str]:
    """Anatomical letters at the four screen edges of a view.

    Parameters
    ----------
    axis : int
        View axis.
    geometry : Geometry
        Grid whose direction matrix decides the letters (through its display orientation, so a
        view shows the same letters for any storage order; an oblique grid gets its nearest ones).

    Returns
    -------
    dict
        Keys ``top``, ``bottom``, ``left``, ``right``; values such as ``"A"``, ``"R"``.
    """
    axis = _check_axis(axis)
    orient = Orientation.from_geometry(geometry)
    # axis_letters() is in ITK order (x, y, z); array axis a is ITK axis 2 - a.
    stored = geometry.axis_letters()

    def ends(display_axis: int) -> tuple[str, str]:
        low, high = stored[2 - orient.stored_axis(display_axis)]
        return (high, low) if orient.flips[display_axis] else (low, high)

    row_axis, col_axis = plane_axes(axis)
    row_low, row_high = ends(row_axis)
    col_low, col_high = ends(col_axis)
    if is_flipped(axis):
        row_low, row_high = row_high, row_low
    return {"top": row_low, "bottom": row_high, "left": col_low, "right": col_high}


def cropped_slice(
    mask: Mask, axis: int, index: int, orient: Orientation | None = None
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The part of a mask slice inside its stored block, in display order.

    Overlays only need the block, so this avoids building (and later scanning) a full-size
    slice that is almost entirely empty.

    Parameters
    ----------
    mask : Mask
        Cropped structure, in storage order.
    axis : int
        View axis.
    index : int
        Display slice index along ``axis``.
    orient : Orientation, optional
        Storage-to-display mapping of the mask's grid (identity when omitted).

    Returns
    -------
    tuple or None
        ``(block2d, (row0, col0))`` with ``block2d`` a C-contiguous bool array in display order
        whose top-left pixel sits at display ``(row0, col0)``; None when the slice misses the block.
    """
    axis = _check_axis(axis)
    box = mask.box
    orient = orient or Orientation.identity(mask.shape)
    stored_axis, stored_index = orient.stored_axis(axis), orient.stored_index(axis, index)
    if box is None or not box[stored_axis][0] <= stored_index < box[stored_axis][1]:
        return None
    local: list[int | slice] = [slice(None)] * 3
    local[stored_axis] = stored_index - mask.offset[stored_axis]
    block = display_slice(orient.plane(mask.data[tuple(local)], axis), axis)
    dbox = orient.box_to_display(box)
    row_axis, col_axis = plane_axes(axis)
    col0 = dbox[col_axis][0]
    # flipped: the block's last display z row becomes its first screen row
    row0 = orient.display_shape[0] - dbox[0][1] if is_flipped(axis) else dbox[row_axis][0]
    return block, (int(row0), int(col0))
