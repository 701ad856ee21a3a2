"""The Study dock's content from the session, and the observer's answers back to it (a mixin of StudyMode).

The panel (:class:`~lundprobe_gui.ui.study_panel.StudyPanel`) is a view: this mixin builds its
:class:`~lundprobe_gui.ui.study_panel.PanelCase` from the session, sends the ratings and comments
the observer gives to ``session.rate`` (only when the panel still shows the session's current
case and structure), and runs the live clock when the study shows it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from ..study import WAITING, CaseView, ObserverSession, RatingFrozen, StudyError
from .study_panel import PanelCase, StructureInfo, StudyPanel

if TYPE_CHECKING:
    from ..core.patient import Patient
    from ..study.state import CaseRecord
    from .main_window import MainWindow

logger = logging.getLogger(__name__)

POLL_WASHOUT_S = 60.0


class StudyPanelControl:
    """Panel updates, ratings and the clock of :class:`~lundprobe_gui.ui.study_mode.StudyMode`."""

    # What StudyMode gives its mixins, declared for the type checker.
    window: MainWindow
    session: ObserverSession | None
    panel: StudyPanel
    _loaded_patient: Patient | None
    _last_poll: float

    if TYPE_CHECKING:

        @property
        def active(self) -> bool: ...

        def refresh(self) -> None: ...

        def _update_menu(self) -> None: ...

        def inform(self, title: str, text: str, warning: bool = False) -> None: ...

    def update_panel(self) -> None:
        """Rebuild the panel from the session."""
        s = self.session
        if s is None or not self.active:
            return
        view = s.current_case()
        if view is None:
            return
        rec = self._case_record(s, view)
        infos = []
        for name in view.structures:
            srec = rec.structures[name] if rec is not None else None
            infos.append(
                StructureInfo(
                    name,
                    not s.missing_ratings(name),
                    bool(srec and srec.editing_started_at),
                    int(srec.saves) if srec else 0,
                )
            )
        active = view.active_structure
        srec = rec.structures[active] if rec is not None else None
        prog = s.progress()
        ctrl = self.window.edit
        case = PanelCase(
            observer=s.observer,
            step=view.step,
            step_title=view.step_title,
            instructions=view.instructions,
            pseudonym=view.pseudonym,
            position=view.position,
            total=view.total,
            finished=prog.finished,
            progress_text=prog.text,
            structures=tuple(infos),
            active=active,
            ratings={qid: a.value for qid, a in s.ratings(active).items()},
            missing=tuple(s.missing_ratings(active)),
            frozen=bool(srec and srec.editing_started_at),
            editing_now=ctrl.session is not None and ctrl.active == (active, s.target_source),
            can_finish=all(i.rated for i in infos) and self._loaded_patient is not None,
            uncertainty_shown=s.visibility().uncertainty_allowed,
        )
        self.panel.show_case(case)
        self._show_time()

    @staticmethod
    def _case_record(s: ObserverSession, view: CaseView) -> CaseRecord | None:
        rec = s.state.steps.get(view.step)
        if rec is None:
            return None
        return next((c for c in rec.cases if c.pseudonym == view.pseudonym), None)

    def _panel_matches(self) -> bool:
        """The panel shows the session's current case and structure (so an answer goes where it is seen)."""
        view = self.session.current_case() if self.session is not None and self.active else None
        pc = self.panel.case
        return (
            view is not None and pc is not None and (pc.pseudonym, pc.active) == (view.pseudonym, view.active_structure)
        )

    # -- ratings --------------------------------------------------------------------------------------
    def _on_rated(self, qid: str, value: Any) -> None:
        if not self._panel_matches():
            self.update_panel()
            return
        s, case = self.session, self.panel.case
        if s is None or case is None:  # _panel_matches says both are there; the check keeps the types honest
            return
        try:
            s.rate(qid, value, structure=case.active)
        except RatingFrozen as e:
            self.inform(
                "Rating fixed",
                f"{e}\nScale answers rate the starting segmentation, so they cannot change once editing has begun.",
            )
        except StudyError as e:
            self.inform("Rating not saved", str(e), warning=True)
        self.update_panel()

    def _on_comment(self, qid: str, text: str) -> None:
        if not self._panel_matches():
            return
        s, case = self.session, self.panel.case
        if s is None or case is None:
            return
        name = case.active
        old = s.ratings(name).get(qid)
        if (old.value if old is not None else "") == text:
            return
        try:
            s.rate(qid, text, structure=name)
        except StudyError as e:
            self.inform("Comment not saved", str(e), warning=True)
        self.update_panel()

    def rate(self, qid: str, value: Any) -> None:
        """Answer a question for the active structure as if the observer used the panel (scripts, tests)."""
        if qid in self.panel.likert:
            b = self.panel.likert[qid].button(int(value))
            if b is None:
                raise ValueError(f"{value!r} is not on the {qid} scale")
            b.click()
        elif qid in self.panel.texts:
            self.panel.texts[qid].setPlainText(str(value))
            self.panel.flush_comment()
        else:
            raise KeyError(qid)

    # -- time -----------------------------------------------------------------------------------------
    def _layers_switched(self, before: dict, after: dict) -> None:
        s = self.session
        if before.get("uncertainty") != after.get("uncertainty") and s is not None and self.active:
            try:
                s.set_uncertainty_shown(bool(after.get("uncertainty")))
            except StudyError:
                logger.debug("layer switch outside a case", exc_info=True)

    def on_clock(self) -> None:
        """Every second: the live clock (when shown) and, while waiting, whether the step has opened."""
        s = self.session
        if s is None or not self.active:
            return
        now = time.time()
        if self.panel.case is not None:
            with contextlib.suppress(StudyError):
                self._show_time(now)
        elif now - self._last_poll >= POLL_WASHOUT_S:
            self._last_poll = now
            if s.status() != WAITING:
                self.refresh()
            else:
                self._update_menu()

    def _show_time(self, now: float | None = None) -> None:
        s = self.session
        if s is None or self.panel.case is None or not s.study.show_clock:
            return
        now = time.time() if now is None else now
        self.panel.set_time(s.active_seconds(self.panel.case.active, now=now), s.active_seconds(now=now))
