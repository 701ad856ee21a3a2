"""Step 1 against step 2 and observers against each other: metrics, ratings, time, kappa, STAPLE, variability.

Every comparison of steps is a paired Wilcoxon signed-rank test (:func:`~.common.paired_test`):
per observer the pairs are the patients (and structures, for ratings), pooled they are
(observer, patient) pairs. Agreement of the ratings is Fleiss' kappa across the observers of a
step and Cohen's weighted kappa (linear weights) for each pair of observers within a step and for
each observer between steps (``statsmodels.stats.inter_rater``). In a crossover, where a step mixes
the arms, the agreement analyses (kappa, STAPLE, variability) group by arm instead
(:class:`~.common.AgreementGrouping`): the observers compared are those who were in one arm,
whatever the step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np

from .common import POOLED, AgreementGrouping, one_sample_test, paired_test, summary

logger = logging.getLogger(__name__)

DL_METRICS = ("dice", "hd95_mm", "surface_dice", "apl_mm")
"""The DL-versus-edit metrics of the report."""
SUMMARY_KEYS = ("n", "mean", "sd", "median", "q1", "q3")
TEST_KEYS = ("n", "median_a", "median_b", "median_diff", "statistic", "p_value", "note")


def _by_observer(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """(observer, rows) for each observer, then (POOLED, every row)."""
    observers = list(dict.fromkeys(r["observer"] for r in rows if r["observer"] not in (None, POOLED)))
    return [(o, [r for r in rows if r["observer"] == o]) for o in observers] + [(POOLED, list(rows))]


def _structures(rows: Sequence[Mapping[str, Any]], pooled: bool) -> list[tuple[str, list[Mapping[str, Any]]]]:
    structures = list(dict.fromkeys(r["structure"] for r in rows))
    out = [(s, [r for r in rows if r["structure"] == s]) for s in structures]
    if pooled and len(structures) > 1:
        out.append((POOLED, list(rows)))
    return out


def _steps(rows: Iterable[Mapping[str, Any]]) -> list[int]:
    return sorted({int(r["step"]) for r in rows if r.get("step") is not None})


def compare_steps(
    rows: Sequence[Mapping[str, Any]],
    values: Sequence[str],
    pair_key: Sequence[str],
    what: str,
    pooled_structures: bool = False,
) -> tuple[list[dict], list[dict]]:
    """Summaries per step and paired tests of step 1 against each later step.

    Parameters
    ----------
    rows : sequence of dict
        With ``structure``, ``observer``, ``step`` and the ``values`` keys.
    values : sequence of str
        The measured keys (``dice``, ``quality``...).
    pair_key : sequence of str
        Keys that pair a row of one step with a row of another, besides the observer (``patient``,
        and ``structure`` when structures are pooled).
    what : str
        The ``table`` column of the rows returned.
    pooled_structures : bool
        Also pool the structures (``structure = all``).

    Returns
    -------
    summaries : list of dict
        ``table, structure, observer, step, measure`` and :data:`SUMMARY_KEYS`.
    tests : list of dict
        ``table, structure, observer, measure, step_a, step_b`` and :data:`TEST_KEYS`.
    """
    return _compare(rows, values, pair_key, what, "step", None, pooled_structures)


def compare_arms(
    rows: Sequence[Mapping[str, Any]],
    values: Sequence[str],
    pair_key: Sequence[str],
    what: str,
    arms: Sequence[str],
    pooled_structures: bool = False,
) -> tuple[list[dict], list[dict]]:
    """Summaries per arm and paired tests of the first arm against each other arm, within an observer.

    As :func:`compare_steps`, grouped by ``arm`` (what was shown) instead of ``step`` (the session
    order): in a crossover the pairs of an observer are the same patient seen in two arms, whatever
    the step each arm came in. ``arms`` gives the order (the first is the reference); rows carry
    ``arm``. Returns summaries with ``arm`` and tests with ``arm_a``, ``arm_b``.
    """
    return _compare(rows, values, pair_key, what, "arm", list(arms), pooled_structures)


def _compare(
    rows: Sequence[Mapping[str, Any]],
    values: Sequence[str],
    pair_key: Sequence[str],
    what: str,
    key: str,
    order: list | None,
    pooled_structures: bool,
) -> tuple[list[dict], list[dict]]:
    summaries, tests = [], []
    for structure, srows in _structures(rows, pooled_structures):
        for obs, orows in _by_observer(srows):
            present = {r[key] for r in orows if r.get(key) not in (None, "")}
            groups = [g for g in order if g in present] if order is not None else sorted(present)
            for measure in values:
                by_group = {g: [r for r in orows if r[key] == g] for g in groups}
                for g in groups:
                    s = summary(r.get(measure) for r in by_group[g])
                    summaries.append(
                        {"table": what, "structure": structure, "observer": obs, key: g, "measure": measure, **s}
                    )
                for later in groups[1:]:
                    a = {(r["observer"], *(r[c] for c in pair_key)): r.get(measure) for r in by_group[groups[0]]}
                    b = {(r["observer"], *(r[c] for c in pair_key)): r.get(measure) for r in by_group[later]}
                    pairs = {k: (a[k], b[k]) for k in a if k in b}
                    t = paired_test(pairs)
                    tests.append(
                        {
                            "table": what,
                            "structure": structure,
                            "observer": obs,
                            "measure": measure,
                            f"{key}_a": groups[0],
                            f"{key}_b": later,
                            **{k: t[k] for k in TEST_KEYS},
                        }
                    )
    return summaries, tests


def case_times(results: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Active time per finished case: the sum of its structures' active seconds."""
    cases: dict[tuple, dict] = {}
    for r in results:
        if not r["finished"] or r.get("active_seconds") is None:
            continue
        key = (r["observer"], r["step"], r["patient"])
        c = cases.setdefault(
            key,
            {
                "structure": POOLED,
                "observer": r["observer"],
                "step": r["step"],
                "patient": r["patient"],
                "seconds": 0.0,
            },
        )
        c["seconds"] += float(r["active_seconds"])
    out = list(cases.values())
    for c in out:
        c["minutes"] = c["seconds"] / 60.0
    return out


# -- kappa ----------------------------------------------------------------------------------------
def _fleiss(matrix: np.ndarray) -> float | None:
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    if matrix.shape[0] < 2 or matrix.shape[1] < 2:
        return None
    table, _ = aggregate_raters(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = float(fleiss_kappa(table, method="fleiss"))
    return k if np.isfinite(k) else None


def _weighted(a: np.ndarray, b: np.ndarray, scale: Sequence[int]) -> float | None:
    from statsmodels.stats.inter_rater import cohens_kappa, to_table

    if a.size < 2:
        return None
    edges = np.asarray(sorted(scale), dtype=float)
    table, _ = to_table(np.column_stack([a, b]), bins=np.append(edges - 0.5, edges[-1] + 0.5))
    with np.errstate(invalid="ignore", divide="ignore"):
        k = float(cohens_kappa(table, wt="linear", return_results=False))
    return k if np.isfinite(k) else None


def kappa_table(
    results: Sequence[Mapping[str, Any]],
    questions: Mapping[str, Sequence[int]],
    grouping: AgreementGrouping | None = None,
) -> list[dict]:
    """Fleiss' kappa and the linear weighted kappas of the ratings (see the module docstring).

    Parameters
    ----------
    results : sequence of dict
        Typed ``results.csv`` rows (finished cases only are used).
    questions : mapping
        Likert question id to its scale's values.
    grouping : AgreementGrouping, optional
        By step (the default) or, in a crossover, by arm: the raters of an item are then the
        observers who rated it in that arm, whatever the step.

    Returns
    -------
    list of dict
        ``question, structure, step, arm, kind, observer_a, observer_b, items, raters, kappa``;
        ``kind`` is ``fleiss``, ``weighted_inter`` (two observers, one step or arm) or
        ``weighted_intra`` (one observer, step 1 against a later step, or the first arm against
        another: ``step`` or ``arm`` is then ``a-b``).
    """
    g = grouping or AgreementGrouping()
    done = [r for r in results if r["finished"]]
    out = []
    for qid, scale in questions.items():
        for structure, srows in _structures(done, pooled=True):
            groups = g.present(srows)
            observers = list(dict.fromkeys(r["observer"] for r in srows))
            rating = {(r["observer"], g.of(r), r["patient"], r["structure"]): r.get(qid) for r in srows}
            items = sorted({(r["patient"], r["structure"]) for r in srows})
            for k in groups:
                full = [i for i in items if all(rating.get((o, k, *i)) is not None for o in observers)]
                matrix = np.asarray([[rating[(o, k, *i)] for o in observers] for i in full], dtype=float).reshape(
                    len(full), len(observers)
                )
                base = {"question": qid, "structure": structure, **g.keys(k)}
                out.append(
                    {
                        **base,
                        "kind": "fleiss",
                        "observer_a": "",
                        "observer_b": "",
                        "items": len(full),
                        "raters": len(observers),
                        "kappa": _fleiss(matrix),
                    }
                )
                for a, b in combinations(observers, 2):
                    both = [
                        i for i in items if rating.get((a, k, *i)) is not None and rating.get((b, k, *i)) is not None
                    ]
                    va = np.asarray([rating[(a, k, *i)] for i in both], dtype=float)
                    vb = np.asarray([rating[(b, k, *i)] for i in both], dtype=float)
                    out.append(
                        {
                            **base,
                            "kind": "weighted_inter",
                            "observer_a": a,
                            "observer_b": b,
                            "items": len(both),
                            "raters": 2,
                            "kappa": _weighted(va, vb, scale),
                        }
                    )
            for o in observers:
                for k in groups[1:]:
                    first = groups[0]
                    both = [
                        i
                        for i in items
                        if rating.get((o, first, *i)) is not None and rating.get((o, k, *i)) is not None
                    ]
                    va = np.asarray([rating[(o, first, *i)] for i in both], dtype=float)
                    vb = np.asarray([rating[(o, k, *i)] for i in both], dtype=float)
                    out.append(
                        {
                            "question": qid,
                            "structure": structure,
                            **g.pair_keys(first, k),
                            "kind": "weighted_intra",
                            "observer_a": o,
                            "observer_b": o,
                            "items": len(both),
                            "raters": 1,
                            "kappa": _weighted(va, vb, scale),
                        }
                    )
    return out


# -- STAPLE and variability ------------------------------------------------------------------------
def staple_tables(
    agreement_rows: Sequence[Mapping[str, Any]], grouping: AgreementGrouping | None = None
) -> tuple[list[dict], list[dict]]:
    """Summaries of the STAPLE rows per structure, step (or arm) and observer, and tests between the groups.

    Parameters
    ----------
    agreement_rows : sequence of dict
        The agreement analysis's rows (with ``arm``).
    grouping : AgreementGrouping, optional
        By step (the default) or, in a crossover, by arm.

    Returns
    -------
    summaries : list of dict
        ``structure, step, arm, observer, measure`` (``dice_vs_consensus``, ``staple_sensitivity``,
        ``staple_specificity``) and :data:`SUMMARY_KEYS`; the DL mask is the observer ``nnUNet``.
    tests : list of dict
        Per structure, paired Wilcoxon tests (``step_a, step_b, arm_a, arm_b``). By step: the mean
        observer Dice with the consensus per case (``observer_dice``) and the DL mask's Dice with the
        consensus (``dl_dice``), step 1 against each later step, pairs the patients. By arm: the first
        arm against each other arm; ``observer_dice`` is each observer's Dice with its arm's consensus,
        paired within the observer and the patient (per observer, and pooled: observer and patient
        pairs, as the arm tests), ``dl_dice`` pairs the patients.
    """
    g = grouping or AgreementGrouping()
    rows = [r for r in agreement_rows if r["table"] == "staple"]
    observers = [dict(r, observer=r["observer"] or r["source"]) for r in rows]
    summaries = []
    for structure, srows in _structures(observers, pooled=False):
        for k in g.present(srows):
            krows = [r for r in srows if g.of(r) == k]
            names = list(dict.fromkeys(r["observer"] for r in krows if r["source"] != "nnUNet"))
            for name in [*names, POOLED, "nnUNet"]:
                sel = [r for r in krows if (r["observer"] == name) or (name == POOLED and r["source"] != "nnUNet")]
                for measure in ("dice_vs_consensus", "staple_sensitivity", "staple_specificity"):
                    if name == "nnUNet" and measure != "dice_vs_consensus":
                        continue
                    summaries.append(
                        {
                            "structure": structure,
                            **g.keys(k),
                            "observer": name,
                            "measure": measure,
                            **summary(r[measure] for r in sel),
                        }
                    )
    dl = [
        {
            "structure": r["structure"],
            "observer": POOLED,
            "step": r["step"],
            "arm": r["arm"],
            "patient": r["patient"],
            "dl_dice": r["dice_vs_consensus"],
        }
        for r in rows
        if r["source"] == "nnUNet"
    ]
    if g.by_arm:
        each = [
            {**{k: r[k] for k in ("structure", "observer", "arm", "patient")}, "observer_dice": r["dice_vs_consensus"]}
            for r in rows
            if r["source"] != "nnUNet"
        ]
        _, t1 = compare_arms(each, ["observer_dice"], ["patient"], "staple", g.arms)
        _, t2 = compare_arms(dl, ["dl_dice"], ["patient"], "staple", g.arms)
        return summaries, [*t1, *(t for t in t2 if t["observer"] == POOLED)]
    means: dict[tuple, list[float]] = {}
    for r in rows:
        if r["source"] != "nnUNet":
            means.setdefault((r["structure"], r["step"], r["patient"]), []).append(float(r["dice_vs_consensus"]))
    per_case = [
        {"structure": s, "observer": POOLED, "step": k, "patient": p, "observer_dice": float(np.mean(v))}
        for (s, k, p), v in means.items()
    ]
    _, t1 = compare_steps(per_case, ["observer_dice"], ["patient"], "staple")
    _, t2 = compare_steps(dl, ["dl_dice"], ["patient"], "staple")
    return summaries, [_with_step_arms(t, g) for t in t1 + t2 if t["observer"] == POOLED]


def _with_step_arms(test: dict, g: AgreementGrouping) -> dict:
    """A step test with the arms of its steps (``arm_a``, ``arm_b``)."""
    return {**test, "arm_a": g.step_arms.get(test["step_a"], ""), "arm_b": g.step_arms.get(test["step_b"], "")}


def variability_tables(
    agreement_rows: Sequence[dict[str, Any]], grouping: AgreementGrouping | None = None
) -> tuple[list[dict], list[dict], list[dict]]:
    """Per-case correlations, their summary per structure and step (or arm), and the variability per uncertainty bin.

    Parameters
    ----------
    agreement_rows : sequence of dict
        The agreement analysis's rows (with ``arm``).
    grouping : AgreementGrouping, optional
        By step (the default) or, in a crossover, by arm.

    Returns
    -------
    cases : list of dict
        The ``variability`` rows.
    summaries : list of dict
        ``structure, step, arm`` with the summary of Spearman's rho over the cases, the one-sample
        Wilcoxon test of rho against 0, and the summary of the mean variability; plus the test of
        the cases' mean variability between the groups (``n``, ``median`` of the differences,
        ``p_value``...), step 1 against each later step in rows of ``measure =
        mean_variability_step_test`` (``step`` and ``arm`` are ``a-b``), or by arm, the first arm
        against each other arm, in rows of ``measure = mean_variability_arm_test`` (``arm`` is
        ``a-b``); the pairs are the patients.
    bins : list of dict
        ``structure, step, arm, bin_low, bin_high, voxels, mean_variability, disagreement_share``
        pooled over the cases.
    """
    g = grouping or AgreementGrouping()
    cases = [r for r in agreement_rows if r["table"] == "variability"]
    summaries = []
    for structure, srows in _structures(cases, pooled=False):
        for k in g.present(srows):
            krows = [r for r in srows if g.of(r) == k]
            rho = [r["spearman_rho"] for r in krows]
            t = one_sample_test(rho)
            summaries.append(
                {
                    "structure": structure,
                    **g.keys(k),
                    "measure": "spearman_rho",
                    **summary(rho),
                    "test_n": t["n"],
                    "test_statistic": t["statistic"],
                    "p_value": t["p_value"],
                    "note": t["note"],
                }
            )
            summaries.append(
                {
                    "structure": structure,
                    **g.keys(k),
                    "measure": "mean_variability",
                    **summary(r["mean_variability"] for r in krows),
                }
            )
        pooled = [dict(r, observer=POOLED) for r in srows]
        if g.by_arm:
            _, tests = compare_arms(pooled, ["mean_variability"], ["patient"], "variability", g.arms)
        else:
            _, tests = compare_steps(pooled, ["mean_variability"], ["patient"], "variability")
        for t in tests:
            if t["observer"] == POOLED:
                summaries.append(
                    {
                        "structure": structure,
                        **g.pair_keys(t[f"{g.by}_a"], t[f"{g.by}_b"]),
                        "measure": f"mean_variability_{g.by}_test",
                        "n": t["n"],
                        "median": t["median_diff"],
                        "test_statistic": t["statistic"],
                        "p_value": t["p_value"],
                        "note": t["note"],
                    }
                )
    acc: dict[tuple, list[float]] = {}
    for r in agreement_rows:
        if r["table"] != "variability_bins":
            continue
        a = acc.setdefault((r["structure"], g.of(r), r["bin_low"], r["bin_high"]), [0, 0.0, 0])
        a[0] += int(r["voxels"])
        a[1] += float(r["variability_sum"])
        a[2] += int(r["disagreement_voxels"])
    structures = list(dict.fromkeys(r["structure"] for r in agreement_rows))
    groups = g.present(r for r in agreement_rows if r["table"] == "variability_bins")
    bins = [
        {
            "structure": s,
            **g.keys(k),
            "bin_low": lo,
            "bin_high": hi,
            "voxels": n,
            "mean_variability": (v / n) if n else None,
            "disagreement_share": (d / n) if n else None,
        }
        for (s, k, lo, hi), (n, v, d) in sorted(
            acc.items(), key=lambda kv: (structures.index(kv[0][0]), groups.index(kv[0][1]), *kv[0][2:])
        )
    ]
    return cases, summaries, bins
