"""``study merge``: one export from the exports of several sites that ran the same sealed study definition.

Each site runs the study with the same ``study.json`` (the same sha256: same patients, questions,
rules and seed) and exports it (``study export``). The observers of a site have results in its
export only; the merge takes each observer's rows and edits from the one export where that
observer has any (a started or finished case), and refuses an observer with results in two
exports, a different definition hash, an export without its definition record, and exports
whose ``results.csv`` columns differ (written by different versions). Observers who have started
nowhere keep their empty rows.

Exports whose designs (sequential or crossover, and the arms) differ are refused by name before
the hash is compared.

``OUT`` gets what an export has: ``results.csv`` (rows in the study's order, with their ``arm``
column), ``step_questionnaire.csv`` when the study asks one, the masks laid out as
``<patient>/MR_StorT2/observerData/mask_<S>_step<k>_<obs>.nii.gz`` (byte copies checked against
their recorded sha256), and ``study_definition.json`` with the definition, its hash, every site's
administrator actions of the observers taken from it, and the list of sites. ``study report OUT``
reads it like any export. OUT must be new, empty, or an earlier merge; files an earlier merge
wrote and this one does not are removed, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..io.csv_files import csv_text
from ..io.guard import remove_file
from ..io.lundprobe import MRI_DIR
from ..io.output_root import claim_output_root
from ..io.small_files import SAVED_MASK_MAX_BYTES, read_json_file, read_small_bytes
from ..io.store import output_folder
from ..io.writer import atomic_write
from .definition import StudyDefinition
from .files import RESULTS_FILE
from .reading import (
    DEFINITION_RECORD,
    RECORD_KIND,
    StudyOutputs,
    StudyReadError,
    read_definition_record,
    read_study_outputs,
)
from .step_questionnaire import QUESTIONNAIRE_COLUMNS, QUESTIONNAIRE_FILE

logger = logging.getLogger(__name__)

MANIFEST = ".lundprobe-merge.json"


@dataclass
class MergeReport:
    """What a merge wrote."""

    out_dir: Path
    rows: int = 0
    masks: int = 0
    observers: list[str] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def _active_observers(outputs: StudyOutputs) -> set[str]:
    return {r["observer"] for r in outputs.results if r["started"] or r["finished"]}


def _sealed(path: Path, o: StudyOutputs) -> tuple[StudyDefinition, str]:
    """The definition of an export and its hash; raises :class:`StudyReadError` for a study folder or none."""
    if o.kind != "export":
        raise StudyReadError(f"{path}: is a study folder; merge its export ('study export {path}')")
    if o.definition is None or not o.definition_sha256:
        raise StudyReadError(f"{path}: has no {DEFINITION_RECORD}; export it again with this version of the app")
    return o.definition, o.definition_sha256


def _check(exports: Sequence[Path], read: list[StudyOutputs]) -> tuple[dict[str, int], StudyDefinition]:
    """Observer to the index of the export it is taken from, and the definition they share.

    Raises :class:`StudyReadError` on a conflict.
    """
    sealed = [_sealed(path, o) for path, o in zip(exports, read)]
    first = read[0]
    first_definition, first_sha = sealed[0]
    for path, o, (definition, sha) in zip(exports[1:], read[1:], sealed[1:]):
        design, first_design = _design(definition), _design(first_definition)
        if design != first_design:
            raise StudyReadError(
                f"{path}: ran a {design[0]} design of the arms {', '.join(design[1])}, {exports[0]} a "
                f"{first_design[0]} design of {', '.join(first_design[1])}; only exports of one design merge"
            )
        if sha != first_sha:
            raise StudyReadError(
                f"{path}: ran another study definition (sha256 {sha[:12]}..., "
                f"{exports[0]} has {first_sha[:12]}...); only exports of one sealed definition merge"
            )
        if definition.to_dict() != first_definition.to_dict():
            raise StudyReadError(
                f"{path}: its {DEFINITION_RECORD} claims the hash of {exports[0]}'s definition but holds another "
                "definition (edited by hand?); nothing was merged"
            )
        if o.columns != first.columns:
            raise StudyReadError(f"{path}: its results.csv has other columns than {exports[0]}'s (another app version)")
    owner: dict[str, int] = {}
    for i, o in enumerate(read):
        for obs in sorted(_active_observers(o)):
            if obs in owner:
                raise StudyReadError(
                    f"observer {obs} has results in both {exports[owner[obs]]} and {exports[i]}; observer IDs must "
                    "not overlap between sites"
                )
            owner[obs] = i
    return owner, first_definition


def _design(d: StudyDefinition) -> tuple[str, tuple[str, ...]]:
    return d.design, tuple(a.arm for a in d.arms)


def _definition_record(export: Path) -> dict:
    record = read_definition_record(export)
    if record is None:  # it was there when the export was read
        raise StudyReadError(f"{export}: its {DEFINITION_RECORD} is gone; nothing was merged")
    return record


def merge_exports(out: str | os.PathLike, exports: Sequence[str | os.PathLike]) -> MergeReport:
    """Merge site exports into ``out`` (see the module docstring).

    Raises
    ------
    StudyReadError
        For fewer than two exports, an export that cannot be read, or a conflict.
    WriteRefused
        When ``out`` is a dataset or patient folder, or one of the exports.
    """
    dirs = [Path(e) for e in exports]
    out_dir = Path(out)
    if len(dirs) < 2:
        raise StudyReadError("give at least two site exports to merge")
    if len({os.path.realpath(e) for e in dirs}) != len(dirs):
        raise StudyReadError("an export is given twice")
    for e in dirs:
        real, real_out = os.path.realpath(e), os.path.realpath(out_dir)
        if real_out == real or real_out.startswith(real + os.sep) or real.startswith(real_out + os.sep):
            raise StudyReadError(f"OUT {out_dir} and the export {e} lie inside one another; give a folder of its own")
    read = [read_study_outputs(e, need_dataset=False) for e in dirs]
    owner, study = _check(dirs, read)
    first = read[0]
    previous = _previous(out_dir)
    claim_output_root(out_dir, "export")
    rows: list[dict[str, str]] = []
    files: dict[str, bytes] = {}
    for obs in study.observers:
        src = read[owner.get(obs, 0)]
        rows.extend(r for r in src.raw_results if r.get("observer") == obs)
        if obs not in owner:
            continue
        for m in src.masks:
            if m.observer != obs:
                continue
            blob = read_small_bytes(m.path, SAVED_MASK_MAX_BYTES, "exported mask")
            if hashlib.sha256(blob).hexdigest() != m.sha256:
                raise StudyReadError(f"{m.path}: does not match the sha256 its results.csv records; nothing was merged")
            files[(Path(m.patient) / MRI_DIR / "observerData" / Path(m.path).name).as_posix()] = blob
    events: list[dict] = []
    sites = []
    for i, (path, o) in enumerate(zip(dirs, read)):
        mine = sorted(obs for obs, j in owner.items() if j == i)
        events.extend(e for e in o.admin_events if e["observer"] in mine)
        sites.append({"name": str(path), "observers": mine, "app_version": o.app_version})
        sites.extend(o.sites)
    record = {
        "app": "lundprobe_gui",
        "kind": RECORD_KIND,
        "app_version": __version__,
        "definition_sha256": first.definition_sha256,
        "definition": _definition_record(dirs[0])["definition"],
        "admin_events": events,
        "sites": sites,
    }
    files[RESULTS_FILE] = csv_text(rows, first.columns).encode("utf-8")
    if study.step_questions:  # each observer's answers from the export the observer is taken from
        answers = [q for obs in study.observers for q in read[owner.get(obs, 0)].questionnaire if q["observer"] == obs]
        files[QUESTIONNAIRE_FILE] = csv_text(answers, QUESTIONNAIRE_COLUMNS).encode("utf-8")
    files[DEFINITION_RECORD] = (json.dumps(record, indent=1) + "\n").encode("utf-8")
    report = MergeReport(out_dir, rows=len(rows), observers=sorted(owner))
    _manifest(out_dir, sorted(set(files) | previous))
    for rel, blob in sorted(files.items()):
        parts = Path(rel).parts
        folder = output_folder(out_dir, parts[0], MRI_DIR) if len(parts) > 1 else out_dir
        atomic_write(folder / parts[-1], blob)
        report.masks += len(parts) > 1
    for rel in sorted(previous - set(files)):
        p = out_dir / rel
        if p.is_file() and not p.is_symlink() and remove_file(p):
            report.removed.append(p)
    _manifest(out_dir, sorted(files))
    return report


def _manifest(out: Path, names: list[str]) -> None:
    data = {"app": "lundprobe_gui", "kind": "study-merge", "files": names}
    atomic_write(out / MANIFEST, (json.dumps(data, indent=1) + "\n").encode("utf-8"))


def _previous(out: Path) -> set[str]:
    """Files an earlier merge wrote into ``out``; refuses a non-empty folder that is not a merge."""
    if not out.exists():
        return set()
    if not out.is_dir():
        raise StudyReadError(f"{out}: exists and is not a folder")
    try:
        m = read_json_file(out / MANIFEST, what="merge manifest")
    except FileNotFoundError:
        m = None
    except (OSError, ValueError) as e:
        raise StudyReadError(f"{out / MANIFEST}: cannot be read ({e})") from None
    if m is None:
        if any(n for n in os.listdir(out) if n != ".lundprobe-output"):
            raise StudyReadError(f"OUT {out}: is not empty and not an earlier merge; give a new folder")
        return set()
    names = m.get("files", []) if isinstance(m, dict) else []
    return {n for n in names if isinstance(n, str) and ".." not in Path(n).parts and not Path(n).is_absolute()}
