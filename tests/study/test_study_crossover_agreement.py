"""Agreement in a crossover report: kappa, STAPLE and variability within each arm, whatever the step.

In a crossover each step mixes the arms, so the observers compared with each other are those who
were in the same arm. Every number is recomputed from the export's ``results.csv`` and the saved
NIfTI masks (nibabel, numpy, scipy.stats), grouped by the ``arm`` column; each check also shows
that grouping by step would have given other numbers, so a report that fell back to the steps
fails.
"""

from __future__ import annotations

import json
import re
from itertools import combinations, product

import nibabel as nib
import numpy as np
import pytest
from scipy import stats

from lundprobe_gui.batch.cache import ResultCache
from lundprobe_gui.batch.run import run_batch
from lundprobe_gui.cli import main
from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.metrics.compare import plan_structure
from lundprobe_gui.metrics.study_analyses import AgreementAnalysis
from lundprobe_gui.report import ReportOptions, prepare_source
from lundprobe_gui.report.build import report_analyses
from lundprobe_gui.report.common import AgreementGrouping
from lundprobe_gui.report.compare_stats import kappa_table
from lundprobe_gui.report.edit_stats import step_ratio_table
from lundprobe_gui.study import InitOptions, init_study, load_study
from lundprobe_gui.study.simulate import run_observers

from .helpers import T0, fleiss_kappa, linear_weighted_kappa, load, read_csv

OBSERVERS = ("obs1", "obs2", "obs3")
ARMS = ("without", "with_uncertainty")
EDGES = np.round(np.arange(0, 0.5 + 1e-9, 0.05), 12)


@pytest.fixture(scope="module")
def crossed(tmp_path_factory) -> dict:
    """A 3-patient crossover study of three observers, run through both steps, exported and reported."""
    base = tmp_path_factory.mktemp("crossover-agreement")
    root = base / "ds"
    generate(root, DemoOptions(patients=3, part="extended", size="small", seed=5))
    study = base / "study"
    init_study(
        study,
        InitOptions(dataset_root=root, observers=list(OBSERVERS), seed=4, washout_days=0, design="crossover"),
        now=T0,
    )
    run_observers(study, list(OBSERVERS), seed=5, start=T0 + 60)
    orders = load_study(study).arm_orders
    assert len({tuple(o) for o in orders.values()}) == 2  # both orders are used: every step mixes the arms
    assert main(["study", "export", str(study)]) == 0
    out = base / "rep"
    args = ["--scheduler", "sync", "--cache", str(base / "cache"), "--bootstrap", "0", "--quiet"]
    assert main(["study", "report", str(study / "export"), "--dataset", str(root), "--out", str(out), *args]) == 0
    results = read_csv(study / "export" / "results.csv")
    return {"root": root, "study": study, "out": out, "cache": base / "cache", "results": results}


def test_kappa_of_a_crossover_groups_the_raters_by_arm_not_by_step() -> None:
    """Hand-made ratings where the arms and the steps give different kappas (no report run: fast)."""
    scale = [1, 2, 3, 4]
    order = {"a": ("without", "with_uncertainty"), "b": ("with_uncertainty", "without")}
    observers = {"o1": "a", "o2": "b", "o3": "a"}
    rng = np.random.default_rng(3)
    rows = []
    for o, k, p in product(observers, (1, 2), ("p1", "p2", "p3", "p4", "p5")):
        arm = order[observers[o]][k - 1]
        # in 'with_uncertainty' everyone agrees more: the rating follows the patient
        value = int(p[1]) % 4 + 1 if arm == "with_uncertainty" else int(rng.integers(1, 5))
        rows.append(
            {
                "observer": o,
                "step": k,
                "arm": arm,
                "patient": p,
                "structure": "CTVT_427",
                "quality": value,
                "finished": True,
            }
        )
    grouping = AgreementGrouping("arm", ARMS)
    got = {(r["arm"], r["kind"]): r for r in kappa_table(rows, {"quality": scale}, grouping) if r["kind"] == "fleiss"}
    for arm in ARMS:
        by = {(r["observer"], r["patient"]): r["quality"] for r in rows if r["arm"] == arm}
        matrix = np.array([[by[(o, p)] for o in observers] for p in ("p1", "p2", "p3", "p4", "p5")])
        assert got[(arm, "fleiss")]["kappa"] == pytest.approx(fleiss_kappa(matrix, scale))
        assert got[(arm, "fleiss")]["step"] == ""
    assert got[("with_uncertainty", "fleiss")]["kappa"] == pytest.approx(1.0)
    by_step = kappa_table(rows, {"quality": scale})
    assert all(r["kappa"] != pytest.approx(1.0) for r in by_step if r["kind"] == "fleiss")


def finished(crossed: dict) -> list[dict[str, str]]:
    return [r for r in crossed["results"] if r["finished_at"]]


def same(reported: str, want: float) -> bool:
    """A reported kappa (empty when undefined) equals the recomputed one."""
    if reported == "":
        return not np.isfinite(want)
    return bool(np.isfinite(want)) and float(reported) == pytest.approx(want)


@pytest.mark.slow  # the module's crossover study and report take about 25 s
def test_rating_kappas_are_computed_within_each_arm_from_results_csv(crossed) -> None:
    definition = json.loads((crossed["study"] / "study.json").read_text())
    kappa = read_csv(crossed["out"] / "kappa.csv")
    done = finished(crossed)
    assert {(r["step"], r["arm"]) for r in done} == {(s, a) for s in ("1", "2") for a in ARMS}  # steps mix arms

    def row(question: str, kind: str, arm: str, a: str = "", b: str = "") -> dict:
        (found,) = [
            x
            for x in kappa
            if (x["question"], x["structure"], x["kind"], x["arm"], x["observer_a"], x["observer_b"])
            == (question, "all", kind, arm, a, b)
        ]
        return found

    by_step_differs = 0
    checked = 0
    for question in ("quality", "confidence"):
        scale = next([c["value"] for c in q["choices"]] for q in definition["questions"] if q["id"] == question)
        rating = {(r["observer"], r["arm"], r["patient"], r["structure"]): int(r[question]) for r in done}
        items = sorted({(r["patient"], r["structure"]) for r in done})
        for arm in ARMS:
            matrix = np.array([[rating[(o, arm, *i)] for o in OBSERVERS] for i in items])
            got = row(question, "fleiss", arm)
            assert got["step"] == "" and (int(got["items"]), int(got["raters"])) == (len(items), len(OBSERVERS))
            want = fleiss_kappa(matrix, scale)
            assert same(got["kappa"], want)
            checked += 1
            # what a step-grouped kappa of the step with this arm's position would be
            step = str(ARMS.index(arm) + 1)
            by_step = {
                (r["observer"], r["patient"], r["structure"]): int(r[question]) for r in done if r["step"] == step
            }
            other = fleiss_kappa(np.array([[by_step[(o, *i)] for o in OBSERVERS] for i in items]), scale)
            by_step_differs += not (np.isfinite(want) and np.isfinite(other) and want == pytest.approx(other))
            for a, b in combinations(OBSERVERS, 2):
                i, j = OBSERVERS.index(a), OBSERVERS.index(b)
                got = row(question, "weighted_inter", arm, a, b)
                assert same(got["kappa"], linear_weighted_kappa(matrix[:, i], matrix[:, j], scale))
                checked += 1
        # each observer's own ratings: the first arm against the other, whatever the step each came in
        for o in OBSERVERS:
            a = np.array([rating[(o, ARMS[0], *i)] for i in items])
            b = np.array([rating[(o, ARMS[1], *i)] for i in items])
            got = row(question, "weighted_intra", "-".join(ARMS), o, o)
            assert got["step"] == "" and same(got["kappa"], linear_weighted_kappa(a, b, scale))
            checked += 1
    assert checked == 2 * (2 * (1 + 3) + 3)
    assert by_step_differs  # grouped by step the report would give other kappas
    assert not any(x["kind"] == "fleiss" and x["step"] for x in kappa)


def _arm_masks(crossed: dict, patient: str, structure: str, arm: str) -> tuple[list[np.ndarray], set[str]]:
    """The saved edits of one patient and structure in one arm, and the steps they came in."""
    rows = [r for r in finished(crossed) if (r["patient"], r["structure"], r["arm"]) == (patient, structure, arm)]
    return [load(crossed["study"] / r["output_file"]) > 0 for r in rows], {r["step"] for r in rows}


def _unc(crossed: dict, patient: str, structure: str) -> np.ndarray:
    p = crossed["root"] / patient / "MR_StorT2" / "nnUNetOutput" / f"mask_{structure}_nnUNet_uncertaintyMap.nii.gz"
    return np.nan_to_num(load(p).astype(np.float64))


@pytest.mark.slow  # the module's crossover study and report take about 25 s
def test_variability_and_its_correlation_are_computed_within_each_arm_from_the_raw_masks(crossed) -> None:
    rows = read_csv(crossed["out"] / "variability.csv")
    assert {r["arm"] for r in rows} == set(ARMS) and {r["step"] for r in rows} == {""}
    assert len(rows) == 3 * 2 * len(ARMS)  # patients x structures x arms
    by_step_differs = 0
    for r in rows:
        masks, steps = _arm_masks(crossed, r["patient"], r["structure"], r["arm"])
        assert steps == {"1", "2"}  # one arm's observers came from both steps
        assert len(masks) == int(r["n_observers"]) == len(OBSERVERS)
        unc = _unc(crossed, r["patient"], r["structure"])
        p = np.mean(masks, axis=0)
        var = p * (1 - p)
        region = (unc > 0) | np.any(masks, axis=0)
        assert int(r["region_voxels"]) == np.count_nonzero(region)
        assert float(r["mean_variability"]) == pytest.approx(var[region].mean())
        want = stats.spearmanr(var[region], unc[region])
        assert float(r["spearman_rho"]) == pytest.approx(want.statistic, abs=1e-9)
        assert float(r["pearson_r"]) == pytest.approx(stats.pearsonr(var[region], unc[region]).statistic, abs=1e-9)
        step = str(ARMS.index(r["arm"]) + 1)
        same_step = [
            load(crossed["study"] / x["output_file"]) > 0
            for x in finished(crossed)
            if (x["patient"], x["structure"], x["step"]) == (r["patient"], r["structure"], step)
        ]
        q = np.mean(same_step, axis=0)
        step_region = (unc > 0) | np.any(same_step, axis=0)
        by_step_differs += (q * (1 - q))[step_region].mean() != pytest.approx(float(r["mean_variability"]))
    assert by_step_differs  # grouped by step the report would give other variabilities
    # the summary's arm test: the cases' mean variability, the first arm against the other, pairs = patients
    summary = read_csv(crossed["out"] / "variability_summary.csv")
    for structure in ("CTVT_427", "Rectum"):
        mine = {r["patient"]: {} for r in rows}
        for r in rows:
            if r["structure"] == structure:
                mine[r["patient"]][r["arm"]] = float(r["mean_variability"])
        a = np.array([mine[p][ARMS[0]] for p in sorted(mine)])
        b = np.array([mine[p][ARMS[1]] for p in sorted(mine)])
        (test,) = [x for x in summary if (x["structure"], x["measure"]) == (structure, "mean_variability_arm_test")]
        assert (test["arm"], int(test["n"])) == ("-".join(ARMS), len(a))
        assert float(test["p_value"]) == pytest.approx(stats.wilcoxon(a, b).pvalue)
        assert float(test["median"]) == pytest.approx(np.median(b - a))
    assert not [x for x in summary if x["measure"] == "mean_variability_step_test"]


@pytest.mark.slow  # the module's crossover study and report take about 25 s
def test_variability_per_uncertainty_bin_pools_the_arm_whatever_the_step(crossed) -> None:
    vbins = read_csv(crossed["out"] / "variability_bins.csv")
    structure, arm = "Rectum", "with_uncertainty"
    voxels = np.zeros(len(EDGES) - 1)
    var_sum = np.zeros(len(EDGES) - 1)
    for patient in sorted({r["patient"] for r in finished(crossed)}):
        masks, _ = _arm_masks(crossed, patient, structure, arm)
        unc = _unc(crossed, patient, structure)
        u = np.clip(unc, 0, EDGES[-1])
        p = np.mean(masks, axis=0)
        region = (unc > 0) | np.any(masks, axis=0)
        voxels += np.histogram(u[region], EDGES)[0]
        var_sum += np.histogram(u[region], EDGES, weights=(p * (1 - p))[region])[0]
    got = [r for r in vbins if (r["structure"], r["arm"]) == (structure, arm)]
    assert [r["step"] for r in got] == [""] * len(got)
    assert [int(r["voxels"]) for r in got] == voxels.astype(int).tolist()
    for r, n, v in zip(got, voxels, var_sum):
        assert (float(r["mean_variability"]) if r["mean_variability"] else None) == (
            pytest.approx(v / n) if n else None
        )


@pytest.mark.slow  # the module's crossover study and report take about 25 s
def test_staple_groups_by_arm_and_tests_the_arms_within_observer_and_patient(crossed) -> None:
    staple = read_csv(crossed["out"] / "staple.csv")
    arm_of = {(r["observer"], r["step"]): r["arm"] for r in crossed["results"]}
    observer_rows = [r for r in staple if r["observer"]]
    assert observer_rows and all(r["arm"] == arm_of[(r["observer"], r["step"])] for r in observer_rows)
    for patient, structure, arm in {(r["patient"], r["structure"], r["arm"]) for r in staple}:
        group = [r for r in staple if (r["patient"], r["structure"], r["arm"]) == (patient, structure, arm)]
        assert sorted(r["observer"] for r in group) == ["", *OBSERVERS]  # the DL mask and each observer once
        masks, _ = _arm_masks(crossed, patient, structure, arm)
        image = nib.load(str(crossed["root"] / patient / "MR_StorT2" / "image.nii.gz"))
        voxel_cc = float(np.prod(image.header.get_zooms()[:3])) / 1000
        vol = float(group[0]["consensus_volume_cc"])
        both, either = np.count_nonzero(np.all(masks, axis=0)), np.count_nonzero(np.any(masks, axis=0))
        assert both * voxel_cc - 1e-9 <= vol <= either * voxel_cc + 1e-9
    tests = read_csv(crossed["out"] / "staple_tests.csv")
    for structure in ("CTVT_427", "Rectum"):
        dice = {
            (r["observer"], r["patient"], r["arm"]): float(r["dice_vs_consensus"])
            for r in observer_rows
            if r["structure"] == structure
        }
        pairs = sorted({k[:2] for k in dice})
        a = np.array([dice[(*k, ARMS[0])] for k in pairs])
        b = np.array([dice[(*k, ARMS[1])] for k in pairs])
        (got,) = [
            t for t in tests if (t["structure"], t["observer"], t["measure"]) == (structure, "all", "observer_dice")
        ]
        assert (got["arm_a"], got["arm_b"], got["step_a"], int(got["n"])) == (*ARMS, "", len(pairs))
        assert float(got["p_value"]) == pytest.approx(stats.wilcoxon(a, b).pvalue)
        dl = {
            (r["patient"], r["arm"]): float(r["dice_vs_consensus"])
            for r in staple
            if r["structure"] == structure and not r["observer"]
        }
        patients = sorted({k[0] for k in dl})
        (got,) = [t for t in tests if (t["structure"], t["measure"]) == (structure, "dl_dice")]
        x = np.array([dl[(p, ARMS[0])] for p in patients])
        y = np.array([dl[(p, ARMS[1])] for p in patients])
        assert int(got["n"]) == len(patients) and float(got["p_value"]) == pytest.approx(stats.wilcoxon(x, y).pvalue)


@pytest.mark.slow  # the module's crossover study and report take about 25 s
def test_the_agreement_figures_and_the_methods_name_the_arms(crossed) -> None:
    out = crossed["out"]
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", (out / "fig_agreement.svg").read_text())
    assert "Inter-observer agreement per arm" in texts
    # per structure: a tick (the boxes) and a legend entry (the curves) per arm, and no step anywhere
    assert [texts.count(arm) for arm in ARMS] == [2 * 2, 2 * 2]
    assert not [t for t in texts if "Step" in t]
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", (out / "fig_variability_map.svg").read_text())
    assert [t for t in texts if t.startswith("Arm ")] == [f"Arm '{arm}':" for arm in ARMS]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert (
        "agreement (the kappas of the ratings, the STAPLE consensus and the voxel-wise variability) was computed "
        "within each arm" in html
    )
    assert "Fleiss&#x27; kappa of quality: arm &#x27;without&#x27;" in html
    assert json.loads((out / "stats.json").read_text())["agreement_grouped_by"] == "arm"


@pytest.mark.slow  # the module's crossover study and report take about 25 s
def test_a_cached_agreement_grouped_otherwise_is_not_served(crossed) -> None:
    source = prepare_source(crossed["study"] / "export", crossed["root"])
    cache = ResultCache(crossed["cache"])
    (by_arm,) = [a for a in report_analyses(ReportOptions(), source) if a.name == "agreement"]
    assert by_arm.arms  # the report of a crossover groups by arm
    kept = list(run_batch(source.paths, [by_arm], scheduler="sync", cache=cache, opener=source.overlay))
    assert all(r.cached for r in kept)  # the report's own entries
    by_step = list(run_batch(source.paths, [AgreementAnalysis()], scheduler="sync", cache=cache, opener=source.overlay))
    assert not any(r.cached for r in by_step)
    rows = [x for r in by_step for x in r.outcomes["agreement"].rows if x["table"] == "variability"]
    assert rows and {x["step"] for x in rows} == {1, 2} and {x["arm"] for x in rows} == {None}
    # another arm assignment (an observer's order changed) is not served either
    swapped = AgreementAnalysis(tuple((o, k, ARMS[1] if a == ARMS[0] else ARMS[0]) for o, k, a in by_arm.arms))
    again = list(run_batch(source.paths, [swapped], scheduler="sync", cache=cache, opener=source.overlay))
    assert not any(r.cached for r in again)


THRESHOLD = 0.15  # the report's default --threshold


def _dl(crossed: dict, patient: str, structure: str) -> np.ndarray:
    return load(crossed["root"] / patient / "MR_StorT2" / "nnUNetOutput" / f"mask_{structure}_nnUNet.nii.gz") > 0


def _edited_parts(crossed: dict, key: str) -> dict[tuple[str, str, str, str], dict[str, int]]:
    """Edited voxels at u == 0, 0 < u < threshold and above, by (structure, observer, patient, arm or step)."""
    out = {}
    for r in finished(crossed):
        unc = _unc(crossed, r["patient"], r["structure"])
        changed = _dl(crossed, r["patient"], r["structure"]) ^ (load(crossed["study"] / r["output_file"]) > 0)
        zero = np.count_nonzero(changed & (unc == 0))
        low = np.count_nonzero(changed & (unc > 0) & (unc < THRESHOLD))
        high = np.count_nonzero(changed & (unc >= THRESHOLD))
        parts = {"zero": zero, "low": low, "low_or_zero": zero + low, "high": high, "all": zero + low + high}
        out[(r["structure"], r["observer"], r["patient"], r[key])] = parts
    return out


def _pooled_ratio(parts: dict, structure: str, observer: str | None, a: str, b: str, part: str) -> tuple[float, int]:
    """Sum over the patients (and observers) of group b over group a, and the patients taking part."""
    num = den = 0
    patients = set()
    for (s, o, p, g), v in parts.items():
        if s != structure or observer not in (None, o) or g != b:
            continue
        num += v[part]
        den += parts[(s, o, p, a)][part]  # paired: the same observer and patient in the other group
        patients.add(p)
    return num / den if den else float("nan"), len(patients)


@pytest.mark.slow  # the module's crossover study and report take about 25 s
def test_the_low_uncertainty_arm_ratio_pairs_each_observer_across_arms_from_the_raw_masks(crossed) -> None:
    out = crossed["out"]
    rows = read_csv(out / "low_uncertainty_arm_ratio.csv")
    assert list(rows[0]) == [
        "structure",
        "observer",
        "part",
        "threshold",
        "arm_a",
        "arm_b",
        "patients",
        "edited_a",
        "edited_b",
        "ratio",
        "ci_low",
        "ci_high",
    ]
    by_arm = _edited_parts(crossed, "arm")
    by_step = _edited_parts(crossed, "step")
    parts = ("zero", "low", "low_or_zero", "high", "all")
    assert len(rows) == 2 * (len(OBSERVERS) + 1) * len(parts)  # structures x (observers + pooled) x parts
    step_differs = 0
    for r in rows:
        observer = None if r["observer"] == "all" else r["observer"]
        assert (r["arm_a"], r["arm_b"], float(r["threshold"])) == (*ARMS, THRESHOLD)
        want, patients = _pooled_ratio(by_arm, r["structure"], observer, *ARMS, r["part"])
        assert int(r["patients"]) == patients == 3
        num = sum(
            v[r["part"]]
            for (s, o, _, g), v in by_arm.items()
            if (s, g) == (r["structure"], ARMS[1]) and observer in (None, o)
        )
        den = sum(
            v[r["part"]]
            for (s, o, _, g), v in by_arm.items()
            if (s, g) == (r["structure"], ARMS[0]) and observer in (None, o)
        )
        assert (int(r["edited_b"]), int(r["edited_a"])) == (num, den)
        if den:
            assert float(r["ratio"]) == pytest.approx(want)
        else:
            assert r["ratio"] == ""
        assert (r["ci_low"], r["ci_high"]) == ("", "")  # --bootstrap 0
        by_steps, _ = _pooled_ratio(by_step, r["structure"], observer, "1", "2", r["part"])
        step_differs += bool(den) and by_steps != pytest.approx(want)
    assert step_differs >= 10  # grouped by step the ratios are others: a fallback to the steps fails here
    # the step ratio stays (an order effect in a crossover), recomputed by step
    steps = read_csv(out / "low_uncertainty_step_ratio.csv")
    pooled = next(x for x in steps if (x["structure"], x["observer"], x["part"]) == ("CTVT_427", "all", "low"))
    assert float(pooled["ratio"]) == pytest.approx(_pooled_ratio(by_step, "CTVT_427", None, "1", "2", "low")[0])
    # the results paragraph quotes the arm ratio; the HTML shows its table and says the steps mix the arms
    html = (out / "report.html").read_text(encoding="utf-8")
    arm = next(x for x in rows if (x["structure"], x["observer"], x["part"]) == ("CTVT_427", "all", "low_or_zero"))
    assert (
        f"Arm &#x27;{ARMS[1]}&#x27; had {float(arm['ratio']):.2f} times the low-uncertainty edits of arm "
        f"&#x27;{ARMS[0]}&#x27;, paired within each observer" in html
    )
    assert "times the low-uncertainty edits of step" not in html
    assert "<code>low_uncertainty_arm_ratio.csv</code>" in html
    assert "Step ratio of the edits (in this crossover each step mixes the arms" in html
    stats_json = json.loads((out / "stats.json").read_text())
    assert [x["ratio"] for x in stats_json["low_uncertainty_arm_ratio"]] == [
        float(x["ratio"]) if x["ratio"] else None for x in rows
    ]


@pytest.mark.slow  # the module's crossover study and report take about 25 s
def test_inter_observer_metrics_pair_observers_only_within_an_arm(crossed) -> None:
    rows = read_csv(crossed["out"] / "inter_observer_metrics.csv")
    arm_of = {(r["observer"], r["step"]): r["arm"] for r in crossed["results"]}
    files = {(r["patient"], r["structure"], r["observer"], r["step"]): r["output_file"] for r in finished(crossed)}
    seen: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
    across_steps = 0
    for r in rows:
        ref = re.fullmatch(r"step(\d)_(\w+)", r["reference"])
        test = re.fullmatch(r"step(\d)_(\w+)", r["test"])
        assert ref and test
        (ks, a), (kt, b) = ref.groups(), test.groups()
        assert a < b  # the reference is the observer that sorts first; never an observer with itself
        assert arm_of[(a, ks)] == arm_of[(b, kt)] == r["arm"]  # both edits made in the same arm
        assert (r["observer"], r["step"]) == (b, kt)
        across_steps += ks != kt
        seen.setdefault((r["patient"], r["structure"], r["arm"]), set()).add((a, b))
        ma = load(crossed["study"] / files[(r["patient"], r["structure"], a, ks)]) > 0
        mb = load(crossed["study"] / files[(r["patient"], r["structure"], b, kt)]) > 0
        want = 2.0 * np.count_nonzero(ma & mb) / (np.count_nonzero(ma) + np.count_nonzero(mb))
        assert float(r["dice"]) == pytest.approx(want, rel=1e-9)
    assert across_steps  # pairs by step would never pair step 1 with step 2
    # every pair of observers in every arm, patient and structure
    assert len(seen) == 3 * 2 * len(ARMS)
    assert all(pairs == set(combinations(OBSERVERS, 2)) for pairs in seen.values())
    assert [r["arm"] for r in rows[:6]] == [ARMS[0]] * 3 + [ARMS[1]] * 3  # the definition's order


@pytest.mark.slow  # the module's crossover study and report take about 25 s
def test_the_observer_histogram_legend_names_each_observers_arm(crossed) -> None:
    texts = re.findall(
        r"<text[^>]*>([^<]*)</text>", (crossed["out"] / "fig_uncertainty_histogram_observers.svg").read_text()
    )
    assert not [t for t in texts if "mixed" in t]
    for obs in OBSERVERS:
        order = [next(r["arm"] for r in crossed["results"] if (r["observer"], r["step"]) == (obs, k)) for k in "12"]
        assert f"Step 1 ({order[0]})" in texts and f"Step 2 ({order[1]})" in texts
    labels = [t for t in texts if t.startswith("Step ")]
    assert len(labels) == 2 * len(OBSERVERS)  # one legend per observer
    assert len(set(labels)) == 4  # both orders: each step is labelled with both arms


def test_the_arm_ratio_and_its_bootstrap_pair_each_observer_across_the_arms() -> None:
    """Hand-made split rows of a crossover (no report run: fast); the steps and the arms give other ratios."""
    order = {"o1": ARMS, "o2": ARMS[::-1]}
    rng = np.random.default_rng(8)
    rows, low = [], {}
    for o, k, p in product(order, (1, 2), ("p1", "p2", "p3", "p4", "p5")):
        arm = order[o][k - 1]
        # with the map, fewer edits at low uncertainty; o2 edits more in its first step
        n_low = int(rng.integers(40, 60)) // (2 if arm == ARMS[1] else 1) * (3 if (o, k) == ("o2", 1) else 1)
        low[(o, p, arm)] = n_low
        keys = {"patient": p, "structure": "Rectum", "observer": o, "step": k, "source": f"step{k}_{o}"}
        rows.append({**keys, "edited_zero": 0, "edited_low": n_low, "edited_high": 100})
    arms = {(o, k): order[o][k - 1] for o in order for k in (1, 2)}
    options = ReportOptions(n_boot=4000)
    got = step_ratio_table(rows, options, arms, ARMS)
    patients = ("p1", "p2", "p3", "p4", "p5")
    for observer in ("o1", "o2", "all"):
        who = list(order) if observer == "all" else [observer]
        a = np.array([sum(low[(o, p, ARMS[0])] for o in who) for p in patients], dtype=float)
        b = np.array([sum(low[(o, p, ARMS[1])] for o in who) for p in patients], dtype=float)
        (r,) = [x for x in got if (x["observer"], x["part"]) == (observer, "low")]
        assert (r["arm_a"], r["arm_b"], r["patients"]) == (*ARMS, 5) and "step_a" not in r
        assert (r["edited_a"], r["edited_b"]) == (a.sum(), b.sum())
        assert r["ratio"] == pytest.approx(b.sum() / a.sum())
        # the percentile bootstrap over the patients, recomputed with numpy
        idx = np.random.default_rng(1).integers(0, 5, size=(20000, 5))
        lo, hi = np.percentile(b[idx].sum(axis=1) / a[idx].sum(axis=1), [2.5, 97.5])
        assert r["ci_low"] == pytest.approx(lo, abs=0.03) and r["ci_high"] == pytest.approx(hi, abs=0.03)
        assert r["ci_low"] <= r["ratio"] <= r["ci_high"]
    # by step the same rows give another ratio (o2's heavy first step counts against the map)
    (pooled,) = [x for x in step_ratio_table(rows, options) if (x["observer"], x["part"]) == ("all", "low")]
    (by_arm,) = [x for x in got if (x["observer"], x["part"]) == ("all", "low")]
    assert (pooled["step_a"], pooled["step_b"]) == (1, 2)
    assert abs(pooled["ratio"] - by_arm["ratio"]) > 0.2


def test_inter_observer_pairs_of_a_crossover_are_planned_within_each_arm() -> None:
    sources = ["nnUNet", "step1_a", "step2_a", "step1_b", "step2_b", "step1_c", "step2_c"]
    arm_of = {("a", 1): "x", ("a", 2): "y", ("b", 1): "y", ("b", 2): "x", ("c", 1): "x"}  # c's step 2: no arm
    pairs = [
        (c.reference, c.test) for c in plan_structure("Rectum", sources, arm_of=arm_of) if c.kind == "inter_observer"
    ]
    assert pairs == [("step1_a", "step2_b"), ("step1_a", "step1_c"), ("step2_b", "step1_c"), ("step2_a", "step1_b")]
    by_step = [(c.reference, c.test) for c in plan_structure("Rectum", sources) if c.kind == "inter_observer"]
    assert ("step1_a", "step1_b") in by_step and ("step1_a", "step2_b") not in by_step
