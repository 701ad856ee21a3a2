"""1. Malformed input: a Hypothesis fuzzer of NIfTI files through ``open_patient`` and every loader.

Each generated case damages one file of a tiny patient (8x8x4 voxels, LUND-PROBE or plain-folder
layout), optionally under a name that is not valid UTF-8, and runs it through ``probe``,
``open_patient``, ``Patient.mask_obj`` for every structure, ``Volume.load`` for every volume and
``io.nifti.load_array``. The outcome must always be one of:

* a usable file (a structure or volume on the frame's exact grid),
* a ``Problem`` naming the file,
* a clean error: ``NoImageError`` from ``open_patient``; ``ValueError`` from ``mask_obj`` after a
  Problem was recorded; ``NiftiError`` (or ``ValueError`` for a grid mismatch) from the loaders,

within a time limit per case, and with bounded memory: what a file really holds, never what its
header claims (traced Python and numpy allocations per case, and the process's peak RSS over the
whole run).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import resource
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lundprobe_gui as lp
from lundprobe_gui.core.mask import Mask
from lundprobe_gui.core.names import InvalidName
from lundprobe_gui.io import nifti
from lundprobe_gui.io.open import NoImageError
from lundprobe_gui.io.probe import Probe, probe

from .helpers import Hang, time_limit, tiny_generic, traced_peak
from .nifti_mutations import BOMB_EXTRA, DAMAGE, Damage, apply_ops, encode

CASES = int(os.environ.get("FUZZ_CASES", "520"))
"""Generated cases per run (the brief asks for at least 500)."""
CASE_SECONDS = 20.0
"""Time limit of one case (a case takes about 50 ms; the limit only catches hangs)."""
TRACED_LIMIT = 2 * BOMB_EXTRA + (8 << 20)
"""Most bytes one case may allocate (Python objects and numpy buffers): memory may follow what a file
really holds (a "bomb" inflates to 48 MB), never what its header claims (up to 8 GB here)."""
RSS_GROWTH_LIMIT_KB = 400 << 10
"""Most the process's peak RSS may grow over the whole run (SimpleITK's C++ allocations)."""

LUNDPROBE_TARGETS = {
    "clinical mask": "MR_StorT2/mask_Bladder.nii.gz",
    "reference image": "MR_StorT2/image.nii.gz",
    "nnUNet mask": "MR_StorT2/nnUNetOutput/mask_CTVT_427_nnUNet.nii.gz",
    "uncertainty map": "MR_StorT2/nnUNetOutput/mask_CTVT_427_nnUNet_uncertaintyMap.nii.gz",
    "dose": "MR_StorT2/dose_interpolated.nii.gz",
    "observer edit": "MR_StorT2/observerData/mask_CTVT_427_step1_obsB.nii.gz",
}
GENERIC_TARGETS = {
    "generic image": "image.nii.gz",
    "generic mask": "mask_Bladder.nii.gz",
    "generic second mask": "Rectum.nii.gz",
}
NAMES = ("plain", "non-utf8 file name", "non-utf8 patient folder", "bytes path")

_stats = {"cases": 0, "peaks": [], "by_target": {}, "outcomes": {}, "seconds": 0.0}


def _hwm_reset() -> bool:
    """Reset the peak RSS (VmHWM) of this process; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _hwm_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@pytest.fixture(scope="module")
def bases(tmp_path_factory, tiny_root):
    """One working copy of each layout (a case swaps one file in and back out), and the clean files."""
    work = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(tiny_root, work / "lundprobe")
    gen = tiny_generic(work / "generic" / "case_0001")
    patients = {"lundprobe": work / "lundprobe" / "LUNDPROBE_0001", "generic": gen}
    clean = {name: (patients["lundprobe"] / rel).read_bytes() for name, rel in LUNDPROBE_TARGETS.items()}
    clean.update({name: (gen / rel).read_bytes() for name, rel in GENERIC_TARGETS.items()})
    raws = {name: gzip.decompress(data) for name, data in clean.items()}
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK prints a warning for many damaged headers
    yield _Bases(patients=patients, clean=clean, raws=raws)
    sitk.ProcessObject.SetGlobalWarningDisplay(True)


class _Bases(dict):
    """The fixture's dict, with a short repr for Hypothesis' failure reports."""

    def __repr__(self) -> str:
        return f"<fuzzing bases in {self['patients']['lundprobe'].parent.parent}>"


def _non_utf8(name: str) -> str:
    """``name`` with bytes that are not valid UTF-8 in it (as Python shows such names: surrogates)."""
    return os.fsdecode(os.fsencode(name[:3]) + b"\xff\xfe" + os.fsencode(name[3:]))


@contextlib.contextmanager
def _damaged(bases, layout: str, target: str, damage: Damage, naming: str) -> Iterator[tuple[Path, Path]]:
    """Put the damaged file into the working patient; yields (patient folder, damaged file); restores it."""
    patient = bases["patients"][layout]
    rel = (LUNDPROBE_TARGETS if layout == "lundprobe" else GENERIC_TARGETS)[target]
    original = patient / rel
    data, is_gz = encode(apply_ops(bases["raws"][target], damage.ops), damage)
    path = original if is_gz else original.with_name(original.name[: -len(".gz")])
    if naming == "non-utf8 file name":
        # mask_<name> stays a mask of another name; the reference image becomes an unknown file
        path = path.with_name(
            path.name[:5] + _non_utf8(path.name[5:]) if path.name.startswith("mask_") else _non_utf8(path.name)
        )
    original.unlink()
    path.write_bytes(data)
    moved = patient.with_name(_non_utf8(patient.name)) if naming == "non-utf8 patient folder" else patient
    os.rename(patient, moved)
    try:
        yield moved, moved / path.relative_to(patient)
    finally:
        os.rename(moved, patient)
        path.unlink()
        original.write_bytes(bases["clean"][target])


def _check_case(patient: Path, path: Path, naming: str) -> str:
    """Run every loader on the case; returns the outcome for the figures. Fails the test on a breach."""
    p_arg = os.fsencode(path) if naming == "bytes path" else path
    pr = probe(p_arg)
    assert isinstance(pr, (Probe, lp.Problem)), pr
    if isinstance(pr, lp.Problem):
        assert pr.path == str(path) and pr.message and pr.kind, pr
    try:
        arr = nifti.load_array(p_arg)
    except nifti.NiftiError as e:
        assert str(e)
    else:
        assert isinstance(arr, np.ndarray) and arr.ndim == 3
    try:
        patient_obj = lp.open_patient(os.fsencode(patient) if naming == "bytes path" else patient)
    except NoImageError as e:
        assert str(e)
        return "NoImageError"
    p = patient_obj
    problems = {pr.path for pr in p.problems}
    used = {r.path for r in p.structures()} | {str(v.path) for f in p.frames.values() for v in f.volumes()}
    assert str(path) in problems | used, (
        f"the damaged file is neither used nor reported: {[str(x) for x in p.problems]}"
    )
    for ref in p.structures():
        try:
            m = p.mask_obj(ref.name, ref.source, ref.frame)
        except ValueError:
            assert ref.path in {pr.path for pr in p.problems}, f"{ref.path} failed to load without a Problem"
        else:
            assert isinstance(m, Mask) and m.shape == p.frames[ref.frame].geometry.shape_zyx
        # never shown misaligned: every structure's header grid is its frame's grid
        hp = probe(ref.path)
        if isinstance(hp, Probe):
            assert not hp.geometry.differences(p.frames[ref.frame].geometry), ref.path
    for frame in p.frames.values():
        for vol in list(frame.volumes()):
            try:
                vol.load()
            except (nifti.NiftiError, ValueError):
                assert p.load_volume(vol) is False
                assert str(vol.path) in {pr.path for pr in p.problems}
            else:
                assert vol.data is not None
    p.load_all()  # the UI's background load: never raises
    for problem in p.problems:
        text = problem.message.lower()
        assert "memory" not in text and "allocat" not in text, problem  # nothing tried to allocate a lie
    if str(path) in problems:
        return "Problem"
    return "used"


@settings(
    max_examples=CASES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    layout_target=st.one_of(
        st.tuples(st.just("lundprobe"), st.sampled_from(sorted(LUNDPROBE_TARGETS))),
        st.tuples(st.just("generic"), st.sampled_from(sorted(GENERIC_TARGETS))),
    ),
    damage=DAMAGE,
    naming=st.sampled_from(NAMES),
)
def _fuzz(bases, layout_target, damage, naming):
    layout, target = layout_target
    _stats["cases"] += 1
    peaks: list[int] = []
    with _damaged(bases, layout, target, damage, naming) as (patient, path):
        t0 = time.perf_counter()
        try:
            with time_limit(CASE_SECONDS, f"case {damage.describe()} on {target}"), traced_peak(peaks):
                outcome = _check_case(patient, path, naming)
        except Hang as e:
            raise AssertionError(str(e)) from None
        dt = time.perf_counter() - t0
    _stats["seconds"] += dt
    _stats["slowest"] = max(_stats.get("slowest", 0.0), dt)
    assert peaks[0] < TRACED_LIMIT, f"{peaks[0] / 1e6:.0f} MB allocated for {damage.describe()} on {target}"
    _stats["peaks"].append(peaks[0])
    key = f"{layout}: {target}"
    _stats["by_target"][key] = _stats["by_target"].get(key, 0) + 1
    _stats["outcomes"][outcome] = _stats["outcomes"].get(outcome, 0) + 1


@pytest.mark.slow
def test_fuzzed_nifti_files_give_a_problem_or_a_clean_error(bases, figures):
    hwm_ok = _hwm_reset()
    start_hwm = _hwm_kb()
    t0 = time.perf_counter()
    _fuzz(bases)  # each case is traced on its own (tracing Hypothesis too would double the run time)
    elapsed = time.perf_counter() - t0
    growth = _hwm_kb() - start_hwm
    figures.update(
        {
            "cases_fuzzed": _stats["cases"],
            "seconds": round(elapsed, 1),
            "seconds_in_loaders": round(_stats["seconds"], 1),
            "slowest_case_s": round(_stats.get("slowest", 0.0), 3),
            "outcomes": dict(sorted(_stats["outcomes"].items())),
            "by_target": dict(sorted(_stats["by_target"].items())),
            "traced_peak_per_case_max_MB": round(max(_stats["peaks"]) / 2**20, 2),
            "traced_peak_per_case_median_MB": round(float(np.median(_stats["peaks"])) / 2**20, 2),
            "rss_peak_growth_MB": round(growth / 1024, 1) if hwm_ok else None,
            "bomb_inflates_to_MB": BOMB_EXTRA >> 20,
            "maxrss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    )
    assert _stats["cases"] >= min(CASES, 500)  # FUZZ_CASES may ask for fewer while debugging
    if hwm_ok:
        assert growth < RSS_GROWTH_LIMIT_KB, f"peak RSS grew by {growth / 1024:.0f} MB while fuzzing"


@pytest.mark.slow
def test_a_small_file_that_inflates_to_gigabytes_is_not_inflated_to_the_end(tiny_root, tmp_path, figures):
    """A 16 MB mask whose gzip members inflate to 16 GB of zeros after a valid 8x8x4 image.

    Every reader stops soon after the bytes the header declares: no loader may spend minutes (or
    gigabytes) on data nobody asked for.
    """
    shutil.copytree(tiny_root, tmp_path / "ds")
    patient = tmp_path / "ds" / "LUNDPROBE_0001"
    f = patient / "MR_StorT2" / "mask_Bladder.nii.gz"
    head = f.read_bytes()
    zeros = gzip.compress(bytes(64 << 20), compresslevel=1)  # one member: 64 MB of zeros in ~64 kB
    members = 256
    with open(f, "ab") as fh:
        for _ in range(members):
            fh.write(zeros)
    assert f.stat().st_size < (head.__len__() + members * len(zeros)) + 1
    timings = {}
    peaks: list[int] = []
    with time_limit(60, "loading the 16 GB file"), traced_peak(peaks):
        for what, call in (
            ("probe", lambda: probe(f)),
            ("load_array", lambda: nifti.load_array(f)),
            ("open_patient", lambda: lp.open_patient(patient)),
            ("mask_obj", lambda: lp.open_patient(patient).mask_obj("Bladder")),
        ):
            t0 = time.perf_counter()
            with contextlib.suppress(nifti.NiftiError, ValueError):
                call()
            timings[what] = round(time.perf_counter() - t0, 2)
    figures.update(
        {
            "inflates_to_GB": members * 64 / 1024,
            "file_MB": round(f.stat().st_size / 2**20, 1),
            "seconds": timings,
            "traced_peak_MB": round(peaks[0] / 2**20, 1),
        }
    )
    # the 60 s limit above turns a reader that inflates to the end into a failure; how long each
    # took is a figure of the reliability report (tests/reliability/report.py), not an assertion
    assert peaks[0] < 300 << 20


def test_names_that_are_not_utf8_open_and_load(tiny_root, tmp_path):
    """Linux allows any bytes in a name; SimpleITK takes UTF-8 text only (such a name used to abort the process)."""
    shutil.copytree(tiny_root, tmp_path / "ds")
    bad_patient = os.fsdecode(b"LUNDPROBE_\xff\xfe01")
    os.rename(tmp_path / "ds" / "LUNDPROBE_0001", tmp_path / "ds" / bad_patient)
    mri = tmp_path / "ds" / bad_patient / "MR_StorT2"
    os.rename(mri / "mask_Bladder.nii.gz", mri / os.fsdecode(b"mask_Bl\xe4dder.nii.gz"))  # Latin-1, not UTF-8
    for arg in (tmp_path / "ds" / bad_patient, os.fsencode(tmp_path / "ds" / bad_patient)):
        p = lp.open_patient(arg)
        assert not [pr for pr in p.problems if pr.kind != "missing"], p.problems
        names = {r.name for r in p.structures()}
        assert os.fsdecode(b"Bl\xe4dder") in names and "CTVT_427" in names
        for r in p.structures():
            assert p.mask_obj(r.name, r.source).count() > 0
        p.load_all()
        assert p.image().loaded
    f = mri / os.fsdecode(b"mask_Bl\xe4dder.nii.gz")
    assert isinstance(probe(os.fsencode(f)), Probe)
    assert nifti.load_array(os.fsencode(f)).sum() > 0
    # saving under such a patient ID is refused cleanly (it would become a folder name)
    with pytest.raises(InvalidName):
        p.save_mask("CTVT_427", p.mask_obj("CTVT_427", "nnUNet"), source="step1_obsF", out_dir=tmp_path / "out")


@pytest.mark.parametrize("datatype,bitpix", [(128, 24), (32, 64), (2, 8)], ids=["RGB24", "complex64", "uint8"])
def test_a_header_that_lies_within_what_a_bomb_could_hold_allocates_nothing(
    tiny_root, tmp_path, datatype, bitpix, figures
):
    """67-200 MB declared, 48 MB really there (a 200 kB gzip file could hold 200 MB).

    Memory follows what the file really holds, never what its header claims. The fuzzer found
    this one: SimpleITK, the fallback reader for types the fast reader does not decode, allocated
    the declared image first and filled what the short stream left with zeros.
    """
    import struct

    from .nifti_mutations import gzip_bomb

    raw = bytearray(gzip.decompress((tiny_root / "LUNDPROBE_0001" / "MR_StorT2" / "mask_Bladder.nii.gz").read_bytes()))
    struct.pack_into("<8h", raw, 40, 3, 512, 512, 256 if bitpix == 8 else 96, 1, 1, 1, 1)
    struct.pack_into("<2h", raw, 70, datatype, bitpix)
    f = tmp_path / "lie.nii.gz"
    f.write_bytes(gzip_bomb(bytes(raw)))
    hwm_ok = _hwm_reset()
    start = _hwm_kb()
    peaks: list[int] = []
    with traced_peak(peaks), pytest.raises(nifti.NiftiError, match="truncated"):
        nifti.load_array(f)
    growth = _hwm_kb() - start
    figures.update(
        {
            "file_kB": f.stat().st_size // 1024,
            "rss_growth_MB": round(growth / 1024, 1) if hwm_ok else None,
            "traced_peak_MB": round(peaks[0] / 2**20, 1),
        }
    )
    # the fast reader (uint8) inflates what is there (48 MB) and finds it short; the others allocate nothing
    limit = 2 * BOMB_EXTRA + (8 << 20) if datatype == 2 else 24 << 20
    assert peaks[0] < limit, f"{peaks[0] >> 20} MB allocated"
    if hwm_ok:
        assert growth < (limit >> 10) + (32 << 10), f"peak RSS grew by {growth // 1024} MB"
