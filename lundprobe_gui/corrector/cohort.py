"""The corrector over a cohort of patients, one worker process per patient, and its medians."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .run import TOOLSETS, simulate_correction

logger = logging.getLogger(__name__)


def correct_patient(path: str | Path, structures: Sequence[str] = ("CTVT_427", "Rectum")) -> list[dict]:
    """Every case of one patient folder with every tool set, as result rows."""
    from ..io.open import open_patient
    from .case import cases_for_patient

    patient = open_patient(path, edits=False)
    rows = []
    for case in cases_for_patient(patient, structures):
        for toolset in TOOLSETS:
            row = simulate_correction(case, toolset).to_dict()
            row["patient"] = case.patient
            rows.append(row)
    return rows


@dataclass
class CohortResult:
    """Result rows of every case and tool set."""

    rows: list[dict] = field(default_factory=list)

    def select(self, toolset: str, kind: str) -> list[dict]:
        """The rows of one tool set and target kind (``observer`` or ``uniform``)."""
        return [r for r in self.rows if r["toolset"] == toolset and r["kind"] == kind]

    def median_interactions(self, toolset: str, kind: str = "observer") -> float | None:
        """Median number of interactions over the cases of a tool set and target kind."""
        rows = self.select(toolset, kind)
        return float(statistics.median(r["interactions"] for r in rows)) if rows else None

    def summary(self) -> dict:
        """Medians, means, reach rates and tool counts per target kind and tool set."""
        out: dict = {}
        for kind in sorted({r["kind"] for r in self.rows}):
            for toolset in TOOLSETS:
                rows = self.select(toolset, kind)
                if not rows:
                    continue
                tools: dict[str, int] = {}
                for r in rows:
                    for t, n in r["tools"].items():
                        tools[t] = tools.get(t, 0) + n
                out[f"{kind}/{toolset}"] = {
                    "cases": len(rows),
                    "median_interactions": statistics.median(r["interactions"] for r in rows),
                    "mean_interactions": round(statistics.mean(r["interactions"] for r in rows), 2),
                    "reached": sum(r["reached"] for r in rows),
                    "median_surface_dice": statistics.median(r["surface_dice"] for r in rows),
                    "median_dice": statistics.median(r["dice"] for r in rows),
                    "tools": tools,
                }
        return out


def run_cohort(
    patients: Sequence[str | Path],
    workers: int = 2,
    structures: Sequence[str] = ("CTVT_427", "Rectum"),
    progress: Callable[[str], None] | None = None,
) -> CohortResult:
    """Run :func:`correct_patient` for each patient folder (``workers`` processes; 1 runs in-process)."""
    result = CohortResult()
    if workers <= 1:
        for p in patients:
            result.rows.extend(correct_patient(p, structures))
            if progress:
                progress(f"correction: {Path(p).name} done")
        return result
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for p, rows in zip(patients, pool.map(correct_patient, patients, [structures] * len(patients))):
            result.rows.extend(rows)
            if progress:
                progress(f"correction: {Path(p).name} done")
    return result
