"""``study add-observer``: observers who join a running study, without anyone editing ``study.json`` by hand.

The names are checked as ``study init`` checks them (:func:`~lundprobe_gui.study.create.check_observer_ids`),
and a name the study already has, also in another case, is refused. A new observer's case orders
follow from the seed and its ID alone (:mod:`.randomise`); its order of the arms is the next row of
the design (:mod:`.design`): nothing recorded for the observers already in the study changes. In a
study whose observers have PINs, a new observer needs one too, stored hashed as ``study init`` stores it.

The new ``study.json`` is written atomically under ``<study>/study.lock``, so two administrators
never lose each other's change (the second waits up to :data:`LOCK_WAIT_S` for the first). One
``observers_added`` line in the audit log then seals it, with the old and the new sha256, who,
when, the names and the reason; when that line cannot be written, the old ``study.json`` is put
back. Sessions that are open keep working: their own observer's rules do not change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..io.writer import atomic_write
from .admin import AdminAuth, reason_text
from .audit import append_audit
from .clock import Now, event_time
from .create import check_observer_ids, loader_notes, refuse_published_ids
from .definition import StudyDefinition, load_study
from .design import arm_orders
from .errors import CorruptStudyFile, SessionLocked, StudyError
from .files import definition_lock_file, events_file, lock_file, read_json_bytes, session_file, study_file
from .locking import SessionLock
from .seal import check_definition, seal_if_unsealed
from .secret import AdminSecret

logger = logging.getLogger(__name__)

EVENT = "observers_added"
LOCK_WAIT_S = 5.0
"""How long a command waits for another administrator's change of ``study.json`` to finish (one takes milliseconds)."""


@dataclass(frozen=True)
class ObserversAdded:
    """What :func:`add_observers` did: the new definition, the IDs added, the old and the new seal."""

    study: StudyDefinition
    added: tuple[str, ...]
    definition_sha256: str
    previous_sha256: str
    notes: list[str] = field(default_factory=list)


def add_observers(
    study_dir: str | Path,
    names: Sequence[str],
    admin: AdminAuth,
    *,
    reason: str = "",
    pins: Mapping[str, str] | None = None,
    allow_published_ids: bool = False,
    now: Now = None,
) -> ObserversAdded:
    """Add observers to a sealed study (admin only; re-sealed and logged).

    Parameters
    ----------
    study_dir : path
        The study folder.
    names : sequence of str
        The new observer IDs, in the order they join (it decides their rows of a crossover).
    admin : AdminAuth
        The administrator's authorisation (:func:`~lundprobe_gui.study.admin.authorise_admin`).
    reason : str
        Why, recorded in the audit log.
    pins : mapping, optional
        Observer ID to PIN for the new observers (stored hashed). Required for each of them when
        the study gives its observers PINs; an empty PIN counts as none.
    allow_published_ids : bool
        Accept IDs of the published study or IDs whose edits the dataset holds (as ``study init``).
    now : datetime or float, optional
        Time recorded for the event (within 5 minutes of the clock).

    Returns
    -------
    ObserversAdded

    Raises
    ------
    StudyError
        One line naming what is wrong: a bad, repeated or taken ID, a missing PIN, a folder that is
        not a study, a definition changed after it was sealed (:class:`DefinitionChanged`), another
        administrator command holding ``study.lock`` (:class:`SessionLocked`), a folder that cannot
        be written. ``study.json`` is then as it was.
    """
    if not isinstance(admin, AdminAuth):
        raise StudyError("adding an observer needs the administrator")
    reason = reason_text(reason)
    ids = check_observer_ids(names)
    if not ids:
        raise StudyError("name at least one observer to add")
    t = event_time(now)
    study_dir = Path(study_dir)
    load_study(study_dir)  # a folder that is not a study gets no lock file
    lock = SessionLock(
        definition_lock_file(study_dir),
        "admin",
        busy_text="another administrator command is changing study.json",
        close_hint="Wait for it to finish, then run this again.",
        remote_hint=f" If that computer no longer runs it, delete {definition_lock_file(study_dir)}.",
    )
    _acquire(lock, t, study_dir)
    try:
        return _add(study_dir, ids, admin, reason, dict(pins or {}), allow_published_ids, t)
    finally:
        lock.release()


def _add(
    study_dir: Path,
    ids: list[str],
    admin: AdminAuth,
    reason: str,
    pins: dict[str, str],
    allow_published_ids: bool,
    t: float,
) -> ObserversAdded:
    seal_if_unsealed(study_dir, admin)
    path = study_file(study_dir)
    raw, data = read_json_bytes(path, "study definition")
    study = StudyDefinition.from_dict(data, str(path))
    previous = hashlib.sha256(raw).hexdigest()
    seal = check_definition(study_dir)
    if seal.actual != previous:  # changed between the two reads, by something that ignores the lock
        raise CorruptStudyFile(f"{path} changed while it was read; nothing was changed, run this again")
    check_observer_ids(ids, taken=study.observers)
    for o in ids:
        for leftover in (session_file(study_dir, o), events_file(study_dir, o), lock_file(study_dir, o)):
            if leftover.exists() or leftover.is_symlink():
                raise StudyError(
                    f"{leftover} already exists, though {o!r} is not an observer of this study; a new observer "
                    "would take it over: move it out of the study folder first; nothing was changed"
                )
    secrets = _hashed_pins(study, ids, pins)
    if not allow_published_ids:
        refuse_published_ids(study.dataset_path(study_dir), list(study.patients), ids)
    everyone = (*study.observers, *ids)
    drawn = arm_orders(study.design, [a.arm for a in study.arms], everyone, study.seed)
    try:
        new = replace(
            study,
            observers=everyone,
            arm_orders={**study.arm_orders, **{o: drawn[o] for o in ids}},
            observer_pins={**study.observer_pins, **secrets},
        )
    except ValueError as e:
        raise StudyError(str(e)) from e
    written = json.dumps(new.to_dict(), indent=2).encode("utf-8")
    _write(path, written, "nothing was changed")
    sha = hashlib.sha256(written).hexdigest()
    try:
        append_audit(
            study_dir,
            EVENT,
            now=t,
            observers=ids,
            arm_orders={o: list(new.arm_orders[o]) for o in ids},
            observer_pins=sorted(secrets),
            definition_sha256=sha,
            previous_sha256=previous,
            by=admin.by,
            method=admin.method,
            reason=reason,
        )
    except OSError as e:
        _write(path, raw, "the old study definition could not be put back either; re-seal it once it is right")
        raise StudyError(
            f"cannot record the change in the audit log ({e}); study.json was put back as it was, nothing was changed"
        ) from e
    logger.info("added %s to %s", ", ".join(ids), study_dir)
    return ObserversAdded(new, tuple(ids), sha, previous, loader_notes(ids))


def _acquire(lock: SessionLock, t: float, study_dir: Path) -> None:
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            lock.acquire(t)
            return
        except SessionLocked:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
        except OSError as e:
            raise StudyError(f"{study_dir}: cannot take the study's lock ({e}); nothing was changed") from e


def _hashed_pins(study: StudyDefinition, ids: list[str], pins: dict[str, str]) -> dict[str, AdminSecret]:
    unknown = sorted(set(pins) - set(ids))
    if unknown:
        raise StudyError(f"PINs were given for observers that are not being added: {', '.join(unknown)}")
    given = {o: p for o, p in pins.items() if p}
    missing = [o for o in ids if o not in given]
    if study.observer_pins and missing:
        raise StudyError(
            f"the study's observers open their sessions with a PIN: give {', '.join(missing)} one "
            "(--observer-pins FILE, or - to type it); nothing was changed"
        )
    out = {}
    for o in ids:
        if o in given:
            try:
                out[o] = AdminSecret.create(given[o])
            except ValueError as e:
                raise StudyError(f"the PIN of {o}: {str(e).replace('admin PIN', 'PIN')}") from e
    return out


def _write(path: Path, data: bytes, what: str) -> None:
    try:
        atomic_write(path, data, overwrite=True)
    except OSError as e:
        raise StudyError(f"{e}; {what}") from e
