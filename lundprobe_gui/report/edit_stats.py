"""Where observers edited, over the DL uncertainty: the histogram and the low-uncertainty ratio.

Per structure, per step, per observer and pooled over the observers (``observer = all``):

* **Histogram** (:func:`histogram_table`): per uncertainty bin, the edited voxels, the voxels of
  the region, ``fraction_edited = edited / region voxels`` and ``share_of_edits = edited in the bin
  / all edited voxels``, each with a bootstrap confidence interval over the patients.
* **Low uncertainty** (:func:`low_uncertainty_table`): the share of the edited voxels at
  ``u == 0`` exactly, at ``0 < u < threshold`` and at ``u >= threshold``; and
  (:func:`step_ratio_table`) the edited voxels of a later step over those of step 1 in each part
  (the published "about 50 % fewer edits at low uncertainty"), over the patients present in both;
  in a crossover, where each step mixes the arms, also each other arm over the first one, paired
  within the observer whatever the step each arm came in (the same function, grouped by arm).

Pooled counts are sums over the patients (and observers): a large edit weighs more than a small
one, as in the published histogram. The bootstrap resamples patients; a pooled resample takes a
patient with all its observers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .common import POOLED, ReportOptions, observers_of, ratio, ratio_ci

logger = logging.getLogger(__name__)

HISTOGRAM_COLUMNS = (
    "structure",
    "observer",
    "step",
    "arm",
    "bin_low",
    "bin_high",
    "patients",
    "edited_voxels",
    "total_voxels",
    "fraction_edited",
    "fraction_ci_low",
    "fraction_ci_high",
    "share_of_edits",
    "share_ci_low",
    "share_ci_high",
)
LOW_COLUMNS = (
    "structure",
    "observer",
    "step",
    "arm",
    "threshold",
    "patients",
    "edited_voxels",
    "edited_zero",
    "edited_low",
    "edited_high",
    "zero_share",
    "zero_ci_low",
    "zero_ci_high",
    "low_share",
    "low_ci_low",
    "low_ci_high",
    "low_or_zero_share",
    "low_or_zero_ci_low",
    "low_or_zero_ci_high",
)
RATIO_COLUMNS = (
    "structure",
    "observer",
    "part",
    "threshold",
    "step_a",
    "step_b",
    "patients",
    "edited_a",
    "edited_b",
    "ratio",
    "ci_low",
    "ci_high",
)
ARM_RATIO_COLUMNS = tuple({"step_a": "arm_a", "step_b": "arm_b"}.get(c, c) for c in RATIO_COLUMNS)
"""The columns of the arm ratio (a crossover): the arms in place of the steps."""
PARTS = ("zero", "low", "low_or_zero", "high", "all")
"""The parts of the uncertainty range a step ratio is given for."""


def _groups(
    rows: Iterable[Mapping[str, Any]], arm_index: Callable[[Mapping[str, Any]], int] | None = None
) -> dict[tuple[str, str, int], dict[str, list[Mapping]]]:
    """Rows by (structure, observer or POOLED, step or, with ``arm_index``, arm position), then by patient."""
    out: dict[tuple[str, str, int], dict[str, list[Mapping]]] = {}
    for r in rows:
        k = int(r["step"]) if arm_index is None else arm_index(r)
        for obs in (r["observer"], POOLED):
            out.setdefault((r["structure"], obs, k), {}).setdefault(r["patient"], []).append(r)
    return out


def _grouped(
    rows: Sequence[Mapping[str, Any]], arms: Mapping[tuple, str], by_arm: Sequence[str] | None
) -> dict[tuple[str, str, int], dict[str, list[Mapping]]]:
    """:func:`_groups` by step, or with ``by_arm`` by the position of the arm of each observer's step."""
    if by_arm is None:
        return _groups(rows)
    order = list(by_arm)
    # an observer without a known arm (none in a study export) has no place here
    rows = [r for r in rows if arms.get((r["observer"], int(r["step"]))) in order]
    return _groups(rows, lambda r: order.index(arms[(r["observer"], int(r["step"]))]))


def _sort_key(structures: list[str], observers: list[str]):
    def key(k: tuple[str, str, int]) -> tuple:
        s, o, step = k
        return (structures.index(s), step, observers.index(o) if o in observers else len(observers))

    return key


def histogram_table(
    edit_rows: Sequence[Mapping[str, Any]],
    options: ReportOptions,
    arms: Mapping[tuple, str],
    by_arm: Sequence[str] | None = None,
) -> list[dict]:
    """The histogram rows (columns :data:`HISTOGRAM_COLUMNS`) of the uncertainty-edits rows.

    Parameters
    ----------
    edit_rows : list of dict
        Rows of :data:`~lundprobe_gui.metrics.edit_rows.EDIT_ROW_KEYS` (one per patient, observer,
        step and bin).
    options : ReportOptions
        Bootstrap settings.
    arms : mapping
        ``(observer, step) -> arm``; the pooled row's arm is that of its observers when they share it.
    by_arm : list of str, optional
        The arms in order: rows are then grouped by arm instead of step (a crossover's steps mix
        the arms), and their ``step`` is empty.
    """
    structures = list(dict.fromkeys(r["structure"] for r in edit_rows))
    observers = observers_of(edit_rows)
    order = list(by_arm or ())
    groups = _grouped(edit_rows, arms, by_arm)
    out = []
    for key in sorted(groups, key=_sort_key(structures, observers)):
        structure, obs, step = key
        by_patient = groups[key]
        patients = sorted(by_patient)
        bins = sorted({(r["bin_low"], r["bin_high"]) for rs in by_patient.values() for r in rs})
        index = {b: i for i, b in enumerate(bins)}
        edited = np.zeros((len(bins), len(patients)))
        total = np.zeros((len(bins), len(patients)))
        for j, p in enumerate(patients):
            for r in by_patient[p]:
                i = index[(r["bin_low"], r["bin_high"])]
                edited[i, j] += int(r["edited_voxels"])
                total[i, j] += int(r["total_voxels"])
        all_edits = np.broadcast_to(edited.sum(axis=0), edited.shape)
        f_lo, f_hi = ratio_ci(edited, total, options)
        s_lo, s_hi = ratio_ci(edited, all_edits, options)
        arm = _arm(arms, obs, step, by_patient) if by_arm is None else order[step]
        for i, (lo, hi) in enumerate(bins):
            out.append(
                {
                    "structure": structure,
                    "observer": obs,
                    "step": step if by_arm is None else "",
                    "arm": arm,
                    "bin_low": lo,
                    "bin_high": hi,
                    "patients": len(patients),
                    "edited_voxels": int(edited[i].sum()),
                    "total_voxels": int(total[i].sum()),
                    "fraction_edited": ratio(edited[i], total[i]),
                    "fraction_ci_low": f_lo[i],
                    "fraction_ci_high": f_hi[i],
                    "share_of_edits": ratio(edited[i], all_edits[i]),
                    "share_ci_low": s_lo[i],
                    "share_ci_high": s_hi[i],
                }
            )
    return out


def _arm(arms: Mapping[tuple, str], obs: str, step: int, by_patient: Mapping[str, list[Mapping]]) -> str:
    if obs != POOLED:
        return arms.get((obs, step), "")
    found = {arms.get((r["observer"], step), "") for rs in by_patient.values() for r in rs}
    return found.pop() if len(found) == 1 else "mixed"


def _split_arrays(by_patient: Mapping[str, list[Mapping]], patients: list[str]) -> dict[str, np.ndarray]:
    parts = {k: np.zeros(len(patients)) for k in ("zero", "low", "high")}
    for j, p in enumerate(patients):
        for r in by_patient[p]:
            parts["zero"][j] += int(r["edited_zero"])
            parts["low"][j] += int(r["edited_low"])
            parts["high"][j] += int(r["edited_high"])
    parts["low_or_zero"] = parts["zero"] + parts["low"]
    parts["all"] = parts["low_or_zero"] + parts["high"]
    return parts


def low_uncertainty_table(
    split_rows: Sequence[Mapping[str, Any]], options: ReportOptions, arms: Mapping[tuple, str]
) -> list[dict]:
    """Shares of the edited voxels at zero, low and high uncertainty (columns :data:`LOW_COLUMNS`)."""
    structures = list(dict.fromkeys(r["structure"] for r in split_rows))
    observers = observers_of(split_rows)
    groups = _groups(split_rows)
    out = []
    for key in sorted(groups, key=_sort_key(structures, observers)):
        structure, obs, step = key
        by_patient = groups[key]
        patients = sorted(by_patient)
        parts = _split_arrays(by_patient, patients)
        stacked = np.stack([parts["zero"], parts["low"], parts["low_or_zero"]])
        lo, hi = ratio_ci(stacked, np.broadcast_to(parts["all"], stacked.shape), options)
        row = {
            "structure": structure,
            "observer": obs,
            "step": step,
            "arm": _arm(arms, obs, step, by_patient),
            "threshold": options.threshold,
            "patients": len(patients),
            "edited_voxels": int(parts["all"].sum()),
            "edited_zero": int(parts["zero"].sum()),
            "edited_low": int(parts["low"].sum()),
            "edited_high": int(parts["high"].sum()),
        }
        for i, name in enumerate(("zero", "low", "low_or_zero")):
            row[f"{name}_share"] = ratio(parts[name], parts["all"])
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = lo[i], hi[i]
        out.append(row)
    return out


def step_ratio_table(
    split_rows: Sequence[Mapping[str, Any]],
    options: ReportOptions,
    arms: Mapping[tuple, str] | None = None,
    by_arm: Sequence[str] | None = None,
) -> list[dict]:
    """Edited voxels of each later step over step 1, per part of the range (columns :data:`RATIO_COLUMNS`).

    Only patients with both steps (for that observer, or pooled: with both steps of every observer
    they have) take part, so the ratio compares the same cases.

    Parameters
    ----------
    split_rows : list of dict
        Rows of :data:`~lundprobe_gui.metrics.study_analyses.SPLIT_ROW_KEYS`.
    options : ReportOptions
        Threshold and bootstrap settings.
    arms : mapping, optional
        ``(observer, step) -> arm``; needed with ``by_arm``.
    by_arm : list of str, optional
        The arms in order: each other arm over the first one instead (columns
        :data:`ARM_RATIO_COLUMNS`), paired within the observer whatever the step each arm came in
        (a crossover); a pooled patient takes part when every observer it has worked in both arms.
    """
    structures = list(dict.fromkeys(r["structure"] for r in split_rows))
    observers = observers_of(split_rows)
    groups = _grouped(split_rows, arms or {}, by_arm)
    a_key, b_key = ("step_a", "step_b") if by_arm is None else ("arm_a", "arm_b")

    def name(k: int) -> int | str:
        return k if by_arm is None else by_arm[k]

    out = []
    pairs = sorted(
        {(s, o) for s, o, _ in groups},
        key=lambda k: (structures.index(k[0]), observers.index(k[1]) if k[1] in observers else len(observers)),
    )
    for structure, obs in pairs:
        steps = sorted(k for s, o, k in groups if s == structure and o == obs)
        if len(steps) < 2:
            continue
        first = groups[(structure, obs, steps[0])]
        for later in steps[1:]:
            second = groups[(structure, obs, later)]
            patients = sorted(p for p in first if p in second and _same_observers(first[p], second[p]))
            a = _split_arrays(first, patients)
            b = _split_arrays(second, patients)
            num = np.stack([b[p] for p in PARTS])
            den = np.stack([a[p] for p in PARTS])
            lo, hi = ratio_ci(num, den, options)
            for i, part in enumerate(PARTS):
                out.append(
                    {
                        "structure": structure,
                        "observer": obs,
                        "part": part,
                        "threshold": options.threshold,
                        a_key: name(steps[0]),
                        b_key: name(later),
                        "patients": len(patients),
                        "edited_a": int(den[i].sum()),
                        "edited_b": int(num[i].sum()),
                        "ratio": ratio(num[i], den[i]),
                        "ci_low": lo[i],
                        "ci_high": hi[i],
                    }
                )
    return out


def _same_observers(a: list[Mapping], b: list[Mapping]) -> bool:
    return {r["observer"] for r in a} == {r["observer"] for r in b}
