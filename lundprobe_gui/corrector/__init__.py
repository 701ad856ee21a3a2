"""A simulated corrector: how many interactions turn a DL mask into an observer's edit.

Given a start mask (the DL mask), a target (an observer's edit) and a tool set, the simulated user
repeatedly picks the largest remaining error region (the target is used for nothing else) and
applies one interaction of the allowed tools through the real editing session, until the surface
Dice at 2 mm against the target reaches 0.95 or 200 interactions were used. Every tool's
parameters come from what a user sees there: the image, the uncertainty map, the folds and the
current mask (:mod:`.user`). ``lundprobe-gui bench --only correction`` runs it over the bench
cohort (:mod:`.cohort`).
"""

from __future__ import annotations

from .case import CorrectionCase, cases_for_patient
from .cohort import CohortResult, run_cohort
from .run import TOOLSETS, CorrectionResult, simulate_correction

__all__ = [
    "TOOLSETS",
    "CohortResult",
    "CorrectionCase",
    "CorrectionResult",
    "cases_for_patient",
    "run_cohort",
    "simulate_correction",
]
