"""Discovery of one LUND-PROBE patient folder (headers only).

Layout (see docs/dataset-layout.md)::

    <patient>/MR_StorT2/  image, dose_interpolated, mask_<S>, fiducials, nnUNetOutput/, observerData/
    <patient>/sCT/        image, image_reg2MRI, dose_original, dose_interpolated, mask_<S>
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..core.geometry import Geometry
from ..core.patient import Fiducial, Frame, Patient, Problem, StructureRef
from ..core.regrid import RESAMPLABLE_KINDS, attach_overlay
from ..core.volume import Volume
from . import nifti
from .slab_reader import load_slab_or_array
from .probe import Probe, is_image_name, probe, strip_suffix
from .store import FileStore

logger = logging.getLogger(__name__)

MRI_DIR = "MR_StorT2"
SCT_DIR = "sCT"
FIDUCIAL_TXT = "MRI_T2_DICOM_coords_fiducials.txt"
FIDUCIAL_MASK = "MRI_T2_coords_fiducials"
CLINICAL_STRUCTURES = (
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
DL_STRUCTURES = ("CTVT_427", "Rectum")
OBSERVERS = ("obsB", "obsC", "obsD", "obsE")

_NNUNET = re.compile(r"^mask_(?P<s>.+)_nnUNet$")
_UNCERTAINTY = re.compile(r"^mask_(?P<s>.+)_nnUNet_uncertaintyMap$")
_FOLD = re.compile(r"^mask_(?P<s>.+)_nnUNet_fold_(?P<n>\d+)$")
_OBSERVER = re.compile(r"^mask_(?P<s>.+?)_(?P<src>step\d+_[A-Za-z0-9_-]+)$")


def detect(path: Path) -> bool:
    """A LUND-PROBE patient folder has MR_StorT2/ or sCT/."""
    return (path / MRI_DIR).is_dir() or (path / SCT_DIR).is_dir()


def load_volume_array(path: Path):
    """Loader used by :class:`Volume`: the fast NIfTI path with a SimpleITK fallback."""
    return nifti.load_array(path)


def _images(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p.name))
    except OSError:
        return []


def _classify_mri(path: Path, root: Path) -> tuple[str, str, str]:
    """(kind, name, source) for a file under MR_StorT2: kind in image/dose/uncertainty/mask/unknown."""
    stem = strip_suffix(path.name)
    rel = path.relative_to(root).parts
    if len(rel) == 1:
        if stem == "image":
            return "image", "image", ""
        if stem.startswith("dose"):
            return "dose", stem, ""
        if stem.startswith("mask_"):
            return "mask", stem[5:], "clinical"
    elif rel[0] == "nnUNetOutput" and len(rel) == 2:
        if m := _UNCERTAINTY.match(stem):
            return "uncertainty", m["s"], "nnUNet"
        if m := _NNUNET.match(stem):
            return "mask", m["s"], "nnUNet"
    elif rel[:2] == ("nnUNetOutput", "folds") and len(rel) == 3:
        if m := _FOLD.match(stem):
            return "mask", m["s"], f"nnUNet_fold_{int(m['n'])}"
    elif rel[0] == "observerData" and len(rel) == 2:
        if m := _OBSERVER.match(stem):
            return "mask", m["s"], m["src"]
    return "unknown", stem, ""


def _classify_sct(path: Path) -> tuple[str, str, str]:
    stem = strip_suffix(path.name)
    if stem == "image":
        return "image", "image", ""
    if stem == "image_reg2MRI":
        return "image_reg2MRI", "sCT", ""
    if stem.startswith("dose"):
        return "dose", stem, ""
    if stem.startswith("mask_"):
        return "mask", stem[5:], "clinical"
    return "unknown", stem, ""


def read_missing(dataset_root: Path, patient_id: str) -> tuple[list[str], list[Problem]]:
    """Expected-missing structures of a patient from the dataset root's missingStructures_*.json."""
    missing: list[str] = []
    problems: list[Problem] = []
    for f in sorted(dataset_root.glob("missingStructures_*.json")):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            entry = data.get(patient_id, []) if isinstance(data, dict) else []
            missing.extend(str(s) for s in (entry if isinstance(entry, list) else [entry]))
        except (OSError, ValueError, UnicodeDecodeError) as e:
            problems.append(Problem(str(f), "corrupt", f"cannot read the missing-structure list: {e}"))
    return missing, problems


def read_fiducials(path: Path, geometry: Geometry) -> tuple[list[Fiducial], list[Problem]]:
    """Parse ``x,y,z`` world-mm lines and map them through the full geometry (direction included)."""
    fids: list[Fiducial] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return [], [Problem(str(path), "unreadable", f"cannot read fiducials: {e}")]
    for i, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p for p in re.split(r"[,;\s]+", line) if p]
        try:
            xyz = tuple(float(v) for v in parts[:3])
            if len(parts) < 3 or not all(abs(v) < 1e6 for v in xyz):
                raise ValueError(line)
        except ValueError:
            return fids, [Problem(str(path), "corrupt", f"line {i} is not 'x,y,z' in mm: {line[:60]!r}")]
        idx = geometry.world_to_index(xyz)
        fids.append(Fiducial(xyz, tuple(float(v) for v in idx)))
    return fids, []


def _probe_all(paths: list[Path]) -> dict[Path, Probe | Problem]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(paths, pool.map(probe, paths)))


def _frame_geometry(
    name: str, ref: Path, probes: dict[Path, Probe | Problem], problems: list[Problem]
) -> Geometry | None:
    """The reference image's grid; without a usable reference, the grid most of the frame's files share."""
    got = probes.get(ref)
    if isinstance(got, Probe):
        return got.geometry
    if got is None:
        problems.append(Problem(str(ref), "missing", f"the {name} reference image is missing"))
    votes = Counter(p.geometry for p in probes.values() if isinstance(p, Probe))
    if not votes:
        return None
    geom = votes.most_common(1)[0][0]
    problems.append(
        Problem(str(ref), "missing", f"no usable {name} reference image; its grid is taken from the other files")
    )
    return geom


def discover(path: Path) -> Patient:
    """Build a :class:`Patient` from a LUND-PROBE patient folder, reading headers only."""
    path = Path(path)
    pid = path.name
    dataset_root = path.parent
    problems: list[Problem] = []
    frames: dict[str, Frame] = {}

    mri_dir, sct_dir = path / MRI_DIR, path / SCT_DIR
    mri_files = (
        _images(mri_dir)
        + _images(mri_dir / "nnUNetOutput")
        + _images(mri_dir / "nnUNetOutput" / "folds")
        + _images(mri_dir / "observerData")
    )
    sct_files = _images(sct_dir)
    probes = _probe_all(mri_files + sct_files)
    for pr in probes.values():
        problems.extend([pr] if isinstance(pr, Problem) else pr.notes)

    if mri_dir.is_dir():
        geom = _frame_geometry("MRI", mri_dir / "image.nii.gz", {p: probes[p] for p in mri_files}, problems)
        if geom is not None:
            frames["MRI"] = Frame("MRI", geom, MRI_DIR)
    if sct_dir.is_dir():
        geom = _frame_geometry(
            "sCT",
            sct_dir / "image.nii.gz",
            {
                p: probes[p]
                for p in sct_files
                if strip_suffix(p.name) != "dose_original" and strip_suffix(p.name) != "image_reg2MRI"
            },
            problems,
        )
        if geom is not None:
            frames["sCT"] = Frame("sCT", geom, SCT_DIR)
    if not frames:
        raise FileNotFoundError(
            f"{path}: no usable image found; expected {MRI_DIR}/image.nii.gz or {SCT_DIR}/image.nii.gz"
        )

    for f in mri_files:
        if "MRI" in frames:
            _add_layer(frames["MRI"], f, probes[f], *_classify_mri(f, mri_dir), problems)
    for f in sct_files:
        kind, name, source = _classify_sct(f)
        if kind == "image_reg2MRI":
            if "MRI" in frames:
                _add_layer(frames["MRI"], f, probes[f], "image", "sCT", "", problems)
        elif "sCT" in frames:
            _add_layer(frames["sCT"], f, probes[f], kind, name, source, problems)

    missing, miss_problems = read_missing(dataset_root, pid)
    problems.extend(miss_problems)
    fiducials: list[Fiducial] = []
    txt = mri_dir / FIDUCIAL_TXT
    if txt.is_file() and "MRI" in frames:
        fiducials, fid_problems = read_fiducials(txt, frames["MRI"].geometry)
        problems.extend(fid_problems)
    if "MRI" in frames and _is_prostate_patient(mri_files, dataset_root):
        have = {n for (n, s) in frames["MRI"].structures if s == "clinical"}
        bad = {Path(p.path).name for p in problems}
        for s in CLINICAL_STRUCTURES:
            if s not in have and s not in missing and f"mask_{s}.nii.gz" not in bad:
                problems.append(
                    Problem(
                        str(mri_dir / f"mask_{s}.nii.gz"),
                        "missing",
                        f"structure {s} is not present and not listed as expected-missing",
                    )
                )
    return Patient(path, pid, "lundprobe", frames, FileStore(), problems, missing, fiducials, dataset_root)


def _is_prostate_patient(mri_files: list[Path], dataset_root: Path) -> bool:
    """Whether the prostate structure list applies: the dataset lists expected-missing structures, or the
    patient has a file of at least one of LUND-PROBE's clinical structures (another dataset in MR_StorT2/sCT
    folders has none, and is not told that CTVT_427 or PenileBulb is missing)."""
    names = {f.name for f in mri_files}
    if any(f"mask_{s}.nii.gz" in names or f"mask_{s}.nii" in names for s in CLINICAL_STRUCTURES):
        return True
    try:
        return any(dataset_root.glob("missingStructures_*.json"))
    except OSError:
        return False


def _add_layer(
    frame: Frame, path: Path, pr: Probe | Problem, kind: str, name: str, source: str, problems: list[Problem]
) -> None:
    if isinstance(pr, Problem):
        return
    if kind == "unknown":
        problems.append(Problem(str(path), "unrecognised", "file name does not match the LUND-PROBE layout; ignored"))
        return
    if kind in RESAMPLABLE_KINDS:
        # on its own grid (dose_original: the planning grid) a dose or uncertainty map is shown resampled
        why = attach_overlay(frame, Volume(path, pr.geometry, kind, load_slab_or_array, crop=True, name=name))
        if why is not None:
            problems.append(why)
        return
    diffs = pr.geometry.differences(frame.geometry)
    if diffs:
        problems.append(
            Problem(
                str(path),
                "geometry-mismatch",
                f"grid differs from the {frame.name} reference image ({'; '.join(diffs)}); left out, not resampled",
            )
        )
        return
    if kind == "image":
        frame.images[name] = Volume(path, pr.geometry, "image", load_volume_array, name=name)
    elif kind == "mask":
        if pr.is_float:
            problems.append(
                Problem(
                    str(path),
                    "non-binary",
                    f"mask is stored as floating point ({pr.pixel_type}); non-zero voxels are treated as inside",
                )
            )
        frame.structures[(name, source)] = StructureRef(name, source, frame.name, str(path))
