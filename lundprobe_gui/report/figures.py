"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no GUI backend).

matplotlib is imported by these functions only, so nothing else in the app (the GUI's start-up
least of all) loads it. Each figure is saved as PNG (200 dpi) and SVG with fixed metadata, so
that the same numbers give the same bytes. Axes carry units, legends name the steps by what was
shown, and error bars are the bootstrap confidence intervals of the tables.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .common import POOLED, AgreementGrouping

logger = logging.getLogger(__name__)

DPI = 200
STEP_COLOURS = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377")
"""Paul Tol's bright scheme: distinguishable in colour-blind vision and in print."""
PART_COLOURS = {"zero": "#BBBBBB", "low": "#EE6677", "high": "#4477AA"}
UNCERTAINTY_AXIS = "DL uncertainty (SD of the 10 folds' softmax)"


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(
        {
            "svg.hashsalt": "lundprobe-report",  # fixed ids in the SVG: same figure, same bytes
            "svg.fonttype": "none",
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "legend.fontsize": 8,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        yield


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on the Agg canvas (``width`` and ``height`` in inches)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def render(fig: Any) -> dict[str, bytes]:
    """``{"png": ..., "svg": ...}`` bytes of a figure (fixed metadata: no date)."""
    out = {}
    with _style():
        for fmt, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=DPI, metadata=meta)
            out[fmt] = buf.getvalue()
    return out


def step_label(step: int, arm: str) -> str:
    """``Step 2 (with uncertainty)``."""
    return f"Step {step} ({arm})" if arm else f"Step {step}"


def _err(rows: Sequence[Mapping], value: str, lo: str, hi: str, scale: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray([np.nan if r[value] is None else r[value] * scale for r in rows])
    low = np.asarray([np.nan if r[lo] is None else r[lo] * scale for r in rows])
    high = np.asarray([np.nan if r[hi] is None else r[hi] * scale for r in rows])
    return v, np.vstack([np.clip(v - low, 0, None), np.clip(high - v, 0, None)])


def _steps(rows: Sequence[Mapping]) -> list[tuple[int, str]]:
    return sorted({(int(r["step"]), str(r.get("arm", ""))) for r in rows})


def _series(rows: Sequence[Mapping]) -> list[tuple[Any, str, str]]:
    """The bars of a histogram: ``(step, arm, label)`` by step, or by arm (in row order) when the steps are empty."""
    if all(r["step"] == "" for r in rows):
        return [("", arm, arm) for arm in dict.fromkeys(str(r["arm"]) for r in rows)]
    return [(step, arm, step_label(step, arm)) for step, arm in _steps(rows)]


def histogram_figure(rows: Sequence[Mapping], threshold: float, observer: str = POOLED, level: float = 0.95) -> Any:
    """Share of the edited voxels and fraction of voxels edited per uncertainty bin, steps (or arms) side by side."""
    from matplotlib.lines import Line2D

    with _style():
        rows = [r for r in rows if r["observer"] == observer]
        structures = list(dict.fromkeys(r["structure"] for r in rows))
        steps = _series(rows)
        fig = new_figure(3.6 * max(1, len(structures)), 6.0)
        axes = fig.subplots(2, max(1, len(structures)), squeeze=False)
        width = 0.8 / max(1, len(steps))
        for c, structure in enumerate(structures):
            for i, (step, arm, label) in enumerate(steps):
                sel = sorted(
                    (r for r in rows if r["structure"] == structure and (r["step"], r["arm"]) == (step, arm)),
                    key=lambda r: r["bin_low"],
                )
                if not sel:
                    continue
                centres = np.asarray([(r["bin_low"] + r["bin_high"]) / 2 for r in sel])
                bw = sel[0]["bin_high"] - sel[0]["bin_low"]
                share, share_err = _err(sel, "share_of_edits", "share_ci_low", "share_ci_high")
                frac, frac_err = _err(sel, "fraction_edited", "fraction_ci_low", "fraction_ci_high")
                colour = STEP_COLOURS[i % len(STEP_COLOURS)]
                x = centres + (i - (len(steps) - 1) / 2) * width * bw
                axes[0, c].bar(
                    x,
                    share,
                    width * bw,
                    yerr=share_err,
                    color=colour,
                    capsize=2,
                    error_kw={"elinewidth": 0.8},
                    label=label,
                )
                axes[1, c].errorbar(
                    centres,
                    frac,
                    yerr=frac_err,
                    color=colour,
                    marker="o",
                    ms=3,
                    capsize=2,
                    lw=1.2,
                    label=label,
                )
            for r in range(2):
                axes[r, c].axvline(threshold, color="0.4", ls="--", lw=0.8)
                axes[r, c].set_xlabel(UNCERTAINTY_AXIS)
                axes[r, c].set_xlim(0, None)
            axes[0, c].set_title(f"{structure}: where the edits are")
            axes[1, c].set_title(f"{structure}: how much is edited")
            axes[0, c].set_ylabel("Share of all edited voxels (%)")
            axes[1, c].set_ylabel("Voxels edited in the bin (%)")
        if structures:
            handles, labels = axes[0, 0].get_legend_handles_labels()
            handles.append(Line2D([], [], color="0.4", ls="--", lw=0.8))
            labels.append(f"low-uncertainty threshold {threshold:g}")
            fig.legend(
                handles,
                labels,
                loc="outside lower center",
                ncol=len(labels),
                frameon=False,
                title=f"error bars: {level:.0%} bootstrap CI over patients",
            )
        who = "all observers pooled" if observer == POOLED else observer
        by = ", by arm" if steps and steps[0][0] == "" else ""
        fig.suptitle(f"Edited voxels over the DL uncertainty ({who}{by})")
    return fig


def observer_histograms_figure(rows: Sequence[Mapping], threshold: float) -> Any:
    """Share of the edited voxels per bin, one panel per observer and structure.

    Each step is labelled with the arm the observer saw in it: one legend for the figure when every
    observer saw the same in each step, else (a crossover) a legend in each observer's first panel.
    """
    with _style():
        observers = [o for o in dict.fromkeys(r["observer"] for r in rows) if o != POOLED]
        structures = list(dict.fromkeys(r["structure"] for r in rows))
        steps = sorted({int(r["step"]) for r in rows})
        labels = {
            (r["observer"], int(r["step"])): step_label(int(r["step"]), str(r.get("arm", "")))
            for r in rows
            if r["observer"] != POOLED
        }
        shared = all(len({labels[k] for k in labels if k[1] == step}) == 1 for step in steps)
        fig = new_figure(3.0 * max(1, len(structures)), 2.0 * max(1, len(observers)) + 0.6)
        axes = fig.subplots(max(1, len(observers)), max(1, len(structures)), squeeze=False, sharey=True)
        width = 0.8 / max(1, len(steps))
        for r_i, obs in enumerate(observers):
            for c, structure in enumerate(structures):
                ax = axes[r_i, c]
                for i, step in enumerate(steps):
                    sel = sorted(
                        (x for x in rows if x["observer"] == obs and x["structure"] == structure and x["step"] == step),
                        key=lambda x: x["bin_low"],
                    )
                    if not sel:
                        continue
                    bw = sel[0]["bin_high"] - sel[0]["bin_low"]
                    centres = np.asarray([(x["bin_low"] + x["bin_high"]) / 2 for x in sel])
                    share, err = _err(sel, "share_of_edits", "share_ci_low", "share_ci_high")
                    ax.bar(
                        centres + (i - (len(steps) - 1) / 2) * width * bw,
                        share,
                        width * bw,
                        yerr=err,
                        color=STEP_COLOURS[i % len(STEP_COLOURS)],
                        capsize=1.5,
                        error_kw={"elinewidth": 0.6},
                        label=labels[(obs, step)],
                    )
                ax.axvline(threshold, color="0.4", ls="--", lw=0.8)
                ax.set_title(f"{obs}, {structure}")
                if c == 0:
                    ax.set_ylabel("Share of edits (%)")
                    if not shared and ax.get_legend_handles_labels()[0]:
                        ax.legend(frameon=False, fontsize=6, loc="upper left")
                if r_i == len(observers) - 1:
                    ax.set_xlabel(UNCERTAINTY_AXIS)
        if observers and structures and shared:
            fig.legend(
                *axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=len(steps), frameon=False
            )
        fig.suptitle("Edited voxels over the DL uncertainty, per observer")
    return fig


def low_uncertainty_figure(rows: Sequence[Mapping], threshold: float) -> Any:
    """Stacked shares of the edits at u = 0, 0 < u < threshold and u >= threshold, per observer and step."""
    with _style():
        structures = list(dict.fromkeys(r["structure"] for r in rows))
        fig = new_figure(3.6 * max(1, len(structures)), 3.4)
        axes = fig.subplots(1, max(1, len(structures)), squeeze=False)
        for c, structure in enumerate(structures):
            ax = axes[0, c]
            sel = [r for r in rows if r["structure"] == structure]
            labels = [f"{r['observer']}\nstep {r['step']}" for r in sel]
            x = np.arange(len(sel))
            bottom = np.zeros(len(sel))
            for part, name in (
                ("zero", "u = 0"),
                ("low", f"0 < u < {threshold:g}"),
                ("high", f"u \u2265 {threshold:g}"),
            ):
                share = np.asarray([(r[f"{part}_share"] if part != "high" else _high(r)) or 0.0 for r in sel]) * 100
                ax.bar(x, share, 0.7, bottom=bottom, color=PART_COLOURS[part], label=name)
                bottom += share
            v, err = _err(sel, "low_or_zero_share", "low_or_zero_ci_low", "low_or_zero_ci_high")
            ax.errorbar(x, v, yerr=err, fmt="none", ecolor="black", capsize=2, lw=0.8)
            ax.set_xticks(x, labels, fontsize=7)
            ax.set_ylabel("Share of edited voxels (%)")
            ax.set_ylim(0, 100)
            ax.set_title(structure)
        if structures:
            axes[0, 0].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.18), ncol=3)
        fig.suptitle("Edits at zero, low and high DL uncertainty (error bar: CI of u < threshold)")
    return fig


def _high(r: Mapping) -> float | None:
    low = r.get("low_or_zero_share")
    return None if low is None else 1.0 - low


METRIC_LABELS = {
    "dice": "Dice (DL vs edit)",
    "hd95_mm": "HD95 (mm)",
    "surface_dice": "Surface Dice",
    "apl_mm": "Added path length (mm)",
}


def metrics_figure(
    rows: Sequence[Mapping], tests: Sequence[Mapping], arms: Mapping[int, str], by_arm: bool = False
) -> Any:
    """DL-versus-edit metrics per step (or, ``by_arm``, per arm: ``step`` is then the arm's position).

    Box plots with the cases and the pooled Wilcoxon p-value on top.
    """
    with _style():
        structures = list(dict.fromkeys(r["structure"] for r in rows))
        metrics = list(METRIC_LABELS)
        steps = sorted({int(r["step"]) for r in rows})
        fig = new_figure(2.2 * len(metrics), 2.6 * max(1, len(structures)))
        axes = fig.subplots(max(1, len(structures)), len(metrics), squeeze=False)
        jitter = np.random.default_rng(0)
        for r_i, structure in enumerate(structures):
            for c, m in enumerate(metrics):
                ax = axes[r_i, c]
                data = [
                    [r[m] for r in rows if r["structure"] == structure and r["step"] == k and r[m] is not None]
                    for k in steps
                ]
                ax.boxplot(
                    data, positions=range(len(steps)), widths=0.5, showfliers=False, medianprops={"color": "black"}
                )
                for i, d in enumerate(data):
                    ax.scatter(
                        i + jitter.uniform(-0.12, 0.12, len(d)),
                        d,
                        s=6,
                        alpha=0.6,
                        color=STEP_COLOURS[i % len(STEP_COLOURS)],
                        linewidths=0,
                    )
                ticks = [arms.get(k, "") if by_arm else f"Step {k}" for k in steps]
                ax.set_xticks(range(len(steps)), ticks, fontsize=7 if by_arm else None)
                ax.set_ylabel(METRIC_LABELS[m])
                t = next(
                    (t for t in tests if t["structure"] == structure and t["measure"] == m and t["observer"] == POOLED),
                    None,
                )
                if t is not None:
                    ax.set_title(f"{structure}: {format_p(t['p_value'])}", fontsize=8)
        if by_arm:
            fig.suptitle("DL mask against the edited mask, per arm (all observers; Wilcoxon signed-rank)")
        else:
            fig.suptitle(
                "DL mask against the edited mask, per step (all observers; Wilcoxon signed-rank)\n"
                + "; ".join(f"step {k}: {arms.get(k, '')}" for k in steps)
            )
    return fig


def format_p(p: float | None) -> str:
    """``p = 0.012``, ``p < 0.001``, or ``p n/a``."""
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def ratings_figure(
    results: Sequence[Mapping],
    questions: Mapping[str, Sequence[int]],
    times: Sequence[Mapping],
    arms: Mapping[int, str],
    by_arm: bool = False,
) -> Any:
    """Rating distributions and the active time per case per observer, step by step (or, ``by_arm``, arm by arm:
    ``step`` is then the arm's position)."""
    with _style():
        qids = list(questions)
        fig = new_figure(3.2 * (len(qids) + 1), 3.2)
        axes = fig.subplots(1, len(qids) + 1, squeeze=False)[0]
        steps = sorted({int(r["step"]) for r in results})
        cmap = _likert_colours()
        for c, qid in enumerate(qids):
            ax = axes[c]
            scale = sorted(questions[qid])
            done = [r for r in results if r["finished"] and r.get(qid) is not None]
            bottom = np.zeros(len(steps))
            for v_i, v in enumerate(scale):
                share = np.asarray([_share([r[qid] for r in done if r["step"] == k], v) for k in steps]) * 100
                ax.bar(
                    range(len(steps)), share, 0.6, bottom=bottom, label=str(v), color=cmap(v_i / max(1, len(scale) - 1))
                )
                bottom += share
            ticks = [arms.get(k, "") if by_arm else f"Step {k}\n{arms.get(k, '')}" for k in steps]
            ax.set_xticks(range(len(steps)), ticks, fontsize=7)
            ax.set_ylabel("Share of ratings (%)")
            ax.set_title(f"{qid} (scale {scale[0]}-{scale[-1]})")
            ax.legend(title="rating", frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
        ax = axes[-1]
        observers = list(dict.fromkeys(t["observer"] for t in times))
        for i, obs in enumerate(observers):
            med = [
                np.median([t["minutes"] for t in times if t["observer"] == obs and t["step"] == k] or [np.nan])
                for k in steps
            ]
            q = [
                np.percentile(
                    [t["minutes"] for t in times if t["observer"] == obs and t["step"] == k] or [np.nan], [25, 75]
                )
                for k in steps
            ]
            err = np.abs(np.asarray(q).T - np.asarray(med))
            ax.errorbar(
                np.arange(len(steps)) + (i - (len(observers) - 1) / 2) * 0.08,
                med,
                yerr=err,
                marker="o",
                ms=4,
                capsize=2,
                lw=1,
                label=obs,
                color=STEP_COLOURS[i % len(STEP_COLOURS)],
            )
        ax.set_xticks(range(len(steps)), [arms.get(k, "") if by_arm else f"Step {k}" for k in steps])
        ax.set_ylabel("Active time per case (min)")
        ax.set_title("Active time (median, IQR)")
        if observers:
            ax.legend(frameon=False, fontsize=7)
        fig.suptitle(f"Ratings of the DL segmentation and active time, per {'arm' if by_arm else 'step'}")
    return fig


def _share(values: Sequence[int], v: int) -> float:
    return sum(1 for x in values if x == v) / len(values) if values else 0.0


def _likert_colours() -> Any:
    from matplotlib import colormaps

    return colormaps["RdYlBu"]


def _group_label(g: AgreementGrouping, k: int | str, tick: bool) -> str:
    """An arm's name, or a step with its arm (on two lines for a tick)."""
    if g.by_arm:
        return str(k)
    arm = g.step_arms.get(int(k), "")
    return f"Step {k}\n{arm}" if tick else f"Step {k} ({arm})"


def agreement_figure(staple: Sequence[Mapping], bins: Sequence[Mapping], grouping: AgreementGrouping) -> Any:
    """Dice of each observer and of the DL mask with the STAPLE consensus; mean variability per uncertainty bin.

    One box pair and one curve per step, or per arm when ``grouping`` is by arm (a crossover), each
    labelled with the arm's name.
    """
    g = grouping
    with _style():
        structures = list(dict.fromkeys(r["structure"] for r in bins or staple))
        fig = new_figure(3.4 * max(1, len(structures)), 5.4)
        axes = fig.subplots(2, max(1, len(structures)), squeeze=False)
        for c, structure in enumerate(structures):
            ax = axes[0, c]
            rows = [r for r in staple if r["structure"] == structure and r["table"] == "staple"]
            steps = g.present(rows)
            obs = [[r["dice_vs_consensus"] for r in rows if g.of(r) == k and r["source"] != "nnUNet"] for k in steps]
            dl = [[r["dice_vs_consensus"] for r in rows if g.of(r) == k and r["source"] == "nnUNet"] for k in steps]
            pos = np.arange(len(steps))
            ax.boxplot(
                obs,
                positions=pos - 0.18,
                widths=0.3,
                showfliers=False,
                patch_artist=True,
                boxprops={"facecolor": STEP_COLOURS[0], "alpha": 0.6},
                medianprops={"color": "black"},
            )
            ax.boxplot(
                dl,
                positions=pos + 0.18,
                widths=0.3,
                showfliers=False,
                patch_artist=True,
                boxprops={"facecolor": STEP_COLOURS[1], "alpha": 0.6},
                medianprops={"color": "black"},
            )
            ax.set_xticks(pos, [_group_label(g, k, tick=True) for k in steps], fontsize=7)
            if g.by_arm:
                ax.set_xlabel("Arm (whatever the step)", fontsize=7)
            ax.set_ylabel("Dice with the STAPLE consensus")
            ax.set_title(structure)
            from matplotlib.patches import Patch

            ax.legend(
                handles=[
                    Patch(color=STEP_COLOURS[0], alpha=0.6, label="observers"),
                    Patch(color=STEP_COLOURS[1], alpha=0.6, label="DL mask"),
                ],
                frameon=False,
                loc="best",
            )
            ax = axes[1, c]
            sel = [r for r in bins if r["structure"] == structure]
            for i, k in enumerate(g.present(sel)):
                s = sorted((r for r in sel if g.of(r) == k), key=lambda r: r["bin_low"])
                x = [(r["bin_low"] + r["bin_high"]) / 2 for r in s]
                y = [np.nan if r["mean_variability"] is None else r["mean_variability"] for r in s]
                ax.plot(
                    x,
                    y,
                    marker="o",
                    ms=3,
                    color=STEP_COLOURS[i % len(STEP_COLOURS)],
                    label=_group_label(g, k, tick=False),
                )
            ax.set_xlabel(UNCERTAINTY_AXIS)
            ax.set_ylabel("Mean inter-observer variability p(1-p)")
            ax.legend(frameon=False, loc="upper left")
        fig.suptitle(f"Inter-observer agreement per {g.by}")
    return fig


def variability_map_figure(example: Mapping[str, Any]) -> Any:
    """One axial slice of an example case: the MRI, the variability of each step and the DL uncertainty."""
    with _style():
        panels = example["panels"]
        fig = new_figure(2.6 * len(panels), 3.2)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, panel in zip(axes, panels):
            ax.imshow(example["image"], cmap="gray", aspect=example["aspect"], interpolation="nearest")
            data = np.ma.masked_where(panel["values"] <= 0, panel["values"])
            im = ax.imshow(
                data,
                cmap=panel["cmap"],
                vmin=0,
                vmax=panel["vmax"],
                alpha=0.75,
                aspect=example["aspect"],
                interpolation="nearest",
            )
            ax.set_title(panel["title"], fontsize=8, wrap=True)
            ax.set_xticks([])
            ax.set_yticks([])
            labels = example.get("labels", {})
            for pos, (x, y, ha, va) in {
                "left": (0.01, 0.5, "left", "center"),
                "right": (0.99, 0.5, "right", "center"),
                "top": (0.5, 0.99, "center", "top"),
                "bottom": (0.5, 0.01, "center", "bottom"),
            }.items():
                if labels.get(pos):
                    ax.text(x, y, labels[pos], transform=ax.transAxes, ha=ha, va=va, color="yellow", fontsize=7)
            fig.colorbar(im, ax=ax, shrink=0.7, label=panel["unit"])
        fig.suptitle(example["title"])
    return fig
