"""Overlays on another grid: a dose or uncertainty map resampled once, linearly, onto a frame's grid.

A dose computed on the planning grid (2.5 mm), a plain-folder dose that is not on its image's
grid, or a dose converted from RTDOSE lies in the same world space as the frame but on its own
grid. :func:`resampled_volume` wraps such a :class:`~lundprobe_gui.core.volume.Volume` into one on
the frame's grid, so the views and the DVH use it like any other layer:

* the resampling runs once, when the volume is first loaded (the UI loads layers in the
  background), and the source's voxels are dropped afterwards;
* it is trilinear (SimpleITK), with 0 outside the source grid;
* only the target voxels that can see the source's non-zero box are computed and kept (the result
  is a cropped :class:`~lundprobe_gui.core.volume.Slab`), so a small planning-grid dose costs a
  small block on a 61 M-voxel MRI grid;
* :attr:`Volume.resampled_from` keeps the source grid, and :func:`resampled_note` says so in
  words ("resampled from 2.5 mm grid") for the layer list, ``info`` and the DVH.

Readers of any format use :func:`attach_overlay`: give it the frame and a volume on the file's own
grid; it is added as is when the grids match, resampled when they share world space, and refused
with a :class:`~lundprobe_gui.core.patient.Problem` when they do not.

Masks are never resampled: a mask on another grid is a geometry mismatch and is left out.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import SimpleITK as sitk

from .geometry import Geometry, ints3
from .memory import check_fits
from .patient import Frame, Problem
from .volume import Slab, Volume

logger = logging.getLogger(__name__)

RESAMPLABLE_KINDS = ("dose", "uncertainty")


def grid_label(geometry: Geometry) -> str:
    """A grid in words: ``"2.5 mm grid"`` when isotropic, else ``"0.94 x 0.94 x 2.5 mm grid"``."""
    sp = [float(f"{v:.3g}") for v in geometry.spacing]
    if max(sp) - min(sp) <= 1e-3 * max(sp):
        return f"{sp[0]:g} mm grid"
    return " x ".join(f"{v:g}" for v in sp) + " mm grid"


def resampled_note(vol: Volume) -> str:
    """``"resampled from 2.5 mm grid"`` for a resampled volume, else an empty string."""
    src = getattr(vol, "resampled_from", None)
    return f"resampled from {grid_label(src)}" if src is not None else ""


def target_box(block_shape: tuple[int, ...], offset: tuple[int, ...], src: Geometry, dst: Geometry):
    """The (z, y, x) box of ``dst`` voxels whose linear interpolation can touch a block of ``src``.

    Returns None when the block lies outside ``dst``.
    """
    if any(n == 0 for n in block_shape):
        return None
    corners = []
    for c in itertools.product(*[(o - 0.5, o + n - 0.5) for o, n in zip(offset, block_shape)]):
        corners.append(c[::-1])  # (x, y, z)
    idx = dst.world_to_index(src.index_to_world(np.asarray(corners)))
    if not np.all(np.isfinite(idx)):
        return None
    lo = np.floor(idx.min(axis=0)) - 1
    hi = np.ceil(idx.max(axis=0)) + 2
    box = []
    for axis_xyz in (2, 1, 0):
        n = dst.size_xyz[axis_xyz]
        a, b = max(0, int(lo[axis_xyz])), min(n, int(hi[axis_xyz]))
        if a >= b:
            return None
        box.append((a, b))
    return tuple(box)


def resample_block(block: np.ndarray, offset: tuple[int, int, int], src: Geometry, dst: Geometry) -> Slab:
    """Resample a block of ``src`` (its voxels at ``offset``; zero elsewhere) onto ``dst``, linearly.

    Parameters
    ----------
    block : numpy.ndarray
        (z, y, x) values of the source's stored block.
    offset : tuple of int
        Source (z, y, x) index of ``block[0, 0, 0]``.
    src, dst : Geometry
        Source and target grids, in the same world (LPS) space.

    Returns
    -------
    Slab
        The target grid's values, cropped to the voxels the block can reach (empty when none).
    """
    if block.size == 0:
        return Slab(dst.shape_zyx, (0, 0, 0), np.zeros((0, 0, 0), np.float32))
    # One voxel of the zeros around the block (inside the source grid): interpolation towards them is
    # then exactly what it is on the full image, instead of ending flat at the block's edge.
    pad = [(min(1, o), min(1, n - o - b)) for o, b, n in zip(offset, block.shape, src.shape_zyx)]
    block = np.pad(block.astype(np.float32, copy=False), pad)
    offset = ints3(o - lo for o, (lo, _) in zip(offset, pad))
    box = target_box(block.shape, offset, src, dst)
    if box is None:
        return Slab(dst.shape_zyx, (0, 0, 0), np.zeros((0, 0, 0), np.float32))
    image = sitk.GetImageFromArray(block)
    image.SetSpacing(src.spacing)
    image.SetDirection(src.direction)
    image.SetOrigin(tuple(float(v) for v in src.index_to_world(offset[::-1])))
    # the resampled block and SimpleITK's copy of it
    check_fits(2 * 4 * int(np.prod([b - a for a, b in box])), "the resampled overlay")
    start_zyx = tuple(a for a, _ in box)
    ref = sitk.Image([int(b - a) for a, b in box[::-1]], sitk.sitkFloat32)
    ref.SetSpacing(dst.spacing)
    ref.SetDirection(dst.direction)
    ref.SetOrigin(tuple(float(v) for v in dst.index_to_world(start_zyx[::-1])))
    out = sitk.Resample(image, ref, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return Slab(dst.shape_zyx, start_zyx, sitk.GetArrayFromImage(out))


def overlaps(src: Geometry, dst: Geometry) -> bool:
    """Whether two grids share any world space (a resampled overlay would not be all zero)."""
    return target_box(src.shape_zyx, (0, 0, 0), src, dst) is not None


def resampled_volume(source: Volume, grid: Geometry) -> Volume:
    """A volume on ``grid`` holding ``source`` resampled once (linearly) when it is first loaded.

    Parameters
    ----------
    source : Volume
        A dose or uncertainty map on its own grid, in the same world space as ``grid``.
    grid : Geometry
        The frame's grid.

    Returns
    -------
    Volume
        Same path, kind and name; cropped; ``resampled_from`` is the source grid. The source's own
        voxels are dropped once the resampled ones exist.

    Raises
    ------
    ValueError
        For an image or any kind that is not a continuous overlay (masks are never resampled).
    """
    if source.kind not in RESAMPLABLE_KINDS:
        raise ValueError(f"only {' and '.join(RESAMPLABLE_KINDS)} maps are resampled, not a {source.kind}")

    def load(_path) -> Slab:
        try:
            source.load()
            logger.info("resampling %s from %s onto %s", source.path.name, grid_label(source.geometry), grid.size_xyz)
            return resample_block(source.voxels(), source.offset, source.geometry, grid)
        finally:
            source.unload()

    vol = Volume(source.path, grid, source.kind, load, crop=True, name=source.name)
    vol.resampled_from = source.geometry
    return vol


def attach_overlay(frame: Frame, vol: Volume) -> Problem | None:
    """Add a dose or uncertainty volume to a frame, resampled onto its grid when it has its own.

    Parameters
    ----------
    frame : Frame
        The frame to show it on.
    vol : Volume
        A ``dose`` (into ``frame.doses``) or ``uncertainty`` map (into ``frame.uncertainty``),
        keyed by ``vol.name``, with the geometry of its file.

    Returns
    -------
    Problem or None
        Why it was left out (its grid shares no world space with the frame's), else None.
    """
    target = frame.doses if vol.kind == "dose" else frame.uncertainty
    if not vol.geometry.differences(frame.geometry):
        target[vol.name] = vol
        return None
    if not overlaps(vol.geometry, frame.geometry):
        return Problem(
            str(vol.path),
            "geometry-mismatch",
            f"its {grid_label(vol.geometry)} does not overlap the {frame.name} image in world space; left out",
        )
    target[vol.name] = resampled_volume(vol, frame.geometry)
    logger.info("%s: %s on the %s frame (%s)", vol.path.name, vol.kind, frame.name, resampled_note(target[vol.name]))
    return None
