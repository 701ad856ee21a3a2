"""A batch run: the patients of a dataset through :func:`~lundprobe_gui.batch.patient.analyse_patient`.

:func:`run_batch` looks every patient up in the result cache, computes the rest on the chosen
scheduler and yields one :class:`~lundprobe_gui.batch.patient.PatientResult` per patient **in the
order of the patients**, whatever order the workers finish in, so every scheduler gives the same
output. Results are yielded as soon as the ones before them are in, so a caller can stream rows
to a file while the run goes on.

Schedulers:

``sync``
    One process, one patient after the other (debugging, scripts, the GUI).
``processes``
    A ``dask.distributed`` local cluster of one single-threaded worker process per core. A run
    with at most one patient to compute needs no cluster and runs in this process.
``tcp://HOST:PORT``
    An existing ``dask.distributed`` cluster whose workers see the dataset under the same path
    and have the same version of the app installed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..metrics.analyses import FAILED, Analysis
from .cache import Fingerprint, ResultCache, fingerprint
from .patient import Opener, PatientResult, analyse_patient

logger = logging.getLogger(__name__)

SCHEDULERS = ("processes", "sync")
"""Scheduler names besides a ``tcp://`` (or ``tls://``...) address."""

FINGERPRINT_THREADS = 8
"""Threads that stat (or hash, with ``rehash``) the input files; hashing releases the GIL."""


class InputError(ValueError):
    """A missing or unusable input, with a message meant for the user."""


def resolve_patients(path: str | Path) -> list[Path]:
    """The patient folders of PATH: PATH itself, or the patients of a dataset root.

    Parameters
    ----------
    path : str or Path
        A patient folder or a dataset root.

    Returns
    -------
    list of Path
        At least one folder, in name order.

    Raises
    ------
    InputError
        When PATH does not exist, is not a folder, or holds no patient.
    """
    from ..io.open import detect_layout, list_patients, unreadable_folders

    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if not p.is_dir():
        raise InputError(f"{p}: not a folder; expected a patient folder or a dataset root")
    if detect_layout(p) is not None:
        return [p]
    entries = list_patients(p)
    if not entries:
        raise InputError(
            f"{p}: neither a patient folder (with MR_StorT2/ and sCT/) nor a dataset root holding patient folders"
        )
    # Folders that cannot be read go along, so that the run names them instead of leaving them out silently.
    return sorted({e.path for e in entries} | set(unreadable_folders(p)))


def check_scheduler(scheduler: str) -> str:
    """The scheduler name or address, validated.

    Raises
    ------
    InputError
        For anything but ``processes``, ``sync`` or a ``protocol://host:port`` address.
    """
    if scheduler in SCHEDULERS or ("://" in scheduler and scheduler.split("://", 1)[1]):
        return scheduler
    raise InputError(f"--scheduler {scheduler!r}: expected processes, sync or a scheduler address tcp://HOST:PORT")


@dataclass
class BatchStatus:
    """Where a run stands, for a progress display.

    Attributes
    ----------
    total : int
        Patients in the run.
    cached : int
        Patients whose results came from the cache.
    done : int
        Patients finished without a failure (cached ones included).
    failed : int
        Patients that failed.
    last : PatientResult or None
        The result that just arrived (None for the first report).
    """

    total: int
    cached: int = 0
    done: int = 0
    failed: int = 0
    last: PatientResult | None = None

    @property
    def remaining(self) -> int:
        """Patients not finished yet."""
        return self.total - self.done - self.failed


Progress = Callable[[BatchStatus], None]


def run_batch(
    paths: Sequence[str | os.PathLike],
    analyses: Sequence[Analysis],
    scheduler: str = "processes",
    workers: int | None = None,
    cache: ResultCache | None = None,
    fresh: bool = False,
    rehash: bool = False,
    opener: Opener | None = None,
    progress: Progress | None = None,
) -> Iterator[PatientResult]:
    """Run ``analyses`` on every patient; yield the results in the order of ``paths``.

    Parameters
    ----------
    paths : sequence of path
        Patient folders (see :func:`resolve_patients`).
    analyses : sequence of Analysis
        What to compute for each patient (:mod:`lundprobe_gui.metrics.analyses`).
    scheduler : str
        ``processes`` (default), ``sync`` or a scheduler address (see the module docstring).
    workers : int, optional
        Worker processes of the local cluster (default: every core).
    cache : ResultCache, optional
        Where results are looked up and stored; None computes everything and stores nothing.
    fresh : bool
        Ignore what the cache holds (new results are still stored).
    rehash : bool
        Check the contents of the input files too, not only their size and modification time.
    opener : callable, optional
        ``opener(path) -> Patient`` (see :mod:`lundprobe_gui.batch.patient`).
    progress : callable, optional
        Called with a :class:`BatchStatus` once before any work and after each patient.

    Yields
    ------
    PatientResult
        One per path, in order.

    Raises
    ------
    lundprobe_gui.batch.cluster.ClusterError
        When a cluster is needed and cannot be had (before any patient is computed).
    """
    folders = [str(p) for p in paths]
    analyses = list(analyses)
    status = BatchStatus(len(folders))
    prints: list[Fingerprint | None] = [None] * len(folders)
    if cache is not None:
        with ThreadPoolExecutor(FINGERPRINT_THREADS) as pool:
            prints = list(pool.map(lambda p: fingerprint(p, rehash, opener), folders))

    ready: dict[int, PatientResult] = {}
    tasks = []
    for i, path in enumerate(folders):
        found = {}
        fp = prints[i]
        if cache is not None and fp is not None and not fresh:
            for a in analyses:
                hit = cache.get(fp, a)
                if hit is not None:
                    found[a.name] = hit
        if len(found) == len(analyses):
            pid = next(iter(found.values()))[0] if found else Path(path).name
            ready[i] = PatientResult(path, pid, {a.name: found[a.name][1] for a in analyses}, cached=True)
        else:
            tasks.append((i, path, [a for a in analyses if a.name not in found], opener))
            if found:  # the analyses already cached are merged into the computed result
                ready[i] = PatientResult(path, Path(path).name, {n: o for n, (_, o) in found.items()}, cached=True)
    pending = {t[0] for t in tasks}
    status.cached = status.done = sum(1 for i in ready if i not in pending)
    if progress is not None:
        progress(status)

    def arrived(index: int, result: PatientResult) -> None:
        partial = ready.get(index)
        fp = prints[index]
        if cache is not None and fp is not None:
            by_name = {a.name: a for a in analyses}
            for name, outcome in result.outcomes.items():
                if outcome.status == FAILED:
                    continue
                try:
                    cache.put(fp, by_name[name], result.patient_id, outcome)
                except OSError as e:  # a full or read-only cache costs the resume, never the run
                    logger.warning("cannot store %s of %s in the cache: %s", name, result.patient_id, e)
        if partial is not None:
            merged = {**partial.outcomes, **result.outcomes}
            result.outcomes = {a.name: merged[a.name] for a in analyses}
        ready[index] = result
        if result.failed:
            status.failed += 1
        else:
            status.done += 1
        status.last = result
        if progress is not None:
            progress(status)

    # The cluster starts (or fails to) before the first result is handed out.
    with _executor(tasks, scheduler, workers) as results:
        next_out = 0
        while next_out < len(folders):
            if next_out in pending:
                index, result = next(results)
                pending.discard(index)
                arrived(index, result)
                continue
            yield ready.pop(next_out)
            next_out += 1


@contextmanager
def _executor(
    tasks: list[tuple[int, str, list[Analysis], Any]], scheduler: str, workers: int | None
) -> Iterator[Iterator[tuple[int, PatientResult]]]:
    """An iterator of ``(index, result)`` of every task, in the order they complete."""
    if not tasks or scheduler == "sync" or (scheduler == "processes" and len(tasks) == 1):
        # One task gains nothing from a cluster but its start-up time.
        yield ((index, analyse_patient(path, analyses, opener)) for index, path, analyses, opener in tasks)
        return
    from .cluster import dask_client, run_on_dask

    with dask_client(scheduler, workers) as client:
        yield run_on_dask(client, tasks)
