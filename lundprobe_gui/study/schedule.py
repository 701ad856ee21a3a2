"""When a step opens (step 1 at once, a later step a washout after the previous one) and which case is current."""

from __future__ import annotations

import logging
import math

from .clock import parse_iso
from .definition import StudyDefinition
from .state import IN_PROGRESS, PENDING, CaseRecord, SessionState, StepRecord

logger = logging.getLogger(__name__)

ALWAYS = -math.inf


def step_opens_at(study: StudyDefinition, state: SessionState, step: int) -> float | None:
    """POSIX time at which ``step`` opens for this observer.

    Returns
    -------
    float or None
        ``-inf`` when it is open regardless of time (step 1, or washout overridden by an admin
        after the previous step was finished), the end of the washout otherwise, and None while
        the previous step is unfinished.
    """
    if step == 1:
        return ALWAYS
    prev = state.steps[step - 1]
    if not prev.finished() or prev.completed_at is None:
        return None
    if state.steps[step].washout_override:
        return ALWAYS
    return parse_iso(prev.completed_at) + study.washout_seconds


def current_case(study: StudyDefinition, state: SessionState, t: float) -> tuple[StepRecord, CaseRecord] | None:
    """The case to work on at ``t``: in the first unfinished step, if it is open, the lowest case in
    progress (an unlocked case comes back first), else the next pending one."""
    for rules in study.steps:
        rec = state.steps[rules.step]
        if rec.finished():
            continue
        opens = step_opens_at(study, state, rules.step)
        if opens is None or t < opens:
            return None
        started = [c for c in rec.cases if c.status == IN_PROGRESS]
        if started:
            return rec, min(started, key=lambda c: c.position)
        return rec, next(c for c in rec.cases if c.status == PENDING)
    return None


def first_unfinished_step(study: StudyDefinition, state: SessionState) -> int | None:
    """The step the observer is in or waiting for; None when every step is finished."""
    for rules in study.steps:
        if not state.steps[rules.step].finished():
            return rules.step
    return None
