"""The flow of cases per observer and step: assigned, started, finished, reopened, overridden, analysed.

``reopened`` counts the cases an administrator unlocked (the ``unlocks`` column of a study that
records it, or the ``case_unlocked`` actions of the audit log); ``reopened_after_later_step`` those
unlocked after the observer had finished a case of a later step (the ``reopened_after_step`` column,
or the unlock's time against the later step's ``finished_at``); ``washout_overridden`` says
whether the step was opened before its washout ended; ``analysed`` counts the cases whose edits
the report could read. The published edits have no design: only ``analysed`` is filled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import ReportRows, ReportSource

logger = logging.getLogger(__name__)

FLOW_COLUMNS = (
    "observer",
    "step",
    "arm",
    "assigned",
    "started",
    "finished",
    "reopened",
    "reopened_after_later_step",
    "washout_overridden",
    "analysed",
)


def flow_table(source: ReportSource, rows: ReportRows) -> list[dict[str, Any]]:
    """One row per chosen observer and step (columns :data:`FLOW_COLUMNS`)."""
    arms = source.arms()
    analysed: dict[tuple[str, int], set[str]] = {}
    for r in rows.split or rows.edits:
        analysed.setdefault((r["observer"], int(r["step"])), set()).add(r["patient"])
    for r in rows.agreement:
        if r["table"] == "staple" and r["observer"]:
            analysed.setdefault((r["observer"], int(r["step"])), set()).add(r["patient"])
    events = source.outputs.admin_events
    out = []
    if not source.published:
        for oid, label in source.labels.items():
            for k in source.outputs.steps:
                cases = [r for r in source.outputs.results if r["observer"] == oid and r["step"] == k]
                patients = {r["patient"] for r in cases}
                unlocked = {
                    e.get("patient")
                    for e in events
                    if e["event"] == "case_unlocked" and e["observer"] == oid and e["step"] == k
                }
                unlocked |= {r["patient"] for r in cases if r.get("unlocks")}
                after = {r["patient"] for r in cases if r.get("reopened_after_step")}
                after |= _reopened_after_later_step(source.outputs.results, events, oid, k)
                out.append(
                    {
                        "observer": label,
                        "step": k,
                        "arm": arms.get((label, k), ""),
                        "assigned": len(patients),
                        "started": len({r["patient"] for r in cases if r["started"]}),
                        "finished": len({r["patient"] for r in cases if r["finished"]}),
                        "reopened": len(unlocked - {None}),
                        "reopened_after_later_step": len(after),
                        "washout_overridden": any(
                            e["event"] == "washout_overridden" and e["observer"] == oid and e["step"] == k
                            for e in events
                        ),
                        "analysed": len(analysed.get((label, k), ())),
                    }
                )
    for oid in source.choice.published or ():
        for k in source.outputs.steps:
            out.append(
                {
                    "observer": oid,
                    "step": k,
                    "arm": arms.get((oid, k), ""),
                    "assigned": None,
                    "started": None,
                    "finished": None,
                    "reopened": None,
                    "reopened_after_later_step": None,
                    "washout_overridden": None,
                    "analysed": len(analysed.get((oid, k), ())),
                }
            )
    return out


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _reopened_after_later_step(
    results: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]], observer: str, step: int
) -> set[str]:
    """Patients of ``step`` unlocked after the observer had finished a case of a later step."""
    later = [
        t
        for r in results
        if r["observer"] == observer and r["step"] > step and (t := _time(r.get("finished_at") or "")) is not None
    ]
    if not later:
        return set()
    first = min(later)
    return {
        str(e["patient"])
        for e in events
        if e["event"] == "case_unlocked"
        and e["observer"] == observer
        and e["step"] == step
        and e.get("patient") is not None
        and (t := _time(e.get("time", ""))) is not None
        and t > first
    }
