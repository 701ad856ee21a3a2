"""The one patient loader: its order, what it leaves unread, cancelling, and its reports."""

from __future__ import annotations

import threading

from lundprobe_gui.core.loading import LoadPlan, load_plan, main_image, viewer_plan
from lundprobe_gui.core.patient import StructureRef
from lundprobe_gui.io.open import open_patient


def _loaded(patient) -> set[str]:
    frame = patient.reference_frame
    vols = [*frame.images.values(), *frame.doses.values(), *frame.uncertainty.values()]
    out = {str(v.path) for v in vols if v.data is not None}
    return out | {r.path for r in frame.structures.values() if patient.is_mask_loaded(r)}


def test_viewer_plan_puts_the_mri_first_then_the_clinical_ctv(demo_patient_path):
    p = open_patient(demo_patient_path, edits=False)
    plan = viewer_plan(p)
    assert plan.first == [p.reference_frame.images["image"]]
    first_rest = plan.rest[0]
    assert isinstance(first_rest, StructureRef)
    assert (first_rest.name, first_rest.source) == ("CTVT_427", "clinical")
    # every layer once, clinical structures before the DL and observers' ones
    paths = [str(x.path) for x in plan.first + plan.rest]
    assert len(paths) == len(set(paths))
    kinds = [x.source for x in plan.rest if isinstance(x, StructureRef)]
    assert kinds.index(next(k for k in kinds if k != "clinical")) == kinds.count("clinical")
    frame = p.reference_frame
    expected = len(frame.images) + len(frame.structures) + len(frame.uncertainty) + len(frame.doses)
    assert len(plan) == expected - len(frame.standby())


def test_load_plan_reads_only_the_plan_and_reports_in_order(demo_patient_path):
    p = open_patient(demo_patient_path, edits=False)
    frame = p.reference_frame
    mri = main_image(p)
    ctv = frame.structures[("CTVT_427", "clinical")]
    dose = next(iter(frame.doses.values()))
    events: list[tuple] = []
    ok = load_plan(
        p,
        LoadPlan(first=[mri, ctv], rest=[dose]),
        on_image=lambda: events.append(("image", _loaded(p))),
        on_layer=lambda i, n, path: events.append(("layer", i, n, path)),
    )
    assert ok
    # the image is reported once the first layers are in, and before any of the rest
    assert events[0] == ("image", {str(mri.path), ctv.path})
    assert events[1] == ("layer", 1, 1, str(dose.path))
    assert _loaded(p) == {str(mri.path), ctv.path, str(dose.path)}  # nothing outside the plan was read
    unc = next(iter(frame.uncertainty.values()))
    assert unc.data is None


def test_a_cancelled_load_reads_nothing_more_and_says_so(demo_patient_path):
    p = open_patient(demo_patient_path, edits=False)
    cancel = threading.Event()
    plan = viewer_plan(p)
    seen: list[int] = []

    def on_layer(i: int, n: int, path: str) -> None:
        seen.append(i)
        cancel.set()

    assert load_plan(p, plan, cancel, on_layer=on_layer, workers=1) is False
    assert seen == [1]  # no report after the cancel
    assert len(_loaded(p)) < len(plan)


def test_load_all_reads_every_layer_of_the_viewer_plan(demo_patient_path):
    p = open_patient(demo_patient_path, edits=False)
    assert load_plan(p, viewer_plan(p))
    assert _loaded(p) == {str(x.path) for x in viewer_plan(p).first + viewer_plan(p).rest}
