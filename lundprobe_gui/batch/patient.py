"""The one function per patient that every batch run goes through.

:func:`analyse_patient` opens one patient, runs the requested analyses on it (its masks and
doses are decoded once for all of them) and returns a :class:`PatientResult`. It never raises:
an error that keeps the patient from giving its rows becomes a ``failed`` outcome with the
reason. The same function runs in this process (``--scheduler sync``), on a local cluster or on
a Dask cluster, so every scheduler gives the same rows.

A caller that needs more than the dataset's own files (a reader study's edits laid over the
patient, for example) passes an ``opener``: any picklable callable ``opener(path) -> Patient``.
If it reads files outside the patient folder it also has ``extra_inputs(path) -> list of Path``
and ``cache_key() -> dict``, so the result cache sees them (:mod:`lundprobe_gui.batch.cache`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..metrics.analyses import FAILED, Analysis, Outcome

if TYPE_CHECKING:
    from ..core.patient import Patient

logger = logging.getLogger(__name__)

Opener = Callable[[Path], "Patient"]


@dataclass
class PatientResult:
    """The outcome of every requested analysis for one patient.

    Attributes
    ----------
    path : str
        The patient folder.
    patient_id : str
        Its ID (the folder name when it could not be opened).
    outcomes : dict of str to Outcome
        By analysis name, in the order requested.
    seconds : float
        Time spent computing (0 for a result from the cache).
    peak_rss_mb : float or None
        Peak resident memory of the process that computed it, where the OS reports it.
    cached : bool
        True when every outcome came from the result cache.
    """

    path: str
    patient_id: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    cached: bool = False

    @property
    def failed(self) -> bool:
        """Whether any analysis failed for this patient."""
        return any(o.status == FAILED for o in self.outcomes.values())

    @property
    def reason(self) -> str:
        """Why it failed (the first failed analysis's reason)."""
        return next((o.reason for o in self.outcomes.values() if o.status == FAILED), "")


def default_opener(path: Path) -> Patient:
    """:func:`lundprobe_gui.open_patient`, imported where it runs."""
    from ..io.open import open_patient

    return open_patient(path, edits=False)  # saved edits only where a command asks for them (--edits)


class EditsOpener:
    """Opens patients with the edits saved under an output folder read back (``--edits DIR``).

    Picklable, so every scheduler can use it; the saved files are inputs of the result cache.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(os.path.abspath(folder))

    def __call__(self, path: Path) -> Patient:
        from ..io.open import open_patient

        return open_patient(path, edits=self.folder)

    def extra_inputs(self, path: Path) -> list[Path]:
        """Every file saved for this patient under the output folder."""
        base = self.folder / Path(path).name
        try:
            return sorted(p for p in base.rglob("*") if p.is_file())
        except OSError:
            return []

    def cache_key(self) -> dict:
        """The output folder read, so results with and without it are not mixed up."""
        return {"edits": str(self.folder)}


def failed_result(path: str | os.PathLike, analyses: Sequence[Analysis], reason: str) -> PatientResult:
    """A result whose every analysis failed for one reason (the patient could not be opened or run)."""
    name = Path(path).name
    outcomes = {a.name: Outcome(FAILED, [], [f"{name}: {reason}"], reason) for a in analyses}
    return PatientResult(str(path), name, outcomes)


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, else kB


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[-1] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def analyse_patient(
    path: str | os.PathLike, analyses: Sequence[Analysis], opener: Opener | None = None
) -> PatientResult:
    """Open one patient and run ``analyses`` on it.

    Parameters
    ----------
    path : str or PathLike
        The patient folder.
    analyses : sequence of Analysis
        E.g. ``[MetricsAnalysis(), DvhAnalysis()]`` (:mod:`lundprobe_gui.metrics.analyses`).
    opener : callable, optional
        ``opener(path) -> Patient``; default :func:`lundprobe_gui.open_patient`.

    Returns
    -------
    PatientResult
        One outcome per analysis. Problems found while opening (a truncated file, a mask on the
        wrong grid) are warnings of every outcome; an error that stops the patient is a
        ``failed`` outcome with its reason, never an exception.
    """
    from ..core.memory import release_free_memory

    t0 = time.perf_counter()
    path = Path(path)
    result = PatientResult(str(path), path.name)
    try:
        patient = (opener or default_opener)(path)
    except Exception as e:  # noqa: BLE001 - any error is this patient's failure, never the run's
        result = failed_result(path, analyses, f"cannot be opened: {_reason(e)}")
    else:
        result.patient_id = patient.id
        opened = [f"{patient.id}: {p}" for p in patient.problems]
        for a in analyses:
            try:
                out = a.run(patient)
            except Exception as e:
                logger.debug("%s: %s failed", patient.id, a.name, exc_info=True)
                out = Outcome(FAILED, [], [], _reason(e))
            # Problems found while opening come first, as the rows they explain are simply absent.
            out.warnings = list(dict.fromkeys(opened + out.warnings))
            result.outcomes[a.name] = out
        del patient
    release_free_memory()
    result.seconds = time.perf_counter() - t0
    result.peak_rss_mb = _peak_rss_mb()
    return result
