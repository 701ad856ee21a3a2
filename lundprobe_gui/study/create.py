"""``study init``: write a new study folder with its ``study.json``, sealed by its hash in the audit log.

Besides the rules, init records what later checks need: each patient's shown files with their
sha256 (so a copy of the dataset can be checked), the patients whose structures lack an
uncertainty map (only with ``allow_missing_uncertainty``; otherwise such patients are refused),
the hashes of the optional observer PINs, and the dataset root relative to the study folder
when it can be.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.names import InvalidName, folds_case_key, validate_observer
from ..io.guard import Protected, WriteRefused, check_output_root
from ..io.lundprobe import MRI_DIR
from ..io.output_root import claim_output_root
from ..io.writer import atomic_write
from .arms import BUILTIN_ARMS, builtin_arm, parse_arm
from .audit import append_audit
from .clock import Now, event_time, iso_utc
from .dataset import Eligibility, check_patient, eligible_patients, file_digest
from .definition import StepRules, StudyDefinition, refuse_repeats
from .design import DESIGNS, ArmSpecError, validate_arm_name
from .errors import StudyError
from .files import output_root, sessions_dir, study_file
from .presets import (
    DEFAULT_IDLE_TAIL_S,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_OBSERVERS,
    DEFAULT_START_SOURCE,
    DEFAULT_STRUCTURES,
    DEFAULT_WASHOUT_DAYS,
    PRESETS,
    PUBLISHED_OBSERVERS,
    preset_questions,
)
from .questions import Question
from .secret import AdminSecret

logger = logging.getLogger(__name__)

_DATASET_OBSERVER = re.compile(r"^obs[A-Za-z0-9-]+$")
_STEP_FILE = re.compile(r"^mask_.+_step\d+_(?P<obs>[A-Za-z0-9_-]+)\.nii(\.gz)?$")


@dataclass
class InitOptions:
    """What ``study init`` is given; None means the default.

    Parameters
    ----------
    dataset_root : path
        The LUND-PROBE dataset root.
    patients : sequence of str, optional
        Patient folder names; default every patient with the start masks of all structures.
    structures : sequence of str
        Default ``CTVT_427``, ``Rectum``.
    observers : sequence of str
        Default ``obs1`` .. ``obs4``.
    allow_published_ids : bool
        Accept observer IDs of the published study (``obsB``..``obsE``) or IDs whose edits the
        dataset already holds. Off by default: such IDs are refused, since the study's files would
        share names with the dataset's own.
    seed : int, optional
        Randomisation seed; a random one is drawn (and recorded) when omitted.
    washout_days : float
        Default 28.
    preset : str
        ``reader-study`` or ``ai-acceptability``.
    start_source : str
        Default ``nnUNet``.
    idle_timeout_s : float
        Gaps between events up to this long count in full (default 60 s).
    idle_tail_s : float
        What a longer gap counts (default 10 s).
    name : str
        Free-text title.
    admin_pin : str, optional
        Admin PIN or passphrase (stored hashed).
    show_dose : bool
        Show the dose in both steps (hidden by default); the uncertainty map then gets the
        distinct magenta scale instead of the published rainbow.
    questions : sequence of Question, optional
        The rating questions (default: the preset's), e.g. from ``--questions FILE``.
    allow_missing_uncertainty : bool
        Take in patients without an uncertainty map for a structure (recorded in ``study.json``
        and in the results' ``uncertainty_available``) instead of leaving them out.
    observer_pins : mapping, optional
        Observer ID to PIN (stored hashed); those observers must give it to open their session.
    show_clock : bool
        Show observers their running active time (hidden by default).
    design : str
        ``sequential`` (everyone sees the arms in the listed order, as published) or
        ``crossover`` (the order is counterbalanced across observers).
    arms : sequence of str, optional
        The arms the study uses, in order (one step each); default ``without``,
        ``with_uncertainty``, then the arms of ``arm_specs``.
    arm_specs : sequence of str
        More arms, ``NAME:RULES`` each (see :func:`lundprobe_gui.study.arms.parse_arm`).
    step_questions : sequence of Question, optional
        The end-of-step questionnaire (none by default).
    """

    dataset_root: Path
    patients: Sequence[str] | None = None
    structures: Sequence[str] = DEFAULT_STRUCTURES
    observers: Sequence[str] = DEFAULT_OBSERVERS
    seed: int | None = None
    washout_days: float = DEFAULT_WASHOUT_DAYS
    preset: str = "reader-study"
    start_source: str = DEFAULT_START_SOURCE
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    name: str = ""
    admin_pin: str | None = None
    allow_published_ids: bool = False
    notes: list[str] = field(default_factory=list)
    show_dose: bool = False
    questions: Sequence[Question] | None = None
    allow_missing_uncertainty: bool = False
    observer_pins: Mapping[str, str] | None = None
    idle_tail_s: float = DEFAULT_IDLE_TAIL_S
    show_clock: bool = False
    design: str = "sequential"
    arms: Sequence[str] | None = None
    arm_specs: Sequence[str] = ()
    step_questions: Sequence[Question] | None = None


def study_arms(opts: InitOptions) -> tuple[StepRules, ...]:
    """The steps' rules in the listed order: the chosen arms, built-in or defined by ``arm_specs``.

    Raises
    ------
    StudyError
        One line naming the bad arm, an arm defined twice or not used, or a design that needs more arms.
    """
    defined: dict[str, StepRules] = {}
    try:
        for spec in opts.arm_specs:
            rules = parse_arm(spec, opts.show_dose)
            if rules.arm in defined:
                raise StudyError(f"--arm {rules.arm} is defined twice")
            defined[rules.arm] = rules
        names = list(opts.arms) if opts.arms else [*BUILTIN_ARMS, *defined]
        for n in names:
            validate_arm_name(n)
    except ArmSpecError as e:
        raise StudyError(str(e)) from None
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise StudyError(f"--arms lists {', '.join(dup)} twice; each arm is one step")
    unused = [n for n in defined if n not in names]
    if unused:
        raise StudyError(f"--arm {', '.join(unused)} defined but not listed in --arms {' '.join(names)}")
    if opts.design not in DESIGNS:
        raise StudyError(f"--design must be one of {', '.join(DESIGNS)}, not {opts.design!r}")
    if opts.design == "crossover" and len(names) < 2:
        raise StudyError("a crossover design needs at least two arms")
    chosen = []
    for n in names:
        if n in defined:
            chosen.append(defined[n])
        elif n in BUILTIN_ARMS:
            chosen.append(builtin_arm(n, opts.show_dose))
        else:
            raise StudyError(
                f"--arms {n}: not a built-in arm ({', '.join(BUILTIN_ARMS)}); define it with --arm {n}:RULES"
            )
    return tuple(rules.in_step(i) for i, rules in enumerate(chosen, start=1))


def init_study(study_dir: str | Path, opts: InitOptions, now: Now = None) -> StudyDefinition:
    """Create a study folder; never touches an existing study.

    Raises
    ------
    StudyError
        For a bad option (invalid observer ID, unknown patient, missing start mask...) or when
        ``study_dir`` already holds a study. Nothing is written in that case.
    """
    study_dir = Path(study_dir)
    t = event_time(now)
    check_observer_ids(opts.observers)
    for what, items in (("structures", opts.structures), ("patients", opts.patients)):
        _refuse_repeats(what, [str(x) for x in items or ()])
    try:  # before anything else is looked at: a study folder inside the dataset is refused at once
        check_output_root(study_dir, Protected.of(dataset_roots=[Path(opts.dataset_root).expanduser()]))
    except WriteRefused as e:
        raise StudyError(str(e)) from e
    if opts.preset not in PRESETS:
        raise StudyError(f"unknown preset {opts.preset!r}; choose one of {', '.join(PRESETS)}")
    for existing in (study_file(study_dir), sessions_dir(study_dir), output_root(study_dir)):
        if existing.exists():
            raise StudyError(f"{study_dir} already holds a study ({existing.name} exists); nothing was changed")
    root = Path(opts.dataset_root).expanduser()
    if not root.is_dir():
        raise StudyError(f"dataset root {root} is not a folder")
    root = root.resolve()
    structures = list(opts.structures)
    steps = study_arms(opts)
    needs_unc = any(s.show_uncertainty for s in steps)
    needs_folds = any("folds" not in s.hidden for s in steps)  # an arm shows the fold contours
    if opts.patients:
        checked = [check_patient(root, p, structures, opts.start_source, folds=needs_folds) for p in opts.patients]
        bad = [e for e in checked if not e.ok]
        if bad:
            raise StudyError("these patients cannot take part: " + "; ".join(f"{e.patient}: {e.reason}" for e in bad))
        no_folds = [e for e in checked if e.no_folds]
        if no_folds:
            raise StudyError(
                "an arm shows the fold contours, which these patients lack: "
                + "; ".join(f"{e.patient}: no fold masks for {', '.join(e.no_folds)}" for e in no_folds)
            )
        no_unc = [e for e in checked if e.no_uncertainty] if needs_unc else []
        if no_unc and not opts.allow_missing_uncertainty:
            raise StudyError(
                "a step shows the uncertainty map, which these patients lack: "
                + "; ".join(f"{e.patient}: no map for {', '.join(e.no_uncertainty)}" for e in no_unc)
                + " (leave them out, or add --allow-missing-uncertainty to take them in and record it)"
            )
        eligible = checked
    else:
        eligible, skipped = eligible_patients(root, structures, opts.start_source, detail=True, folds=needs_folds)
        skipped += [
            Eligibility(e.patient, False, f"no fold masks for {', '.join(e.no_folds)}, which an arm shows")
            for e in eligible
            if e.no_folds
        ]
        eligible = [e for e in eligible if not e.no_folds]
        if needs_unc and not opts.allow_missing_uncertainty:
            skipped += [
                Eligibility(
                    e.patient, False, f"no uncertainty map for {', '.join(e.no_uncertainty)}, which a step shows"
                )
                for e in eligible
                if e.no_uncertainty
            ]
            eligible = [e for e in eligible if not e.no_uncertainty]
        if not eligible:
            why = "; ".join(f"{e.patient}: {e.reason}" for e in skipped[:10])
            more = f" (and {len(skipped) - 10} more)" if len(skipped) > 10 else ""
            raise StudyError(
                f"no patient in {root} has {opts.start_source} masks for {', '.join(structures)}"
                + (" and their uncertainty maps" if needs_unc and not opts.allow_missing_uncertainty else "")
                + (f": {why}{more}" if why else "")
            )
        opts.notes.extend(f"{e.patient} left out: {e.reason}" for e in sorted(skipped, key=lambda e: e.patient))
    patients = [e.patient for e in eligible]
    missing_unc = {e.patient: e.no_uncertainty for e in eligible if e.no_uncertainty and needs_unc}
    opts.notes.extend(
        f"{p}: no uncertainty map for {', '.join(v)}; taken in and recorded (uncertainty_available = 0)"
        for p, v in missing_unc.items()
    )
    pins = dict(opts.observer_pins or {})
    unknown = sorted(set(pins) - set(opts.observers))
    if unknown:
        raise StudyError(f"PINs were given for observers that are not in the study: {', '.join(unknown)}")
    try:
        files = {e.patient: {rel: file_digest(root / e.patient / rel) for rel in e.files} for e in eligible}
    except OSError as e:
        raise StudyError(f"a patient file cannot be read to record its hash: {e}") from e
    opts.notes.extend(loader_notes(opts.observers))
    try:
        study = StudyDefinition(
            name=opts.name,
            created_at=iso_utc(t),
            dataset_root=_stored_root(root, study_dir),
            dataset_root_absolute=str(root),
            patients=tuple(patients),
            structures=tuple(structures),
            observers=tuple(opts.observers),
            start_source=opts.start_source,
            seed=int(opts.seed) if opts.seed is not None else secrets.randbelow(2**31),
            washout_days=float(opts.washout_days),
            idle_timeout_s=float(opts.idle_timeout_s),
            idle_tail_s=float(opts.idle_tail_s),
            preset=opts.preset,
            steps=steps,
            questions=tuple(opts.questions) if opts.questions else preset_questions(opts.preset),
            admin=AdminSecret.create(opts.admin_pin) if opts.admin_pin else None,
            show_clock=bool(opts.show_clock),
            uncertainty_missing=missing_unc,
            patient_files=files,
            observer_pins={o: AdminSecret.create(p) for o, p in pins.items()},
            design=opts.design,
            step_questions=tuple(opts.step_questions or ()),
        )
    except (InvalidName, ValueError) as e:
        raise StudyError(str(e)) from e
    if not opts.allow_published_ids:
        refuse_published_ids(root, patients, list(study.observers))
    protected = Protected.of([root / p for p in patients], [root])
    try:
        claim_output_root(study_dir, "study", protected)
    except WriteRefused as e:
        raise StudyError(str(e)) from e
    data = json.dumps(study.to_dict(), indent=2).encode("utf-8")
    try:
        atomic_write(study_file(study_dir), data, overwrite=False)
    except FileExistsError:
        raise StudyError(f"{study_dir} already holds a study; nothing was changed") from None
    sessions_dir(study_dir).mkdir(exist_ok=True)
    output_root(study_dir).mkdir(exist_ok=True)
    append_audit(
        study_dir,
        "study_created",
        now=t,
        patients=len(patients),
        observers=list(study.observers),
        seed=study.seed,
        preset=study.preset,
        design=study.design,
        arm_orders={o: list(v) for o, v in study.arm_orders.items()},
        admin_pin=study.admin is not None,
        observer_pins=sorted(study.observer_pins),
        definition_sha256=hashlib.sha256(data).hexdigest(),
    )
    logger.info("created study %s: %d patients, observers %s", study_dir, len(patients), ", ".join(study.observers))
    return study


def check_observer_ids(observers: Sequence[str], taken: Sequence[str] = ()) -> list[str]:
    """Check observer IDs as ``study init`` does: each a valid ID, none twice, none a case twin of another.

    Parameters
    ----------
    observers : sequence of str
        The IDs given.
    taken : sequence of str
        IDs the study already has (``study add-observer``): the new IDs may equal none of them, nor
        differ from one only in case.

    Returns
    -------
    list of str
        The IDs, in the given order.

    Raises
    ------
    StudyError
        One line naming the first bad ID (nothing has been written).
    """
    ids = [str(o) for o in observers]
    for o in ids:
        try:
            validate_observer(o)
        except InvalidName as e:
            raise StudyError(str(e)) from e
    _refuse_repeats("observers", ids)
    existing = {folds_case_key(o): o for o in taken}
    for o in ids:
        twin = existing.get(folds_case_key(o))
        if twin == o:
            raise StudyError(f"observer {o!r} is already in the study; nothing was written")
        if twin is not None:
            raise StudyError(
                f"observer {o!r} differs from the study's observer {twin!r} only in case: their files would be "
                "one file on Windows and macOS, where studies are shared; nothing was written"
            )
    return ids


def _refuse_repeats(what: str, items: Sequence[str]) -> None:
    try:
        refuse_repeats(what, items)
    except ValueError as e:
        raise StudyError(f"{e}; nothing was written") from None


def loader_notes(observers: Sequence[str]) -> list[str]:
    """Notes on observer IDs whose exported edits the dataset loader will not list (not ``obs...``)."""
    return [
        f"observer {o!r}: the dataset loader recognises observer edits only as "
        "step<k>_obs<letters/digits/->; the exported files of this observer will not be "
        "listed when the export folder is opened as a dataset"
        for o in observers
        if not _DATASET_OBSERVER.match(o)
    ]


def _stored_root(root: Path, study_dir: Path) -> str:
    """The dataset root as ``study.json`` keeps it: relative to the study folder when there is a relative path."""
    try:
        rel = os.path.relpath(root, Path(study_dir).resolve())
    except ValueError:  # another drive (Windows)
        return str(root)
    return Path(rel).as_posix()


def refuse_published_ids(root: Path, patients: list[str], observers: list[str]) -> None:
    """Refuse observer IDs of the published study, and IDs whose step files the dataset already holds.

    Compared without case: on a file system that folds case ``step1_OBSB`` is ``step1_obsB``.
    """
    taken = {o.casefold(): "a published observer of LUND-PROBE" for o in PUBLISHED_OBSERVERS}
    for p in patients:
        try:
            names = os.listdir(root / p / MRI_DIR / "observerData")
        except OSError:
            continue
        for name in names:
            m = _STEP_FILE.match(name)
            if m:
                taken.setdefault(m["obs"].casefold(), f"the dataset already holds its edits ({p}: {name})")
    clash = [f"{o} ({taken[o.casefold()]})" for o in observers if o.casefold() in taken]
    if clash:
        raise StudyError(
            "observer ID(s) " + "; ".join(clash) + ": the study's files would carry the same names as the "
            "dataset's own. Choose other IDs (the default is obs1..obs4), or add --allow-published-ids "
            "to use them anyway (the study never writes into the dataset)"
        )
