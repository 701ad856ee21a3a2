"""What a study observer's session and an AI review's session share.

:class:`WorkSession` owns the parts that are the same for both:

* the lock that keeps a second session of the same person out;
* the state file, written whole and atomically after every change, with a hash-chain link for
  each save (when the session keeps a chain) and the interaction log that goes with it;
* active time: every event is logged, and the gap since the previous event is credited by the
  one rule of :mod:`lundprobe_gui.session.activetime` to whatever was active then;
* the writer: synchronous for scripts (a method returns once its change is on disk, and a change
  whose save fails is taken back, state, clock and log alike) or a background thread for the window
  (nothing waits for the disk; a failed save is reported and retried with the next change).

A subclass holds its own state object and says how to serialise it (:meth:`_state_dict`), how
to read a saved one back (:meth:`_restore_state`), what is active now (:meth:`_time_target`),
which fields name it in the log (:meth:`_target_fields`) and where credited seconds go
(:meth:`_credit`). Its mutating methods run inside :meth:`_event`, which logs the event, moves
the clock and commits the state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, Self

from ..core.events import Emitter
from ..io.guard import Protected, protect, unprotect
from ..io.output_root import claim_output_root
from ..io.writer import atomic_write
from .activetime import OPEN_KIND, PAUSE_KINDS, ActiveClock, Gap, IdleRule
from .clock import Now, event_time, to_epoch
from .errors import SessionError
from .events import EventLog, LogMark
from .locking import SessionLock
from .writer import Post, Writer

logger = logging.getLogger(__name__)

PERSIST_EVERY_S = 5.0
"""Longest time between two writes while only the clock moves (input events without a change)."""


def protect_while_open(owner: object, folder: Path, kind: str, protected: Protected) -> Callable[[], None]:
    """Protect a session's inputs for as long as ``owner`` lives, and claim its output folder.

    Returns the call that lifts the protection (also run when ``owner`` is collected).

    Raises
    ------
    WriteRefused
        When ``folder`` is, or lies in, a protected input (the protection is lifted again).
    """
    lift = weakref.finalize(owner, unprotect, protect(protected))
    try:
        claim_output_root(folder, kind, protected)
    except BaseException:
        lift()
        raise
    return lift


class ChainLog(Protocol):
    """Where a session appends the link of each save (a study's audit log)."""

    def append_link(self, revision: int, sha256: str, prev: str | None) -> None:
        """Append one link before the state is written."""


class WorkSession:
    """The shared machinery of a person's session (see the module docstring).

    Parameters
    ----------
    lock : SessionLock
        The session's lock (acquired by :meth:`_open`).
    state_path : path
        The state file.
    events_path : path
        The interaction log.
    rule : IdleRule
        The active-time rule.
    chain : ChainLog, optional
        Where each save is linked (None: no chain).
    background : bool
        Write on a background thread (the window) instead of before each method returns.
    post : callable, optional
        ``post(fn)`` runs ``fn`` in the owner's thread (background errors and results go through it).
    """

    def __init__(
        self,
        *,
        lock: SessionLock,
        state_path: Path,
        events_path: Path,
        rule: IdleRule,
        chain: ChainLog | None = None,
        background: bool = False,
        post: Post | None = None,
    ) -> None:
        self.changed = Emitter()
        self.write_failed = Emitter()
        """Called as ``callback(message)`` when a background write fails, and ``callback(None)`` once one works
        again."""
        self._lock_file = lock
        self._state_path = Path(state_path)
        self._events = EventLog(events_path)
        self._clock = ActiveClock(rule)
        self._chain = chain
        self._writer = Writer(background, post, name="session-writer")
        self._state_mutex = threading.RLock()
        self._saved_bytes = b""
        self._saved_sha: str | None = None
        self._saved_mark = LogMark()
        self._saved_gap: Gap | None = None
        self._revision = 0
        self._last_write = float("-inf")
        self._closed = False
        self._failing: str | None = None
        self._emits: list[tuple[tuple, dict]] = []
        self._retry: list[Callable[[], Any]] = []

    # -- hooks -------------------------------------------------------------------------------------
    def _state_dict(self) -> dict:
        """The state as JSON-ready data (called with :attr:`_mutex` held)."""
        raise NotImplementedError

    def _restore_state(self, data: bytes) -> None:
        """Replace the state in memory with a saved one (a change whose save failed is taken back)."""
        raise NotImplementedError

    def _time_target(self) -> Hashable | None:
        """What the time after an event goes to now (None: nothing)."""
        raise NotImplementedError

    def _target_fields(self, target: Hashable | None) -> dict[str, Any]:
        """The log fields naming a target."""
        raise NotImplementedError

    def _gap_flags(self) -> tuple[str, ...]:
        """Flags of the time after an event (``unc`` while the uncertainty map is shown)."""
        return ()

    def _credit(self, target: Hashable, seconds: float, flags: frozenset[str]) -> None:
        """Add ``seconds`` of active time to ``target``."""
        raise NotImplementedError

    # -- opening and closing ---------------------------------------------------------------------------
    @property
    def rule(self) -> IdleRule:
        """The active-time rule."""
        return self._clock.rule

    @property
    def mutex(self):
        """The lock around every change of the state (the background writer takes it to serialise)."""
        return self._state_mutex

    def _open(self, t: float, saved: bytes, revision: int, mark: LogMark | None) -> None:
        """Called by the subclass once its state is loaded (or created and saved): check the log, log ``open``."""
        self._events.open_at(mark)
        self._saved_bytes = saved
        self._saved_sha = hashlib.sha256(saved).hexdigest() if saved else None
        self._saved_mark = self._events.mark
        self._revision = revision
        with self._event(OPEN_KIND, t, commit=False):
            pass
        self._saved_gap = self._clock.open_gap

    def _new_state_saved(self) -> tuple[bytes, str]:
        """Write the first state of a new session (synchronously); returns (bytes, sha256)."""
        data, sha, _mark = self._serialise()
        self._link_and_write(data, sha, None)
        return data, sha

    def close(self, now: Now = None) -> None:
        """Log the end, write everything and release the lock (idempotent)."""
        if self._closed:
            return
        try:
            t = event_time(now)
            with self._event("close", t, commit=False):
                pass
            retry, self._retry = self._retry, []
            jobs = [self._writer.submit(fn) for fn in retry]
            jobs.append(self._writer.submit(self._write_now))
            self._writer.close()
            errors = [j.error for j in jobs if j is not None and j.error is not None]
            if errors:
                raise errors[0]
        finally:
            self._closed = True
            self._lock_file.release()
            logger.info("closed %s", self._state_path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def folder_lock(self) -> SessionLock:
        """The lock this session holds on its person's folder.

        Releasing it without :meth:`close` is what a killed process leaves behind (the crash tests do that).
        """
        return self._lock_file

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise SessionError("this session is closed")

    # -- events, time and commits ----------------------------------------------------------------------
    @contextmanager
    def _event(
        self, kind: str, t: float, *, commit: bool | None = True, pause: bool = False, **fields: Any
    ) -> Iterator[dict]:
        """Log one event at ``t``: credit the gap before it, run the change, open the next gap, commit.

        ``commit``: True writes the state now (or queues the write), None only when the last write is
        :data:`PERSIST_EVERY_S` old, False never. ``pause``: the clock stands still after this event
        (as after the kinds of :data:`PAUSE_KINDS`). A change that raises is still logged (as what
        happened, with ``refused``), so the log and the clock agree; in synchronous mode a failed
        write takes the change back.
        """
        if pause:
            fields["pause"] = True
        t = round(float(t), 3)  # as the log stores it: the stored times and a recomputation add the same gaps
        extra: dict[str, Any] = {}
        try:
            with self._state_mutex:
                target, seconds, flags = self._clock.close(t)
                if target is not None and seconds > 0:
                    self._credit(target, seconds, flags)
                try:
                    yield extra
                except BaseException as e:
                    self._log(kind, t, {**fields, **extra, "refused": type(e).__name__})
                    raise
                self._log(kind, t, {**fields, **extra})
            if commit or (commit is None and t - self._last_write >= PERSIST_EVERY_S):
                self._commit(t)
        finally:
            self._flush_emits()

    def _emit_later(self, *args: Any, **details: Any) -> None:
        """Emit ``changed(*args, **details)`` once the current change is committed (or taken back: never)."""
        self._emits.append((args, details))

    def _flush_emits(self) -> None:
        emits, self._emits = self._emits, []
        for args, details in emits:
            self.changed.emit(*args, **details)

    def _log(self, kind: str, t: float, fields: dict[str, Any]) -> None:
        target = self._time_target()
        flags = self._gap_flags() if target is not None else ()
        self._clock.open(t, target, kind in PAUSE_KINDS or bool(fields.get("pause")), flags)
        named = {**self._target_fields(target), **{f: True for f in flags}}
        # the target's fields say where the time goes: an event field of the same name is kept apart
        extra = {(f"{k}_" if k in named else k): v for k, v in fields.items()}
        self._events.add(kind, t, **named, **extra)

    def log_event(self, kind: str, now: Now = None, **fields: Any) -> None:
        """Log an interaction that changes nothing but the record (a tool chosen, a slice moved, a stroke).

        The fields must be JSON-serialisable; the event keeps the active-time clock running.
        """
        self._check_open()
        t = event_time(now)
        with self._event(kind, t, commit=None, **fields):
            pass

    def _commit(self, t: float) -> None:
        self._last_write = t
        if self._writer.background:
            retry, self._retry = self._retry, []
            for fn in retry:
                self.submit_write(fn)
            self._writer.submit(self._write_now, key="state", on_error=self._report_failure, on_done=self._report_ok)
            return
        try:
            self._write_now()
        except BaseException:
            self._take_back()
            raise

    def _take_back(self) -> None:
        """Go back to the last saved state: memory, clock and log (synchronous mode)."""
        with self._state_mutex:
            self._emits.clear()
            self._events.take()
            try:
                self._events.truncate_to(self._saved_mark)
            except OSError:
                logger.exception("the event log could not be cut back to the saved state")
            self._restore_state(self._saved_bytes)
            self._clock.restore(self._saved_gap)
        logger.warning("saving %s failed; the unsaved change was taken back", self._state_path)

    def _serialise(self) -> tuple[bytes, str, LogMark]:
        with self._state_mutex:
            d = self._state_dict()
            mark = self._events.mark
            d["revision"] = self._revision + 1
            d["events"] = mark.to_dict()
            data = json.dumps(d, indent=1, ensure_ascii=True).encode("ascii")
        return data, hashlib.sha256(data).hexdigest(), mark

    def _write_now(self) -> None:
        """Append the buffered events, link and write the whole state (in the writer's thread)."""
        with self._state_mutex:
            lines = self._events.take()
            try:
                self._events.write(lines)
            except BaseException:
                self._events.give_back(lines)
                raise
            data, sha, mark = self._serialise()
            gap = self._clock.open_gap
        self._link_and_write(data, sha, self._saved_sha)
        with self._state_mutex:
            self._revision += 1
            self._saved_bytes, self._saved_sha, self._saved_mark, self._saved_gap = data, sha, mark, gap

    def _link_and_write(self, data: bytes, sha: str, prev: str | None) -> None:
        if self._chain is not None:
            self._chain.append_link(self._revision + 1, sha, prev)
        atomic_write(self._state_path, data)

    def _report_failure(self, e: BaseException) -> None:
        msg = str(e) or type(e).__name__
        self._failing = msg
        self.write_failed.emit(msg)

    def _report_ok(self, _result: object = None) -> None:
        if self._failing is not None:
            self._failing = None
            self.write_failed.emit(None)

    def submit_write(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Any:
        """Run a write job (a mask save) in order with the state writes; returns its result in synchronous mode.

        In background mode a job that fails is reported (``write_failed``) and run again before the
        next state write, until it works or the session closes.
        """

        def failed(e: BaseException) -> None:
            self._retry.append(fn)
            self._report_failure(e)
            if on_error is not None:
                on_error(e)

        job = self._writer.submit(fn, on_done=on_done, on_error=failed)
        return job.result if job is not None and not self._writer.background else None

    def flush(self, now: Now = None, timeout: float | None = 60.0) -> None:
        """Write the state now and wait for every queued write (raises the last failure, if any)."""
        self._check_open()
        t = event_time(now)
        self._commit(t)
        if not self._writer.wait(timeout):
            raise SessionError("the session's files are still being written; try again")
        if self._writer.background and self._failing is not None:
            raise SessionError(f"the session could not be saved: {self._failing}")

    @property
    def background(self) -> bool:
        """Whether writes run on a background thread."""
        return self._writer.background

    @property
    def writing(self) -> bool:
        """Whether writes are queued or running."""
        return self._writer.busy

    def wait_written(self, timeout: float | None = None) -> bool:
        """Block until the queued writes have run (tests, benchmarks); False on timeout."""
        return self._writer.wait(timeout)

    @property
    def save_failure(self) -> str | None:
        """Why the last background write failed (None while they work)."""
        return self._failing

    # -- input, window and focus -----------------------------------------------------------------------
    def activity(self, now: Now = None) -> None:
        """Any input (mouse, key, wheel): an event that keeps the clock running."""
        self._check_open()
        t = event_time(now)
        with self._event("input", t, commit=None):
            self._on_input(t)

    def _on_input(self, t: float) -> None:
        """What an input does to the state besides the clock (a study starts a pending case)."""

    def window_minimised(self, now: Now = None) -> None:
        """The window was minimised or hidden: the clock stops at once."""
        self._check_open()
        with self._event("minimised", event_time(now)):
            pass

    def window_restored(self, now: Now = None) -> None:
        """The window is visible again: the clock runs as after an input."""
        self._check_open()
        with self._event("restored", event_time(now), commit=None):
            pass

    def focus_lost(self, now: Now = None) -> None:
        """The application lost the focus (another program is in front): the clock stops."""
        self._check_open()
        with self._event("focus_out", event_time(now)):
            pass

    def focus_gained(self, now: Now = None) -> None:
        """The application has the focus again."""
        self._check_open()
        with self._event("focus_in", event_time(now), commit=None):
            pass

    def running_seconds(self, now: Now = None) -> float:
        """What the time since the last event would add if an event came ``now`` (live display only)."""
        return self._clock.running(to_epoch(now))
