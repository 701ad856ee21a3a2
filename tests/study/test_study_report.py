"""``study report`` on a simulated study: every statistic recomputed from the raw masks and CSVs.

The study is run through the observer API (:func:`lundprobe_gui.study.simulate.simulate_study`),
the report through the command line; the checks read the NIfTI files with nibabel and the CSVs
with :mod:`csv`, and recompute with numpy and scipy.stats, never with the report's own code.
"""

from __future__ import annotations

import hashlib
import json
import re
from itertools import combinations
from xml.etree import ElementTree

import nibabel as nib
import numpy as np
import pytest
from scipy import stats

from lundprobe_gui import __version__
from lundprobe_gui.cli import main
from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.study.simulate import simulate_study

from .helpers import fleiss_kappa, linear_weighted_kappa, load, read_csv

OBSERVERS = ("obs1", "obs2")
THRESHOLD = 0.15
EDGES = np.round(np.arange(0, 0.5 + 1e-9, 0.05), 12)


def fnum(x: str) -> float | None:
    return None if x in ("", None) else float(x)


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> dict:
    """A 3-patient dataset, a two-observer study run through both steps, its export and its report."""
    base = tmp_path_factory.mktemp("report")
    root = base / "ds"
    generate(root, DemoOptions(patients=3, part="extended", size="small", seed=5))
    study = base / "study"
    simulate_study(root, study, observers=OBSERVERS, seed=5)
    assert main(["study", "export", str(study)]) == 0
    out = base / "rep"
    args = ["--scheduler", "sync", "--cache", str(base / "cache"), "--bootstrap", "400", "--quiet"]
    assert main(["study", "report", str(study), "--out", str(out), *args]) == 0
    return {"root": root, "study": study, "out": out, "args": args, "base": base}


class Raw:
    """The raw masks of the study, read with nibabel."""

    def __init__(self, reported: dict) -> None:
        self.root, self.study = reported["root"], reported["study"]
        self.results = read_csv(self.study / "export" / "results.csv")

    def dl(self, patient: str, structure: str) -> np.ndarray:
        return load(self.root / patient / "MR_StorT2" / "nnUNetOutput" / f"mask_{structure}_nnUNet.nii.gz") > 0

    def unc(self, patient: str, structure: str) -> np.ndarray | None:
        p = self.root / patient / "MR_StorT2" / "nnUNetOutput" / f"mask_{structure}_nnUNet_uncertaintyMap.nii.gz"
        return np.nan_to_num(load(p).astype(np.float64)) if p.exists() else None

    def edit(self, row: dict) -> np.ndarray:
        return load(self.study / row["output_file"]) > 0

    def finished(self) -> list[dict]:
        return [r for r in self.results if r["finished_at"]]


@pytest.fixture(scope="module")
def raw(reported) -> Raw:
    return Raw(reported)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_uncertainty_edits_csv_counts_every_edited_voxel_once_per_bin(reported, raw) -> None:
    rows = read_csv(reported["out"] / "uncertainty_edits.csv")
    assert {"patient", "structure", "observer", "step", "source", "edited_voxels", "total_voxels"} <= set(rows[0])
    checked = 0
    for r in raw.finished():
        unc = raw.unc(r["patient"], r["structure"])
        if unc is None:
            continue
        dl, ed = raw.dl(r["patient"], r["structure"]), raw.edit(r)
        changed = dl ^ ed
        region = (unc > 0) | changed
        u = np.clip(unc, 0, EDGES[-1])
        want_edit = np.histogram(u[changed], EDGES)[0]
        want_total = np.histogram(u[region], EDGES)[0]
        mine = [
            x
            for x in rows
            if (x["patient"], x["structure"], x["observer"], x["step"])
            == (r["patient"], r["structure"], r["observer"], r["step"])
        ]
        assert len(mine) == len(EDGES) - 1
        assert [int(x["edited_voxels"]) for x in mine] == want_edit.tolist()
        assert [int(x["total_voxels"]) for x in mine] == want_total.tolist()
        assert sum(int(x["edited_voxels"]) for x in mine) == np.count_nonzero(changed)
        assert all(x["source"] == f"step{r['step']}_{r['observer']}" and int(x["step"]) in (1, 2) for x in mine)
        checked += 1
    assert checked == 3 * 2 * 2 * 2  # patients x structures x observers x steps


def _split(raw: Raw, structure: str, observer: str | None, step: str) -> dict[str, np.ndarray]:
    """Edited voxels at u == 0, 0 < u < threshold and above, per patient (pooled over observers when None)."""
    out: dict[str, dict[str, int]] = {}
    for r in raw.finished():
        if r["structure"] != structure or r["step"] != step or observer not in (None, r["observer"]):
            continue
        unc = raw.unc(r["patient"], structure)
        changed = raw.dl(r["patient"], structure) ^ raw.edit(r)
        d = out.setdefault(r["patient"], {"zero": 0, "low": 0, "high": 0})
        d["zero"] += np.count_nonzero(changed & (unc == 0))
        d["low"] += np.count_nonzero(changed & (unc > 0) & (unc < THRESHOLD))
        d["high"] += np.count_nonzero(changed & (unc >= THRESHOLD))
    patients = sorted(out)
    return {k: np.array([out[p][k] for p in patients], dtype=float) for k in ("zero", "low", "high")}


def _numpy_bootstrap(num: np.ndarray, den: np.ndarray, n: int = 20000) -> tuple[float, float]:
    rng = np.random.default_rng(1)
    idx = rng.integers(0, num.size, size=(n, num.size))
    d = den[idx].sum(axis=1)
    ok = d > 0
    ratios = num[idx].sum(axis=1)[ok] / d[ok]
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


@pytest.mark.parametrize("observer", ["obs1", None])
def test_low_uncertainty_ratio_with_zeros_apart_and_its_bootstrap_interval(reported, raw, observer) -> None:
    rows = read_csv(reported["out"] / "low_uncertainty.csv")
    for step in ("1", "2"):
        want = _split(raw, "CTVT_427", observer, step)
        total = want["zero"] + want["low"] + want["high"]
        row = next(
            r
            for r in rows
            if r["structure"] == "CTVT_427" and r["observer"] == (observer or "all") and r["step"] == step
        )
        assert int(row["edited_zero"]) == want["zero"].sum()
        assert int(row["edited_low"]) == want["low"].sum()
        assert int(row["edited_high"]) == want["high"].sum()
        assert float(row["threshold"]) == THRESHOLD
        assert float(row["low_share"]) == pytest.approx(want["low"].sum() / total.sum())
        assert float(row["zero_share"]) == pytest.approx(want["zero"].sum() / total.sum())
        lo, hi = _numpy_bootstrap(want["low"], total)
        assert float(row["low_ci_low"]) <= float(row["low_share"]) <= float(row["low_ci_high"])
        # three patients: few distinct resamples, so two percentile bootstraps agree closely
        assert float(row["low_ci_low"]) == pytest.approx(lo, abs=0.02)
        assert float(row["low_ci_high"]) == pytest.approx(hi, abs=0.02)
    ratio = read_csv(reported["out"] / "low_uncertainty_step_ratio.csv")
    r = next(
        x for x in ratio if x["structure"] == "CTVT_427" and x["observer"] == (observer or "all") and x["part"] == "low"
    )
    a, b = _split(raw, "CTVT_427", observer, "1"), _split(raw, "CTVT_427", observer, "2")
    assert float(r["ratio"]) == pytest.approx(b["low"].sum() / a["low"].sum())


def test_dl_versus_edit_dice_and_its_wilcoxon_step_test(reported, raw) -> None:
    table = read_csv(reported["out"] / "dl_vs_edit.csv")
    tests = read_csv(reported["out"] / "step_tests.csv")
    for structure in ("CTVT_427", "Rectum"):
        for observer in (*OBSERVERS, None):
            pairs: dict[tuple, dict[str, float]] = {}
            for r in raw.finished():
                if r["structure"] != structure or observer not in (None, r["observer"]):
                    continue
                d = dice(raw.dl(r["patient"], structure), raw.edit(r))
                pairs.setdefault((r["observer"], r["patient"]), {})[r["step"]] = d
                got = next(
                    x
                    for x in table
                    if (x["patient"], x["structure"], x["source"])
                    == (r["patient"], structure, f"step{r['step']}_{r['observer']}")
                )
                assert float(got["dice"]) == pytest.approx(d, rel=1e-9)
            a = np.array([v["1"] for v in pairs.values()])
            b = np.array([v["2"] for v in pairs.values()])
            want = stats.wilcoxon(a, b)
            t = next(
                x
                for x in tests
                if x["table"] == "dl_vs_edit"
                and x["structure"] == structure
                and x["observer"] == (observer or "all")
                and x["measure"] == "dice"
            )
            assert int(t["n"]) == a.size
            assert float(t["statistic"]) == pytest.approx(want.statistic)
            assert float(t["p_value"]) == pytest.approx(want.pvalue)
            assert float(t["median_diff"]) == pytest.approx(np.median(b - a))


def test_ratings_and_active_time_step_tests_from_results_csv(reported, raw) -> None:
    tests = read_csv(reported["out"] / "step_tests.csv")
    done = raw.finished()
    for observer in OBSERVERS:
        q = {(r["patient"], r["structure"], r["step"]): float(r["quality"]) for r in done if r["observer"] == observer}
        keys = sorted({(p, s) for p, s, _ in q})
        a = np.array([q[(p, s, "1")] for p, s in keys])
        b = np.array([q[(p, s, "2")] for p, s in keys])
        t = next(
            x
            for x in tests
            if x["table"] == "ratings"
            and x["structure"] == "all"
            and x["observer"] == observer
            and x["measure"] == "quality"
        )
        if np.all(a == b):
            assert t["p_value"] == ""
        else:
            w = stats.wilcoxon(a, b)
            assert float(t["p_value"]) == pytest.approx(w.pvalue) and float(t["statistic"]) == pytest.approx(
                w.statistic
            )
        # active time per case: the sum of the case's structures, in minutes
        secs: dict[tuple, float] = {}
        for r in done:
            if r["observer"] == observer:
                secs[(r["patient"], r["step"])] = secs.get((r["patient"], r["step"]), 0.0) + float(r["active_seconds"])
        patients = sorted({p for p, _ in secs})
        a = np.array([secs[(p, "1")] for p in patients]) / 60
        b = np.array([secs[(p, "2")] for p in patients]) / 60
        w = stats.wilcoxon(a, b)
        t = next(x for x in tests if x["table"] == "active_time" and x["observer"] == observer)
        assert float(t["p_value"]) == pytest.approx(w.pvalue)
        assert float(t["median_a"]) == pytest.approx(np.median(a)) and float(t["median_b"]) == pytest.approx(
            np.median(b)
        )


def test_fleiss_and_weighted_kappa_of_the_ratings(reported, raw) -> None:
    definition = json.loads((reported["study"] / "study.json").read_text())
    question = next(q for q in definition["questions"] if q["id"] == "quality")
    scale = [c["value"] for c in question["choices"]]
    kappa = read_csv(reported["out"] / "kappa.csv")
    done = raw.finished()
    for step in ("1", "2"):
        rating = {(r["observer"], r["patient"], r["structure"]): int(r["quality"]) for r in done if r["step"] == step}
        items = sorted({(p, s) for _, p, s in rating})
        matrix = np.array([[rating[(o, *i)] for o in OBSERVERS] for i in items])
        got = next(
            x
            for x in kappa
            if x["question"] == "quality" and x["structure"] == "all" and x["step"] == step and x["kind"] == "fleiss"
        )
        assert int(got["items"]) == len(items)
        assert float(got["kappa"]) == pytest.approx(fleiss_kappa(matrix, scale))
        # a sequential study's step is one arm: the rows name it
        (arm,) = {r["arm"] for r in done if r["step"] == step}
        assert got["arm"] == arm
        got = next(
            x
            for x in kappa
            if x["question"] == "quality"
            and x["structure"] == "all"
            and x["step"] == step
            and x["kind"] == "weighted_inter"
        )
        assert float(got["kappa"]) == pytest.approx(linear_weighted_kappa(matrix[:, 0], matrix[:, 1], scale))


def test_voxelwise_variability_its_correlation_with_uncertainty_and_staple(reported, raw) -> None:
    rows = read_csv(reported["out"] / "variability.csv")
    staple = read_csv(reported["out"] / "staple.csv")
    done = raw.finished()
    assert rows  # the loop below checks each of them
    for r in rows:
        masks = [
            raw.edit(x)
            for x in done
            if (x["patient"], x["structure"], x["step"]) == (r["patient"], r["structure"], r["step"])
        ]
        assert len(masks) == int(r["n_observers"]) == 2
        (arm,) = {x["arm"] for x in done if x["step"] == r["step"]}
        assert r["arm"] == arm  # grouped by step, each step's rows name its arm
        p = np.mean(masks, axis=0)
        var = p * (1 - p)
        unc = raw.unc(r["patient"], r["structure"])
        region = (unc > 0) | np.any(masks, axis=0)
        assert int(r["region_voxels"]) == np.count_nonzero(region)
        assert float(r["mean_variability"]) == pytest.approx(var[region].mean())
        want = stats.spearmanr(var[region], unc[region])
        assert float(r["spearman_rho"]) == pytest.approx(want.statistic, abs=1e-9)
        assert float(r["pearson_r"]) == pytest.approx(stats.pearsonr(var[region], unc[region]).statistic, abs=1e-9)
        # the consensus lies between what both and what either observer drew
        voxel_cc = (
            np.prod(nib.load(str(raw.root / r["patient"] / "MR_StorT2" / "image.nii.gz")).header.get_zooms()[:3]) / 1000
        )
        both, either = np.count_nonzero(masks[0] & masks[1]), np.count_nonzero(masks[0] | masks[1])
        cons = [
            x
            for x in staple
            if (x["patient"], x["structure"], x["step"]) == (r["patient"], r["structure"], r["step"]) and x["observer"]
        ]
        assert len(cons) == 2
        vol = float(cons[0]["consensus_volume_cc"])
        assert both * voxel_cc - 1e-9 <= vol <= either * voxel_cc + 1e-9


def test_flow_table_counts_cases_from_results_csv(reported, raw) -> None:
    flow = read_csv(reported["out"] / "flow.csv")
    for observer in OBSERVERS:
        for step in ("1", "2"):
            mine = [r for r in raw.results if r["observer"] == observer and r["step"] == step]
            row = next(x for x in flow if x["observer"] == observer and x["step"] == step)
            assert int(row["assigned"]) == len({r["patient"] for r in mine}) == 3
            assert int(row["finished"]) == len({r["patient"] for r in mine if r["finished_at"]})
            assert int(row["reopened"]) == 0


def test_report_html_is_one_self_contained_page_stating_the_protocol(reported) -> None:
    out = reported["out"]
    assert not [p for p in out.iterdir() if p.is_dir()]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["'](?!data:|#)[^"']+\.(png|svg|js|css)""", html)
    assert html.count("data:image/png;base64,") >= 5
    sha = hashlib.sha256((reported["study"] / "study.json").read_bytes()).hexdigest()
    assert sha in html and __version__ in html
    assert re.search(r"seed\D{0,20}5\b", html)  # the study's seed
    assert "washout" in html.lower() and "Wilcoxon" in html
    stats_json = json.loads((out / "stats.json").read_text())
    assert stats_json["report"]["definition_sha256"] == sha
    assert stats_json["options"]["threshold"] == THRESHOLD


def test_figures_are_png_and_svg_with_labelled_axes(reported) -> None:
    out = reported["out"]
    pngs = sorted(out.glob("fig_*.png"))
    assert {p.stem for p in pngs} >= {
        "fig_uncertainty_histogram",
        "fig_low_uncertainty",
        "fig_dl_vs_edit",
        "fig_ratings_time",
    }
    import matplotlib.image as mpimg

    for p in pngs:
        img = mpimg.imread(str(p))
        assert img.shape[0] > 300 and img.shape[1] > 300 and float(img[..., :3].std()) > 0.01, p.name
        svg = p.with_suffix(".svg")
        root = ElementTree.parse(svg).getroot()
        assert root.tag.endswith("svg")
    text = (out / "fig_uncertainty_histogram.svg").read_text()
    assert "uncertainty" in text.lower()


@pytest.mark.slow  # a second report, of the published edits
def test_report_of_the_published_edits(reported, raw) -> None:
    out = reported["base"] / "published"
    args = ["--published", "--dataset", str(reported["root"]), "--observers", "obsC", "obsD"]
    assert main(["study", "report", *args, "--out", str(out), *reported["args"]]) == 0
    rows = read_csv(out / "low_uncertainty.csv")
    obs_dir = reported["root"] / "LUNDPROBE_0433" / "MR_StorT2" / "observerData"
    assert {r["observer"] for r in rows} == {"obsC", "obsD", "all"}
    assert {r["observer"] for r in read_csv(out / "flow.csv")} == {"obsC", "obsD"}
    assert "Fleiss" not in (out / "report.html").read_text(encoding="utf-8")  # the released data has no ratings
    zero = low = 0
    for patient in sorted(p.name for p in reported["root"].iterdir() if p.is_dir()):
        unc = raw.unc(patient, "CTVT_427")
        ed = load(reported["root"] / patient / "MR_StorT2" / "observerData" / "mask_CTVT_427_step2_obsC.nii.gz") > 0
        changed = raw.dl(patient, "CTVT_427") ^ ed
        zero += np.count_nonzero(changed & (unc == 0))
        low += np.count_nonzero(changed & (unc > 0) & (unc < THRESHOLD))
    row = next(r for r in rows if r["structure"] == "CTVT_427" and r["observer"] == "obsC" and r["step"] == "2")
    assert (int(row["edited_zero"]), int(row["edited_low"])) == (zero, low)
    assert obs_dir.exists()


def test_output_folder_in_the_dataset_is_refused(reported, capsys) -> None:
    before = sorted(p.name for p in (reported["root"] / "LUNDPROBE_0433").iterdir())
    rc = main(
        [
            "study",
            "report",
            str(reported["study"]),
            "--out",
            str(reported["root"] / "LUNDPROBE_0433" / "rep"),
            *reported["args"],
        ]
    )
    assert rc == 2
    assert sorted(p.name for p in (reported["root"] / "LUNDPROBE_0433").iterdir()) == before
    rc = main(["study", "report", str(reported["study"]), "--out", str(reported["study"]), *reported["args"]])
    assert rc == 2 and "study or export folder" in capsys.readouterr().err
    for inside in ("sessions/rep", "output/LUNDPROBE_0433", "export/rep"):
        target = reported["study"] / inside
        existed = target.exists()
        assert main(["study", "report", str(reported["study"]), "--out", str(target), *reported["args"]]) == 2
        assert "lies inside the study" in capsys.readouterr().err
        assert target.exists() == existed and not (target / "report.html").exists()
    a_file = reported["base"] / "a-file"
    a_file.write_bytes(b"keep")
    assert main(["study", "report", str(reported["study"]), "--out", str(a_file), *reported["args"]]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err and a_file.read_bytes() == b"keep"


def test_pairs_of_observers_in_kappa_match_combinations(reported) -> None:
    kappa = read_csv(reported["out"] / "kappa.csv")
    pairs = {(x["observer_a"], x["observer_b"]) for x in kappa if x["kind"] == "weighted_inter"}
    assert pairs == set(combinations(OBSERVERS, 2))


def test_pooled_histogram_and_variability_per_bin_from_the_raw_masks(reported, raw) -> None:
    hist = read_csv(reported["out"] / "uncertainty_histogram.csv")
    vbins = read_csv(reported["out"] / "variability_bins.csv")
    structure, step = "Rectum", "2"
    edited = np.zeros(len(EDGES) - 1)
    total = np.zeros(len(EDGES) - 1)
    voxels = np.zeros(len(EDGES) - 1)
    var_sum = np.zeros(len(EDGES) - 1)
    cases = [r for r in raw.finished() if r["structure"] == structure and r["step"] == step]
    for patient in sorted({r["patient"] for r in cases}):
        unc = raw.unc(patient, structure)
        u = np.clip(unc, 0, EDGES[-1])
        dl = raw.dl(patient, structure)
        masks = [raw.edit(r) for r in cases if r["patient"] == patient]
        for m in masks:
            changed = dl ^ m
            edited += np.histogram(u[changed], EDGES)[0]
            total += np.histogram(u[(unc > 0) | changed], EDGES)[0]
        p = np.mean(masks, axis=0)
        region = (unc > 0) | np.any(masks, axis=0)
        voxels += np.histogram(u[region], EDGES)[0]
        var_sum += np.histogram(u[region], EDGES, weights=(p * (1 - p))[region])[0]
    got = [r for r in hist if (r["structure"], r["observer"], r["step"]) == (structure, "all", step)]
    assert [int(r["edited_voxels"]) for r in got] == edited.astype(int).tolist()
    assert [int(r["total_voxels"]) for r in got] == total.astype(int).tolist()
    for r, e, t in zip(got, edited, total):
        assert float(r["share_of_edits"]) == pytest.approx(e / edited.sum())
        assert fnum(r["fraction_edited"]) == (pytest.approx(e / t) if t else None)
    got = [r for r in vbins if (r["structure"], r["step"]) == (structure, step)]
    assert [int(r["voxels"]) for r in got] == voxels.astype(int).tolist()
    for r, n, v in zip(got, voxels, var_sum):
        assert fnum(r["mean_variability"]) == (pytest.approx(v / n) if n else None)


@pytest.mark.slow  # a second report, from the export
def test_the_export_gives_the_same_report_as_the_study_folder(reported) -> None:
    out = reported["base"] / "from-export"
    assert main(["study", "report", str(reported["study"] / "export"), "--out", str(out), *reported["args"]]) == 0
    mine = {p.name for p in reported["out"].iterdir() if not p.name.startswith(".")}
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == mine
    for name in sorted(mine - {"stats.json"}):
        assert (out / name).read_bytes() == (reported["out"] / name).read_bytes(), name
    a, b = (json.loads((d / "stats.json").read_text()) for d in (reported["out"], out))
    assert (a["report"].pop("kind"), b["report"].pop("kind")) == ("study", "export") and a == b
