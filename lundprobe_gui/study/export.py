"""``study export``: ``results.csv`` plus the finished edits laid out like the dataset's observerData.

``<export>/<patient>/MR_StorT2/observerData/mask_<S>_step<k>_<obs>.nii.gz`` is a byte copy of the
recorded version of each finished structure, checked against its recorded sha256, so the export
can be compared file by file with the published edits. Files of cases that are no longer
finished (unlocked by an admin) are removed from the export, so it never shows a stale edit.

Before anything is written the study is checked (:mod:`.integrity`): a changed ``study.json``, a
damaged session file or one changed outside the app stops the export (one line per problem).
``<export>/integrity.json`` records the definition's hash, each session's chain check and the
clock warnings, which the report also returns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..io.lundprobe import MRI_DIR
from ..io.small_files import SAVED_MASK_MAX_BYTES, read_small_bytes
from ..io.store import output_folder
from ..io.writer import atomic_write
from .definition import load_study
from .errors import CorruptStudyFile, DefinitionChanged
from .files import EXPORT_DIR, OUTPUT_DIR, RESULTS_FILE
from .integrity import check_study
from .results import iter_rows, load_states, result_columns, results_csv_bytes
from .state import FINISHED

logger = logging.getLogger(__name__)


@dataclass
class ExportReport:
    """What an export wrote."""

    results_csv: Path
    export_dir: Path
    copied: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rows: int = 0
    warnings: list[str] = field(default_factory=list)


def export_study(study_dir: str | Path, out: str | Path | None = None) -> ExportReport:
    """Write ``<study>/results.csv`` and the export folder (default ``<study>/export``).

    A recorded output that is missing or does not match its recorded sha256 is not copied and
    is listed in ``problems``; everything else is still exported.
    """
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    check = check_study(study_dir, study)
    if not check.seal.ok:
        raise DefinitionChanged(check.seal.message(study_dir))
    states = load_states(study_dir, study, check.damaged)
    if check.problems:
        raise CorruptStudyFile(
            "the study's files fail their checks; nothing was exported: " + "; ".join(check.problems)
        )
    rows = list(iter_rows(study, states))
    data = results_csv_bytes(rows, result_columns(study))
    export_dir = Path(out) if out is not None else study_dir / EXPORT_DIR
    export_dir.mkdir(parents=True, exist_ok=True)
    report = ExportReport(atomic_write(study_dir / RESULTS_FILE, data), export_dir, rows=len(rows))
    report.warnings = list(check.clock)
    atomic_write(export_dir / RESULTS_FILE, data)
    atomic_write(export_dir / "integrity.json", (json.dumps(check.to_dict(), indent=2) + "\n").encode("ascii"))
    for observer, state in states.items():
        if state is None:
            continue
        for k, rec in state.steps.items():
            for case in rec.cases:
                for name, srec in case.structures.items():
                    source = study.target_source(k, observer)
                    rel = Path(srec.output_file) if srec.output_file else None
                    if rel is None or rel.parts[0] != OUTPUT_DIR:
                        rel = Path(OUTPUT_DIR, case.patient, MRI_DIR, "observerData", f"mask_{name}_{source}.nii.gz")
                    dest = export_dir.joinpath(*rel.parts[1:])
                    if case.status != FINISHED or not srec.output_version:
                        if dest.exists() and _inside(dest, export_dir):
                            os.unlink(dest)
                            report.removed.append(dest)
                        continue
                    version = study_dir / srec.output_version
                    try:
                        blob = read_small_bytes(version, SAVED_MASK_MAX_BYTES, "saved mask")
                    except OSError as e:
                        report.problems.append(f"{version}: cannot be read ({e.strerror or e})")
                        continue
                    if hashlib.sha256(blob).hexdigest() != srec.output_sha256:
                        report.problems.append(f"{version}: content does not match the recorded sha256")
                        continue
                    # created like an output folder: a symbolic link in it that leads elsewhere is refused
                    folder = output_folder(export_dir, case.patient, MRI_DIR)
                    if dest.parent != folder:
                        raise PermissionError(f"{dest} is not in the export folder {folder}")
                    atomic_write(dest, blob)
                    report.copied.append(dest)
    logger.info("exported %d file(s) to %s", len(report.copied), export_dir)
    for p in report.problems:
        logger.error("export: %s", p)
    return report


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (symbolic links resolved) lies inside ``folder``."""
    return Path(folder).resolve() in Path(path).resolve().parents
