"""Case orders differ per observer and step, are reproducible from the seed, and pseudonyms hide patient IDs."""

from __future__ import annotations

import re

import pytest

from lundprobe_gui.study import ObserverSession, case_order, case_plan, pseudonym

from .helpers import T0

IDS = [f"LUNDPROBE_{433 + i:04d}" for i in range(20)]


def test_orders_are_permutations_reproducible_from_the_seed():
    a = case_order(IDS, 7, "obsB", 1)
    assert sorted(a) == sorted(IDS)
    assert case_order(list(reversed(IDS)), 7, "obsB", 1) == a  # the listed order does not matter
    assert case_order(IDS, 7, "obsB", 1) == a
    assert case_order(IDS, 8, "obsB", 1) != a


def test_orders_differ_per_observer_and_per_step():
    orders = {(o, k): tuple(case_order(IDS, 7, o, k)) for o in ("obsB", "obsC", "obsD", "obsE") for k in (1, 2)}
    assert len(set(orders.values())) == len(orders)


def test_a_step_never_repeats_the_observers_earlier_order_even_with_few_patients():
    for seed in range(50):
        for n in (2, 3):
            ids = IDS[:n]
            assert case_order(ids, seed, "obsX", 2) != case_order(ids, seed, "obsX", 1)
    assert case_order(IDS[:1], 3, "obsX", 2) == IDS[:1]  # one patient: nothing to vary


def test_pseudonyms_name_positions_not_patients():
    plan = case_plan(IDS, 7, "obsB", 1)
    assert [p.pseudonym for p in plan] == [f"Case {i:02d}" for i in range(1, 21)]
    for slot in plan:
        digits = re.sub(r"\D", "", slot.patient).lstrip("0")
        assert slot.patient not in slot.pseudonym and digits not in slot.pseudonym
    assert pseudonym(7, 120) == "Case 007"


@pytest.mark.slow
def test_session_uses_the_recorded_orders(study_dir):
    patients = ["LUNDPROBE_0433", "LUNDPROBE_0434", "LUNDPROBE_0435"]
    seen = {}
    for obs in ("obsX", "obsY"):
        s = ObserverSession(study_dir, obs, now=T0)
        try:
            for k in (1, 2):
                rec = s.state.steps[k]
                assert rec.order == case_order(patients, 11, obs, k)
                assert [c.pseudonym for c in rec.cases] == ["Case 01", "Case 02", "Case 03"]
                seen[(obs, k)] = tuple(rec.order)
            view = s.current_case(T0)
            assert view.pseudonym == "Case 01" and not any(p in repr(view) for p in patients)
        finally:
            s.close(now=T0)
    assert seen[("obsX", 1)] != seen[("obsX", 2)] and seen[("obsY", 1)] != seen[("obsY", 2)]
