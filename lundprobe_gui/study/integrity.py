"""What ``study status`` and ``study export`` check besides the progress: the seal, the chains, the clock.

* The definition must be the sealed one (:mod:`.seal`); a changed one stops status and export.
* Each observer's session file must be valid (:mod:`.validate`) and the last state the app saved
  (:mod:`.chain`); a file that is not is named, and export refuses to report it.
* The clock: audit lines and event-log lines carry this computer's wall clock (``logged_at``,
  ``wall``) and its monotonic clock (``mono``). A wall clock that goes back between two lines by
  more than :data:`CLOCK_TOLERANCE_S`, that jumps within one process by more than that against the
  monotonic clock, or that dates a line in the future is flagged: the times of those events cannot
  be trusted, though nothing is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..io.small_files import read_json_file
from ..session.chain import ChainCheck
from ..session.clock import MAX_SKEW_S, iso_utc, parse_iso, wall_time
from ..session.events import EventLog, LogMark, read_events
from .audit import read_audit
from .chain import check_session_chain
from .definition import StudyDefinition
from .errors import StudyError
from .files import events_file, session_file
from .seal import SealState, seal_state

logger = logging.getLogger(__name__)

CLOCK_TOLERANCE_S = 60.0
"""A wall clock that moves back, or away from the monotonic clock, by more than this is flagged."""


@dataclass
class IntegrityReport:
    """The checks of a study: its seal, each observer's chain, and the clock flags."""

    seal: SealState
    chains: dict[str, ChainCheck] = field(default_factory=dict)
    damaged: dict[str, str] = field(default_factory=dict)
    clock: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """What makes the study's results untrustworthy (each one line)."""
        out = []
        if not self.seal.ok:
            out.append("study.json was changed after it was sealed")
        out += [f"{o}: {c.reason}" for o, c in self.chains.items() if not c.ok]
        out += [f"{o}: {why}" for o, why in self.damaged.items()]
        return out

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "definition_sha256": self.seal.actual,
            "definition_sealed": self.seal.sealed,
            "definition_ok": self.seal.ok,
            "sealed_at": self.seal.sealed_at,
            "sessions": {o: {"ok": c.ok, "reason": c.reason, "links": c.links} for o, c in self.chains.items()},
            "damaged": dict(self.damaged),
            "clock_warnings": list(self.clock),
        }


def check_study(study_dir: str | Path, study: StudyDefinition, now: float | None = None) -> IntegrityReport:
    """Run every check (read-only)."""
    study_dir = Path(study_dir)
    audit = read_audit(study_dir)
    rep = IntegrityReport(seal_state(study_dir, audit))
    for o in study.observers:
        rep.chains[o] = check_session_chain(study_dir, o, audit)
        why = check_event_log(study_dir, o)
        if why:
            rep.damaged[o] = why
    rep.clock = clock_warnings(study_dir, study, audit, now)
    return rep


def check_event_log(study_dir: Path, observer: str) -> str | None:
    """Why the observer's event log is not the one the session file acknowledges (None when it is)."""
    path = session_file(study_dir, observer)
    try:
        d = read_json_file(path, what="session file")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        return f"{path} cannot be read ({e})"
    mark = d.get("events") if isinstance(d, dict) else None
    if mark is None:
        return None
    log = EventLog(events_file(study_dir, observer))
    try:
        log.verify(LogMark.from_dict(mark))
    except (OSError, ValueError) as e:
        return str(e)
    return None


def _stamp(value: object) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except ValueError:
            return None
    return None


def _flags(lines: Iterable[tuple[str, float | None, float | None, object]], what: str, now: float) -> list[str]:
    """Clock flags of (label, wall, mono, process) records in write order."""
    out: list[str] = []
    prev: tuple[str, float, float | None, object] | None = None
    for label, wall, mono, proc in lines:
        if wall is None:
            continue
        if wall > now + MAX_SKEW_S:
            out.append(f"{what}: {label} is dated {iso_utc(wall)}, after the present: the clock ran ahead")
        if prev is not None:
            p_label, p_wall, p_mono, p_proc = prev
            if wall < p_wall - CLOCK_TOLERANCE_S:
                out.append(
                    f"{what}: the clock went back {(p_wall - wall) / 60:.1f} minutes between {p_label} and {label}"
                )
            elif proc == p_proc and mono is not None and p_mono is not None:
                drift = (wall - p_wall) - (mono - p_mono)
                if abs(drift) > CLOCK_TOLERANCE_S:
                    way = "ahead" if drift > 0 else "back"
                    out.append(
                        f"{what}: the clock jumped {way} {abs(drift) / 60:.1f} minutes between {p_label} and "
                        f"{label} while the app ran"
                    )
        prev = (label, wall, mono, proc)
    return out


def clock_warnings(
    study_dir: Path, study: StudyDefinition, audit: list[dict] | None = None, now: float | None = None
) -> list[str]:
    """Where the computer's clock moved backwards or far ahead between logged events."""
    now = wall_time() if now is None else now
    audit = read_audit(study_dir) if audit is None else audit
    records = [
        (
            f"audit line {i} ({e.get('event')})",
            _stamp(e.get("logged_at")),
            _stamp(e.get("mono")),
            (e.get("host"), e.get("pid")),
        )
        for i, e in enumerate(audit, start=1)
    ]
    out = _flags(records, "audit.log", now)
    for o in study.observers:
        try:
            events = list(read_events(events_file(study_dir, o)))
        except (OSError, StudyError) as e:
            out.append(f"{o}: the event log cannot be read ({e})")
            continue
        recs = [
            (f"event {i} ({e.get('kind')})", _stamp(e.get("wall")), _stamp(e.get("mono")), e.get("sid"))
            for i, e in enumerate(events, start=1)
        ]
        out += _flags(recs, f"{o} event log", now)
    return out
