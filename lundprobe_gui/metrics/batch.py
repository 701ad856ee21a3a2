"""Metrics, DVH and uncertainty-versus-edits over one patient or a whole dataset root, on N cores.

The metric code holds the GIL for much of its time (scipy's distance transforms), so threads do
not add up; the work is spread over a pool of worker **processes** instead. A task is a part of
one patient:

* **metrics**: one structure with its whole comparison set (43 pairs for a LUND-PROBE structure).
  Its masks are decoded once, and the pairs share one
  :class:`~lundprobe_gui.metrics.group.MaskGroup`, so each mask's distance maps are computed once.
* **dvh**: a chunk of 8 structures of one frame.
* **uncertainty-edits**: one DL structure with all its observer masks.

Each worker keeps the last two patients it opened, so the tasks of a patient share one decoded
dose or uncertainty map, and at most two patients are in flight at a time. Results come back in
a fixed order whatever the scheduling, so the output of one and two workers is identical. With
``workers=1`` everything runs inline in this process.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import sys
import threading
from collections import OrderedDict
from contextlib import contextmanager
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..core.patient import Patient
from ..io.open import detect_layout, list_patients, open_patient, unreadable_folders
from .compare import DEFAULT_TOLERANCE_MM, Comparison, compare_patient, patient_comparisons
from .dvh_rows import dvh_row, dvh_structures, patient_dvhs
from .edit_rows import EditJob, edit_jobs, patient_edit_rows

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
DVH_CHUNK = 8
"""Structures per DVH task: small enough for a smooth progress bar and an even split."""

Progress = Callable[[int, int, str], None]
"""``progress(done, total, label)``; called in the calling thread."""

Key = tuple[str, str, str]


class InputError(ValueError):
    """A missing or unusable input, with a message meant for the user."""


@dataclass
class BatchResult:
    """Rows of a run over one or more patients.

    Attributes
    ----------
    rows : list of dict
        Patient by patient, each in its fixed order.
    warnings : list of str
        Inputs left out (an undecodable mask, a patient that cannot be opened...).
    patients : list of str
        IDs of the patients that took part.
    """

    rows: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)


# -- inputs ----------------------------------------------------------------------------------------
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


def _open_all(paths: Sequence[Path], warnings: list[str]) -> list[Patient]:
    """Open every patient (headers only); one that cannot be opened is a warning in a dataset run.

    The problems found while opening (a truncated file, a mask on the wrong grid) are added to
    ``warnings``.
    """
    out = []
    for p in paths:
        try:
            patient = open_patient(p)
        except Exception as e:  # noqa: BLE001 - one bad patient never stops a dataset run
            if len(paths) == 1:
                raise InputError(str(e)) from e
            warnings.append(f"{p.name}: left out: {e}")
            logger.debug("%s: left out", p, exc_info=True)
            continue
        # A file found broken while opening is left out of the patient; say so, since the
        # rows it would have given are simply absent.
        warnings.extend(f"{patient.id}: {prob}" for prob in patient.problems)
        out.append(patient)
    return out


# -- executors -------------------------------------------------------------------------------------
class InlineExecutor(Executor):
    """Runs each task at submission, in the calling thread (``workers=1``, tests)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(e)
        return fut


def _mp_context() -> multiprocessing.context.BaseContext:
    """How worker processes start.

    On Linux a plain fork is by far the quickest (the workers inherit the imported modules) and
    is safe while this process runs no other Python thread, which is the case in the command
    line. With threads around (a Qt app, a thread pool) a fork could copy a lock in a held
    state, so the fork server is used instead: it starts clean, imports this module once and
    forks the workers from there. Elsewhere, spawn is the only safe choice.
    """
    if sys.platform.startswith("linux"):
        if threading.active_count() == 1:
            return multiprocessing.get_context("fork")
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def make_executor(workers: int) -> Executor:
    """A pool of ``workers`` processes (inline for 1; threads if processes are unavailable).

    Scripts that call the runners with ``workers > 1`` need the usual
    ``if __name__ == "__main__":`` guard of multiprocessing code, because the fork server and
    spawn import the main module in the workers.

    Parameters
    ----------
    workers : int
        Number of workers.

    Returns
    -------
    concurrent.futures.Executor
        Use it as a context manager.
    """
    if workers <= 1:
        return InlineExecutor()
    try:
        return ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context())
    except (OSError, ValueError, NotImplementedError) as e:  # e.g. no /dev/shm in a sandbox
        logger.warning("cannot start worker processes (%s); using %d threads", e, workers)
        return ThreadPoolExecutor(max_workers=workers)


@contextmanager
def _pool(workers: int) -> Iterator[Executor]:
    """An executor whose workers start with no cached patient, and forget them at the end.

    The cache must not outlive a run: files may change between two runs in one process, and a
    forked worker would otherwise inherit patients opened by an earlier inline run.
    """
    _clear_cache()
    try:
        with make_executor(workers) as ex:
            yield ex
    finally:
        _clear_cache()


# -- worker side -----------------------------------------------------------------------------------
_CACHE_SIZE = 2
_cache: "OrderedDict[str, Patient]" = OrderedDict()
_cache_lock = threading.Lock()


def _clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _worker_patient(path: str) -> Patient:
    """The patient at ``path``, opened once per worker (the last two are kept)."""
    with _cache_lock:
        p = _cache.get(path)
        if p is not None:
            _cache.move_to_end(path)
            return p
    p = open_patient(path)
    with _cache_lock:
        p = _cache.setdefault(path, p)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return p


def _metrics_task(path: str, comps: Sequence[Comparison], tolerance_mm: float) -> tuple[list[dict], list[str]]:
    patient = _worker_patient(path)
    warnings: list[str] = []
    rows = compare_patient(patient, comps, tolerance_mm, warnings=warnings)
    skipped = len(comps) - len(rows)
    if skipped:
        warnings.append(f"{patient.id}: {skipped} pair(s) skipped because a mask could not be loaded")
    return rows, warnings


def _dvh_task(path: str, keys: Sequence[Key], prescription_gy: float | None) -> tuple[list[dict], list[str]]:
    patient = _worker_patient(path)
    refs = [patient.structure(name, source, frame) for name, source, frame in keys]
    warnings: list[str] = []
    if prescription_gy is None:
        prescription_gy = patient.effective_prescription()
        if patient.prescription_gy is None:
            warnings.append(
                f"{patient.id}: no prescription in the data; V95/V100 use the dose maximum {prescription_gy:g} Gy"
            )
    dvhs, more = patient_dvhs(patient, refs, prescription_gy)
    warnings += more
    return [dvh_row(patient.id, d.key, d.dvh) for d in dvhs], warnings


def _edits_task(path: str, jobs: Sequence[EditJob]) -> tuple[list[dict], list[str]]:
    patient = _worker_patient(path)
    return patient_edit_rows(patient, jobs)


# -- runners ---------------------------------------------------------------------------------------
def run_metrics(
    paths: Sequence[Path],
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> BatchResult:
    """The comparison set of every patient (see :mod:`lundprobe_gui.metrics.compare`).

    Parameters
    ----------
    paths : sequence of Path
        Patient folders (see :func:`resolve_patients`).
    tolerance_mm : float
        Surface Dice tolerance.
    workers : int
        Worker processes.
    progress : callable, optional
        ``progress(pairs_done, pairs_total, patient_id)``, after each structure.

    Returns
    -------
    BatchResult
        Rows with keys :data:`~lundprobe_gui.metrics.compare.METRICS_ROW_KEYS`.
    """
    result = BatchResult()
    plans = []
    for patient in _open_all(paths, result.warnings):
        comps = patient_comparisons(patient)
        if not comps:
            result.warnings.append(f"{patient.id}: nothing to compare (no nnUNet or observer masks)")
            continue
        by_structure: dict[str, list[Comparison]] = {}
        for c in comps:
            by_structure.setdefault(c.structure, []).append(c)
        # One task per structure: its masks are decoded once and share one MaskGroup.
        tasks = [_Task(_metrics_task, (str(patient.path), cs, tolerance_mm), len(cs)) for cs in by_structure.values()]
        plans.append((patient, tasks))
    _run_patient_tasks(plans, workers, progress, result)
    return result


@dataclass
class _Task:
    fn: Callable[..., tuple[list[dict], list[str]]]
    args: tuple
    weight: int


def _run_patient_tasks(
    plans: Sequence[tuple[Patient, list[_Task]]], workers: int, progress: Progress | None, result: BatchResult
) -> None:
    """Run each patient's tasks, at most two patients in flight, collecting rows in task order."""
    total = sum(t.weight for _, tasks in plans for t in tasks)
    done = 0
    if progress is not None:
        progress(0, total, "")
    with _pool(workers) as ex:
        in_flight: list[tuple[Patient, list[tuple[_Task, Future]]]] = []

        def drain(item: tuple[Patient, list[tuple[_Task, Future]]]) -> None:
            # A patient's rows count only when every one of its tasks worked: a patient whose files
            # fail part-way is skipped with a warning, and the run goes on with the next.
            nonlocal done
            patient, futs = item
            rows: list[dict] = []
            warns: list[str] = []
            failed: BaseException | None = None
            for task, fut in futs:
                try:
                    r, w = fut.result()
                except Exception as e:  # noqa: BLE001 - reported, the other patients go on
                    failed = failed or e
                else:
                    rows.extend(r)
                    warns.extend(w)
                done += task.weight
                if progress is not None:
                    progress(done, total, patient.id)
            result.warnings.extend(warns)
            if failed is not None:
                result.warnings.append(f"{patient.id}: skipped: {type(failed).__name__}: {failed}")
                logger.debug("%s: skipped", patient.id, exc_info=failed)
                return
            result.rows.extend(rows)
            result.patients.append(patient.id)

        for patient, tasks in plans:
            in_flight.append((patient, [(t, ex.submit(t.fn, *t.args)) for t in tasks]))
            # Worker caches hold two patients: never let a third one's tasks start.
            if len(in_flight) == 2:
                drain(in_flight.pop(0))
        for item in in_flight:
            drain(item)


def run_dvh(
    paths: Sequence[Path],
    prescription_gy: float | None = None,
    frames: Iterable[str] | None = None,
    sources: Iterable[str] | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> BatchResult:
    """DVH rows of every structure of every dose frame of every patient.

    Parameters
    ----------
    paths : sequence of Path
        Patient folders.
    prescription_gy : float, optional
        Prescription for V95 and V100; by default each patient's own (LUND-PROBE 42.7 Gy, the
        RTPLAN's for DICOM, else the dose maximum with a warning).
    frames : iterable of str, optional
        Only these frames (default every frame with a dose on its own grid).
    sources : iterable of str, optional
        Only structures from these sources (default all).
    workers : int
        Worker processes.
    progress : callable, optional
        ``progress(structures_done, structures_total, patient_id)``.

    Returns
    -------
    BatchResult
        Rows with keys :data:`~lundprobe_gui.metrics.dvh_rows.DVH_ROW_KEYS`.
    """
    result = BatchResult()
    frames = list(frames) if frames is not None else None
    sources = list(sources) if sources is not None else None
    plans = []
    for patient in _open_all(paths, result.warnings):
        refs = dvh_structures(patient, frames, sources)
        if not refs:
            why = (
                "no dose on the grid of a frame with structures"
                if not dvh_structures(patient, frames)
                else "no structure from the requested sources"
            )
            result.warnings.append(f"{patient.id}: no DVH: {why}")
            continue
        n_chunks = max(1, math.ceil(len(refs) / DVH_CHUNK))
        size = math.ceil(len(refs) / n_chunks)
        tasks = [
            _Task(
                _dvh_task,
                (str(patient.path), [r.key for r in refs[i : i + size]], prescription_gy),
                len(refs[i : i + size]),
            )
            for i in range(0, len(refs), size)
        ]
        plans.append((patient, tasks))
    _run_patient_tasks(plans, workers, progress, result)
    return result


def run_uncertainty_edits(
    paths: Sequence[Path], workers: int = DEFAULT_WORKERS, progress: Progress | None = None
) -> BatchResult:
    """Uncertainty-versus-edits histogram rows of every observer mask of every patient.

    Parameters
    ----------
    paths : sequence of Path
        Patient folders.
    workers : int
        Worker processes.
    progress : callable, optional
        ``progress(masks_done, masks_total, patient_id)``.

    Returns
    -------
    BatchResult
        Rows with keys :data:`~lundprobe_gui.metrics.edit_rows.EDIT_ROW_KEYS`.
    """
    result = BatchResult()
    plans = []
    for patient in _open_all(paths, result.warnings):
        jobs = edit_jobs(patient)
        if not jobs:
            result.warnings.append(f"{patient.id}: no observer edits of a DL structure with an uncertainty map")
            continue
        by_structure: dict[str, list[EditJob]] = {}
        for j in jobs:
            by_structure.setdefault(j.structure, []).append(j)
        # One task per DL structure: its DL mask and uncertainty map are decoded once.
        tasks = [_Task(_edits_task, (str(patient.path), js), len(js)) for js in by_structure.values()]
        plans.append((patient, tasks))
    _run_patient_tasks(plans, workers, progress, result)
    return result
