"""Discovery of one LUND-PROBE patient folder (headers only).

Layout (see docs/dataset-layout.md)::

    <patient>/MR_StorT2/  image, dose_interpolated, mask_<S>, fiducials, nnUNetOutput/, observerData/
    <patient>/sCT/        image, image_reg2MRI, dose_original, dose_interpolated, mask_<S>
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..core.geometry import Geometry, floats3
from ..core.patient import LUNDPROBE_PRESCRIPTION_GY, NAN_RULE, Fiducial, Frame, Patient, Problem, StructureRef
from ..core.regrid import RESAMPLABLE_KINDS, attach_overlay
from ..core.volume import Volume
from . import nifti
from .probe import Probe, is_image_name, is_unsupported_name, probe, strip_suffix, unsupported_problems
from .slab_reader import load_slab_or_array
from .small_files import TABLE_MAX_BYTES, SmallFileError, read_json_file, read_small_text
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
    return os.path.isdir(path / MRI_DIR) or os.path.isdir(path / SCT_DIR)


def load_volume_array(path: Path):
    """Loader used by :class:`Volume`: the fast NIfTI path with a SimpleITK fallback."""
    return nifti.load_array(path)


def _images(folder: Path, problems: list[Problem]) -> list[Path]:
    """The image files in a folder; a folder that exists but cannot be listed is a problem naming it."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        problems.append(unreadable_folder(folder, e))
        return []
    out: list[Path] = []
    foreign: list[Path] = []
    try:
        for entry in entries:
            if is_image_name(entry.name) and entry.is_file():
                if not out:
                    os.stat(entry.path)  # a folder without search permission lists names, but nothing opens
                out.append(Path(entry.path))
            elif is_unsupported_name(entry.name) and entry.is_file():
                foreign.append(Path(entry.path))
    except OSError as e:
        problems.append(unreadable_folder(folder, e))
        return []
    problems.extend(unsupported_problems(foreign))  # an Analyze mask is named as such, not silently ignored
    return sorted(out)


def unreadable_folder(folder: Path, e: OSError) -> Problem:
    """The problem of a folder whose files cannot be listed."""
    return Problem(
        str(folder), "unreadable", f"cannot read the folder ({e.strerror or e}); the files in it are left out"
    )


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
    elif rel[0] == "observerData" and len(rel) == 2 and (m := _OBSERVER.match(stem)):
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


MISSING_LIST_GLOB = "missingStructures_*.json"
"""The dataset root's lists of structures expected to be missing, per patient."""


def read_missing(dataset_root: Path, patient_id: str) -> tuple[list[str], list[Problem]]:
    """Expected-missing structures of a patient from the dataset root's missingStructures_*.json."""
    missing: list[str] = []
    problems: list[Problem] = []
    try:
        lists = sorted(dataset_root.glob(MISSING_LIST_GLOB))
    except OSError as e:
        return [], [Problem(str(dataset_root), "unreadable", f"cannot list the missing-structure lists: {e}")]
    for f in lists:
        try:
            data = read_json_file(f, TABLE_MAX_BYTES, "missing-structure list")
        except SmallFileError as e:
            problems.append(Problem(str(f), "not-a-file", str(e)))
            continue
        except (OSError, ValueError) as e:
            problems.append(Problem(str(f), "corrupt", f"cannot read the missing-structure list: {e}"))
            continue
        entry = data.get(patient_id, []) if isinstance(data, dict) else []
        missing.extend(str(s) for s in (entry if isinstance(entry, list) else [entry]) if isinstance(s, (str, int)))
    return missing, problems


def read_fiducials(path: Path, geometry: Geometry) -> tuple[list[Fiducial], list[Problem]]:
    """Parse ``x,y,z`` world-mm lines and map them through the full geometry (direction included)."""
    fids: list[Fiducial] = []
    try:
        text = read_small_text(path, TABLE_MAX_BYTES, "fiducial list", errors="replace")
    except SmallFileError as e:
        return [], [Problem(str(path), "not-a-file", str(e))]
    except OSError as e:
        return [], [Problem(str(path), "unreadable", f"cannot read fiducials: {e.strerror or e}")]
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
        fids.append(Fiducial(floats3(xyz), floats3(idx)))
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
    mri_files = _images(mri_dir, problems)
    if not any(p.path == str(mri_dir) for p in problems):  # inside an unreadable folder nothing more can be read
        for sub in (mri_dir / "nnUNetOutput", mri_dir / "nnUNetOutput" / "folds", mri_dir / "observerData"):
            mri_files += _images(sub, problems)
    sct_files = _images(sct_dir, problems)
    unreadable = {p.path for p in problems if p.kind == "unreadable"}
    probes = _probe_all(mri_files + sct_files)
    for pr in probes.values():
        problems.extend([pr] if isinstance(pr, Problem) else pr.notes)

    if os.path.isdir(mri_dir) and str(mri_dir) not in unreadable:
        geom = _frame_geometry("MRI", mri_dir / "image.nii.gz", {p: probes[p] for p in mri_files}, problems)
        if geom is not None:
            frames["MRI"] = Frame("MRI", geom, MRI_DIR)
    if os.path.isdir(sct_dir) and str(sct_dir) not in unreadable:
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
        why = "; ".join(str(p) for p in problems if p.kind == "unreadable")
        raise FileNotFoundError(
            f"{path}: no usable image found; expected {MRI_DIR}/image.nii.gz or {SCT_DIR}/image.nii.gz"
            + (f" ({why})" if why else "")
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
    if os.path.lexists(txt) and "MRI" in frames:
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
    return Patient(
        path,
        pid,
        "lundprobe",
        frames,
        FileStore(),
        problems,
        missing,
        fiducials,
        dataset_root,
        prescription_gy=LUNDPROBE_PRESCRIPTION_GY,
        prescription_origin="LUND-PROBE protocol (42.7 Gy in 7 fractions)",
    )


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
                    f"mask is stored as floating point ({pr.pixel_type}); non-zero voxels are treated as inside, "
                    f"{NAN_RULE}",
                )
            )
        frame.structures[(name, source)] = StructureRef(name, source, frame.name, str(path))
