"""The administrator's actions on an observer's session (a mixin of ObserverSession): unlock, washout override."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..session.clock import Now, event_time, iso_utc
from .admin import AdminAuth, reason_text
from .audit import append_audit
from .errors import StudyError
from .seal import seal_if_unsealed
from .state import FINISHED, IN_PROGRESS, PENDING, CaseRecord, StepRecord

if TYPE_CHECKING:
    from .session import ObserverSession

# The methods below are ObserverSession's, kept in a mixin so each module stays small: they annotate
# ``self`` as ObserverSession, which mypy flags as a self type that is not a supertype of the mixin.

logger = logging.getLogger(__name__)


class AdminActions:
    """Unlocking finished cases and overriding washouts (admin only; logged)."""

    def _find_finished(self: ObserverSession, pseudonym: str, step: int | None) -> tuple[StepRecord, CaseRecord]:  # type: ignore[misc]  # mixin: self is its ObserverSession
        found = [
            (rec, c)
            for k, rec in sorted(self._state.steps.items())
            if step is None or k == step
            for c in rec.cases
            if c.matches(pseudonym)
        ]
        if not found:
            where = f" in step {step}" if step is not None else ""
            raise StudyError(f"{self.observer} has no case {pseudonym!r}{where}")
        finished = [(r, c) for r, c in found if c.status == FINISHED]
        if not finished:
            raise StudyError(f"{pseudonym} of {self.observer} is not finished, so it is not locked")
        if len(finished) > 1:
            raise StudyError(f"{pseudonym} is finished in steps {[r.step for r, _ in finished]}: say which step")
        return finished[0]

    def started_steps(self: ObserverSession) -> list[int]:  # type: ignore[misc]  # mixin: self is its ObserverSession
        """The steps in which the observer has started at least one case."""
        return [k for k, rec in sorted(self._state.steps.items()) if any(c.status != PENDING for c in rec.cases)]

    def unlock_case(  # type: ignore[misc]  # mixin: self is its ObserverSession
        self: ObserverSession,
        pseudonym: str,
        admin: AdminAuth,
        step: int | None = None,
        reason: str = "",
        now: Now = None,
        force: bool = False,
    ) -> None:
        """Reopen a finished case (admin only; logged). It becomes the current case of its step.

        The step's first completion time (the start of the washout) is kept. Reopening a case of a
        step after the observer has started a later step (and so has seen what that step shows,
        the uncertainty map) needs ``force``; the unlock records the latest step started then.
        """
        self._check_open()
        if not isinstance(admin, AdminAuth):
            raise StudyError("unlocking a finished case needs the administrator")
        reason = reason_text(reason)
        t = event_time(now)
        rec, case = self._find_finished(pseudonym, step)
        later = [k for k in self.started_steps() if k > rec.step]
        if later and not force:
            raise StudyError(
                f"{case.pseudonym} of step {rec.step} cannot be reopened without --force: {self.observer} has started "
                f"step {max(later)} and has seen what it shows; a reopened case is then no longer a step {rec.step} "
                "rating (results.csv flags it)"
            )
        seal_if_unsealed(self.study_dir, admin)
        with self._event("unlock", t, unlocked=case.pseudonym, unlocked_step=rec.step):
            case.unlocks.append(
                {
                    "at": iso_utc(t),
                    "by": admin.by,
                    "method": admin.method,
                    "reason": reason,
                    "previous_finished_at": case.finished_at,
                    "after_step": max(later) if later else None,
                    "forced": bool(later),
                }
            )
            case.status = IN_PROGRESS
            case.finished_at = None
            self._emit_later("case_unlocked", step=rec.step, pseudonym=case.pseudonym)
        append_audit(
            self.study_dir,
            "case_unlocked",
            now=t,
            observer=self.observer,
            step=rec.step,
            pseudonym=case.pseudonym,
            patient=case.patient,
            by=admin.by,
            method=admin.method,
            reason=reason,
            after_step=max(later) if later else None,
            forced=bool(later),
        )

    def override_washout(  # type: ignore[misc]  # mixin: self is its ObserverSession
        self: ObserverSession, admin: AdminAuth, step: int | None = None, reason: str = "", now: Now = None
    ) -> int:
        """Open a later step without waiting for the washout (admin only; logged). Returns the step.

        The step still starts only after the previous one is finished.
        """
        self._check_open()
        if not isinstance(admin, AdminAuth):
            raise StudyError("overriding the washout needs the administrator")
        reason = reason_text(reason)
        t = event_time(now)
        if step is None:
            later = [s.step for s in self.study.steps[1:] if not self._state.steps[s.step].washout_override]
            step = next((k for k in later if not self._state.steps[k].finished()), None)
            if step is None:
                raise StudyError("no step is waiting for a washout")
        if step not in self._state.steps or step == 1:
            raise StudyError(f"step {step} has no washout to override")
        rec = self._state.steps[step]
        if rec.washout_override:
            raise StudyError(f"the washout before step {step} was already overridden at {rec.washout_override['at']}")
        seal_if_unsealed(self.study_dir, admin)
        with self._event("washout_override", t, opened_step=step):
            rec.washout_override = {"at": iso_utc(t), "by": admin.by, "method": admin.method, "reason": reason}
            self._emit_later("washout_overridden", step=step)
        append_audit(
            self.study_dir,
            "washout_overridden",
            now=t,
            observer=self.observer,
            step=step,
            by=admin.by,
            method=admin.method,
            reason=reason,
        )
        return step
