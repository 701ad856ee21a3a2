"""``study report``: run the batch, compute the tables, draw the figures and write everything into one folder.

The output folder gets, directly inside it (no subfolders): one CSV per table
(:class:`~.build.Table`), ``stats.json``, every figure as PNG and SVG, and ``report.html``. It is
claimed as an app output folder (never a dataset or patient folder, nor the study or export
folder itself) and every file is written atomically and honours the umask. Files a previous
report wrote there and this one does not (a figure of ratings, say) are removed, as recorded in
``.lundprobe-report.json``; no other file is touched.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..io.csv_files import csv_text
from ..io.guard import Protected, protect, remove_file, unprotect
from ..io.output_root import claim_output_root
from ..io.small_files import read_json_file
from ..io.writer import atomic_write
from ..study.reading import StudyReadError
from . import figures as fg
from .build import Report, ReportRows, ReportSource, compute_tables, report_analyses
from .common import POOLED, ReportOptions
from .html import page
from .methods import analysis_paragraph, library_versions, protocol_paragraph, results_paragraph

logger = logging.getLogger(__name__)

MANIFEST = ".lundprobe-report.json"
HTML_TABLES = (
    ("Flow of cases", "flow", None),
    ("Low-uncertainty edits", "low_uncertainty", None),
    ("Arm ratio of the edits (within each observer, whatever the step)", "low_uncertainty_arm_ratio", None),
    ("Step ratio of the edits", "low_uncertainty_step_ratio", None),
    ("Step tests", "step_tests", None),
    ("Arm tests (within each observer, whatever the step)", "arm_tests", None),
    ("Summaries per arm (pooled observers)", "arm_summaries", POOLED),
    ("Summaries per step (pooled observers)", "step_summaries", POOLED),
    ("Rating agreement (kappa)", "kappa", None),
    ("STAPLE consensus", "staple_summary", None),
    ("Variability and uncertainty", "variability_summary", None),
    ("Mean variability per uncertainty bin", "variability_bins", None),
    ("End-of-step questionnaire", "step_questionnaire", None),
)


@dataclass
class ReportResult:
    """What a report wrote."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    rows: ReportRows | None = None
    removed: list[Path] = field(default_factory=list)


def run_report(
    source: ReportSource,
    out_dir: str | os.PathLike,
    options: ReportOptions,
    scheduler: str = "sync",
    workers: int | None = None,
    cache: Any = None,
    fresh: bool = False,
    rehash: bool = False,
    progress: Callable[[Any], None] | None = None,
) -> ReportResult:
    """Analyse every patient on the scheduler and write the report (see the module docstring).

    Raises
    ------
    WriteRefused
        When the output folder is a dataset, patient, study or export folder.
    lundprobe_gui.batch.cluster.ClusterError
        When the cluster cannot be had.
    """
    from ..batch.run import run_batch

    out_dir = Path(out_dir)
    protected = Protected.of(source.paths, [source.dataset_root])
    _refuse_source_folder(out_dir, source)
    claim_output_root(out_dir, "report", protected)
    rows = ReportRows()
    for result in run_batch(
        source.paths,
        report_analyses(options, source),
        scheduler=scheduler,
        workers=workers,
        cache=cache,
        fresh=fresh,
        rehash=rehash,
        opener=source.overlay,
        progress=progress,
    ):
        rows.add(result)
    report = compute_tables(source, rows, options)
    token = protect(protected)
    try:
        written = write_report(out_dir, source, report, rows, options)
    finally:
        unprotect(token)
    written.rows = rows
    return written


def _refuse_source_folder(out_dir: Path, source: ReportSource) -> None:
    folder = source.outputs.folder
    if folder is None:
        return
    out, src = os.path.realpath(out_dir), os.path.realpath(folder)
    if out == src:
        raise StudyReadError(f"--out {out_dir}: is the study or export folder itself; give a folder of its own")
    # the study's sessions, saved edits and export are its record: a report never mixes files into them
    if out.startswith(src + os.sep):
        raise StudyReadError(
            f"--out {out_dir}: lies inside the study or export folder {folder}; give a folder of its own outside it"
        )


def _figures(source: ReportSource, report: Report, options: ReportOptions) -> list[tuple[str, str, Any]]:
    t = report.tables
    arms = source.step_arms()
    out = []
    if "uncertainty_histogram_by_arm" in t:
        out.append(
            (
                "fig_uncertainty_histogram_by_arm",
                "Edited voxels over the DL uncertainty by arm (what was shown), all observers pooled, whatever the "
                f"step the arm came in: share of the edits per bin (top) and share of the bin's voxels edited "
                f"(bottom), {options.level:.0%} bootstrap CIs over patients.",
                fg.histogram_figure(t["uncertainty_histogram_by_arm"].rows, options.threshold, level=options.level),
            )
        )
    if t["uncertainty_histogram"].rows:
        out.append(
            (
                "fig_uncertainty_histogram",
                "Edited voxels over the DL uncertainty, all observers pooled: share of the edits per bin (top) and "
                f"share of the bin's voxels edited (bottom), {options.level:.0%} bootstrap CIs over patients.",
                fg.histogram_figure(t["uncertainty_histogram"].rows, options.threshold, level=options.level),
            )
        )
        out.append(
            (
                "fig_uncertainty_histogram_observers",
                "The same histogram per observer.",
                fg.observer_histograms_figure(t["uncertainty_histogram"].rows, options.threshold),
            )
        )
    if t["low_uncertainty"].rows:
        out.append(
            (
                "fig_low_uncertainty",
                f"Shares of the edited voxels at u = 0, 0 < u < {options.threshold:g} and above, per observer and "
                "step.",
                fg.low_uncertainty_figure(t["low_uncertainty"].rows, options.threshold),
            )
        )
    # in a crossover each step mixes the arms: the comparisons are drawn arm against arm, as tested
    by_arm = "mixed" in arms.values()
    position = {a: i + 1 for i, a in enumerate(source.arm_order())}
    drawn = {k: a for a, k in position.items()} if by_arm else arms
    unit = "arm" if by_arm else "step"

    def placed(rows: list[dict]) -> list[dict]:
        return [dict(r, step=position[r["arm"]]) for r in rows if r.get("arm") in position] if by_arm else rows

    if t["dl_vs_edit"].rows:
        tests = [r for r in t["arm_tests" if by_arm else "step_tests"].rows if r["table"] == "dl_vs_edit"]
        out.append(
            (
                "fig_dl_vs_edit",
                "Dice, HD95, surface Dice and added path length of the DL mask against the "
                f"edits, per {unit}; p from the paired Wilcoxon test (pooled observers"
                + (f"; {source.arm_order()[0]} against the other arm, within each observer)." if by_arm else ")."),
                fg.metrics_figure(placed(t["dl_vs_edit"].rows), tests, drawn, by_arm=by_arm),
            )
        )
    if report.questions and any(r["finished"] for r in report.results):
        out.append(
            (
                "fig_ratings_time",
                f"Ratings per {unit} and active time per case per observer.",
                fg.ratings_figure(placed(report.results), report.questions, placed(report.times), drawn, by_arm=by_arm),
            )
        )
    if t["variability_bins"].rows:
        grouping = source.agreement_grouping()
        within = (
            " The observers are grouped by the arm they were in, whatever the step: each step of a crossover mixes "
            "the arms."
            if grouping.by_arm
            else ""
        )
        out.append(
            (
                "fig_agreement",
                f"Dice with the STAPLE consensus per {grouping.by} (top) and the mean voxel-wise "
                f"inter-observer variability per uncertainty bin (bottom).{within}",
                fg.agreement_figure(t["staple"].rows, t["variability_bins"].rows, grouping),
            )
        )
    example = variability_example(source, report)
    if example is not None:
        out.append(("fig_variability_map", example["title"], fg.variability_map_figure(example)))
    return out


def variability_example(source: ReportSource, report: Report) -> dict | None:
    """The slice of the median case (by mean variability in the last step, or arm) for the variability map figure.

    In a crossover the observers are grouped by the arm they were in (as the agreement tables are).
    """
    from ..metrics.agreement import observer_agreement
    from ..metrics.compare import DL_SOURCE, parse_observer_source
    from ..render.slicing import AXIAL, display_slice, orientation_labels, pixel_aspect

    cases = report.tables["variability"].rows
    if not cases:
        return None
    g = source.agreement_grouping()
    arm_of = source.arms()
    structure = cases[0]["structure"]
    last = g.present(r for r in cases if r["structure"] == structure)[-1]
    pick = sorted(
        (r for r in cases if r["structure"] == structure and g.of(r) == last),
        key=lambda r: (r["mean_variability"] or 0.0, r["patient"]),
    )
    case = pick[len(pick) // 2]
    path = next(p for p in source.paths if p.name == case["patient"])
    try:
        patient = source.overlay(path)
        frame = patient.reference_frame.name
        geom = patient.frames[frame].geometry
        unc = patient.uncertainty(structure, frame)
        unc = unc if unc is not None and patient.load_volume(unc) else None
        by_step: dict[int | str, dict] = {}
        for ref in patient.structures(frame):
            parsed = parse_observer_source(ref.source)
            if ref.name == structure and parsed is not None:
                key = arm_of.get((parsed[1], parsed[0])) if g.by_arm else parsed[0]
                if key is not None:
                    by_step.setdefault(key, {})[parsed[1]] = patient.mask_obj(structure, ref.source, frame)
        dl = (
            patient.mask_obj(structure, DL_SOURCE, frame)
            if (structure, DL_SOURCE) in patient.frames[frame].structures
            else None
        )
        maps: dict[int | str, dict] = {}
        for k in g.present(g.keys(k) for k in by_step):
            m = by_step[k]
            if len(m) >= 2:
                found = observer_agreement(m, geom.spacing_zyx, unc, dl, keep_maps=True).maps
                if found is not None:  # keep_maps=True always gives them
                    maps[k] = found
        image = patient.image("image", frame)
        if not maps or image is None or not patient.load_volume(image):
            return None
    except (KeyError, ValueError, OSError) as e:
        logger.warning("no variability map figure: %s", e)
        return None
    last_map = maps[list(maps)[-1]]
    z_local = int(np.argmax(last_map["variability"].sum(axis=(1, 2))))
    oz, oy, ox = last_map["origin"]
    z = oz + z_local
    ny, nx = last_map["variability"].shape[1:]
    # some anatomy around the structure: half its size again on every side
    my, mx = max(ny // 2, 8), max(nx // 2, 8)
    y0, x0 = max(oy - my, 0), max(ox - mx, 0)
    y1, x1 = min(oy + ny + my, geom.shape_zyx[1]), min(ox + nx + mx, geom.shape_zyx[2])
    img = image.read(((z, z + 1), (y0, y1), (x0, x1)))[0]

    def crop(m: dict, key: str) -> np.ndarray:
        o, block = m["origin"], m[key][z - m["origin"][0]]
        out = np.zeros((y1 - y0, x1 - x0), dtype=np.float64)
        ya, yb = max(o[1], y0), min(o[1] + block.shape[0], y1)
        xa, xb = max(o[2], x0), min(o[2] + block.shape[1], x1)
        out[ya - y0 : yb - y0, xa - x0 : xb - x0] = block[ya - o[1] : yb - o[1], xa - o[2] : xb - o[2]]
        return out

    arms = source.step_arms()
    panels = [
        {
            "title": (f"Arm '{k}'" if g.by_arm else f"Step {k} ({arms.get(int(k), '')})")
            + ":\ninter-observer variability",
            "values": display_slice(crop(m, "variability"), AXIAL),
            "cmap": "magma",
            "vmax": 0.25,
            "unit": "p(1-p)",
        }
        for k, m in maps.items()
    ]
    panels.append(
        {
            "title": f"DL uncertainty\n(shown in {g.by}s with the map)",
            "values": display_slice(crop(last_map, "uncertainty"), AXIAL),
            "cmap": "turbo",
            "vmax": 0.5,
            "unit": "SD of the folds' softmax",
        }
    )
    row_mm, col_mm = pixel_aspect(AXIAL, geom.spacing_zyx)
    return {
        "title": f"Voxel-wise inter-observer variability, {case['patient']} {structure}, axial slice {z} (median case)",
        "image": display_slice(img, AXIAL),
        "aspect": row_mm / col_mm,
        "labels": orientation_labels(AXIAL, geom),
        "panels": panels,
    }


def write_report(
    out_dir: Path, source: ReportSource, report: Report, rows: ReportRows, options: ReportOptions
) -> ReportResult:
    """Write the tables, ``stats.json``, the figures and ``report.html`` into ``out_dir``."""
    result = ReportResult(out_dir)
    files: dict[str, bytes] = {}
    for t in report.tables.values():
        files[f"{t.name}.csv"] = csv_text(t.rows, t.columns).encode("utf-8")
    figs = []
    for stem, caption, fig in _figures(source, report, options):
        data = fg.render(fig)
        files[f"{stem}.png"], files[f"{stem}.svg"] = data["png"], data["svg"]
        figs.append((stem, caption, data["png"]))
    out = source.outputs
    stats = {
        "report": {
            "kind": out.kind,
            "study_name": out.definition.name if out.definition else None,
            "definition_sha256": out.definition_sha256,
            "exported_by": out.app_version,
            "versions": library_versions(),
            "patients": rows.patients,
            "failed": [{"patient": p, "reason": r} for p, r in rows.failures],
            "observers": list(source.labels.values()) + list(source.choice.published or ()),
            "steps": list(out.steps),
            "arms": {str(k): v for k, v in source.step_arms().items()},
            "design": out.definition.design if out.definition else "sequential",
            "arm_orders": (
                {source.labels.get(o, o): list(v) for o, v in out.definition.arm_orders.items()}
                if out.definition
                else None
            ),
        },
        **report.stats,
    }
    files["stats.json"] = (json.dumps(stats, indent=1, allow_nan=False) + "\n").encode("utf-8")
    title = (
        f"Reader study report: {out.definition.name}"
        if out.definition and out.definition.name
        else ("Reader study report" + (" (published edits)" if source.published else ""))
    )
    meta = (
        f"definition sha256 {out.definition_sha256 or 'n/a'}; lundprobe_gui {__version__}; "
        f"{len(source.paths)} patients; threshold {options.threshold:g}; bootstrap {options.n_boot}"
    )
    paragraphs = [
        ("Methods: protocol", protocol_paragraph(source)),
        ("Methods: analysis", analysis_paragraph(source, options)),
        ("Results", results_paragraph(source, report, rows)),
    ]
    tables = []
    for heading, name, observer in HTML_TABLES:
        if name not in report.tables:  # the arm ratio is a crossover's alone
            continue
        t = report.tables[name]
        shown = [r for r in t.rows if observer is None or r.get("observer") == observer]
        tables.append((f"{heading} ({t.note})" if t.note else heading, f"{name}.csv", shown, t.columns))
    names = sorted([*files, "report.html"])
    files["report.html"] = page(title, meta, paragraphs, figs, tables, names, rows.warnings[:50]).encode("utf-8")
    previous = _previous_files(out_dir)
    atomic_write(
        out_dir / MANIFEST,
        (
            json.dumps({"app": "lundprobe_gui", "kind": "report", "files": sorted(set(files) | previous)}, indent=1)
            + "\n"
        ).encode(),
    )
    for name in sorted(files):
        result.files.append(atomic_write(out_dir / name, files[name]))
    for name in sorted(previous - set(files)):
        p = out_dir / name
        if p.is_file() and not p.is_symlink() and remove_file(p):
            result.removed.append(p)
    atomic_write(
        out_dir / MANIFEST,
        (json.dumps({"app": "lundprobe_gui", "kind": "report", "files": sorted(files)}, indent=1) + "\n").encode(),
    )
    return result


def _previous_files(out_dir: Path) -> set[str]:
    try:
        m = read_json_file(out_dir / MANIFEST, what="report manifest")
    except (OSError, ValueError):
        return set()
    names = m.get("files", []) if isinstance(m, dict) else []
    # only plain names: a manifest edited to name ../something never leads outside the folder
    return {n for n in names if isinstance(n, str) and n == os.path.basename(n) and n not in ("", ".", "..")}
