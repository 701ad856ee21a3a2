"""The generated methods and results paragraphs: the protocol actually run and the main numbers.

Every statement comes from the study's definition (as sealed: its hash is quoted), the
administrators' actions, the report's options and the tables; nothing is assumed. The published
edits have no definition: their paragraph describes the protocol as published and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..metrics.uncertainty_edits import DEFAULT_BIN_WIDTH, DEFAULT_MAX_UNCERTAINTY
from .common import POOLED, ReportOptions
from .figures import format_p

if TYPE_CHECKING:
    from ..study.definition import StudyDefinition
    from .build import Report, ReportRows, ReportSource

logger = logging.getLogger(__name__)

CATEGORY_WORDS = {
    "clinical": "the clinical contours",
    "dl": "the DL ensemble mask",
    "folds": "the 10 fold masks",
    "other_observers": "other observers' edits (published ones included)",
    "other_steps": "the observer's own edits of the other steps",
    "dose": "the dose",
}


def library_versions() -> dict[str, str]:
    """Versions of the libraries the statistics and figures come from."""
    out = {"lundprobe_gui": __version__}
    for name in ("numpy", "scipy", "statsmodels", "SimpleITK", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _list(items: Iterable[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _design_sentence(d: StudyDefinition, labels: dict[str, str]) -> str:
    """The design: which arm each observer saw in which step."""
    arms = [a.arm for a in d.arms]
    if d.design == "sequential":
        return (
            f"The design was sequential: every observer saw the arms in the order {' then '.join(map(repr, arms))} "
            f"(step 1 to step {len(arms)})."
        )
    orders: dict[tuple[str, ...], list[str]] = {}
    for o in d.observers:
        orders.setdefault(d.arm_orders[o], []).append(labels.get(o, o))
    used = "; ".join(f"{' then '.join(order)} for {_list(obs)}" for order, obs in orders.items())
    return (
        f"The design was a crossover: the order of the {len(arms)} arms was counterbalanced across observers "
        f"(Williams design, drawn from the seed {d.seed}): {used}. The arms were compared within each observer "
        "whatever the step they came in."
    )


def protocol_paragraph(source: ReportSource) -> str:
    """The protocol: observers, steps and what they showed, questions, randomisation, washout, time."""
    out = source.outputs
    d = out.definition
    observers = list(source.labels.values()) + list(source.choice.published or ())
    if d is None:
        return (
            f"The published edits of the dataset at {out.dataset_root} were analysed: observers "
            f"{_list(observers)} edited the DL masks of {_list(out.structures)} in {len(source.paths)} patients in "
            f"{len(out.steps)} steps. As published (Rogowski et al. 2025), step 1 was done without and step 2, at "
            "least 4 weeks later, with the DL uncertainty map on a fixed 0-0.5 colour scale; quality was rated on a "
            "4-point and confidence on a 5-point Likert scale, but the released data holds neither the ratings nor "
            "the times, so those analyses are absent. The protocol's details are not recorded with the released "
            "data and are not restated here."
        )
    parts = [
        f"{'The study ' + repr(d.name) if d.name else 'The study'} "
        f"(definition sha256 {out.definition_sha256 or 'not recorded'}, "
        f"created {d.created_at}) was run with lundprobe_gui {out.app_version or 'of an unrecorded version'}. "
        f"{len(observers)} observer(s) ({_list(observers)}) rated and then edited the {d.start_source} masks of "
        f"{_list(d.structures)} in {len(d.patients)} patients, in {len(d.steps)} steps."
    ]
    for s in d.arms:
        low, high = s.uncertainty_range
        scale = f"fixed {low:g}-{high:g}" if s.uncertainty_scale == "fixed" else "per-map"
        shown = (
            f"the DL uncertainty map was shown on a {scale} colour scale"
            if s.show_uncertainty
            else "the DL uncertainty map was hidden"
        )
        hidden = _list(CATEGORY_WORDS.get(h, h) for h in s.hidden) or "nothing"
        also = _list(CATEGORY_WORDS[c] for c in CATEGORY_WORDS if c not in s.hidden and c != "dl")
        parts.append(f"In arm {s.arm!r} {shown}" + (f"; shown: {also}" if also else "") + f"; hidden: {hidden}.")
    parts.append(_design_sentence(d, source.labels))
    for q in d.questions:
        if q.kind == "likert":
            anchors = "; ".join(f"{c.value} = {c.label!r}" for c in q.choices)
            parts.append(
                f"Before editing, each structure was rated: {q.text!r} ({len(q.choices)}-point scale: {anchors})."
            )
        else:
            parts.append(f"A free-text question was asked: {q.text!r} ({'required' if q.required else 'optional'}).")
    for q in d.step_questions:
        kind = f"{len(q.choices)}-point scale" if q.kind == "likert" else "free text"
        parts.append(
            f"After finishing each step the observer answered {q.text!r} ({kind}, "
            f"{'required' if q.required else 'optional'})."
        )
    parts.append(
        f"The case order was randomised per observer and step (seed {d.seed}; patients sorted by "
        "sha256(seed|observer|step|attempt|patient)), and cases were labelled by position only."
    )
    overrides = [e for e in out.admin_events if e["event"] == "washout_overridden"]
    unlocks = [e for e in out.admin_events if e["event"] == "case_unlocked"]
    parts.append(
        f"A step opened {d.washout_days:g} days after the observer finished the previous one"
        + (f"; the administrator opened {len(overrides)} step(s) early" if overrides else ", with no override")
        + (f", and reopened {len(unlocks)} finished case(s)." if unlocks else ", and reopened no finished case.")
    )
    parts.append(
        f"Active time was counted from input events only: the clock paused {d.idle_timeout_s:g} s after the last "
        "input and at once when the window was minimised, and time between sessions was never counted."
    )
    if out.sites:
        parts.append(
            f"The results of {len(out.sites)} sites were merged: "
            + "; ".join(f"{s.get('name')} (observers {_list(s.get('observers', []))})" for s in out.sites)
            + "."
        )
    return " ".join(parts)


def analysis_paragraph(source: ReportSource, options: ReportOptions) -> str:
    """How the numbers were computed, with the libraries' versions."""
    v = library_versions()
    unit = source.agreement_grouping().by
    return (
        "Edited voxels are those added to or removed from the DL mask, each counted once, binned by the DL "
        f"uncertainty in bins of {DEFAULT_BIN_WIDTH:g} from 0 to {DEFAULT_MAX_UNCERTAINTY:g} (values above in the last "
        "bin); a bin's region holds the voxels with uncertainty > 0 or edited. Pooled histograms sum the voxels over "
        f"patients and observers. Low uncertainty is u < {options.threshold:g}; edits where u is exactly 0 are "
        "reported apart from low-but-non-zero ones. Confidence intervals are percentile bootstrap intervals "
        f"({options.n_boot} resamples of the patients, seed {options.seed}, {options.level:.0%} level; "
        f"scipy {v['scipy']}). The DL mask was compared with each edited mask by Dice, HD95, surface Dice at "
        f"{options.tolerance_mm:g} mm and added path length (1 mm tolerance). Step 1 and later steps were compared "
        "with the Wilcoxon signed-rank test on pairs of cases (per observer: patients; pooled: observer and patient); "
        "the arms (what was shown) were compared the same way, the first arm against each other one, pairing an "
        "observer's case in one arm with the same patient in the other whatever the step each arm came in. "
        f"{_ratings_sentence(source, v)}The consensus "
        f"of each {unit} is STAPLE (SimpleITK {v['SimpleITK']}, probability >= 0.5); the voxel-wise inter-observer "
        "variability is p(1-p), p the share of observers including the voxel, correlated with the DL uncertainty by "
        f"Spearman's rho per case. {_agreement_sentence(source)}Analysed with lundprobe_gui {v['lundprobe_gui']} "
        f"(numpy {v['numpy']}, matplotlib {v['matplotlib']})."
    )


def _ratings_sentence(source: ReportSource, v: Mapping[str, str]) -> str:
    """How the ratings were compared (nothing for the published edits, which carry no ratings)."""
    if source.published:
        return "The released data holds no ratings or times, so none are analysed. "
    unit = source.agreement_grouping().by
    one = "an arm" if unit == "arm" else "a step"
    return (
        f"Agreement of the ratings is Fleiss' kappa across the observers of {one} and Cohen's kappa with linear "
        f"weights per pair of observers and per observer between {unit}s (statsmodels {v['statsmodels']}). "
    )


def _agreement_sentence(source: ReportSource) -> str:
    """In a crossover, that agreement was computed within each arm (nothing when the steps are the arms)."""
    g = source.agreement_grouping()
    if not g.by_arm:
        return ""
    return (
        "As each step of the crossover mixed the arms, agreement (the kappas of the ratings, the STAPLE consensus "
        "and the voxel-wise variability) was computed within each arm: the observers compared with each other are "
        "those who worked in the same arm, whatever the step it came in; the first arm "
        f"({g.arms[0]!r}) was compared with each other arm by the Wilcoxon signed-rank test, each observer's Dice "
        "with its arm's consensus paired within the observer and the patient, the DL mask's Dice and the mean "
        "variability paired within the patient. "
    )


def d_crossover(source: ReportSource) -> bool:
    """Whether the study's design is a crossover (arms and steps then differ)."""
    d = source.outputs.definition
    return d is not None and d.design == "crossover"


def _find(rows: Iterable[Mapping[str, Any]], **keys: Any) -> Mapping[str, Any] | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in keys.items())), None)


def _ratio_sentence(t: Mapping[str, Any], structure: str) -> str:
    """The pooled low-uncertainty ratio: of the arms in a crossover (its steps mix them), else of the steps."""
    by_arm = "low_uncertainty_arm_ratio" in t
    name, unit = ("low_uncertainty_arm_ratio", "arm") if by_arm else ("low_uncertainty_step_ratio", "step")
    r = _find(t[name].rows, structure=structure, observer=POOLED, part="low_or_zero")
    if r is None or r["ratio"] is None:
        return ""
    a, b = (repr(r["arm_a"]), repr(r["arm_b"])) if by_arm else (r["step_a"], r["step_b"])
    paired = ", paired within each observer whatever the step" if by_arm else ""
    return (
        f". {unit.capitalize()} {b} had {r['ratio']:.2f} times the low-uncertainty edits of {unit} {a}{paired} "
        f"(95 % CI {_num(r['ci_low'])}-{_num(r['ci_high'])}, {r['patients']} patients)"
    )


def results_paragraph(source: ReportSource, report: Report, rows: ReportRows) -> str:
    """The main numbers, per structure, pooled over the observers."""
    t = report.tables
    parts = [f"{rows.patients - len(rows.failures)} of {rows.patients} patients were analysed."]
    if rows.failures:
        parts.append("Failed: " + "; ".join(f"{p} ({why})" for p, why in rows.failures) + ".")
    flow = t["flow"].rows
    if not source.published and flow:
        fin = sum(r["finished"] or 0 for r in flow)
        asg = sum(r["assigned"] or 0 for r in flow)
        parts.append(f"{fin} of {asg} assigned cases were finished.")
    structures = list(dict.fromkeys(r["structure"] for r in t["low_uncertainty"].rows))
    for s in structures:
        lows = [r for r in t["low_uncertainty"].rows if r["structure"] == s and r["observer"] == POOLED]
        bits = [
            f"step {r['step']}: {_pct(r['low_or_zero_share'])} of the edited voxels at u < {r['threshold']:g} "
            f"({_pct(r['zero_share'])} at u = 0, {_pct(r['low_share'])} at 0 < u < {r['threshold']:g})"
            for r in lows
        ]
        sentence = f"{s}: " + "; ".join(bits)
        sentence += _ratio_sentence(t, s)
        arm = _find(t["arm_tests"].rows, table="dl_vs_edit", structure=s, observer=POOLED, measure="dice")
        if arm is not None and arm["n"] and d_crossover(source):
            sentence += (
                f". By arm, median Dice {_num(arm['median_a'], 3)} with {arm['arm_a']!r} and "
                f"{_num(arm['median_b'], 3)} with {arm['arm_b']!r} ({format_p(arm['p_value'])}, {arm['n']} pairs)"
            )
        dice = _find(t["step_tests"].rows, table="dl_vs_edit", structure=s, observer=POOLED, measure="dice")
        if dice is not None:
            sentence += (
                f". Median Dice of the DL mask with the edits: {_num(dice['median_a'], 3)} in step {dice['step_a']} "
                f"and {_num(dice['median_b'], 3)} in step {dice['step_b']} "
                f"({format_p(dice['p_value'])}, {dice['n']} pairs)"
            )
        for q in report.questions:
            qt = _find(t["step_tests"].rows, table="ratings", structure=s, observer=POOLED, measure=q)
            if qt is not None:
                sentence += (
                    f"; {q} median {_num(qt['median_a'], 1)} vs {_num(qt['median_b'], 1)} ({format_p(qt['p_value'])})"
                )
        var = _find(t["variability_summary"].rows, structure=s, measure="spearman_rho")
        if var is not None and var["median"] is not None:
            where = f" in arm {var['arm']!r}" if source.agreement_grouping().by_arm else ""
            sentence += (
                f"; variability-uncertainty Spearman rho median {_num(var['median'])}{where} "
                f"({format_p(var['p_value'])})"
            )
        parts.append(sentence + ".")
    tt = _find(t["step_tests"].rows, table="active_time", observer=POOLED, measure="minutes")
    if tt is not None and tt["n"]:
        parts.append(
            f"Active time per case: median {_num(tt['median_a'], 1)} min in step {tt['step_a']} and "
            f"{_num(tt['median_b'], 1)} min in step {tt['step_b']} ({format_p(tt['p_value'])}, {tt['n']} pairs)."
        )
    by_arm = source.agreement_grouping().by_arm
    for q in report.questions:
        ks = [r for r in t["kappa"].rows if r["question"] == q and r["kind"] == "fleiss" and r["structure"] == POOLED]
        if ks:
            said = (
                f"arm {r['arm']!r} {_num(r['kappa'])}" if by_arm else f"step {r['step']} {_num(r['kappa'])}" for r in ks
            )
            parts.append(f"Fleiss' kappa of {q}: " + ", ".join(said) + ".")
    return " ".join(parts)
