"""The comparison set of a patient: exactly the documented pairs, with pair_metrics' numbers."""

from __future__ import annotations

import math

import pytest

import lundprobe_gui as lp
from lundprobe_gui.metrics import PAIR_METRIC_KEYS, pair_metrics
from lundprobe_gui.metrics.compare import (
    KINDS,
    METRICS_ROW_KEYS,
    Comparison,
    compare_patient,
    fold_number,
    parse_observer_source,
    patient_comparisons,
    plan_structure,
)

OBSERVERS = ("obsB", "obsC", "obsD", "obsE")
DL_STRUCTURES = ("CTVT_427", "Rectum")


def expected_pairs() -> set[tuple[str, str, str, str]]:
    """(structure, reference, test, kind) of the demo patient, written out from docs/metrics.md."""
    out = set()
    for s in DL_STRUCTURES:
        for k in (1, 2):
            for o in OBSERVERS:
                out.add((s, "nnUNet", f"step{k}_{o}", "dl_vs_observer"))
                out.add((s, "clinical", f"step{k}_{o}", "clinical_vs_observer"))
        for o in OBSERVERS:
            out.add((s, f"step1_{o}", f"step2_{o}", "intra_observer"))
        for k in (1, 2):
            for i, a in enumerate(OBSERVERS):
                for b in OBSERVERS[i + 1 :]:
                    out.add((s, f"step{k}_{a}", f"step{k}_{b}", "inter_observer"))
        out.add((s, "clinical", "nnUNet", "clinical_vs_dl"))
        for n in range(10):
            out.add((s, "nnUNet", f"nnUNet_fold_{n}", "fold_vs_ensemble"))
    return out


@pytest.fixture(scope="module")
def patient(demo_patient_path):
    return lp.open_patient(demo_patient_path)


def test_comparison_set_is_exactly_the_documented_pairs(patient) -> None:
    comps = patient_comparisons(patient)
    got = [(c.structure, c.reference, c.test, c.kind) for c in comps]
    assert len(got) == len(set(got)) == 2 * 43
    assert set(got) == expected_pairs()
    for must in [
        ("nnUNet", "step1_obsB"),
        ("step1_obsB", "step2_obsB"),
        ("step1_obsB", "step1_obsC"),
        ("clinical", "nnUNet"),
        ("clinical", "step1_obsB"),
        ("nnUNet", "nnUNet_fold_0"),
    ]:
        assert ("CTVT_427", *must) in {g[:3] for g in got}
    # Never the other way round, and nothing across steps between different observers.
    assert ("CTVT_427", "step2_obsB", "step1_obsB") not in {g[:3] for g in got}
    assert ("CTVT_427", "step1_obsB", "step2_obsC") not in {g[:3] for g in got}
    assert all(c.frame == "MRI" for c in comps)


def test_order_is_structure_then_kind_then_step_observer_fold(patient) -> None:
    comps = patient_comparisons(patient)
    assert [c.structure for c in comps] == sorted(c.structure for c in comps)
    for s in DL_STRUCTURES:
        kinds = [c.kind for c in comps if c.structure == s]
        assert kinds == sorted(kinds, key=KINDS.index)
        folds = [fold_number(c.test) for c in comps if c.structure == s and c.kind == "fold_vs_ensemble"]
        assert folds == list(range(10))
        dl_obs = [c.test for c in comps if c.structure == s and c.kind == "dl_vs_observer"]
        assert dl_obs == [f"step{k}_{o}" for k in (1, 2) for o in OBSERVERS]


def test_rows_equal_pair_metrics_called_directly(patient) -> None:
    comps = patient_comparisons(patient)
    chosen = [
        c
        for c in comps
        if (c.reference, c.test)
        in {
            ("nnUNet", "step1_obsB"),
            ("step1_obsC", "step2_obsC"),
            ("step2_obsD", "step2_obsE"),
            ("clinical", "nnUNet"),
            ("nnUNet", "nnUNet_fold_7"),
        }
    ]
    assert len(chosen) == 10
    seen = []
    rows = compare_patient(patient, chosen, tolerance_mm=1.5, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (10, 10)
    spacing = patient.geometry.spacing_zyx
    for c, row in zip(chosen, rows):
        assert tuple(row) == METRICS_ROW_KEYS
        assert (row["patient"], row["structure"], row["comparison"], row["reference"], row["test"]) == (
            patient.id,
            c.structure,
            c.kind,
            c.reference,
            c.test,
        )
        direct = pair_metrics(
            patient.mask(c.structure, c.reference), patient.mask(c.structure, c.test), spacing, tolerance_mm=1.5
        )
        assert {k: row[k] for k in PAIR_METRIC_KEYS} == direct
        assert row["tolerance_mm"] == 1.5
    # The observers really edited: none of these pairs is identical.
    assert all(r["dice"] < 1.0 for r in rows)


@pytest.mark.slow
def test_every_row_of_the_set_equals_pair_metrics_and_should_stop_stops(patient) -> None:
    comps = patient_comparisons(patient)
    rows = compare_patient(patient, comps)
    assert len(rows) == 86
    spacing = patient.geometry.spacing_zyx
    for c, row in zip(comps, rows):
        a, b = patient.mask_obj(c.structure, c.reference), patient.mask_obj(c.structure, c.test)
        assert {k: row[k] for k in PAIR_METRIC_KEYS} == pair_metrics(a, b, spacing), (c.reference, c.test)
    done: list[int] = []
    rows = compare_patient(patient, comps, progress=lambda d, t: done.append(d), should_stop=lambda: len(done) >= 2)
    assert len(rows) == 2 and done == [1, 2]
    assert compare_patient(patient, comps, should_stop=lambda: True) == []


def test_mask_getter_overrides_and_unloadable_masks_are_skipped(patient) -> None:
    comps = [
        c for c in patient_comparisons(patient) if c.reference == "nnUNet" and c.test in ("step1_obsB", "step1_obsC")
    ]

    def getter(name: str, source: str, frame: str):
        if source == "step1_obsC":
            raise ValueError("working copy lost")
        # Compare the DL mask with itself: the override must be what gets measured.
        return patient.mask_obj(name, "nnUNet", frame)

    warnings: list[str] = []
    rows = compare_patient(patient, comps, mask_getter=getter, warnings=warnings)
    assert [r["test"] for r in rows] == ["step1_obsB", "step1_obsB"]
    assert len(warnings) == 2 and all("step1_obsC" in w and "working copy lost" in w for w in warnings)
    assert all(r["dice"] == 1.0 and r["hd_mm"] == 0.0 and r["apl_mm"] == 0.0 for r in rows)


def test_plan_handles_partial_sources_and_new_observers() -> None:
    got = plan_structure(
        "CTVT_427",
        ["nnUNet", "step1_obsB", "step2_obsB", "step1_obsF", "nnUNet_fold_10", "nnUNet_fold_2", "edited_by_hand"],
    )
    pairs = [(c.reference, c.test, c.kind) for c in got]
    assert pairs == [
        ("nnUNet", "step1_obsB", "dl_vs_observer"),
        ("nnUNet", "step1_obsF", "dl_vs_observer"),
        ("nnUNet", "step2_obsB", "dl_vs_observer"),
        ("step1_obsB", "step2_obsB", "intra_observer"),
        ("step1_obsB", "step1_obsF", "inter_observer"),
        ("nnUNet", "nnUNet_fold_2", "fold_vs_ensemble"),
        ("nnUNet", "nnUNet_fold_10", "fold_vs_ensemble"),
    ]
    assert plan_structure("Bladder", ["clinical"]) == []
    only_obs = plan_structure("Rectum", ["clinical", "step1_obsC"], frame="X")
    assert only_obs == [Comparison("Rectum", "clinical", "step1_obsC", "clinical_vs_observer", "X")]


def test_source_name_parsing() -> None:
    assert parse_observer_source("step2_obsC") == (2, "obsC")
    assert parse_observer_source("step12_reader_7") == (12, "reader_7")
    assert parse_observer_source("nnUNet") is None and parse_observer_source("stepX_obsB") is None
    assert fold_number("nnUNet_fold_9") == 9 and fold_number("nnUNet") is None


def test_empty_masks_give_none_distances_not_nan(patient) -> None:
    import numpy as np

    from lundprobe_gui.core.mask import Mask
    from lundprobe_gui.metrics.compare import metrics_row

    shape = patient.geometry.shape_zyx
    row = metrics_row(
        "P",
        Comparison("CTVT_427", "nnUNet", "step1_obsB", "dl_vs_observer"),
        patient.mask_obj("CTVT_427", "nnUNet"),
        Mask(shape),
        patient.geometry.spacing_zyx,
    )
    assert row["dice"] == 0.0 and row["hd95_mm"] is None and row["centroid_shift_mm"] is None
    assert row["step"] == 1 and row["observer"] == "obsB" and row["source"] == "step1_obsB"
    assert all(
        v is None or (isinstance(v, (float, str)) and not (isinstance(v, float) and math.isnan(v)))
        for k, v in row.items()
        if k != "step"
    )
    assert np.isclose(row["volume_test_cc"], 0.0)
