"""Running the per-patient function on ``dask.distributed``: a local cluster or an existing one.

Dask is imported here only, when a run needs it, so commands that do not use it start as fast
as before. Each patient is one task (one worker thread per process, so a worker holds one
patient at a time); results are taken as they complete and released at once.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .patient import PatientResult, analyse_patient

logger = logging.getLogger(__name__)

WORKER_WAIT_S = 60.0
"""How long a run waits for an existing cluster to have a worker."""


class ClusterError(RuntimeError):
    """The cluster cannot be started or reached, or its workers cannot run this app."""


def local_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def app_version() -> str:
    """The version of the app as a worker sees it."""
    from ..version import __version__

    return __version__


@contextmanager
def dask_client(scheduler: str, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` on a new local cluster (``processes``) or an existing one (``tcp://...``).

    Parameters
    ----------
    scheduler : str
        ``processes`` or a scheduler address.
    workers : int, optional
        Worker processes of a local cluster (default: every core).

    Raises
    ------
    ClusterError
        When the cluster cannot be started or reached, has no worker within
        :data:`WORKER_WAIT_S`, or its workers run another version of the app.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - dask is a dependency; a stripped bundle lacks it
        raise ClusterError(f"dask.distributed is not installed ({e}); use --scheduler sync") from e

    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        # distributed sets its own loggers to INFO on import; its start and stop chatter would bury
        # the progress bar. Errors still show, and --verbose shows everything.
        for name in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.ERROR)
    cluster = None
    try:
        if scheduler == "processes":
            n = workers or local_cores()
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",  # no fixed port to collide on; only this machine
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError, RuntimeError) as e:  # RuntimeError: a worker process failed to start
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"cannot start or reach the Dask scheduler {scheduler}: {e}") from e
    try:
        _check_workers(client, scheduler)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _check_workers(client: Any, scheduler: str) -> None:
    from ..version import __version__

    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError as e:
        raise ClusterError(f"the Dask cluster at {scheduler} has no worker (waited {WORKER_WAIT_S:.0f} s)") from e
    try:
        versions = client.run(app_version)
    except Exception as e:  # whatever the workers say is the reason they cannot be used
        raise ClusterError(f"the workers of {scheduler} cannot run lundprobe_gui: {e}") from e
    other = sorted({f"{addr} has {v}" for addr, v in versions.items() if v != __version__})
    if other:
        raise ClusterError(
            f"the workers of {scheduler} run another lundprobe_gui than {__version__}: {', '.join(other)}"
        )


def run_on_dask(
    client: Any, tasks: Sequence[tuple[int, str, Sequence[Any], Any]]
) -> Iterator[tuple[int, PatientResult]]:
    """Submit one task per patient; yield ``(index, result)`` as they complete.

    A task whose worker died (``KilledWorker`` after the scheduler's retries) or that could not be
    run at all comes back as a failed result with the reason, and the other tasks go on.

    Parameters
    ----------
    client : distributed.Client
        The client.
    tasks : sequence of (int, str, sequence of Analysis, opener)
        Index, patient folder, analyses and opener of each patient.
    """
    from distributed import as_completed

    from .patient import failed_result

    run_id = uuid.uuid4().hex[:8]
    futures = {}
    for index, path, analyses, opener in tasks:
        fut = client.submit(
            analyse_patient, path, analyses, opener, key=f"lundprobe-patient-{run_id}-{index}", pure=False
        )
        futures[fut] = (index, path, analyses)
    for fut in as_completed(futures):
        index, path, analyses = futures.pop(fut)
        try:
            result = fut.result()
        except Exception as e:  # noqa: BLE001 - a lost worker is this patient's failure, not the run's
            result = failed_result(path, analyses, f"the worker computing it failed: {type(e).__name__}: {e}")
        fut.release()
        yield index, result
