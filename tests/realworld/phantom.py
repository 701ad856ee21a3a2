"""An asymmetric phantom stored in any of the 48 axis orders, for orientation tests.

Written in LPS (identity direction), then reoriented with SimpleITK's ``DICOMOrient``, which
permutes and flips the stored axes while every voxel keeps its world position.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import SimpleITK as sitk

SIZE_XYZ = (24, 20, 16)
SPACING = (1.0, 1.25, 1.5)
ORIGIN = (-12.0, -10.0, 30.0)

CODES = tuple(
    "".join(letters[i] for i in range(3))
    for perm in itertools.permutations((("L", "R"), ("P", "A"), ("S", "I")))
    for letters in itertools.product(*perm)
)
"""The 48 orientation codes: the direction each stored axis (x, y, z) runs towards."""


def lps_arrays() -> dict[str, np.ndarray]:
    """(z, y, x) arrays of the phantom's files, stored LPS: x to the left, y posterior, z superior."""
    nx, ny, nz = SIZE_XYZ
    z, y, x = np.indices((nz, ny, nx))
    image = (100 + 3 * x + 5 * y + 7 * z).astype(np.int16)
    image[4:12, 6:14, 18:22] = 2000  # a mark at the patient's left
    image[5:10, 1:4, 8:14] = 1500  # a mark anterior
    image[13:15, 5:12, 5:11] = 1000  # a mark superior
    mask = np.zeros((nz, ny, nx), np.uint8)
    mask[3:11, 5:15, 6:12] = 1
    mask[3:6, 5:9, 12:19] = 1  # an L: a foot towards the left, at the inferior anterior corner
    dose = (40.0 * np.exp(-((x - 14) ** 2 + (y - 9) ** 2 + (z - 8) ** 2) / 60.0)).astype(np.float32)
    unc = np.where(mask > 0, 0.05 + 0.02 * (x % 5) + 0.01 * (z % 3), 0.0).astype(np.float32)
    return {"image": image, "mask_Lshape": mask, "dose": dose, "uncert_Lshape": unc}


def lps_image(arr: np.ndarray) -> sitk.Image:
    """A SimpleITK image of the phantom grid, stored LPS."""
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(SPACING)
    img.SetOrigin(ORIGIN)
    return img


def write_phantom(folder: Path, code: str = "LPS") -> Path:
    """Write the phantom's files into ``folder`` stored in orientation ``code``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in lps_arrays().items():
        img = sitk.DICOMOrient(lps_image(arr), code)
        sitk.WriteImage(img, str(folder / f"{name}.nii.gz"))
    return folder
