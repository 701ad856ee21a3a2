"""Patients and structures named by other datasets, with spaces and parentheses, save their edits."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.core.names import InvalidName, validate_data_name
from lundprobe_gui.demo.other_layouts import write_plain_folder


def test_edits_of_a_spaced_patient_and_structure_save_under_those_names(tmp_path):
    case = write_plain_folder(tmp_path / "ds" / "Patient 01", seed=2)
    shutil.move(case / "Rectum.nii.gz", case / "Spinal Cord (L).nii.gz")
    p = lp.open_patient(case)
    assert p.id == "Patient 01"
    m = p.mask("Spinal Cord (L)")
    m[np.nonzero(m)[0][0]] = False  # clear the first slice of the structure
    out = tmp_path / "out"
    saved = p.save_mask("Spinal Cord (L)", m, source="step1_obsF", out_dir=out)
    assert saved.relative_to(out).parts[0] == "Patient 01"
    assert saved.name == "mask_Spinal Cord (L)_step1_obsF_v001.nii.gz"
    assert out.resolve() in saved.resolve().parents
    assert np.array_equal(p.mask("Spinal Cord (L)", source="step1_obsF"), m)


@pytest.mark.parametrize("good", ["Patient 01", "Lens (L)", "PTV 70, boost", "a-b_c+d.e", "名前", "é", "Blåsa"])
def test_data_names_may_hold_spaces_commas_and_parentheses(good):
    assert validate_data_name(good) == good


@pytest.mark.parametrize(
    "bad",
    [" lead", "trail ", "a/b", "..", "a..b", "x\ty", "CON", "nul .txt", "a" * 65, "(x)", "trailing.", "Bla\u030asa"],
)
@pytest.mark.slow
def test_data_names_still_refuse_what_could_escape_or_collide(bad):
    with pytest.raises(InvalidName):
        validate_data_name(bad)
