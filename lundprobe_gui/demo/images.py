"""Synthetic T2w MRI, sCT (HU) and dose from an :class:`Anatomy`, sampled on any grid."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..core.geometry import Geometry
from ..core.mask import Box, as_box
from .anatomy import Anatomy, Ellipsoid, Tube
from .grids import full_box, world_box_to_index_box, world_coords

# Tissue classes of the label map the images are painted from.
AIR, FAT, MUSCLE, URINE, PROSTATE_CG, PROSTATE_PZ, RECTAL_WALL, GAS, CORTEX, MARROW, BULB, GENITAL = range(12)
# T2w: urine and fat bright, muscle and cortical bone dark, peripheral zone brighter than the central gland.
MRI_VALUES = np.array([0, 520, 150, 1150, 300, 520, 170, 12, 25, 430, 640, 480], np.float32)
CT_VALUES = np.array([-1000, -95, 45, 8, 38, 33, 40, -850, 1150, 260, 42, 30], np.float32)
SLAB = 8


def shape_box(geom: Geometry, shape: Ellipsoid | Tube, margin: float = 2.0) -> Box | None:
    """Index box of ``geom`` that holds ``shape``."""
    lo, hi = shape.bounds(margin)
    return world_box_to_index_box(geom, lo, hi)


def sample_shape(geom: Geometry, shape: Ellipsoid | Tube) -> tuple[Box | None, np.ndarray | None]:
    """Inside of ``shape`` on ``geom``: (box, bool block) or (None, None) when outside the grid."""
    box = shape_box(geom, shape)
    if box is None:
        return None, None
    return box, shape.sdf(world_coords(geom, box)) <= 0


def _paint(labels: np.ndarray, geom: Geometry, slab: Box, shape, fn) -> None:
    box = shape_box(geom, shape)
    if box is None:
        return
    inter = as_box((max(a[0], b[0]), min(a[1], b[1])) for a, b in zip(box, slab))
    if any(a >= b for a, b in inter):
        return
    sdf = shape.sdf(world_coords(geom, inter))
    local = tuple(slice(a - s[0], b - s[0]) for (a, b), s in zip(inter, slab))
    fn(labels[local], sdf)


def tissue_labels(geom: Geometry, anat: Anatomy, slab: Box) -> np.ndarray:
    """Tissue class of every voxel of ``slab``."""
    coords = world_coords(geom, slab)
    body = anat.body_sdf(coords)
    labels = np.where(body <= 0, FAT, AIR).astype(np.uint8)
    dx = (coords[0] - np.float32(anat.centre[0])) / np.float32(anat.body_radii[0] * 0.8)
    dy = (coords[1] - np.float32(anat.centre[1] + 8.0)) / np.float32(anat.body_radii[1] * 0.74)
    labels[(dx * dx + dy * dy <= 1.0) & (body <= 0)] = MUSCLE
    o = anat.organs

    def setter(value, cond=lambda s: s <= 0):
        def fn(view, sdf):
            view[cond(sdf)] = value

        return fn

    for bone in [*anat.bones, o["FemoralHead_L"], o["FemoralHead_R"]]:
        _paint(labels, geom, slab, bone, setter(CORTEX))
        _paint(labels, geom, slab, bone, setter(MARROW, lambda s: s <= -3.0))
    _paint(labels, geom, slab, o["Genitalia"], setter(GENITAL))
    _paint(labels, geom, slab, o["Bladder"], setter(URINE))
    _paint(labels, geom, slab, o["Rectum"], setter(RECTAL_WALL))
    _paint(labels, geom, slab, o["Rectum"], setter(GAS, lambda s: s <= -8.0))
    _paint(labels, geom, slab, o["PenileBulb"], setter(BULB))
    pr = o["CTVT_427"]

    def prostate(view, sdf):
        view[sdf <= 0] = PROSTATE_PZ
        view[sdf <= -5.5] = PROSTATE_CG

    _paint(labels, geom, slab, pr, prostate)
    return labels


def _slabs(geom: Geometry):
    nz, ny, nx = geom.shape_zyx
    for z0 in range(0, nz, SLAB):
        yield ((z0, min(nz, z0 + SLAB)), (0, ny), (0, nx))


def synth_image(geom: Geometry, anat: Anatomy, rng: np.random.Generator, modality: str) -> np.ndarray:
    """A T2w MRI (``'mri'``) or sCT in HU (``'ct'``) as int16 (z, y, x), built slab by slab to bound memory."""
    out = np.empty(geom.shape_zyx, np.int16)
    values = MRI_VALUES if modality == "mri" else CT_VALUES
    for slab in _slabs(geom):
        labels = tissue_labels(geom, anat, slab)
        img = values[labels]
        shape = img.shape
        if modality == "mri":
            x, y, _z = world_coords(geom, slab)
            bias = (
                1.0
                + np.float32(0.12) * np.sin((x - np.float32(anat.centre[0])) / np.float32(160.0))
                + np.float32(0.08) * np.cos((y - np.float32(anat.centre[1])) / np.float32(120.0))
            )
            img = img * bias
            n1 = rng.standard_normal(shape, np.float32) * np.float32(18.0)
            n2 = rng.standard_normal(shape, np.float32) * np.float32(18.0)
            img = np.sqrt((img + n1) ** 2 + n2**2)  # Rician noise, like magnitude MR data
        else:
            img = img + rng.standard_normal(shape, np.float32) * np.float32(12.0)
        sl = tuple(slice(a, b) for a, b in slab)
        out[sl] = np.clip(img, -1024, 32000).astype(np.int16)
    return out


def sample_mask(geom: Geometry, shape: Ellipsoid | Tube) -> np.ndarray:
    """Full-size uint8 0/1 mask of ``shape`` on ``geom``."""
    out = np.zeros(geom.shape_zyx, np.uint8)
    box, block = sample_shape(geom, shape)
    if box is not None and block is not None:
        out[tuple(slice(a, b) for a, b in box)] = block
    return out


def grow_mm(mask: np.ndarray, spacing_zyx: tuple[float, float, float], margin: float) -> np.ndarray:
    """Exact isotropic margin in mm (Euclidean distance map with the voxel spacing), cropped for speed."""
    out = np.zeros_like(mask)
    idx = np.argwhere(mask)
    if idx.size == 0:
        return out
    pad = [int(np.ceil(margin / s)) + 1 for s in spacing_zyx]
    lo = np.maximum(idx.min(0) - pad, 0)
    hi = np.minimum(idx.max(0) + 1 + np.array(pad), mask.shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    dist = ndimage.distance_transform_edt(mask[sl] == 0, sampling=spacing_zyx)
    out[sl] = dist <= margin + 1e-6
    return out


def synth_dose(
    geom: Geometry, anat: Anatomy, ptv_on_dose: np.ndarray, prescription: float, rng: np.random.Generator
) -> np.ndarray:
    """A conformal dose (Gy) on the planning grid: ~103 % in the PTV, steep fall-off, a low-dose bath."""
    dist_out = ndimage.distance_transform_edt(ptv_on_dose == 0, sampling=geom.spacing_zyx).astype(np.float32)
    coords = world_coords(geom, full_box(geom))
    body = anat.body_sdf(coords) <= 0
    hot = 1.03 + 0.015 * np.sin(coords[0] / np.float32(9.0)) * np.cos(coords[2] / np.float32(11.0))
    falloff = np.exp(-((dist_out / np.float32(11.0)) ** np.float32(1.15)))
    zc = coords[2] - np.float32(anat.centre[2])
    bath = np.float32(0.07) * np.exp(-((zc / np.float32(45.0)) ** 2))
    rel = np.where(ptv_on_dose > 0, hot, np.maximum(hot * falloff, bath))
    dose = (rel * np.float32(prescription)).astype(np.float32)
    dose[~body] = 0.0
    return dose


def resample(array: np.ndarray, src: Geometry, dst: Geometry, linear: bool = True) -> np.ndarray:
    """Resample an array from one grid onto another with SimpleITK (as the dataset's interpolated copies)."""
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(src.spacing)
    img.SetOrigin(src.origin)
    img.SetDirection(src.direction)
    ref = sitk.Image(*dst.size_xyz, sitk.sitkUInt8)
    ref.SetSpacing(dst.spacing)
    ref.SetOrigin(dst.origin)
    ref.SetDirection(dst.direction)
    interp = sitk.sitkLinear if linear else sitk.sitkNearestNeighbor
    out = sitk.Resample(img, ref, sitk.Transform(), interp, float(array.min()) if array.size else 0.0)
    return sitk.GetArrayFromImage(out)
