"""Resampling an overlay (a dose) from its own grid onto a frame's grid, once, when it loads."""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk

from ..core.geometry import Geometry
from .nifti import SITK_LOCK

logger = logging.getLogger(__name__)


def _image(array: np.ndarray, geometry: Geometry) -> sitk.Image:
    img = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float32))
    img.SetSpacing(geometry.spacing)
    img.SetOrigin(geometry.origin)
    img.SetDirection(geometry.direction)
    return img


def resample_onto(array: np.ndarray, source: Geometry, target: Geometry, outside: float = 0.0) -> np.ndarray:
    """Linear interpolation of a (z, y, x) array on ``source`` at the voxel centres of ``target``.

    Voxels of ``target`` outside the source grid get ``outside``. Grids may differ in every
    respect (spacing, origin, orientation); positions are matched in patient (LPS) coordinates.
    """
    if not source.differences(target):
        return np.asarray(array, dtype=np.float32)
    ref = sitk.Image(*[int(v) for v in target.size_xyz], sitk.sitkUInt8)
    ref.SetSpacing(target.spacing)
    ref.SetOrigin(target.origin)
    ref.SetDirection(target.direction)
    with SITK_LOCK:
        out = sitk.Resample(
            _image(array, source), ref, sitk.Transform(), sitk.sitkLinear, float(outside), sitk.sitkFloat32
        )
        return sitk.GetArrayFromImage(out)
