"""Active time of a study, recomputed from the observers' event logs with any idle threshold.

The sessions credit time by the rule of :mod:`lundprobe_gui.session.activetime` as events
happen, with the study's own threshold and tail; ``results.csv`` holds those times. The same rule
applied to ``sessions/<observer>.events.jsonl`` gives the same seconds (up to the part of a log
written before a session file acknowledged it), and with another threshold shows how much the
result depends on it: ``lundprobe-gui study active-time STUDY_DIR --idle 30 --tail 5``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..session.activetime import IdleRule, active_seconds
from ..session.events import read_events
from .definition import load_study
from .files import events_file
from .results import load_states

logger = logging.getLogger(__name__)

TARGET_KEYS = ("step", "patient", "structure")
"""The event fields that name what a study's time goes to."""
FLAGS = ("unc",)
"""Flags of the time: ``unc`` while the structure's uncertainty map was on screen."""
COLUMNS = ("observer", "step", "patient", "structure", "active_seconds", "uncertainty_visible_seconds")


@dataclass(frozen=True)
class ActiveTimeRow:
    """The recomputed time of one observer x step x patient x structure."""

    observer: str
    step: int
    patient: str
    structure: str
    active_seconds: float
    uncertainty_visible_seconds: float

    def to_dict(self) -> dict:
        """A CSV row (0.1 s resolution, like ``results.csv``)."""
        return {
            "observer": self.observer,
            "step": str(self.step),
            "patient": self.patient,
            "structure": self.structure,
            "active_seconds": f"{self.active_seconds:.1f}",
            "uncertainty_visible_seconds": f"{self.uncertainty_visible_seconds:.1f}",
        }


def recompute_active_time(
    study_dir: str | Path, idle_s: float | None = None, tail_s: float | None = None
) -> list[ActiveTimeRow]:
    """Active time per observer, step, patient and structure from the event logs.

    Parameters
    ----------
    study_dir : path
        The study folder.
    idle_s, tail_s : float, optional
        The idle threshold and tail; the study's own when omitted.

    Returns
    -------
    list of ActiveTimeRow
        Every (observer, step, patient, structure) that received time, in the study's order.
    """
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    own = study.idle_rule
    rule = IdleRule(own.idle_s if idle_s is None else float(idle_s), own.tail_s if tail_s is None else float(tail_s))
    states = load_states(study_dir, study)
    out = []
    for o in study.observers:
        state = states.get(o)
        limit = state.events.bytes if state is not None and state.events is not None else None
        times = active_seconds(read_events(events_file(study_dir, o), limit), rule, TARGET_KEYS, FLAGS)
        for rules in study.steps:
            for p in study.patients:
                for s in study.structures:
                    got = times.get((rules.step, p, s))
                    if got:
                        out.append(ActiveTimeRow(o, rules.step, p, s, got["active"], got["unc"]))
    return out
