"""``lundprobe-gui study ...``: create a reader study, follow it, export it, and the admin overrides."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..study.presets import (
    DEFAULT_IDLE_TAIL_S,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_OBSERVERS,
    DEFAULT_START_SOURCE,
    DEFAULT_STRUCTURES,
    DEFAULT_WASHOUT_DAYS,
    PRESETS,
)

if TYPE_CHECKING:
    from ..study import StudyDefinition

logger = logging.getLogger(__name__)

PIN_ENV = "LUNDPROBE_STUDY_ADMIN_PIN"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``study`` subcommand and its own subcommands."""
    p = sub.add_parser(
        "study",
        help="run a blinded two-step reader study",
        description="Create and administer a reader study that replicates the LUND-PROBE step 1 / "
        "step 2 uncertainty study. Observers work in the app; see docs/study.md.",
    )
    ss = p.add_subparsers(dest="study_command", metavar="ACTION", required=True)

    q = ss.add_parser(
        "init",
        help="create a study folder with its study.json",
        description="Create STUDY_DIR/study.json. Defaults replicate the published study: "
        "CTVT_427 and Rectum, starting from the nnU-Net mask, step 1 without and step 2 "
        "with the uncertainty map, 28 days washout.",
    )
    q.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    q.add_argument("--dataset", type=Path, required=True, metavar="ROOT", help="the LUND-PROBE dataset root")
    q.add_argument(
        "--patients", nargs="+", metavar="ID", help="patient folders (default: every patient with the start masks)"
    )
    q.add_argument("--structures", nargs="+", default=list(DEFAULT_STRUCTURES), metavar="S")
    q.add_argument(
        "--observers",
        nargs="+",
        default=list(DEFAULT_OBSERVERS),
        metavar="OBS",
        help="observer IDs: letters, digits, '_' and '-' (default: %(default)s)",
    )
    q.add_argument(
        "--allow-published-ids",
        action="store_true",
        help="accept the published observer IDs obsB..obsE, or IDs whose edits the dataset already holds "
        "(refused by default: the study's files would carry the same names as the dataset's own)",
    )
    q.add_argument("--seed", type=int, help="randomisation seed (default: drawn at random and recorded)")
    q.add_argument("--washout-days", type=float, default=DEFAULT_WASHOUT_DAYS, metavar="DAYS")
    q.add_argument(
        "--preset",
        choices=PRESETS,
        default="reader-study",
        help="rating questions: reader-study (4-point quality, 5-point confidence) or "
        "ai-acceptability (5-point acceptability scale for quality)",
    )
    q.add_argument(
        "--start-source",
        default=DEFAULT_START_SOURCE,
        metavar="SOURCE",
        help="the mask each edit starts from (default: %(default)s)",
    )
    q.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_S,
        metavar="SECONDS",
        help="gaps between two events up to this long count in full as active time (default: %(default)s)",
    )
    q.add_argument(
        "--idle-tail",
        type=float,
        default=DEFAULT_IDLE_TAIL_S,
        metavar="SECONDS",
        help="what a longer (idle) gap counts (default: %(default)s)",
    )
    q.add_argument("--name", default="", help="a title for the study")
    q.add_argument(
        "--admin-pin",
        metavar="PIN",
        help="admin PIN or passphrase, stored hashed ('-' to type it); without one, admin actions "
        "are command-line only",
    )
    q.add_argument(
        "--show-dose",
        action="store_true",
        help="show the dose in both steps (hidden by default); the uncertainty map then uses a magenta "
        "scale instead of the published rainbow",
    )
    q.add_argument(
        "--questions",
        type=Path,
        metavar="FILE",
        help='the rating questions, scales and anchors as JSON (a list, or {"questions": [...]}; see docs/study.md)',
    )
    q.add_argument(
        "--allow-missing-uncertainty",
        action="store_true",
        help="take in patients without an uncertainty map for a structure (recorded) instead of leaving them out",
    )
    q.add_argument(
        "--observer-pins",
        metavar="FILE",
        help="a PIN per observer, asked when a session opens: a JSON object {observer: PIN}, or '-' to type them",
    )
    q.add_argument("--show-clock", action="store_true", help="show observers their running active time")
    q.add_argument(
        "--design",
        choices=("sequential", "crossover"),
        default="sequential",
        help="sequential: every observer sees the arms in the order of --arms (as published); crossover: the "
        "order is counterbalanced across observers (Williams design drawn from the seed). Default: %(default)s",
    )
    q.add_argument(
        "--arm",
        action="append",
        default=[],
        metavar="NAME:RULES",
        dest="arm_specs",
        help="define an arm (repeatable). RULES: comma-separated key=value, several values joined by '+': "
        "show=/hide= uncertainty, folds, dose, clinical, dl, other_observers, other_steps; scale=fixed|per_map; "
        "colours=rainbow|magenta; tools=T1+T2. It starts from 'without'. E.g. folds:show=folds,hide=uncertainty",
    )
    q.add_argument(
        "--arms",
        nargs="+",
        metavar="NAME",
        help="the arms the study uses, in order, one step each (default: without with_uncertainty, then the "
        "--arm ones); built in: without (the published step 1), with_uncertainty (step 2)",
    )
    q.add_argument(
        "--step-questions",
        type=Path,
        metavar="FILE",
        help="an end-of-step questionnaire, asked when an observer finishes a step (the JSON format of "
        "--questions; none by default)",
    )
    q.set_defaults(func=run_init)

    q = ss.add_parser(
        "status",
        help="per observer and step: cases finished, in progress, pending; locks; the study's checks",
        description="Exits with code 2 when study.json is not the sealed definition, or when a session "
        "file is damaged or was changed outside the app (each is named).",
    )
    q.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=run_status)

    q = ss.add_parser(
        "active-time",
        help="recompute active time from the event logs, with any idle threshold",
        description="Writes one CSV row per observer, step, patient and structure. With the study's own "
        "threshold and tail the times equal results.csv.",
    )
    q.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    q.add_argument("--idle", type=float, metavar="SECONDS", help="gaps up to this long count (default: the study's)")
    q.add_argument("--tail", type=float, metavar="SECONDS", help="what a longer gap counts (default: the study's)")
    q.add_argument("--out", type=Path, metavar="CSV", help="write the CSV here instead of printing it")
    q.set_defaults(func=run_active_time)

    q = ss.add_parser(
        "reseal",
        help="accept a changed study.json, or an observer's session file changed outside the app (admin; logged)",
        description="Without --observer: re-seal study.json as it is now. With --observer: accept that "
        "observer's session file as it is now (it must still pass its checks). Both are audit-logged.",
    )
    q.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    q.add_argument("--observer", help="accept this observer's session file instead")
    _admin_args(q)
    q.set_defaults(func=run_reseal)

    q = ss.add_parser(
        "export",
        help="write results.csv and the edits laid out as observerData",
        description="Write STUDY_DIR/results.csv and copy every finished edit to "
        "OUT/<patient>/MR_StorT2/observerData/mask_<S>_step<k>_<obs>.nii.gz.",
    )
    q.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    q.add_argument("--out", type=Path, help="export folder (default: STUDY_DIR/export)")
    q.set_defaults(func=run_export)

    register_report(ss)

    q = ss.add_parser("unlock", help="reopen a finished case (admin; logged)")
    q.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    q.add_argument("--observer", required=True)
    q.add_argument("--case", required=True, metavar="PSEUDONYM", help="e.g. 'Case 07' or 7")
    q.add_argument("--step", type=int, help="needed when the pseudonym is finished in several steps")
    q.add_argument(
        "--force",
        action="store_true",
        help="reopen a case of an earlier step although the observer has started a later one (flagged in results)",
    )
    _admin_args(q)
    q.set_defaults(func=run_unlock)

    q = ss.add_parser(
        "break-lock",
        help="remove an observer's session lock left by a computer that is gone (admin; logged)",
        description="A lock held by a process on another computer cannot be checked from here; when that "
        "computer crashed or was switched off, the administrator removes the lock with this command. A "
        "lock of a session running on this computer is refused.",
    )
    q.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    q.add_argument("--observer", required=True)
    _admin_args(q)
    q.set_defaults(func=run_break_lock)

    q = ss.add_parser(
        "add-observer",
        help="add observers to a running study (admin; re-sealed and logged)",
        description="Add observers who join after the study started. The names are checked as init checks "
        "them; each new observer gets its case orders and (in a crossover) the next row of the design from "
        "the study's seed, and the orders of the observers already in the study do not change. study.json is "
        "rewritten atomically, re-sealed and logged (observers_added); open sessions are not disturbed.",
    )
    q.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    q.add_argument("names", nargs="+", metavar="NAME", help="the new observer IDs: letters, digits, '_' and '-'")
    q.add_argument(
        "--observer-pins",
        metavar="FILE",
        help="the new observers' PINs: a JSON object {observer: PIN}, or '-' to type them (needed when the "
        "study's observers have PINs; asked for at a terminal when omitted)",
    )
    q.add_argument(
        "--allow-published-ids",
        action="store_true",
        help="accept the published observer IDs obsB..obsE, or IDs whose edits the dataset already holds",
    )
    _admin_args(q)
    q.set_defaults(func=run_add_observer)

    q = ss.add_parser("override-washout", help="open the next step before the washout is over (admin; logged)")
    q.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    q.add_argument("--observer", required=True)
    q.add_argument("--step", type=int, help="the step to open (default: the next one waiting)")
    _admin_args(q)
    q.set_defaults(func=run_override_washout)


def register_report(ss: argparse._SubParsersAction) -> None:
    """``study report`` and ``study merge``."""
    from .study_report_cmd import register_merge
    from .study_report_cmd import register_report as reg

    reg(ss)
    register_merge(ss)


def _admin_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--admin", action="store_true", help="confirm that the study administrator runs this")
    q.add_argument("--pin", help=f"the admin PIN, if the study has one (or set {PIN_ENV}; asked for when omitted)")
    q.add_argument("--reason", default="", help="why (recorded in the audit log)")


def _cli_error(e: Exception) -> Exception:
    from . import CliError

    return CliError(str(e))


def run_init(args: argparse.Namespace) -> int:
    """Create the study folder and print a summary."""
    from ..study import InitOptions, StudyError, init_study, load_questions_file

    pin = args.admin_pin
    if pin == "-":
        pin = _typed_pin("Admin PIN: ", "the two PINs differ")
    try:
        questions = load_questions_file(args.questions) if args.questions else None
        step_questions = load_questions_file(args.step_questions) if args.step_questions else None
    except ValueError as e:
        raise _cli_error(e) from e
    observer_pins = _observer_pins(args.observer_pins, args.observers)
    opts = InitOptions(
        dataset_root=args.dataset,
        patients=args.patients,
        structures=args.structures,
        observers=args.observers,
        seed=args.seed,
        washout_days=args.washout_days,
        preset=args.preset,
        start_source=args.start_source,
        idle_timeout_s=args.idle_timeout,
        idle_tail_s=args.idle_tail,
        name=args.name,
        admin_pin=pin,
        show_dose=args.show_dose,
        questions=questions,
        allow_missing_uncertainty=args.allow_missing_uncertainty,
        observer_pins=observer_pins,
        show_clock=args.show_clock,
        allow_published_ids=args.allow_published_ids,
        design=args.design,
        arms=args.arms,
        arm_specs=args.arm_specs,
        step_questions=step_questions,
    )
    try:
        study = init_study(args.study_dir, opts)
    except (StudyError, ValueError) as e:
        raise _cli_error(e) from e
    print(
        f"created study {args.study_dir}: {len(study.patients)} patients, structures "
        f"{', '.join(study.structures)}, observers {', '.join(study.observers)}, seed {study.seed}, "
        f"washout {study.washout_days:g} days"
        + (", admin PIN set" if study.admin else "")
        + (f", PINs for {len(study.observer_pins)} observer(s)" if study.observer_pins else "")
        + ("; the dose is shown" if any(s.dose_shown for s in study.steps) else "; the dose is hidden")
        + f"; {study.design} design of the arms {', '.join(s.arm for s in study.arms)}"
        + (f"; {len(study.step_questions)} end-of-step question(s)" if study.step_questions else "")
    )
    _orders_and_notes(study, study.observers, opts.notes)
    return 0


def _orders_and_notes(study: StudyDefinition, observers: Sequence[str], notes: Sequence[str]) -> None:
    """Print the observers' orders of the arms (a crossover) and warn the notes."""
    from . import warn

    if study.design == "crossover":
        for o in observers:
            print(f"  {o}: " + " -> ".join(study.arm_orders[o]))
    for note in notes:
        warn(f"note: {note}")


def _typed_pin(prompt: str, differ: str) -> str:
    """A PIN typed twice without echo ("" when nothing was typed)."""
    pin = getpass.getpass(prompt)
    if pin and getpass.getpass("Again: ") != pin:
        raise _cli_error(ValueError(f"{differ}; nothing was written"))
    return pin


def _observer_pins(spec: str | None, observers: list[str]) -> dict[str, str] | None:
    """The ``--observer-pins`` value: a JSON file {observer: PIN}, or '-' to type one per observer."""
    if not spec:
        return None
    if spec == "-":
        pins = {o: _typed_pin(f"PIN for {o} (empty: none): ", f"the two PINs of {o} differ") for o in observers}
        return {o: p for o, p in pins.items() if p}
    from ..io.small_files import read_json_file

    try:
        d = read_json_file(Path(spec), what="observer PIN file")
    except (OSError, ValueError) as e:
        raise _cli_error(ValueError(f"{spec}: cannot read the observer PINs ({e})")) from e
    if not isinstance(d, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in d.items()):
        raise _cli_error(ValueError(f"{spec}: expected a JSON object {{observer: PIN}}"))
    return d


def run_status(args: argparse.Namespace) -> int:
    """Print the status table (or JSON)."""
    from ..study import StudyError, format_status, study_report

    try:
        study, rows, check = study_report(args.study_dir)
    except StudyError as e:
        raise _cli_error(e) from e
    if args.json:
        print(
            json.dumps(
                {
                    "study_dir": str(args.study_dir),
                    "name": study.name,
                    "patients": len(study.patients),
                    "structures": list(study.structures),
                    "observers": list(study.observers),
                    "steps": [r.to_dict() for r in rows],
                    "checks": check.to_dict(),
                    "problems": check.problems,
                },
                indent=2,
            )
        )
    else:
        print(format_status(args.study_dir, study, rows, check))
    for w in check.clock:
        print(f"warning: {w}", file=sys.stderr)
    if check.problems:
        raise _cli_error(StudyError("the study's files fail their checks: " + "; ".join(check.problems)))
    return 0


def run_active_time(args: argparse.Namespace) -> int:
    """Recompute active time from the event logs and print (or write) the CSV."""
    from ..io.csv_files import csv_text, write_csv
    from ..study import StudyError, recompute_active_time
    from ..study.timing import COLUMNS

    try:
        rows = [r.to_dict() for r in recompute_active_time(args.study_dir, args.idle, args.tail)]
    except (StudyError, ValueError) as e:
        raise _cli_error(e) from e
    if args.out:
        write_csv(args.out, rows, COLUMNS)
        print(f"wrote {args.out} ({len(rows)} rows)")
    else:
        sys.stdout.write(csv_text(rows, COLUMNS))
    return 0


def run_reseal(args: argparse.Namespace) -> int:
    """Re-seal study.json, or accept an observer's session file (admin)."""
    from ..study import StudyError, accept_session_file, reseal

    study, auth = _admin_auth(args, check_seal=False)
    try:
        if args.observer:
            if args.observer not in study.observers:
                raise StudyError(f"{args.observer!r} is not an observer of this study")
            sha = accept_session_file(args.study_dir, args.observer, auth, reason=args.reason)
            print(f"accepted the session file of {args.observer} as it is (sha256 {sha[:16]}...); recorded")
        else:
            st = reseal(args.study_dir, auth, reason=args.reason)
            print(f"re-sealed study.json (sha256 {st.actual[:16]}...); recorded in the audit log")
    except StudyError as e:
        raise _cli_error(e) from e
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write results.csv and the export folder; exit 2 if a recorded output is damaged."""
    from ..study import StudyError, export_study

    try:
        rep = export_study(args.study_dir, args.out)
    except (StudyError, OSError) as e:  # WriteRefused: --out in the dataset
        raise _cli_error(e) from e
    print(f"wrote {rep.results_csv} ({rep.rows} rows) and {len(rep.copied)} mask(s) to {rep.export_dir}")
    for w in rep.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if rep.removed:
        from . import warn

        warn(f"removed {len(rep.removed)} exported mask(s) of cases that are no longer finished")
    if rep.problems:
        raise _cli_error(StudyError("some outputs were not exported: " + "; ".join(rep.problems)))
    return 0


def _admin_auth(args: argparse.Namespace, check_seal: bool = True):
    """The study and the admin's authorisation; an old study is sealed by its first admin command.

    ``check_seal``: refuse a changed ``study.json`` (every admin command but ``reseal``).
    """
    from ..study import StudyError, authorise_admin, check_definition, load_study
    from ..study.seal import seal_if_unsealed

    if not args.admin:
        raise _cli_error(StudyError("this is an admin action: add --admin to confirm"))
    try:
        study = load_study(args.study_dir)
        if check_seal:
            check_definition(args.study_dir)
        pin = args.pin or os.environ.get(PIN_ENV)
        if study.admin is not None and not pin and sys.stdin.isatty():
            pin = getpass.getpass("Admin PIN: ")
        auth = authorise_admin(study, args.study_dir, pin=pin, cli_flag=True)
        if seal_if_unsealed(args.study_dir, auth):
            print("note: study.json was not sealed (the study predates sealing); it is sealed now", file=sys.stderr)
        return study, auth
    except StudyError as e:
        raise _cli_error(e) from e


def _admin_session(args: argparse.Namespace):
    from ..study import ObserverSession, StudyError

    _, auth = _admin_auth(args)
    try:
        session = ObserverSession(args.study_dir, args.observer, purpose="admin")
    except StudyError as e:
        raise _cli_error(e) from e
    return session, auth


def run_break_lock(args: argparse.Namespace) -> int:
    """Remove a session lock whose computer is gone."""
    from ..study import StudyError, break_session_lock

    study, auth = _admin_auth(args)
    if args.observer not in study.observers:
        raise _cli_error(StudyError(f"{args.observer!r} is not an observer of this study"))
    try:
        info = break_session_lock(args.study_dir, args.observer, auth, reason=args.reason)
    except StudyError as e:
        raise _cli_error(e) from e
    held = info.describe() if info is not None else "an unreadable lock file"
    print(f"broke the session lock of {args.observer} ({held}); recorded in the audit log")
    return 0


def run_unlock(args: argparse.Namespace) -> int:
    """Reopen a finished case."""
    from ..study import StudyError

    session, auth = _admin_session(args)
    try:
        with session:
            session.unlock_case(args.case, auth, step=args.step, reason=args.reason, force=args.force)
            print(
                f"unlocked {args.case} of {args.observer}; it is the observer's current case again "
                f"({session.progress().text})"
            )
    except StudyError as e:
        raise _cli_error(e) from e
    return 0


def run_override_washout(args: argparse.Namespace) -> int:
    """Open a step before its washout is over."""
    from ..study import StudyError

    session, auth = _admin_session(args)
    try:
        with session:
            step = session.override_washout(auth, step=args.step, reason=args.reason)
            print(f"step {step} of {args.observer} is open without waiting for the washout ({session.progress().text})")
    except StudyError as e:
        raise _cli_error(e) from e
    return 0


def run_add_observer(args: argparse.Namespace) -> int:
    """Add observers to a sealed study."""
    from ..study import StudyError, add_observers
    from ..study.create import check_observer_ids

    try:
        check_observer_ids(args.names)  # before the admin's PIN is asked or anything is logged
    except StudyError as e:
        raise _cli_error(e) from e
    study, auth = _admin_auth(args)
    pins = _observer_pins(args.observer_pins, args.names)
    if pins is None and study.observer_pins and sys.stdin.isatty():
        pins = _observer_pins("-", args.names)
    try:
        done = add_observers(
            args.study_dir,
            args.names,
            auth,
            reason=args.reason,
            pins=pins,
            allow_published_ids=args.allow_published_ids,
        )
    except StudyError as e:
        raise _cli_error(e) from e
    new = done.study
    print(
        f"added {', '.join(done.added)} to {args.study_dir}: {len(new.observers)} observers; study.json re-sealed "
        f"(sha256 {done.definition_sha256[:16]}...) and recorded in the audit log"
        + "".join(f"; a PIN for {o}" for o in done.added if o in new.observer_pins)
    )
    _orders_and_notes(new, done.added, done.notes)
    return 0
