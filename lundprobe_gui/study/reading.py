"""Reading what a study produced, for analysis: a study folder, its export, a merged export, or the published edits.

Every analysis of a study (``metrics``/``dvh``/``uncertainty-edits --study``, ``study report``,
``study merge``) reads the study through this module only, so the statistics never depend on how
a study stores its files. :func:`read_study_outputs` accepts

* a **study folder** (``study.json``, ``sessions/``, ``output/``): the rows of ``results.csv`` are
  built from the session files in memory (nothing is written), the masks are the recorded
  outputs of the finished cases;
* an **export** (``study export``) or a **merged export** (``study merge``): ``results.csv``, the
  masks laid out as ``<patient>/MR_StorT2/observerData/mask_<S>_step<k>_<obs>.nii.gz`` and
  :data:`DEFINITION_RECORD`, the definition as sealed (its hash) with the administrators' actions.

:func:`published_outputs` gives the same view of the dataset's own published ``step<k>_obs<X>``
edits (no ratings or times: the released data has none).

Rows are typed (:func:`typed_row`): ``step`` is an int, Likert answers are ints, times are floats,
``finished`` a bool. Columns a newer study adds (``uncertainty_available``, ``unlocks``...) are
read when present and take a neutral value when absent, and ``arm`` (what was shown) is derived
from the step's rules when the study does not record it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from .. import __version__
from ..core.names import InvalidName, validate_data_name, validate_observer
from ..io.lundprobe import MRI_DIR
from ..io.small_files import TABLE_MAX_BYTES, read_json_file, read_small_bytes
from .definition import StudyDefinition, load_study
from .design import validate_arm_name
from .errors import CorruptStudyFile, StudyError
from .files import OUTPUT_DIR, RESULTS_FILE, study_file
from .step_questionnaire import QUESTIONNAIRE_COLUMNS, QUESTIONNAIRE_FILE, questionnaire_rows, typed_questionnaire

logger = logging.getLogger(__name__)

DEFINITION_RECORD = "study_definition.json"
"""The definition file of an export: the sealed definition (without the admin PIN hash) and its hash."""
RECORD_KIND = "study-definition"
ADMIN_EVENTS = ("case_unlocked", "washout_overridden")
"""The administrators' actions an analysis reports (the flow table)."""
WITHOUT_MAP, WITH_MAP = "without", "with_uncertainty"
"""The arms of the published design, named for what the observer saw (the built-in arms' names)."""

_FLOAT_COLUMNS = ("active_seconds", "uncertainty_visible_seconds")
_INT_COLUMNS = ("voxels_added", "voxels_removed", "reopened_after_step")
OBSERVER_MASK = re.compile(r"^mask_(?P<s>.+)_step(?P<k>\d+)_(?P<o>[A-Za-z0-9_-]+)\.nii\.gz$")
"""File name of an observer's edit in ``observerData``: structure, step and observer."""


class StudyReadError(StudyError):
    """A study, export or dataset that cannot be analysed; the message names the file and the problem."""


@dataclass(frozen=True)
class StudyMask:
    """One finished edit of a study.

    Attributes
    ----------
    patient, structure, observer : str
        Keys (the observer as the study names it).
    step : int
        The step (session order).
    path : str
        The mask file (absolute).
    sha256 : str or None
        Its recorded sha256 (None for a published edit, which has no record).
    """

    patient: str
    structure: str
    observer: str
    step: int
    path: str
    sha256: str | None


@dataclass
class StudyOutputs:
    """A study's outputs as the analyses read them (see the module docstring).

    Attributes
    ----------
    kind : str
        ``study`` (a study folder), ``export`` (an export or a merged export) or ``published``.
    folder : Path or None
        What was read (None for ``published``).
    dataset_root : Path or None
        The dataset the masks are laid over (None when it was not asked for: ``study merge``).
    definition : StudyDefinition or None
        The study's definition (None for ``published`` or an export without its record).
    definition_sha256 : str or None
        sha256 of the bytes of ``study.json`` (the seal).
    patients, structures, observers : tuple of str
        The design (``published``: what the dataset holds).
    steps : tuple of int
        The steps.
    results : list of dict
        Typed rows of ``results.csv`` (empty for ``published``).
    columns : tuple of str
        The columns of ``results.csv`` as read.
    masks : list of StudyMask
        The finished edits (``published``: the dataset's ``step<k>_obs<X>`` files).
    admin_events : list of dict
        ``case_unlocked`` and ``washout_overridden`` with ``observer``, ``step`` (and ``patient``).
    app_version : str or None
        The app version that exported (or this one, for a study folder).
    sites : list of dict
        The site exports a merged export came from (``name``, ``observers``, ``app_version``).
    raw_results : list of dict
        The rows of ``results.csv`` as text, as read (exports only).
    questionnaire : list of dict
        The end-of-step questionnaire's answers (``step_questionnaire.csv``; ``step`` an int).
    """

    kind: str
    folder: Path | None
    dataset_root: Path | None
    definition: StudyDefinition | None
    definition_sha256: str | None
    patients: tuple[str, ...]
    structures: tuple[str, ...]
    observers: tuple[str, ...]
    steps: tuple[int, ...]
    results: list[dict] = field(default_factory=list)
    columns: tuple[str, ...] = ()
    masks: list[StudyMask] = field(default_factory=list)
    admin_events: list[dict] = field(default_factory=list)
    app_version: str | None = None
    sites: list[dict] = field(default_factory=list)
    raw_results: list[dict[str, str]] = field(default_factory=list)
    questionnaire: list[dict] = field(default_factory=list)

    def arm(self, observer: str, step: int) -> str:
        """What the observer was shown in a step (see :func:`step_arm`)."""
        for r in self.results:
            if r["observer"] == observer and r["step"] == step and r.get("arm"):
                return str(r["arm"])
        return step_arm(self.definition, step, observer)


def step_arm(definition: StudyDefinition | None, step: int, observer: str | None = None) -> str:
    """The arm of an observer's step as the definition gives it, for outputs that do not record it.

    An export written before results.csv had an ``arm`` column reads its arm from the definition
    (a definition of that time is sequential: its steps are its arms); without a definition, the
    published design: step 1 without, later steps with the uncertainty map.
    """
    if definition is None:
        return WITH_MAP if step >= 2 else WITHOUT_MAP  # the published protocol
    try:
        if observer is not None and observer in definition.arm_orders:
            return definition.arm_of(observer, step)
        return definition.step(step).arm
    except KeyError:
        return f"step{step}"


def definition_sha256(study_dir: str | Path) -> str:
    """sha256 of the bytes of ``<study>/study.json``."""
    path = study_file(Path(study_dir))
    try:
        return hashlib.sha256(read_small_bytes(path, what="study definition")).hexdigest()
    except OSError as e:
        raise CorruptStudyFile(f"{path}: cannot read the study definition ({e.strerror or e})") from e


def public_definition(study: StudyDefinition) -> dict:
    """The definition without the admin PIN's hash (an export leaves the study's machine)."""
    d = study.to_dict()
    d["admin"] = None
    d["admin_pin"] = study.admin is not None
    return d


def admin_events(audit: Iterable[dict]) -> list[dict]:
    """The administrators' unlocks and washout overrides of an audit log, oldest first."""
    out = []
    for e in audit:
        if e.get("event") not in ADMIN_EVENTS:
            continue
        try:
            ev = {"event": str(e["event"]), "observer": str(e["observer"]), "step": int(e["step"])}
        except (KeyError, TypeError, ValueError):
            continue
        if e.get("patient") is not None:
            ev["patient"] = str(e["patient"])
        ev["time"] = str(e.get("time", ""))
        out.append(ev)
    return out


def definition_record(study_dir: str | Path, study: StudyDefinition, audit: Iterable[dict]) -> dict:
    """The content of :data:`DEFINITION_RECORD` for an export of this study."""
    return {
        "app": "lundprobe_gui",
        "kind": RECORD_KIND,
        "app_version": __version__,
        "definition_sha256": definition_sha256(study_dir),
        "definition": public_definition(study),
        "admin_events": admin_events(audit),
        "sites": [],
    }


# -- typed rows -----------------------------------------------------------------------------------
def _int(value: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a whole number") from None


def _float(value: str, what: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        f = float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError(f"{what} {value!r} is not a finite number")
    return f


def typed_row(raw: dict[str, str], definition: StudyDefinition | None) -> dict:
    """A ``results.csv`` row with typed values (see the module docstring).

    Raises
    ------
    ValueError
        Naming the first cell that is not what its column holds.
    """
    row: dict[str, Any] = dict(raw)
    try:
        row["observer"] = validate_observer(raw.get("observer", ""))
        row["patient"] = validate_data_name(raw.get("patient", ""), "patient")
        row["structure"] = validate_data_name(raw.get("structure", ""), "structure")
    except InvalidName as e:
        raise ValueError(str(e)) from None
    step = _int(raw.get("step", ""), "step")
    if step is None or step < 1:
        raise ValueError(f"step {raw.get('step')!r} is not a step number")
    row["step"] = step
    likert = [q.id for q in definition.questions if q.kind == "likert"] if definition else ["quality", "confidence"]
    for qid in likert:
        if qid in raw:
            row[qid] = _int(raw[qid], qid)
    for c in _FLOAT_COLUMNS:
        row[c] = _float(raw.get(c, ""), c)
    for c in _INT_COLUMNS:
        row[c] = _int(raw.get(c, ""), c)
    row["unlocks"] = _int(raw.get("unlocks", ""), "unlocks") or 0
    avail = raw.get("uncertainty_available", "").strip()
    row["uncertainty_available"] = None if not avail else avail in ("1", "true", "True")
    row["finished"] = bool(raw.get("finished_at", "").strip())
    row["started"] = bool(raw.get("started_at", "").strip())
    arm = raw.get("arm", "").strip()
    if arm:
        validate_arm_name(arm)  # a value of the column that may name files
    row["arm"] = arm or step_arm(definition, step, row["observer"])
    return row


def parse_results_csv(
    data: bytes, origin: str, definition: StudyDefinition | None
) -> tuple[list[dict], tuple[str, ...], list[dict[str, str]]]:
    """Typed rows, the columns and the rows as text of a ``results.csv``.

    Raises
    ------
    StudyReadError
        Naming the file and line of the first bad cell, or a missing key column.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StudyReadError(f"{origin}: not UTF-8 text ({e})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = tuple(reader.fieldnames or ())
    missing = [c for c in ("observer", "step", "patient", "structure", "finished_at") if c not in columns]
    if missing:
        raise StudyReadError(f"{origin}: not a study's results.csv (no column {', '.join(missing)})")
    rows, raws = [], []
    try:
        for raw in reader:
            row = {k: v or "" for k, v in raw.items() if k is not None}
            rows.append(typed_row(row, definition))
            raws.append(row)
    except (ValueError, csv.Error) as e:
        raise StudyReadError(f"{origin}, line {reader.line_num}: {e}") from None
    return rows, columns, raws


# -- readers --------------------------------------------------------------------------------------
def read_study_outputs(
    folder: str | Path, dataset: str | Path | None = None, need_dataset: bool = True
) -> StudyOutputs:
    """The outputs of a study folder, an export or a merged export.

    Parameters
    ----------
    folder : path
        The study folder or the export folder.
    dataset : path, optional
        The dataset root (default: the one the definition records).
    need_dataset : bool
        False reads the study without looking for its dataset (``dataset_root`` is then None unless given).

    Raises
    ------
    StudyReadError
        When the folder is neither, a file is damaged, or the dataset cannot be found.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise StudyReadError(f"{folder}: no such folder (expected a study folder or a study export)")
    if study_file(folder).exists():
        return _read_study_folder(folder, dataset, need_dataset)
    if (folder / RESULTS_FILE).exists():
        return _read_export(folder, dataset, need_dataset)
    raise StudyReadError(f"{folder}: neither a study folder (study.json) nor a study export (results.csv)")


@overload
def _dataset(given: str | Path | None, recorded: str | None, origin: Path, need: Literal[True] = True) -> Path: ...
@overload
def _dataset(given: str | Path | None, recorded: str | None, origin: Path, need: bool) -> Path | None: ...
def _dataset(given: str | Path | None, recorded: str | None, origin: Path, need: bool = True) -> Path | None:
    if not need:
        return Path(given).expanduser() if given is not None else None
    if given is None and not recorded:
        raise StudyReadError(f"{origin}: the dataset root is not recorded; give it with --dataset ROOT")
    root = Path(given if given is not None else str(recorded)).expanduser()
    if not root.is_dir():
        how = "" if given is not None else " (as the study records it; give another with --dataset ROOT)"
        raise StudyReadError(f"{root}: the dataset root does not exist{how}")
    return root


def _read_study_folder(folder: Path, dataset: str | Path | None, need_dataset: bool) -> StudyOutputs:
    from .audit import read_audit
    from .results import iter_rows, load_states, result_columns

    try:
        study = load_study(folder)
        states = load_states(folder, study)
        raw = [dict(r) for r in iter_rows(study, states)]
        audit = read_audit(folder)
    except (StudyError, OSError) as e:
        raise StudyReadError(str(e)) from e
    root = _dataset(dataset, str(study.dataset_path(folder)), folder, need_dataset)
    try:
        rows = [typed_row(r, study) for r in raw]
    except ValueError as e:
        raise StudyReadError(f"{folder}: {e}") from None
    out_root = (folder / OUTPUT_DIR).resolve()
    masks = []
    for r in rows:
        rel = r.get("output_file", "")
        if not (r["finished"] and rel and r.get("output_sha256")):
            continue
        path = (folder / rel).resolve()
        if out_root not in path.parents:
            raise StudyReadError(f"{folder}: the recorded output {rel!r} lies outside {OUTPUT_DIR}/")
        masks.append(StudyMask(r["patient"], r["structure"], r["observer"], r["step"], str(path), r["output_sha256"]))
    return StudyOutputs(
        "study",
        folder,
        root,
        study,
        definition_sha256(folder),
        study.patients,
        study.structures,
        study.observers,
        tuple(s.step for s in study.steps),
        rows,
        tuple(result_columns(study)),  # the columns and order of the results.csv an export holds
        masks,
        admin_events(audit),
        __version__,
        raw_results=raw,
        questionnaire=typed_questionnaire(questionnaire_rows(study, states), str(folder)),
    )


def read_definition_record(folder: Path) -> dict | None:
    """The :data:`DEFINITION_RECORD` of an export (None when it has none).

    Raises
    ------
    StudyReadError
        When the file is there but damaged.
    """
    path = folder / DEFINITION_RECORD
    if not path.exists():
        return None
    try:
        rec = read_json_file(path, what="study definition record")
    except (OSError, ValueError) as e:
        raise StudyReadError(f"{path}: cannot be read ({e})") from None
    if not isinstance(rec, dict) or rec.get("kind") != RECORD_KIND or not isinstance(rec.get("definition"), dict):
        raise StudyReadError(f"{path}: not a lundprobe_gui study definition record")
    return rec


def _read_export(folder: Path, dataset: str | Path | None, need_dataset: bool) -> StudyOutputs:
    rec = read_definition_record(folder)
    study = None
    if rec is not None:
        try:
            study = StudyDefinition.from_dict(rec["definition"], str(folder / DEFINITION_RECORD))
        except CorruptStudyFile as e:
            raise StudyReadError(str(e)) from None
    path = folder / RESULTS_FILE
    try:
        data = read_small_bytes(path, TABLE_MAX_BYTES, "results file")
    except OSError as e:
        raise StudyReadError(f"{path}: cannot be read ({e.strerror or e})") from None
    rows, columns, raws = parse_results_csv(data, str(path), study)
    # a relative root is relative to the study folder, not the export: the absolute root recorded at init
    # is what finds the dataset from an export or a merged export
    root = _dataset(dataset, str(study.dataset_path(folder)) if study else None, folder, need_dataset)
    masks = []
    for r in rows:
        if not (r["finished"] and r.get("output_sha256")):
            continue
        name = f"mask_{r['structure']}_step{r['step']}_{r['observer']}.nii.gz"
        p = folder / r["patient"] / MRI_DIR / "observerData" / name
        masks.append(StudyMask(r["patient"], r["structure"], r["observer"], r["step"], str(p), r["output_sha256"]))

    def ordered(key: str) -> tuple:
        return tuple(dict.fromkeys(r[key] for r in rows))

    events = [e for e in (rec or {}).get("admin_events", []) if isinstance(e, dict)]
    return StudyOutputs(
        "export",
        folder,
        root,
        study,
        str(rec["definition_sha256"]) if rec and rec.get("definition_sha256") else None,
        study.patients if study else ordered("patient"),
        study.structures if study else ordered("structure"),
        study.observers if study else ordered("observer"),
        tuple(s.step for s in study.steps) if study else tuple(sorted(set(ordered("step")))),
        rows,
        columns,
        masks,
        admin_events(events),
        str(rec.get("app_version")) if rec else None,
        [s for s in (rec or {}).get("sites", []) if isinstance(s, dict)],
        raws,
        _read_questionnaire(folder),
    )


def _read_questionnaire(folder: Path) -> list[dict]:
    """The rows of an export's ``step_questionnaire.csv`` (none when the study asked none)."""
    path = folder / QUESTIONNAIRE_FILE
    if not path.exists():
        return []
    try:
        text = read_small_bytes(path, TABLE_MAX_BYTES, "questionnaire file").decode("utf-8")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in QUESTIONNAIRE_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: not a step questionnaire (no column {', '.join(missing)})")
        return typed_questionnaire(reader, str(path))
    except OSError as e:
        raise StudyReadError(f"{path}: cannot be read ({e.strerror or e})") from None
    except (UnicodeDecodeError, ValueError, csv.Error) as e:
        raise StudyReadError(f"{path}: {e}" if str(path) not in str(e) else str(e)) from None


def published_outputs(dataset_root: str | Path, patients: Iterable[str] | None = None) -> StudyOutputs:
    """The dataset's own published edits ``observerData/mask_<S>_step<k>_<obs>.nii.gz`` as study outputs.

    Parameters
    ----------
    dataset_root : path
        The dataset root.
    patients : iterable of str, optional
        Only these patient folders (default every patient folder holding published edits).

    Raises
    ------
    StudyReadError
        When the root does not exist or holds no published edit.
    """
    from ..io.open import list_patients

    root = _dataset(dataset_root, None, Path(dataset_root))
    wanted = None if patients is None else set(patients)
    masks = []
    for entry in list_patients(root):
        if wanted is not None and entry.patient_id not in wanted:
            continue
        obs_dir = entry.path / MRI_DIR / "observerData"
        try:
            names = sorted(os.listdir(obs_dir))
        except OSError:
            continue
        for n in names:
            m = OBSERVER_MASK.match(n)
            if m is None:
                continue
            masks.append(StudyMask(entry.patient_id, m["s"], m["o"], int(m["k"]), str(obs_dir / n), None))
    if not masks:
        raise StudyReadError(f"{root}: no published edits (observerData/mask_<S>_step<k>_<observer>.nii.gz) found")
    return StudyOutputs(
        "published",
        None,
        root,
        None,
        None,
        tuple(dict.fromkeys(m.patient for m in masks)),
        tuple(sorted({m.structure for m in masks})),
        tuple(sorted({m.observer for m in masks})),
        tuple(sorted({m.step for m in masks})),
        masks=masks,
        app_version=None,
    )
