"""Small synthetic examples of the non-LUND-PROBE layouts, for tests and demos.

Deterministic from the seed. The grids are small (default 96 x 96 x 24 voxels) but keep the
real data's conventions: int16 CT in HU at about 1 x 1 x 3 mm (StructSeg), integer label maps,
uint8 0/1 masks, float32 dose (Gy) and uncertainty (0..0.5) maps.

* :func:`write_structseg_case` / :func:`write_structseg_dataset`: ``<root>/<n>/data.nii.gz`` +
  ``label.nii.gz`` (one GTV, 0/1, or several organ labels);
* :func:`write_multilabel_case`: an image, a label map and a ``labels.json`` or ``labels.csv``
  table (nasopharyngeal lymph-node levels by default);
* :func:`write_plain_folder`: an MRI, masks, a label map, a dose and an uncertainty map, and on
  request a file of another grid and a 4-D file (the problems a plain folder can have).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.geometry import Geometry, floats3
from ..io.csv_files import csv_text
from ..io.writer import atomic_write, header_from_geometry, write_nifti

logger = logging.getLogger(__name__)

NPC_NODE_LABELS: dict[int, str] = {1: "R_II+III+Va", 2: "L_II+III+Va", 3: "R_IV+Vb", 4: "L_IV+Vb", 5: "R_Ib", 6: "L_Ib"}
"""Labels of a nasopharyngeal lymph-node CTV set."""
THORAX_LABELS: dict[int, str] = {1: "Lung_L", 2: "Lung_R", 3: "Heart", 4: "Esophagus", 5: "SpinalCord"}
"""Organ labels of a StructSeg thoracic case (Task 3 style)."""

SMALL_SIZE_XYZ = (96, 96, 24)
CT_SPACING = (1.0, 1.0, 3.0)


def make_geometry(
    size_xyz: Sequence[int] = SMALL_SIZE_XYZ,
    spacing: Sequence[float] = CT_SPACING,
    direction: Sequence[float] | None = None,
) -> Geometry:
    """A grid centred on the world origin."""
    size = tuple(int(v) for v in size_xyz)
    sp = tuple(float(v) for v in spacing)
    d = tuple(float(v) for v in (direction or (1, 0, 0, 0, 1, 0, 0, 0, 1)))
    half = np.asarray(d, float).reshape(3, 3) @ (np.asarray(sp) * (np.asarray(size) - 1) / 2.0)
    return Geometry(size, sp, tuple(float(-v) for v in half), d)  # type: ignore[arg-type]


def _mm_grid(geom: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre offsets from the grid centre in mm, as (z, y, x) arrays (broadcastable)."""
    z, y, x = (np.arange(n, dtype=np.float32) for n in geom.shape_zyx)
    cz, cy, cx = ((n - 1) / 2.0 for n in geom.shape_zyx)
    sz, sy, sx = geom.spacing_zyx
    return ((z - cz) * sz)[:, None, None], ((y - cy) * sy)[None, :, None], ((x - cx) * sx)[None, None, :]


def ellipsoid(geom: Geometry, centre_mm: Sequence[float], radii_mm: Sequence[float]) -> np.ndarray:
    """Boolean (z, y, x) ellipsoid; ``centre_mm`` and ``radii_mm`` are (x, y, z) from the grid centre."""
    z, y, x = _mm_grid(geom)
    cx, cy, cz = centre_mm
    rx, ry, rz = radii_mm
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1.0


def _write(path: Path, array: np.ndarray, geom: Geometry) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_nifti(path, array, header_from_geometry(geom))


def synth_ct(geom: Geometry, rng: np.random.Generator) -> np.ndarray:
    """int16 thorax-like CT in HU: air, a body with two lungs and a spine."""
    ct = np.full(geom.shape_zyx, -1000, np.float32)
    w, h = geom.size_xyz[0] * geom.spacing[0], geom.size_xyz[1] * geom.spacing[1]
    body = ellipsoid(geom, (0, 0, 0), (0.42 * w, 0.32 * h, 1e4))
    ct[body] = 40
    for side in (-1, 1):
        ct[ellipsoid(geom, (side * 0.17 * w, -0.03 * h, 0), (0.12 * w, 0.2 * h, 1e4)) & body] = -820
    ct[ellipsoid(geom, (0, 0.22 * h, 0), (0.05 * w, 0.05 * h, 1e4))] = 700
    ct += rng.normal(0, 12, ct.shape).astype(np.float32)
    return np.clip(np.rint(ct), -1024, 3071).astype(np.int16)


def synth_mri(geom: Geometry, rng: np.random.Generator) -> np.ndarray:
    """uint16 MRI-like image: dark background, a bright body with a darker inner region."""
    w, h = geom.size_xyz[0] * geom.spacing[0], geom.size_xyz[1] * geom.spacing[1]
    img = np.zeros(geom.shape_zyx, np.float32)
    img[ellipsoid(geom, (0, 0, 0), (0.42 * w, 0.35 * h, 1e4))] = 600
    img[ellipsoid(geom, (0, 0, 0), (0.2 * w, 0.15 * h, 1e4))] = 300
    img += np.abs(rng.normal(0, 25, img.shape)).astype(np.float32)
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16)


def _jitter(rng: np.random.Generator, mm: float = 2.0) -> np.ndarray:
    return rng.uniform(-mm, mm, 3)


def gtv(geom: Geometry, rng: np.random.Generator) -> np.ndarray:
    """A lung GTV: an ellipsoid in the right lung (uint8 0/1)."""
    w, h = geom.size_xyz[0] * geom.spacing[0], geom.size_xyz[1] * geom.spacing[1]
    c = np.array([-0.17 * w, -0.05 * h, 0.0]) + _jitter(rng)
    return ellipsoid(geom, c, (9.0, 8.0, 12.0)).astype(np.uint8)


def node_label_map(geom: Geometry, labels: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """uint8 label map with one ellipsoid per label value, spread over the grid (non-overlapping)."""
    out = np.zeros(geom.shape_zyx, np.uint8)
    w, h, d = (n * s for n, s in zip(geom.size_xyz, geom.spacing))
    n = len(labels)
    for i, k in enumerate(labels):
        side = -1 if i % 2 == 0 else 1
        row = i // 2
        rows = max(1, (n + 1) // 2)
        c = np.array([side * 0.2 * w, (row - (rows - 1) / 2) * 0.6 * h / rows, 0.0]) + _jitter(rng, 1.0)
        blob = ellipsoid(geom, c, (0.08 * w, 0.22 * h / rows, 0.3 * d))
        out[blob & (out == 0)] = k
    return out


def write_label_table(path: Path, names: Mapping[int, str]) -> Path:
    """Write a label table: JSON ``{"1": "name"}`` for ``.json``, ``index,name`` rows for ``.csv``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        text = json.dumps({str(k): v for k, v in sorted(names.items())}, indent=2)
    else:
        rows = [{"index": k, "name": v} for k, v in sorted(names.items())]
        text = csv_text(rows, ("index", "name"))
    return atomic_write(path, text.encode("utf-8"))


def write_structseg_case(
    root: Path,
    case: str | int,
    *,
    seed: int = 0,
    labels: Mapping[int, str] | None = None,
    size_xyz: Sequence[int] = SMALL_SIZE_XYZ,
    spacing: Sequence[float] = CT_SPACING,
) -> Path:
    """Write ``<root>/<case>/data.nii.gz`` (int16 CT) and ``label.nii.gz``.

    Parameters
    ----------
    labels : mapping, optional
        Label values to paint as organs (a multi-label case); without it the label is one GTV (0/1).

    Returns
    -------
    Path
        The case folder.
    """
    rng = np.random.default_rng(seed)
    geom = make_geometry(size_xyz, spacing)
    folder = Path(root) / str(case)
    _write(folder / "data.nii.gz", synth_ct(geom, rng), geom)
    label = node_label_map(geom, sorted(labels), rng) if labels else gtv(geom, rng)
    _write(folder / "label.nii.gz", label, geom)
    return folder


def write_structseg_dataset(
    root: Path, cases: int = 2, *, seed: int = 0, labels: Mapping[int, str] | None = None, table: str | None = None
) -> list[Path]:
    """Write cases ``<root>/1..<cases>``; ``table`` (``"json"`` or ``"csv"``) adds a shared label table."""
    root = Path(root)
    out = [write_structseg_case(root, i + 1, seed=seed + i, labels=labels) for i in range(cases)]
    if table:
        write_label_table(root / f"labels.{table}", labels or {1: "GTV"})
    return out


def write_multilabel_case(
    folder: Path,
    *,
    seed: int = 0,
    names: Mapping[int, str] | None = None,
    table: str | None = "json",
    image: str = "mri",
    label_file: str = "labels_map",
    size_xyz: Sequence[int] = SMALL_SIZE_XYZ,
    spacing: Sequence[float] = (1.0, 1.0, 3.0),
    direction: Sequence[float] | None = None,
) -> Path:
    """Write an image, a label map ``<label_file>.nii.gz`` and a label table into ``folder``.

    Parameters
    ----------
    names : mapping, optional
        Label value to name (default :data:`NPC_NODE_LABELS`).
    table : {"json", "csv", None}
        Form of ``labels.json`` / ``labels.csv``; None writes no table (names fall back to ``label_<k>``).
    image : {"mri", "ct"}
        Modality of ``image.nii.gz``.
    """
    rng = np.random.default_rng(seed)
    names = dict(names or NPC_NODE_LABELS)
    geom = make_geometry(size_xyz, spacing, direction)
    folder = Path(folder)
    _write(folder / "image.nii.gz", synth_ct(geom, rng) if image == "ct" else synth_mri(geom, rng), geom)
    _write(folder / f"{label_file}.nii.gz", node_label_map(geom, sorted(names), rng), geom)
    if table:
        write_label_table(folder / f"labels.{table}", names)
    return folder


def write_plain_folder(
    folder: Path,
    *,
    seed: int = 0,
    mismatch: bool = False,
    four_d: bool = False,
    size_xyz: Sequence[int] = SMALL_SIZE_XYZ,
    spacing: Sequence[float] = (1.0, 1.0, 3.0),
) -> Path:
    """Write a plain folder of NIfTI files.

    Files: ``t2.nii.gz`` (uint16 MRI, the reference), ``mask_GTV.nii.gz`` and ``Rectum.nii.gz``
    (uint8 0/1), ``organs.nii.gz`` (label map 1..3, no table), ``dose.nii.gz`` (float32 Gy) and
    ``uncertainty.nii.gz`` (float32, 0..0.5). ``mismatch`` adds ``other_grid.nii.gz`` (a mask on a
    shifted grid) and ``four_d`` adds ``series_4d.nii.gz`` (a 4-D image).
    """
    rng = np.random.default_rng(seed)
    geom = make_geometry(size_xyz, spacing)
    folder = Path(folder)
    _write(folder / "t2.nii.gz", synth_mri(geom, rng), geom)
    w, h = geom.size_xyz[0] * geom.spacing[0], geom.size_xyz[1] * geom.spacing[1]
    gtv_mask = ellipsoid(geom, (0.05 * w, 0, 0), (10, 9, 12))
    _write(folder / "mask_GTV.nii.gz", gtv_mask.astype(np.uint8), geom)
    _write(folder / "Rectum.nii.gz", ellipsoid(geom, (0, 0.25 * h, 0), (6, 6, 20)).astype(np.uint8), geom)
    _write(folder / "organs.nii.gz", node_label_map(geom, [1, 2, 3], rng), geom)
    z, y, x = _mm_grid(geom)
    r2 = ((x - 0.05 * w) / 25) ** 2 + (y / 25) ** 2 + (z / 30) ** 2
    _write(folder / "dose.nii.gz", (45.0 * np.exp(-r2)).astype(np.float32), geom)
    unc = np.where(gtv_mask, 0.0, 0.5 * np.exp(-np.abs(np.sqrt(r2) - 0.45) * 6)).astype(np.float32)
    unc[unc < 0.02] = 0
    _write(folder / "uncertainty.nii.gz", unc, geom)
    if mismatch:
        other = Geometry(geom.size_xyz, geom.spacing, floats3(o + 5.0 for o in geom.origin), geom.direction)
        _write(folder / "other_grid.nii.gz", gtv_mask.astype(np.uint8), other)
    if four_d:
        img = sitk.JoinSeries([sitk.GetImageFromArray(synth_mri(geom, rng)) for _ in range(2)])
        with tempfile.TemporaryDirectory() as d:  # ITK writes in place: written aside, then through the one writer
            sitk.WriteImage(img, os.path.join(d, "4d.nii.gz"))
            with open(os.path.join(d, "4d.nii.gz"), "rb") as fh:
                atomic_write(folder / "series_4d.nii.gz", fh.read())
    return folder
