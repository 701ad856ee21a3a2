"""``study export``: ``results.csv`` plus the finished edits laid out like the dataset's observerData.

``<export>/<patient>/MR_StorT2/observerData/mask_<S>_step<k>_<obs>.nii.gz`` is a byte copy of the
recorded version of each finished structure, checked against its recorded sha256, so the export
can be compared file by file with the published edits. ``<export>/study_definition.json`` holds the
definition (without the admin PIN's hash), the sha256 of ``study.json`` and the administrators'
unlocks and washout overrides, so the export alone can be analysed (``study report``) and merged
with other sites' exports of the same definition (``study merge``). Files of cases that are no longer
finished (unlocked by an admin) are removed from the export, so it never shows a stale edit.

The export never writes into the study's dataset (its root, a patient folder or an input file:
:mod:`lundprobe_gui.io.guard`), and it only replaces or deletes files it wrote itself: the
manifest ``<export>/.lundprobe-export.json`` records the sha256 of every file it wrote (written
before the files, so a kill in between still leaves them recognised). A file found under an
export name that the manifest does not know, or whose bytes changed since, is left untouched and
reported; a file is deleted only when its bytes are also those of a recorded version.

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
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..io.csv_files import csv_text
from ..io.guard import Protected, protect, remove_file, unprotect
from ..io.lundprobe import MRI_DIR
from ..io.output_root import claim_output_root
from ..io.small_files import SAVED_MASK_MAX_BYTES, read_small_bytes
from ..io.store import output_folder
from ..io.versions import read_json_object, recorded_sha256s
from ..io.writer import atomic_write
from .audit import read_audit
from .definition import load_study
from .errors import CorruptStudyFile, DefinitionChanged
from .files import EXPORT_DIR, OUTPUT_DIR, RESULTS_FILE
from .integrity import check_study
from .reading import DEFINITION_RECORD, definition_record
from .results import iter_rows, load_states, result_columns, results_csv_bytes
from .state import FINISHED
from .step_questionnaire import QUESTIONNAIRE_COLUMNS, QUESTIONNAIRE_FILE, questionnaire_rows

logger = logging.getLogger(__name__)

MANIFEST = ".lundprobe-export.json"
INTEGRITY_FILE = "integrity.json"
_TABLES = (RESULTS_FILE, DEFINITION_RECORD, INTEGRITY_FILE, QUESTIONNAIRE_FILE)
"""The export's files that are not masks."""


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
    is listed in ``problems``; so is a file in the export folder that this export did not write.
    Everything else is still exported.

    Raises
    ------
    WriteRefused
        When the export folder is, or lies in, the dataset root or a patient folder.
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
    root = study.dataset_path(study_dir)
    protected = Protected.of([root / p for p in study.patients], [root])
    token = protect(protected)  # every write below is checked against the study's dataset
    try:
        export_dir = Path(out) if out is not None else study_dir / EXPORT_DIR
        claim_output_root(export_dir, "export", protected)
        rows = list(iter_rows(study, states))
        data = results_csv_bytes(rows, result_columns(study))
        report = ExportReport(atomic_write(study_dir / RESULTS_FILE, data), export_dir, rows=len(rows))
        report.warnings = list(check.clock)
        integrity = (json.dumps(check.to_dict(), indent=2) + "\n").encode("ascii")
        plan: dict[Path, tuple[bytes, set[str]]] = {
            export_dir / RESULTS_FILE: (data, _our_results(export_dir, data)),
            export_dir / INTEGRITY_FILE: (integrity, set()),
        }
        if study.step_questions:  # the end-of-step answers, one row per observer, step and question
            answers = csv_text(list(questionnaire_rows(study, states)), QUESTIONNAIRE_COLUMNS).encode("utf-8")
            plan[export_dir / QUESTIONNAIRE_FILE] = (answers, set())
        record = definition_record(study_dir, study, read_audit(study_dir))
        plan[export_dir / DEFINITION_RECORD] = ((json.dumps(record, indent=1) + "\n").encode("utf-8"), set())
        gone: dict[Path, set[str]] = {}
        for observer, state in states.items():
            if state is None:
                continue
            for k, rec in state.steps.items():
                for case in rec.cases:
                    for name, srec in case.structures.items():
                        source = study.target_source(k, observer)
                        rel = Path(srec.output_file) if srec.output_file else None
                        if rel is None or rel.parts[0] != OUTPUT_DIR:
                            rel = Path(
                                OUTPUT_DIR, case.patient, MRI_DIR, "observerData", f"mask_{name}_{source}.nii.gz"
                            )
                        dest = export_dir.joinpath(*rel.parts[1:])
                        recorded = recorded_sha256s((study_dir / rel).parent, f"mask_{name}_{source}")
                        if case.status != FINISHED or not srec.output_version:
                            gone[dest] = recorded
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
                        plan[dest] = (blob, recorded)
        _write_planned(export_dir, plan, gone, report)
    finally:
        unprotect(token)
    logger.info("exported %d file(s) to %s", len(report.copied), export_dir)
    for p in report.problems:
        logger.error("export: %s", p)
    return report


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _current_sha(path: Path, report: ExportReport) -> tuple[bool, str | None]:
    """(True, sha256 of the regular file there or None when there is none), or (False, None) for
    anything else (a link, a folder, an unreadable file), which is reported and left untouched."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True, None
    except OSError as e:
        report.problems.append(f"{path}: {e.strerror or e}; left untouched")
        return False, None
    if not stat.S_ISREG(st.st_mode):
        report.problems.append(f"{path}: not a regular file; left untouched")
        return False, None
    try:
        return True, _sha(read_small_bytes(path, SAVED_MASK_MAX_BYTES, "exported file"))
    except OSError as e:  # swapped for a FIFO or a device since: refused, never waited on
        report.problems.append(f"{path}: {e.strerror or e}; left untouched")
        return False, None


def _our_results(export_dir: Path, data: bytes) -> set[str]:
    """The sha256 of an existing ``results.csv`` when it has this study's columns (an export of an older version)."""
    try:
        old = read_small_bytes(export_dir / RESULTS_FILE, SAVED_MASK_MAX_BYTES, "results file")
    except OSError:
        return set()
    header = data.split(b"\n", 1)[0] + b"\n"
    return {_sha(old)} if old.startswith(header) else set()


def _write_planned(
    export_dir: Path, plan: dict[Path, tuple[bytes, set[str]]], gone: dict[Path, set[str]], report: ExportReport
) -> None:
    """Write the planned files and remove the withdrawn ones, touching only files that are ours: listed
    in the manifest, or (exports made before the manifest) holding the bytes of a recorded version."""
    mpath = export_dir / MANIFEST
    old = read_json_object(mpath) or {}
    owned: dict[str, list[str]] = {k: list(v) for k, v in (old.get("files") or {}).items() if isinstance(v, list)}
    todo: list[tuple[Path, bytes]] = []
    for dest, (blob, recorded) in plan.items():
        rel = dest.relative_to(export_dir).as_posix()
        found, cur = _current_sha(dest, report)
        if not found:
            continue
        if cur == _sha(blob):
            owned[rel] = [cur]
            if rel not in _TABLES:
                report.copied.append(dest)
        elif cur is None or cur in owned.get(rel, []) or cur in recorded:
            owned[rel] = sorted({*owned.get(rel, []), _sha(blob)})
            todo.append((dest, blob))
        else:
            report.problems.append(
                f"{dest}: exists and was not written by this export (or changed since); left untouched"
            )
    # the intent first: a kill while copying leaves files the next export still knows as its own
    _save_manifest(mpath, owned)
    for dest, blob in todo:
        atomic_write(dest, blob)
        rel = dest.relative_to(export_dir).as_posix()
        owned[rel] = [_sha(blob)]
        if rel not in _TABLES:
            report.copied.append(dest)
    for dest, recorded in gone.items():
        rel = dest.relative_to(export_dir).as_posix()
        found, cur = _current_sha(dest, report)
        if not found:
            continue
        if cur is None:
            owned.pop(rel, None)
        elif cur in owned.get(rel, []) and cur in recorded:
            remove_file(dest)
            owned.pop(rel, None)
            report.removed.append(dest)
        else:
            report.problems.append(
                f"{dest}: its case is no longer finished, but the file was not written by this export "
                "(or is not a recorded version); left untouched"
            )
    _save_manifest(mpath, owned)


def _save_manifest(path: Path, owned: dict[str, list[str]]) -> None:
    data = {"app": "lundprobe_gui", "kind": "study-export", "files": dict(sorted(owned.items()))}
    atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())
