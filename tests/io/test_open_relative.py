"""A patient opened by a relative path ("." or "ds/P") keeps meaning the same folder."""

from __future__ import annotations

import numpy as np

import lundprobe_gui as lp


def test_the_default_output_folder_of_a_patient_opened_from_inside_its_dataset_is_outside_it(
    patient_copy, monkeypatch
) -> None:
    root = patient_copy.parent
    monkeypatch.chdir(root)  # the user started the app in the dataset root and opened "P"
    p = lp.open_patient(patient_copy.name, edits=False)
    assert p.path == patient_copy and p.dataset_root == root
    assert p.default_out_dir() == root.parent / "lundprobe_edits"
    monkeypatch.chdir(patient_copy)  # ... or in the patient folder and opened "."
    p = lp.open_patient(".", edits=False)
    assert p.path == patient_copy and p.default_out_dir() == root.parent / "lundprobe_edits"
    m = p.mask("CTVT_427", source="nnUNet").copy()
    m[2, 0:3, 0:3] = True
    saved = p.save_mask("CTVT_427", m, source="corrected_rel", out_dir=p.default_out_dir(), started_from="nnUNet")
    assert saved.is_absolute() and root not in saved.parents
    monkeypatch.chdir(root.parent)  # the working folder changes: the patient still reads back what was saved
    again = lp.open_patient(patient_copy, edits=root.parent / "lundprobe_edits")
    assert np.array_equal(again.mask("CTVT_427", source="corrected_rel"), m)
