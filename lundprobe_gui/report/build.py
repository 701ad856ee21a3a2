"""The report of a study: what to analyse, the per-patient batch, and the tables computed from its rows.

:func:`prepare_source` reads the study (or the published edits) through
:mod:`lundprobe_gui.study.reading` and builds the overlay opener; :func:`report_analyses` are the
per-patient analyses run through :func:`lundprobe_gui.batch.run_batch` (any scheduler, the result
cache); :func:`compute_tables` turns their rows and the study's ``results.csv`` into the report's
tables and ``stats.json`` (:mod:`.edit_stats`, :mod:`.compare_stats`, :mod:`.flow`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..metrics.analyses import EMPTY, EditsAnalysis, MetricsAnalysis
from ..metrics.compare import METRICS_ROW_KEYS
from ..metrics.edit_rows import EDIT_ROW_KEYS
from ..metrics.study_analyses import AGREEMENT_ROW_KEYS, SPLIT_ROW_KEYS, AgreementAnalysis, EditSplitAnalysis
from ..study.overlay import ObserverChoice, StudyOverlay, choose_observers, published_observers
from ..study.reading import StudyOutputs, published_outputs, read_study_outputs, step_arm
from ..study.step_questionnaire import QUESTIONNAIRE_COLUMNS
from . import compare_stats as cs
from . import edit_stats as es
from .common import POOLED, AgreementGrouping, ReportOptions
from .flow import FLOW_COLUMNS, flow_table

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("table", "structure", "observer", "step", "measure", *cs.SUMMARY_KEYS)
TEST_COLUMNS = ("table", "structure", "observer", "measure", "step_a", "step_b", *cs.TEST_KEYS)
ARM_SUMMARY_COLUMNS = ("table", "structure", "observer", "arm", "measure", *cs.SUMMARY_KEYS)
ARM_TEST_COLUMNS = ("table", "structure", "observer", "measure", "arm_a", "arm_b", *cs.TEST_KEYS)
KAPPA_COLUMNS = ("question", "structure", "step", "arm", "kind", "observer_a", "observer_b", "items", "raters", "kappa")
STAPLE_COLUMNS = (*AGREEMENT_ROW_KEYS[:4], "arm", AGREEMENT_ROW_KEYS[4], *AGREEMENT_ROW_KEYS[6:12])
STAPLE_SUMMARY_COLUMNS = ("structure", "step", "arm", "observer", "measure", *cs.SUMMARY_KEYS)
STAPLE_TEST_COLUMNS = ("table", "structure", "observer", "measure", "step_a", "step_b", "arm_a", "arm_b", *cs.TEST_KEYS)
VARIABILITY_COLUMNS = (*AGREEMENT_ROW_KEYS[:4], "arm", AGREEMENT_ROW_KEYS[4], "n_observers", *AGREEMENT_ROW_KEYS[12:17])
VARIABILITY_SUMMARY_COLUMNS = (
    "structure",
    "step",
    "arm",
    "measure",
    *cs.SUMMARY_KEYS,
    "test_n",
    "test_statistic",
    "p_value",
    "note",
)
VARIABILITY_BIN_COLUMNS = (
    "structure",
    "step",
    "arm",
    "bin_low",
    "bin_high",
    "voxels",
    "mean_variability",
    "disagreement_share",
)
CASE_TIME_COLUMNS = ("observer", "step", "arm", "patient", "seconds", "minutes")
RESULT_KEYS = ("observer", "step", "arm", "patient", "pseudonym", "structure")
"""The first columns of ``ratings_time.csv``; the study's other columns follow."""
MIXED_STEPS = "In this crossover each step mixes the arms"
"""What the step ratio's caption and HTML heading say in a crossover."""


@dataclass
class ReportSource:
    """What a report analyses.

    Attributes
    ----------
    outputs : StudyOutputs
        The study's outputs (or the published edits).
    choice : ObserverChoice
        The observers taken.
    overlay : StudyOverlay
        The batch opener.
    paths : list of Path
        The patient folders.
    labels : dict
        Study observer ID to its label in the rows.
    """

    outputs: StudyOutputs
    choice: ObserverChoice
    overlay: StudyOverlay
    paths: list[Path]
    labels: dict[str, str]

    @property
    def dataset_root(self) -> Path:
        """The dataset that holds the patient folders."""
        root = self.outputs.dataset_root
        assert root is not None  # prepare_source reads the outputs with their dataset
        return root

    @property
    def published(self) -> bool:
        """Whether the report is of the dataset's published edits."""
        return self.outputs.kind == "published"

    def arms(self) -> dict[tuple[str, int], str]:
        """``(label, step) -> arm`` of every chosen observer."""
        out = {}
        for oid, label in self.labels.items():
            for k in self.outputs.steps:
                out[(label, k)] = self.outputs.arm(oid, k)
        for oid in self.choice.published or ():
            for k in self.outputs.steps:
                out[(oid, k)] = step_arm(None, k)
        return out

    def arm_order(self) -> list[str]:
        """The arms in the definition's order (the first is the reference of the arm tests)."""
        d = self.outputs.definition
        listed = [a.arm for a in d.arms] if d is not None else [step_arm(None, k) for k in self.outputs.steps]
        seen = set(self.arms().values())
        return [a for a in listed if a in seen] + sorted(seen - set(listed))

    def step_arms(self) -> dict[int, str]:
        """``step -> arm`` when every observer saw the same in that step (else ``mixed``)."""
        out: dict[int, str] = {}
        for (_, k), arm in self.arms().items():
            out[k] = arm if out.get(k, arm) == arm else "mixed"
        return out

    def agreement_grouping(self) -> AgreementGrouping:
        """By arm when a step mixes the arms (a crossover), else by step (see :class:`~.common.AgreementGrouping`)."""
        step_arms = self.step_arms()
        by = "arm" if "mixed" in step_arms.values() else "step"
        return AgreementGrouping(by, tuple(self.arm_order()), {} if by == "arm" else step_arms)


def prepare_source(
    study_dir: str | Path | None,
    dataset: str | Path | None = None,
    published: bool = False,
    observers: Sequence[str] | None = None,
) -> ReportSource:
    """Read the study (or, with ``published``, the dataset's published edits) and choose the observers.

    Raises
    ------
    lundprobe_gui.study.reading.StudyReadError
        For a study, export or dataset that cannot be read, an unknown observer, or a dataset that
        holds none of the study's patients.
    """
    from ..batch.run import InputError, resolve_patients
    from ..study.reading import StudyReadError

    if published:
        if dataset is None:
            raise StudyReadError("--published needs --dataset ROOT")
        outputs = published_outputs(dataset)
    else:
        if study_dir is None:
            raise StudyReadError("give STUDY_DIR, or --published --dataset ROOT")
        outputs = read_study_outputs(study_dir, dataset)
    if outputs.dataset_root is None:
        raise StudyReadError("the dataset root is not known; give it with --dataset ROOT")
    try:
        found = {p.name: p for p in resolve_patients(outputs.dataset_root)}
    except InputError as e:
        raise StudyReadError(str(e)) from e
    paths = [found[p] for p in outputs.patients if p in found]
    if not paths:
        raise StudyReadError(f"{outputs.dataset_root}: holds none of the study's patients")
    missing = [p for p in outputs.patients if p not in found]
    if missing:
        logger.warning("%d of the study's patients are not in %s: %s", len(missing), outputs.dataset_root, missing)
    study_obs = () if published else outputs.observers
    pub = published_observers(paths)
    if published:
        choice = choose_observers(observers, (), pub)
        if choice.published is None:
            choice = ObserverChoice((), tuple(sorted(pub)))
    else:
        choice = choose_observers(observers, study_obs, pub)
    overlay = StudyOverlay.build(outputs, choice, outputs.structures)
    return ReportSource(outputs, choice, overlay, paths, dict(choice.study))


def report_analyses(options: ReportOptions, source: ReportSource | None = None) -> list:
    """The per-patient analyses of a report.

    Given the source, the agreement and the inter-observer metrics of a crossover group the
    observers by arm (the arm of each observer's steps is part of those analyses, and so of their
    cache keys).
    """
    arms: tuple[tuple[str, int, str], ...] = ()
    if source is not None and source.agreement_grouping().by_arm:
        arms = tuple(sorted((o, k, a) for (o, k), a in source.arms().items()))
    return [
        EditsAnalysis(),
        EditSplitAnalysis(options.threshold),
        MetricsAnalysis(options.tolerance_mm, kinds=("dl_vs_observer", "inter_observer"), arms=arms),
        AgreementAnalysis(arms),
    ]


@dataclass
class ReportRows:
    """The rows the batch gave, by analysis, with the warnings and failures."""

    edits: list[dict] = field(default_factory=list)
    split: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    agreement: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    patients: int = 0
    cached: int = 0

    def add(self, result: Any) -> None:
        """Take one :class:`~lundprobe_gui.batch.patient.PatientResult`."""
        self.patients += 1
        self.cached += bool(result.cached)
        if result.failed:
            self.failures.append((result.patient_id, result.reason))
        for name, attr in (
            ("uncertainty-edits", "edits"),
            ("edit-split", "split"),
            ("metrics", "metrics"),
            ("agreement", "agreement"),
        ):
            out = result.outcomes.get(name)
            if out is None:
                continue
            getattr(self, attr).extend(out.rows)
            # a patient without finished edits yet (an interim report) is no news: the flow table counts it
            said = out.warnings[:-1] if out.status == EMPTY else out.warnings
            for w in said:
                if w not in self.warnings and "no structure with two or more observers" not in w:
                    self.warnings.append(w)


@dataclass
class Table:
    """One table of the report: its file stem, columns, rows, a caption and what its HTML heading adds."""

    name: str
    columns: tuple[str, ...]
    rows: list[dict]
    caption: str
    note: str = ""


@dataclass
class Report:
    """The tables and ``stats.json`` of a report, with what the figures and the text need."""

    tables: dict[str, Table]
    stats: dict
    questions: dict[str, list[int]]
    times: list[dict]
    results: list[dict]


def _with_arm(rows: Iterable[dict], arms: dict[tuple[str, int], str]) -> list[dict]:
    return [{**r, "arm": arms.get((r["observer"], r["step"]), "")} for r in rows]


def chosen_results(source: ReportSource) -> list[dict]:
    """The typed ``results.csv`` rows of the chosen study observers, observers renamed to their labels."""
    return [
        {**r, "observer": source.labels[r["observer"]]}
        for r in source.outputs.results
        if r["observer"] in source.labels
    ]


def likert_questions(source: ReportSource) -> dict[str, list[int]]:
    """The study's Likert questions and their scales (none for published edits)."""
    d = source.outputs.definition
    if d is not None:
        return {q.id: q.values() for q in d.questions if q.kind == "likert"}
    if source.outputs.results:
        return {
            q: sorted({r[q] for r in source.outputs.results if r.get(q) is not None})
            for q in ("quality", "confidence")
            if q in source.outputs.columns
        }
    return {}


def _agreement_rows(rows: Iterable[dict], grouping: AgreementGrouping) -> list[dict]:
    """The agreement rows with their ``arm``: grouped by step, each step's arm (one arm per step there)."""
    rows = list(rows)
    if not grouping.by_arm:
        return [dict(r, arm=grouping.step_arms.get(r["step"], "")) for r in rows]
    # a patient's rows in the definition's order of the arms (the analysis sorts them by name)
    patients = {p: i for i, p in enumerate(dict.fromkeys(r["patient"] for r in rows))}
    order = {a: i for i, a in enumerate(grouping.arms)}
    return sorted(rows, key=lambda r: (patients[r["patient"]], r["structure"], order.get(r["arm"], len(order))))


def _inter_rows(rows: Iterable[dict], arms: dict[tuple[str, int], str], grouping: AgreementGrouping) -> list[dict]:
    """The inter-observer rows; paired within an arm (a crossover), with the arm, in the definition's order."""
    rows = [r for r in rows if r["comparison"] == "inter_observer"]
    if not grouping.by_arm:
        return rows
    rows = _with_arm(rows, arms)
    patients = {p: i for i, p in enumerate(dict.fromkeys(r["patient"] for r in rows))}
    order = {a: i for i, a in enumerate(grouping.arms)}
    return sorted(rows, key=lambda r: (patients[r["patient"]], r["structure"], order.get(r["arm"], len(order))))


def _mixed(rows: list[dict]) -> bool:
    return any(r["arm"] == "mixed" for r in rows)


def compute_tables(source: ReportSource, rows: ReportRows, options: ReportOptions) -> Report:
    """Every table of the report and ``stats.json`` (see the module docstring)."""
    arms = source.arms()
    results = chosen_results(source)
    questions = likert_questions(source)
    edits = _with_arm(rows.edits, arms)
    split = _with_arm(rows.split, arms)
    dl = _with_arm((r for r in rows.metrics if r["comparison"] == "dl_vs_observer"), arms)
    grouping = source.agreement_grouping()
    inter = _inter_rows(rows.metrics, arms, grouping)
    hist = es.histogram_table(rows.edits, options, arms)
    # in a crossover each step mixes the arms: the key figure compares the arms themselves
    by_arm = es.histogram_table(rows.edits, options, arms, source.arm_order()) if _mixed(hist) else []
    low = es.low_uncertainty_table(rows.split, options, arms)
    ratios = es.step_ratio_table(rows.split, options)
    # the key statistic of a crossover: the arms paired within each observer, whatever the step
    arm_ratios = es.step_ratio_table(rows.split, options, arms, grouping.arms) if grouping.by_arm else []
    m_sum, m_tests = cs.compare_steps(dl, cs.DL_METRICS, ["patient"], "dl_vs_edit")
    done = [r for r in results if r["finished"]]
    r_sum, r_tests = cs.compare_steps(
        done, list(questions), ["patient", "structure"], "ratings", pooled_structures=True
    )
    times = [dict(t, arm=arms.get((t["observer"], t["step"]), "")) for t in cs.case_times(results)]
    t_sum, t_tests = cs.compare_steps(times, ["minutes"], ["patient"], "active_time")
    order = source.arm_order()
    am_sum, am_tests = cs.compare_arms(dl, cs.DL_METRICS, ["patient"], "dl_vs_edit", order)
    ar_sum, ar_tests = cs.compare_arms(
        done, list(questions), ["patient", "structure"], "ratings", order, pooled_structures=True
    )
    at_sum, at_tests = cs.compare_arms(times, ["minutes"], ["patient"], "active_time", order)
    answers = [
        dict(q, observer=source.labels[q["observer"]])
        for q in source.outputs.questionnaire
        if q["observer"] in source.labels
    ]
    agreement = _agreement_rows(rows.agreement, grouping)
    kappa = cs.kappa_table(done, questions, grouping) if questions else []
    st_sum, st_tests = cs.staple_tables(agreement, grouping)
    var_cases, var_sum, var_bins = cs.variability_tables(agreement, grouping)
    flow = flow_table(source, rows)
    staple_rows = [r for r in agreement if r["table"] == "staple"]
    unit = "arm" if grouping.by_arm else "step"
    result_cols = RESULT_KEYS + tuple(c for c in source.outputs.columns if c not in RESULT_KEYS)
    t = [
        Table(
            "uncertainty_edits",
            (*EDIT_ROW_KEYS, "arm"),
            edits,
            "Edited voxels per uncertainty bin, per patient, structure, observer and step.",
        ),
        Table(
            "uncertainty_histogram",
            es.HISTOGRAM_COLUMNS,
            hist,
            "Edited voxels per uncertainty bin, per observer and pooled, with bootstrap confidence intervals.",
        ),
        *(
            [
                Table(
                    "uncertainty_histogram_by_arm",
                    es.HISTOGRAM_COLUMNS,
                    by_arm,
                    "The same histogram per arm (what was shown), whatever the step it came in.",
                )
            ]
            if by_arm
            else []
        ),
        Table(
            "edits_by_uncertainty_part",
            (*SPLIT_ROW_KEYS, "arm"),
            split,
            "Edited voxels at zero, low and high uncertainty, per patient, structure, observer and step.",
        ),
        Table(
            "low_uncertainty",
            es.LOW_COLUMNS,
            low,
            "Shares of the edits at u = 0, 0 < u < threshold and u >= threshold (exact zeros apart).",
        ),
        Table(
            "low_uncertainty_step_ratio",
            es.RATIO_COLUMNS,
            ratios,
            "Edited voxels of a later step over step 1, per part of the uncertainty range (same patients)."
            + (f" {MIXED_STEPS}: an order effect, not the arms' (see the arm ratio)." if grouping.by_arm else ""),
            MIXED_STEPS.lower() + ": an order effect, not the arms'" if grouping.by_arm else "",
        ),
        *(
            [
                Table(
                    "low_uncertainty_arm_ratio",
                    es.ARM_RATIO_COLUMNS,
                    arm_ratios,
                    "Edited voxels in each other arm over the first arm, per part of the uncertainty range, paired "
                    "within each observer whatever the step (same patients).",
                )
            ]
            if grouping.by_arm
            else []
        ),
        Table("dl_vs_edit", (*METRICS_ROW_KEYS, "arm"), dl, "DL mask against each edited mask, per case."),
        Table(
            "inter_observer_metrics",
            (*METRICS_ROW_KEYS, "arm") if grouping.by_arm else METRICS_ROW_KEYS,
            inter,
            "Observers pairwise within an arm (both edits made in that arm, whatever the step), per case."
            if grouping.by_arm
            else "Observers pairwise within a step, per case.",
        ),
        Table(
            "step_summaries",
            SUMMARY_COLUMNS,
            m_sum + r_sum + t_sum,
            "Metrics, ratings and active time per structure, observer and step.",
        ),
        Table(
            "step_tests",
            TEST_COLUMNS,
            m_tests + r_tests + t_tests,
            "Step 1 against later steps: paired Wilcoxon signed-rank tests.",
        ),
        Table(
            "arm_summaries",
            ARM_SUMMARY_COLUMNS,
            am_sum + ar_sum + at_sum,
            "Metrics, ratings and active time per structure, observer and arm (what was shown).",
        ),
        Table(
            "arm_tests",
            ARM_TEST_COLUMNS,
            am_tests + ar_tests + at_tests,
            "The first arm against each other arm within an observer (whatever the step): paired Wilcoxon "
            "signed-rank tests.",
        ),
        Table(
            "step_questionnaire",
            QUESTIONNAIRE_COLUMNS,
            answers,
            "The end-of-step questionnaire: each observer's answers after each step.",
        ),
        Table("ratings_time", result_cols, results, "The study's results.csv rows of the chosen observers."),
        Table("case_times", CASE_TIME_COLUMNS, times, "Active time per finished case."),
        Table("kappa", KAPPA_COLUMNS, kappa, f"Fleiss' kappa and linear weighted kappa of the ratings, per {unit}."),
        Table(
            "staple",
            STAPLE_COLUMNS,
            staple_rows,
            f"STAPLE per case, structure and {unit}: each observer and the DL mask against the consensus.",
        ),
        Table("staple_summary", STAPLE_SUMMARY_COLUMNS, st_sum, f"STAPLE per structure, {unit} and observer."),
        Table(
            "staple_tests",
            STAPLE_TEST_COLUMNS,
            st_tests,
            "Agreement with the consensus, "
            + ("the first arm against each other arm." if grouping.by_arm else "step 1 against later steps."),
        ),
        Table(
            "variability",
            VARIABILITY_COLUMNS,
            var_cases,
            f"Voxel-wise inter-observer variability per case and {unit}, and its correlation with the DL uncertainty.",
        ),
        Table(
            "variability_summary",
            VARIABILITY_SUMMARY_COLUMNS,
            var_sum,
            f"Correlation of variability with uncertainty over the cases, per structure and {unit}.",
        ),
        Table(
            "variability_bins", VARIABILITY_BIN_COLUMNS, var_bins, f"Mean variability per uncertainty bin and {unit}."
        ),
        Table("flow", FLOW_COLUMNS, flow, "Cases per observer and step: assigned, finished, reopened, overridden."),
    ]
    tables = {x.name: x for x in t}
    stats = {
        "options": options.to_dict(),
        "histogram_pooled": [r for r in hist if r["observer"] == POOLED],
        "low_uncertainty": low,
        "low_uncertainty_step_ratio": ratios,
        **({"low_uncertainty_arm_ratio": arm_ratios} if grouping.by_arm else {}),
        "step_summaries": m_sum + r_sum + t_sum,
        "step_tests": m_tests + r_tests + t_tests,
        "arm_order": order,
        "arm_summaries": am_sum + ar_sum + at_sum,
        "arm_tests": am_tests + ar_tests + at_tests,
        "kappa": kappa,
        "staple_summary": st_sum,
        "staple_tests": st_tests,
        "variability_summary": var_sum,
        "agreement_grouped_by": grouping.by,
        "flow": flow,
    }
    return Report(tables, stats, questions, times, results)
