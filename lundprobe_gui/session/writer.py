"""Where a session's files are written: in the caller's thread, or in order on one background thread.

Scripts and the command line write synchronously: a method returns once its change is on disk.
The window hands every write (state, event log, audit line, saved masks) to one background
thread instead, so no save stalls the screen; the jobs run in the order they were given, so a
state written after a mask save always sees that save. A job that fails is reported through
``on_error``; the session keeps its state in memory and writes it again with the next change.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

Post = Callable[[Callable[[], None]], None]
"""Runs a callable later in the owner's thread (the GUI thread); by default it runs at once."""


def _direct(fn: Callable[[], None]) -> None:
    fn()


@dataclass
class _Job:
    fn: Callable[[], Any]
    key: Hashable | None = None
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    started: bool = False


class Writer:
    """Runs write jobs in order.

    Parameters
    ----------
    background : bool
        Run jobs on a worker thread (True) or in the caller's thread as they are submitted.
    post : callable, optional
        How ``on_done``/``on_error`` reach the owner thread (background mode only).
    name : str
        The worker thread's name.
    """

    def __init__(self, background: bool = False, post: Post | None = None, name: str = "session-writer") -> None:
        self.background = bool(background)
        self.post = post or _direct
        self.name = name
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._last: _Job | None = None
        self._keys_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self.last_error: BaseException | None = None

    def submit(
        self,
        fn: Callable[[], Any],
        *,
        key: Hashable | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> _Job | None:
        """Run ``fn`` (now, or queued after the jobs before it).

        ``key``: when the last job queued has the same key and has not started, it already does the
        work (a state save writes the newest state whenever it runs), so this one is dropped; a
        job of the same key queued before other jobs is not enough, since it would run before them.
        In synchronous mode an exception of ``fn`` propagates to the caller.
        """
        if self._closed:
            raise RuntimeError("the session's writer is closed")
        job = _Job(fn, key, on_done, on_error)
        if not self.background:
            job.result = fn()
            job.done.set()
            if on_done is not None:
                on_done(job.result)
            return job
        with self._keys_lock:
            last = self._last
            if key is not None and last is not None and last.key == key and not last.started:
                return None
            self._last = job
            self._pending += 1
            self._idle.clear()
        self._ensure_thread()
        self._queue.put(job)
        return job

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._keys_lock:
                job.started = True
            try:
                job.result = job.fn()
            except BaseException as e:  # noqa: BLE001 - reported to the owner, the worker goes on
                job.error = e
                self.last_error = e
                logger.error("a session write failed: %s", e)
                if job.on_error is not None:
                    self.post(lambda j=job: j.on_error(j.error))  # type: ignore[misc]  # the default binds the job
            else:
                self.last_error = None
                if job.on_done is not None:
                    self.post(lambda j=job: j.on_done(j.result))  # type: ignore[misc]  # the default binds the job
            finally:
                job.done.set()
                with self._keys_lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()

    @property
    def busy(self) -> bool:
        """Whether jobs are queued or running."""
        return not self._idle.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every job submitted so far has run; False on timeout."""
        return self._idle.wait(timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        """Run what is queued, then stop the worker (idempotent)."""
        if self._closed:
            return
        self.wait(timeout)
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
