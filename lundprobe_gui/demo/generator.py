"""Writes synthetic LUND-PROBE patients with the dataset's exact layout, names, grids and dtypes.

Deterministic from the seed: the same arguments give byte-identical voxel data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..core.geometry import Geometry
from ..core.patient import LUNDPROBE_PRESCRIPTION_GY
from ..io.csv_files import csv_text
from ..io.output_root import claim_output_root
from ..io.writer import atomic_write, header_from_geometry, write_nifti
from .anatomy import Anatomy, make_anatomy
from .dl import synth_dl
from .grids import Grids, make_grids, world_box_to_index_box, world_coords
from .images import grow_mm, resample, sample_mask, synth_dose, synth_image

logger = logging.getLogger(__name__)

STRUCTURES = (
    "CTVT_427",
    "PTVT_427",
    "Rectum",
    "Bladder",
    "FemoralHead_L",
    "FemoralHead_R",
    "PenileBulb",
    "Genitalia",
    "BODY",
)
OPTIONAL = {"PenileBulb": 29 / 432, "Genitalia": 24 / 432}
DL_STRUCTURES = ("CTVT_427", "Rectum")
OBSERVERS = ("obsB", "obsC", "obsD", "obsE")
FIDUCIAL_RADIUS_MM = 3.0


@dataclass
class DemoOptions:
    """What to generate."""

    patients: int = 1
    part: str = "extended"
    size: str = "small"
    seed: int = 0
    direction: tuple[float, ...] | None = None
    origin_shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    force_missing: dict[int, list[str]] = field(default_factory=dict)


def patient_id(part: str, index: int) -> str:
    """Synthetic patient IDs; the extended part is numbered after the base part's 432."""
    return f"LUNDPROBE_{(index + 1) if part == 'base' else 433 + index:04d}"


class _Writer:
    def __init__(self, grids: Grids) -> None:
        self.headers = {id(g): header_from_geometry(g) for g in (grids.mri, grids.sct, grids.dose)}

    def __call__(self, path: Path, array: np.ndarray, geom: Geometry) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_nifti(path, array, self.headers[id(geom)])


def _full(geom: Geometry, box, block: np.ndarray) -> np.ndarray:
    out = np.zeros(geom.shape_zyx, np.uint8)
    out[tuple(slice(a, b) for a, b in box)] = block
    return out


def _structure_masks(geom: Geometry, anat: Anatomy, names: list[str]) -> dict[str, np.ndarray]:
    masks: dict[str, np.ndarray] = {}
    for name in names:
        if name in ("PTVT_427", "BODY"):
            continue
        masks[name] = sample_mask(geom, anat.organs[name])
    if "PTVT_427" in names:
        masks["PTVT_427"] = grow_mm(masks["CTVT_427"], geom.spacing_zyx, 7.0)
    if "BODY" in names:
        body = np.zeros(geom.shape_zyx, np.uint8)
        for z0 in range(0, geom.shape_zyx[0], 8):
            box = ((z0, min(z0 + 8, geom.shape_zyx[0])), (0, geom.shape_zyx[1]), (0, geom.shape_zyx[2]))
            body[z0 : box[0][1]] = anat.body_sdf(world_coords(geom, box)) <= 0
        masks["BODY"] = body
    return masks


def _fiducial_mask(geom: Geometry, points: np.ndarray) -> np.ndarray:
    out = np.zeros(geom.shape_zyx, np.uint8)
    for p in points:
        lo, hi = p - FIDUCIAL_RADIUS_MM - 2, p + FIDUCIAL_RADIUS_MM + 2
        box = world_box_to_index_box(geom, lo, hi)
        if box is None:
            continue
        c = world_coords(geom, box)
        d2 = (c[0] - np.float32(p[0])) ** 2 + (c[1] - np.float32(p[1])) ** 2 + (c[2] - np.float32(p[2])) ** 2
        out[tuple(slice(a, b) for a, b in box)] |= (d2 <= FIDUCIAL_RADIUS_MM**2).astype(np.uint8)
    return out


def generate_patient(
    root: Path,
    pid: str,
    rng: np.random.Generator,
    opts: DemoOptions,
    missing: list[str],
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write one patient folder under ``root``; return its geometry row for the dataset CSV."""
    say = progress or (lambda s: None)
    centre = np.array([rng.normal(0, 8), rng.normal(-10, 6), rng.normal(-20, 10)]) + np.asarray(opts.origin_shift)
    grids = make_grids(opts.size, centre, opts.direction)
    anat = make_anatomy(rng, centre)
    write = _Writer(grids)
    pdir = root / pid
    mri_dir, sct_dir = pdir / "MR_StorT2", pdir / "sCT"
    names = [s for s in STRUCTURES if s not in missing]

    say(f"{pid}: MRI")
    write(mri_dir / "image.nii.gz", synth_image(grids.mri, anat, rng, "mri"), grids.mri)
    say(f"{pid}: sCT")
    sct = synth_image(grids.sct, anat, rng, "ct")
    write(sct_dir / "image.nii.gz", sct, grids.sct)
    write(sct_dir / "image_reg2MRI.nii.gz", resample(sct, grids.sct, grids.mri).astype(np.int16), grids.mri)
    del sct

    say(f"{pid}: dose")
    ctv_dose = sample_mask(grids.dose, anat.organs["CTVT_427"])
    ptv_dose = grow_mm(ctv_dose, grids.dose.spacing_zyx, 7.0)
    dose = synth_dose(grids.dose, anat, ptv_dose, LUNDPROBE_PRESCRIPTION_GY, rng)
    write(sct_dir / "dose_original.nii.gz", dose, grids.dose)
    write(sct_dir / "dose_interpolated.nii.gz", resample(dose, grids.dose, grids.sct).astype(np.float32), grids.sct)
    write(mri_dir / "dose_interpolated.nii.gz", resample(dose, grids.dose, grids.mri).astype(np.float32), grids.mri)
    del dose

    say(f"{pid}: structures")
    multi_cc: list[str] = []
    for geom, folder in ((grids.mri, mri_dir), (grids.sct, sct_dir)):
        for name, arr in _structure_masks(geom, anat, names).items():
            write(folder / f"mask_{name}.nii.gz", arr, geom)
            if geom is grids.mri and ndimage.label(arr)[1] > 1:
                multi_cc.append(name)
    write(mri_dir / "mask_MRI_T2_coords_fiducials.nii.gz", _fiducial_mask(grids.mri, anat.fiducials), grids.mri)
    atomic_write(
        mri_dir / "MRI_T2_DICOM_coords_fiducials.txt",
        "".join(f"{p[0]:.4f},{p[1]:.4f},{p[2]:.4f}\n" for p in anat.fiducials).encode(),
    )

    if opts.part == "extended":
        for s in DL_STRUCTURES:
            say(f"{pid}: nnU-Net {s}")
            res = synth_dl(grids.mri, anat.organs[s], rng, OBSERVERS)
            if res is None:
                continue
            dl_dir = mri_dir / "nnUNetOutput"
            write(dl_dir / f"mask_{s}_nnUNet.nii.gz", _full(grids.mri, res.box, res.ensemble), grids.mri)
            unc = np.zeros(grids.mri.shape_zyx, np.float32)
            unc[tuple(slice(a, b) for a, b in res.box)] = res.uncertainty
            write(dl_dir / f"mask_{s}_nnUNet_uncertaintyMap.nii.gz", unc, grids.mri)
            del unc
            for n, fold in enumerate(res.folds):
                write(dl_dir / "folds" / f"mask_{s}_nnUNet_fold_{n}.nii.gz", _full(grids.mri, res.box, fold), grids.mri)
            for src, arr in res.observers.items():
                write(mri_dir / "observerData" / f"mask_{s}_{src}.nii.gz", _full(grids.mri, res.box, arr), grids.mri)
    row: dict[str, Any] = {"patient": pid}
    for tag, g in (("MRI", grids.mri), ("sCT", grids.sct), ("dose", grids.dose)):
        for i, a in enumerate("xyz"):
            row[f"{tag}_size_{a}"] = g.size_xyz[i]
        for i, a in enumerate("xyz"):
            row[f"{tag}_spacing_{a}"] = g.spacing[i]
    row["multi_cc"] = multi_cc
    return row


def generate(out: Path, opts: DemoOptions, progress: Callable[[str], None] | None = None) -> list[Path]:
    """Write ``opts.patients`` patients and the dataset-root files into ``out``; return the patient folders."""
    if opts.part not in ("base", "extended"):
        raise ValueError(f"part must be 'base' or 'extended', not {opts.part!r}")
    if opts.patients < 1:
        raise ValueError("at least one patient is needed")
    out = claim_output_root(Path(out), "demo")  # never over a dataset or into a patient folder
    suffix = "basePart" if opts.part == "base" else "extendedPart"
    missing_all: dict[str, list[str]] = {}
    rows = []
    paths = []
    for i in range(opts.patients):
        rng = np.random.default_rng([opts.seed, i])
        pid = patient_id(opts.part, i)
        missing = [s for s, p in OPTIONAL.items() if rng.random() < p]
        missing = sorted(set(missing) | set(opts.force_missing.get(i, [])))
        if missing:
            missing_all[pid] = missing
        rows.append(generate_patient(out, pid, rng, opts, missing, progress))
        paths.append(out / pid)
    atomic_write(out / f"missingStructures_{suffix}.json", json.dumps(missing_all, indent=2).encode())
    atomic_write(
        out / f"StructuresMoreThan1ConComp_{suffix}.txt",
        "".join(f"{r['patient']}: {s}\n" for r in rows for s in r["multi_cc"]).encode(),
    )
    fields = [k for k in rows[0] if k != "multi_cc"]
    atomic_write(out / f"patGeometryInformation_{suffix}.csv", csv_text(rows, fields).encode("utf-8"))
    return paths
