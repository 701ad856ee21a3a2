"""12-14, 16. Wrong results from odd data: label names that collide after renaming, NaN in a float mask, label
values beyond 8/16/32 bits, and structure names in other alphabets or differing only in case.

Attacks: tables naming two labels alike and a third like the rename (``A``, ``A``, ``A_2``), a label named like a
fallback name (``label_3``), a float mask with NaN, saving NaN and 0/2/0.5 arrays, label values 300, 70,000 and
5,000,000,000 in float and 64-bit files, ``Blåsa``/``膀胱``, decomposed ``Blåsa``, mixed Latin/Cyrillic look-alikes,
full-width letters, bidi and zero-width characters, ``Rectum``/``rectum`` on a file system that folds case.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import SimpleITK as sitk

import lundprobe_gui as lp
from lundprobe_gui.core.names import InvalidName, validate_data_name
from lundprobe_gui.core.patient import NonBinaryMaskWarning
from lundprobe_gui.io.multilabel import save_label_map
from lundprobe_gui.io.writer import header_from_geometry, make_header, write_nifti
from lundprobe_gui.study import InitOptions, StudyError, init_study

from .helpers import TINY, block_mask, tiny_generic

HDR = header_from_geometry(TINY)


def _label_case(tmp_path, values, table, dtype=np.uint8):
    folder = tiny_generic(tmp_path / "case")
    arr = np.zeros(TINY.shape_zyx, dtype)
    for i, v in enumerate(values):
        arr[i % 4, i // 4, :3] = v
    write_nifti(folder / "organs.nii.gz", arr, make_header(HDR, TINY.shape_zyx, np.dtype(dtype)))
    (folder / "organs_labels.json").write_text(json.dumps({str(k): n for k, n in table.items()}))
    return folder, arr


# -- 12. label names ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "table",
    [
        {1: "A", 2: "A", 3: "A_2"},
        {1: "A", 2: "A", 3: "A", 4: "A_3", 5: "A_2"},
        {1: "label_3", 2: "x"},
        {1: "Bladder", 2: "Bladder_2", 3: "Bladder"},
    ],
    ids=["A,A,A_2", "A*3,A_3,A_2", "label_3", "B,B_2,B"],
)
@pytest.mark.slow
def test_every_label_stays_reachable_and_each_rename_is_reported(tmp_path, table, figures):
    values = [1, 2, 3, 4, 5]
    folder, arr = _label_case(tmp_path, values, table)
    p = lp.open_patient(folder)
    refs = [r for r in p.structures() if r.label is not None]
    assert sorted(r.label for r in refs) == values  # one structure per value
    assert len({r.name for r in refs}) == len(refs)  # every name unique...
    assert not {r.name for r in refs} & {
        r.name for r in p.structures() if r.label is None and r.source == refs[0].source
    }
    for r in refs:  # ...and each one shows its own label's voxels
        assert np.array_equal(p.mask(r.name, r.source, r.frame), arr == r.label)
    renamed = [r for r in refs if r.name != (table.get(r.label) or f"label_{r.label}")]
    reports = [x for x in p.problems if x.kind == "duplicate-label-name"]
    assert len(reports) == len(renamed) and all(any(r.name in x.message for x in reports) for r in renamed)
    figures["renames"] = [r.name for r in renamed]


# -- 13. NaN -----------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_nan_in_a_float_mask_is_outside_and_the_problem_says_so(tmp_path):
    folder = tiny_generic(tmp_path / "case")
    m = block_mask(TINY).astype(np.float32)
    m[0, 0, 0] = np.nan
    m[1, 2, 3] = np.nan  # inside the block: outside now
    path = tmp_path / "case" / "nanmask.nii.gz"
    write_nifti(path, m, make_header(HDR, TINY.shape_zyx, np.dtype(np.float32)))
    # LUND-PROBE masks are never value-scanned at discovery; load through the same store
    from lundprobe_gui.core.patient import StructureRef
    from lundprobe_gui.io.store import FileStore

    mask, problems = FileStore().load_mask(StructureRef("N", "clinical", "image", str(path)), TINY)
    expect = block_mask(TINY).astype(bool)
    expect[1, 2, 3] = False
    assert np.array_equal(mask.to_full(), expect)
    assert [x for x in problems if x.kind == "nan" and "2 voxel(s)" in x.message and "outside" in x.message]
    del folder


def test_save_mask_refuses_nan_and_warns_about_non_binary_arrays(tiny_root, tmp_path):
    import shutil

    shutil.copytree(tiny_root, tmp_path / "ds")
    p = lp.open_patient(tmp_path / "ds" / "LUNDPROBE_0001")
    out = tmp_path / "out"
    arr = block_mask(TINY).astype(np.float32)
    arr[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        p.save_mask("Bladder", arr, source="step1_obsF", out_dir=out)
    assert not out.exists() or not list(out.rglob("*.nii.gz"))
    for odd in (block_mask(TINY) * 2, block_mask(TINY).astype(np.float32) * 0.5, block_mask(TINY).astype(np.int16) - 1):
        with pytest.warns(NonBinaryMaskWarning, match="not binary"):
            saved = p.save_mask("Bladder", odd, source="step1_obsF", out_dir=out)
        assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(saved))), (odd != 0).astype(np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a binary array saves without a warning
        p.save_mask("Bladder", block_mask(TINY), source="step1_obsF", out_dir=out)
        p.save_mask("Bladder", block_mask(TINY).astype(bool), source="step1_obsF", out_dir=out)


# -- 14. label values and the saved type --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "dtype,values",
    [
        (np.uint8, [1, 2, 255]),
        (np.float32, [1, 300, 70_000]),
        (np.float64, [1, 2, 5_000_000_000]),
        (np.int64, [7, 2**40, 2**40 + 1]),
        (np.uint16, [1, 40_000, 65_535]),
    ],
    ids=["u8", "f32", "f64-5e9", "i64", "u16"],
)
@pytest.mark.slow
def test_a_saved_label_map_keeps_every_other_label_exactly(tmp_path, dtype, values, figures):
    folder, arr = _label_case(tmp_path, values, {values[0]: "Edited"}, dtype)
    p = lp.open_patient(folder)
    refs = {r.label: r for r in p.structures() if r.label is not None}
    assert sorted(refs) == sorted(values)
    edit = p.mask("Edited", refs[values[0]].source, refs[values[0]].frame)
    edit[3, 7, 7] = True  # one voxel more for label values[0]
    path = save_label_map(p, refs[values[0]].path, {values[0]: edit}, tmp_path / "out")
    back = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    want = arr.astype(np.int64)
    want[3, 7, 7] = values[0]
    assert np.array_equal(back.astype(np.int64), want)  # every other label exactly as it was
    figures[str(np.dtype(dtype))] = str(back.dtype)


# -- 16. names -----------------------------------------------------------------------------------------------------
CYRILLIC = "\u041c\u043e\u0447\u0435\u0432\u043e\u0439"  # "bladder" in Russian, every letter Cyrillic
MIXED = "M" + CYRILLIC[1:]  # the same with a Latin M: a look-alike


@pytest.mark.parametrize("name", ["Blåsa", "膀胱", "Harnröhre (L)", CYRILLIC, "मूत्राशय"])
@pytest.mark.slow
def test_structures_named_in_other_alphabets_save_and_reopen(tmp_path, name):
    folder = tiny_generic(tmp_path / "case")
    write_nifti(folder / f"{name}.nii.gz", block_mask(TINY, (0, 0, 0), (2, 2, 2)), HDR)
    p = lp.open_patient(folder)
    m = p.mask(name, "clinical")
    assert m.sum() == 8
    saved = p.save_mask(name, m, source="step1_obsF", out_dir=tmp_path / "out")
    assert saved.name == f"mask_{name}_step1_obsF_v001.nii.gz"
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(saved))).astype(bool), m)


@pytest.mark.slow
def test_a_name_mixing_look_alike_alphabets_opens_but_is_never_saved_under_that_name(tmp_path):
    folder = tiny_generic(tmp_path / "case")
    write_nifti(folder / f"{MIXED}.nii.gz", block_mask(TINY, (0, 0, 0), (2, 2, 2)), HDR)
    p = lp.open_patient(folder)
    m = p.mask(MIXED, "clinical")  # an input is read under the name it has
    assert m.sum() == 8
    out = tmp_path / "out"
    with pytest.raises(InvalidName, match="mixes Cyrillic and Latin"):
        p.save_mask(MIXED, m, source="step1_obsF", out_dir=out)
    assert not out.exists() or not any(f.is_file() for f in out.rglob("*"))  # nothing written


@pytest.mark.parametrize(
    "bad,why",
    [
        ("Bla\u030asa", "NFC"),
        ("R\u0435ctum", "Cyrillic and Latin"),
        ("\uff32ectum", "look-alike"),
        ("Blåsa\u202e", "RIGHT-TO-LEFT OVERRIDE"),
        ("Bl\u200båsa", "ZERO WIDTH SPACE"),
        ("Bl\u00a0åsa", "NO-BREAK SPACE"),
        ("Blåsa\u0000", "may only contain"),
        ("\u0301Blåsa", "start with a letter"),
        ("膀" * 41, "bytes in UTF-8"),
    ],
    ids=["NFD", "latin+cyrillic", "fullwidth", "bidi", "zero-width", "nbsp", "nul", "mark-first", "long-bytes"],
)
def test_unicode_tricks_in_names_are_refused_with_what_is_allowed(bad, why):
    with pytest.raises(InvalidName) as e:
        validate_data_name(bad, "structure name")
    assert why in str(e.value)
    if why not in ("bytes in UTF-8", "start with a letter"):
        assert "letters of any alphabet" in str(e.value)


def test_names_differing_only_in_case_are_refused_where_the_file_system_folds_case(tiny_root, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(tiny_root, tmp_path / "ds")
    p = lp.open_patient(tmp_path / "ds" / "LUNDPROBE_0001")
    m = p.mask_obj("Bladder")
    out = tmp_path / "out"
    first = p.save_mask("Rectum", m, source="step1_obsF", out_dir=out)
    # on this (case-sensitive) file system both names are files of their own
    other = p.save_mask("rectum", m, source="step1_obsF", out_dir=out)
    assert first.exists() and other.exists() and first != other
    other.unlink()
    for f in other.parent.glob("mask_rectum_*"):
        f.unlink()
    # a file system that folds case (Windows, macOS) sees "mask_rectum_..." as the existing file
    real = os.path.lexists

    def folding(path):
        path = os.fspath(path)
        folder, name = os.path.split(path)
        try:
            return real(path) or any(e.casefold() == name.casefold() for e in os.listdir(folder))
        except OSError:
            return False

    monkeypatch.setattr(os.path, "lexists", folding)
    before = sorted(x.name for x in first.parent.iterdir())
    with pytest.raises(InvalidName, match="upper from lower case"):
        p.save_mask("rectum", m, source="step1_obsF", out_dir=out)
    assert sorted(x.name for x in first.parent.iterdir()) == before
    p.save_mask("Rectum", m, source="step1_obsF", out_dir=out)  # the same name goes on saving


def test_a_study_refuses_names_that_differ_only_in_case(tiny_root, tmp_path):
    for opts in (
        InitOptions(dataset_root=tiny_root, observers=["obsX", "obsx"]),
        InitOptions(dataset_root=tiny_root, observers=["obsX"], structures=["CTVT_427", "ctvt_427"]),
    ):
        with pytest.raises(StudyError, match="only in case"):
            init_study(tmp_path / "study", opts)
        assert not (tmp_path / "study" / "study.json").exists()
