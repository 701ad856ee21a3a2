"""Helpers of the reliability suite: tiny patients, time and memory limits, output checks.

Nothing here imports Qt, so the crash workers can use it too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lundprobe_gui.core.geometry import Geometry
from lundprobe_gui.io.writer import header_from_geometry, write_nifti

TINY = Geometry((8, 8, 4), (1.0, 1.5, 2.5), (-3.0, 4.0, 10.0))
"""The grid of the fuzzing patient: 256 voxels, so every case is a few milliseconds."""

PATIENT_ID = "LUNDPROBE_0001"
CLINICAL = (
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


def block_mask(geometry: Geometry, lo=(1, 2, 3), hi=(3, 6, 7)) -> np.ndarray:
    """A uint8 (z, y, x) mask with one box set."""
    m = np.zeros(geometry.shape_zyx, np.uint8)
    m[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = 1
    return m


def tiny_patient(root: Path, geometry: Geometry = TINY, patient_id: str = PATIENT_ID) -> Path:
    """A minimal LUND-PROBE patient folder under ``root/ds``; returns the patient folder.

    ``MR_StorT2/``: ``image`` (int16), ``mask_Bladder`` (clinical), ``dose_interpolated``,
    ``nnUNetOutput/mask_{CTVT_427,Rectum}_nnUNet`` and their uncertainty maps, and one published observer
    edit in ``observerData``. The other clinical structures are listed as expected-missing, so a
    clean patient has no problems at all.
    """
    ds = Path(root) / "ds"
    pat = ds / patient_id
    mri = pat / "MR_StorT2"
    for sub in ("nnUNetOutput", "observerData"):
        (mri / sub).mkdir(parents=True, exist_ok=True)
    hdr = header_from_geometry(geometry)
    n = int(np.prod(geometry.shape_zyx))
    write_nifti(mri / "image.nii.gz", (np.arange(n).reshape(geometry.shape_zyx) * 7 % 2000).astype(np.int16), hdr)
    m = block_mask(geometry)
    write_nifti(mri / "mask_Bladder.nii.gz", m, hdr)
    write_nifti(mri / "nnUNetOutput" / "mask_CTVT_427_nnUNet.nii.gz", m, hdr)
    write_nifti(mri / "nnUNetOutput" / "mask_Rectum_nnUNet.nii.gz", block_mask(geometry, (0, 5, 1), (4, 7, 3)), hdr)
    write_nifti(mri / "observerData" / "mask_CTVT_427_step1_obsB.nii.gz", m, hdr)
    u = m.astype(np.float32) * 0.25
    write_nifti(mri / "nnUNetOutput" / "mask_CTVT_427_nnUNet_uncertaintyMap.nii.gz", u, hdr)
    # a reader study's step 2 shows each structure's map: study init refuses a patient without them
    write_nifti(mri / "nnUNetOutput" / "mask_Rectum_nnUNet_uncertaintyMap.nii.gz", u, hdr)
    write_nifti(mri / "dose_interpolated.nii.gz", m.astype(np.float32) * 42.7, hdr)
    listing = ds / "missingStructures_reliability.json"
    missing = json.loads(listing.read_text()) if listing.exists() else {}
    missing[patient_id] = [s for s in CLINICAL if s != "Bladder"]
    listing.write_text(json.dumps(missing))
    return pat


def tiny_generic(folder: Path, geometry: Geometry = TINY) -> Path:
    """A plain folder of NIfTI files (the ``generic`` layout): an image and two binary masks."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    hdr = header_from_geometry(geometry)
    n = int(np.prod(geometry.shape_zyx))
    write_nifti(folder / "image.nii.gz", (np.arange(n).reshape(geometry.shape_zyx) * 7 % 2000).astype(np.int16), hdr)
    write_nifti(folder / "mask_Bladder.nii.gz", block_mask(geometry), hdr)
    write_nifti(folder / "Rectum.nii.gz", block_mask(geometry, (0, 0, 0), (2, 3, 3)), hdr)
    return folder


class Hang(BaseException):
    """Raised by :func:`time_limit` (a BaseException, so ``except Exception`` in the app cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "operation") -> Iterator[None]:
    """Raise :class:`Hang` in the main thread when the block runs longer than ``seconds``."""

    def on_alarm(signum, frame):
        raise Hang(f"{what} took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def traced_peak(out: list) -> Iterator[None]:
    """Append the peak bytes traced (Python objects and numpy buffers) during the block to ``out``."""
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield
    finally:
        out.append(tracemalloc.get_traced_memory()[1] - base)
        if not was:
            tracemalloc.stop()


def rss_kb() -> int:
    """Resident set size of this process (VmRSS of /proc/self/status), in kB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # pragma: no cover - Linux only


def sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every regular file under ``folder`` by relative path (temporary ``.part`` files left out)."""
    folder = Path(folder)
    out = {}
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink() and not p.name.endswith(".part"):
            out[str(p.relative_to(folder))] = sha256(p)
    return out


def part_files(folder: Path) -> list[Path]:
    """Temporary files of interrupted atomic writes under ``folder``."""
    return sorted(p for p in Path(folder).rglob("*.part"))


def check_nifti_complete(path: Path) -> None:
    """Read a NIfTI file fully with SimpleITK and with nibabel (AssertionError naming it when either fails)."""
    import nibabel as nib
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
        a = sitk.GetArrayFromImage(img)
    except RuntimeError as e:
        raise AssertionError(f"{path}: SimpleITK cannot read it: {e}") from e
    try:
        b = np.asarray(nib.load(str(path)).dataobj)
    except Exception as e:
        raise AssertionError(f"{path}: nibabel cannot read it: {e}") from e
    assert a.size == b.size and a.size > 0, path
    assert np.array_equal(a, b.transpose(2, 1, 0)), f"{path}: SimpleITK and nibabel disagree"


def set_exit_on_signal() -> None:
    """Restore default SIGTERM handling in a forked worker (pytest may have changed it)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a worker process: it imports the same ``lundprobe_gui`` as this process.

    A worker started as a script does not have the current folder on its path, so without this
    it would import whatever checkout the environment's editable install points at.
    """
    import lundprobe_gui

    root = str(Path(lundprobe_gui.__file__).resolve().parents[1])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join([root, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env


class HalfWriteFile:
    """A file object whose every write stops half-way and calls ``fault`` before writing the rest.

    ``fault`` raises (a full disk) or kills the process (a temporary file cut short); if it
    returns, the write completes.
    """

    def __init__(self, fh, fault) -> None:
        self._fh, self._fault = fh, fault

    def write(self, data) -> int:
        half = len(data) // 2
        self._fh.write(data[:half])
        self._fh.flush()
        self._fault()
        return half + self._fh.write(data[half:])

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._fh.__exit__(*exc)


def work_first_case(study_dir: Path, observer: str, now: float, finish: bool = True) -> list:
    """Rate, edit (one voxel more) and save every structure of the observer's first case of a study,
    then finish it (unless ``finish`` is False); returns the ``SavedEdit`` of each structure."""
    from lundprobe_gui.study import ObserverSession

    saved = []
    with ObserverSession(study_dir, observer, now=now) as s:
        for name in s.structures:
            s.rate("quality", 3, structure=name, now=now + 1)
            s.rate("confidence", 3, structure=name, now=now + 1)
            m = s.begin_editing(name, now=now + 2)
            m.write(((0, 1), (0, 2), (0, 2)), np.ones((1, 2, 2), bool))
            saved.append(s.save_edit(m, structure=name, now=now + 3))
        if finish:
            s.finish_case(now=now + 4)
    return saved
