"""Corrections in an AI review: working copies in the edit session, saved through the review (a mixin of ReviewMode).

**Correct** (enabled only when the rating is not 5) opens a working copy of the segment under the
source ``"review"`` with the brush selected. A correction is handed to the review session with
``submit_correction`` (by **Save correction**, Ctrl+S or **Finish case**), which writes it on its
background thread; the editor's own Save is disabled while a review is open. **Discard** drops
the working copy and the saved correction, and the AI segment counts again.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from ..review import ReviewError, ReviewSession

if TYPE_CHECKING:
    from PySide6 import QtWidgets

    from ..core.mask import Mask
    from .main_window import MainWindow
    from .review_panel import ReviewPanel

logger = logging.getLogger(__name__)

TARGET_SOURCE = "review"
"""Source name of the working copies in the window's edit session."""


class ReviewCorrections:
    """Working copies, saving and discarding corrections of :class:`~lundprobe_gui.ui.review_mode.ReviewMode`."""

    # What ReviewMode gives its mixin, declared for the type checker.
    window: MainWindow
    session: ReviewSession | None
    panel: ReviewPanel
    dock: QtWidgets.QDockWidget
    _saved: dict[str, Mask]

    if TYPE_CHECKING:

        def refresh(self, select: str | None = None) -> None: ...

        def _tell(self, text: str, info: str) -> None: ...

    def _key(self, segment: str) -> tuple[str, str]:
        return (segment, TARGET_SOURCE)

    def _working(self, segment: str) -> bool:
        es = self.window.edit.session
        return es is not None and self._key(segment) in es.keys()  # noqa: SIM118 - EditSession.keys() is a method, not a dict

    def _unsaved(self, segment: str) -> bool:
        es = self.window.edit.session
        return es is not None and self._working(segment) and es.is_dirty(self._key(segment))

    def correct(self, segment: str) -> bool:
        """Start (or continue) correcting a segment: a working copy in the edit session, brush selected."""
        s = self.session
        if s is None or s.current is None:
            return False
        why = s.edit_refusal(segment)
        if why:
            self._tell(f"{segment} cannot be corrected now.", why)
            return False
        try:
            self.window.edit.start_editing(segment, s.current.source, TARGET_SOURCE)
        except (KeyError, ValueError) as e:
            self._tell(f"Cannot correct {segment}.", str(e))
            return False
        self.window.choose_tool("brush")
        self.dock.raise_()
        self.refresh()
        return True

    def save_correction(self, segment: str) -> bool | None:
        """Hand a segment's working copy to ``ReviewSession.submit_correction`` (written in the background).

        Returns True when a save was handed over, None when there was nothing new to save, and
        False when the review refused it (the message was shown and the edits are kept).
        """
        s, es = self.session, self.window.edit.session
        if s is None or s.current is None or es is None or not self._working(segment):
            return None
        key = self._key(segment)
        work = es.working(key)
        if work == self._saved.get(segment, es.start_mask(key)):
            es.mark_saved(key)
            self.refresh()
            return None
        st = es.stats(key)
        stats = {
            "voxels_added": int(st.added_voxels),
            "voxels_removed": int(st.removed_voxels),
            "added_cc": round(st.added_cc, 4),
            "removed_cc": round(st.removed_cc, 4),
            "dice_vs_start": None if st.dice is None else round(st.dice, 6),
        }
        snapshot = work.copy()
        try:
            s.submit_correction(
                segment,
                snapshot,
                on_saved=lambda path: self.window.statusBar().showMessage(
                    f"Saved the correction of {segment}: {path}", 8000
                ),
                tool="lundprobe_gui review",
                stats=stats,
            )
        except (ReviewError, OSError, ValueError) as e:
            self._tell(f"Saving the correction of {segment} failed.", f"{e}\nYour edits are kept in memory.")
            return False
        self._saved[segment] = snapshot
        es.mark_saved(key)
        self.window.edit.autosave()  # nothing unsaved: the recovery copy goes
        self.window.statusBar().showMessage(f"Saving the correction of {segment}...", 3000)
        self.refresh()
        return True

    def discard(self, segment: str, confirm: bool = False) -> bool:
        """Drop a segment's working copy and saved correction: the AI segment counts again."""
        s = self.session
        if s is None or s.current is None:
            return False
        corrected = segment in s.case_state().corrected
        if not (self._working(segment) or corrected):
            return False
        if confirm:
            answer = self.window.ask(
                f"Discard the correction of {segment}?",
                "The AI segment is shown and counts again.",
                ("Discard correction", "Cancel"),
            )
            if answer != "Discard correction":
                return False
        self._close_working(segment)
        if corrected:
            try:
                s.discard_correction(segment)
            except (ReviewError, OSError) as e:
                self._tell(f"Discarding the correction of {segment} failed.", str(e))
        self._saved.pop(segment, None)
        self._redraw_segment(segment)
        self.refresh()
        return True

    def _close_working(self, segment: str) -> None:
        w = self.window
        es = w.edit.session
        key = self._key(segment)
        if es is None or key not in es.keys():  # noqa: SIM118 - EditSession.keys() is a method, not a dict
            return
        es.close(key)
        skey = w.edit.scene_key(key)
        if w.scene is not None:
            w.scene.clear_edited_mask(skey)
        style = w.state.layers.get(skey) if w.state is not None else None
        if style is not None:
            style.visible = False
        if es.active_key is None and w.tri.views[w.tri.active_axis].mode == "edit":
            w.set_mouse_mode("navigate")
        w.edit.autosave()
        w.edit.changed.emit()
        w.layers.sync()
        w.tri.refresh()

    def _redraw_segment(self, segment: str) -> None:
        """Show the segment as the patient now holds it (the AI file or the saved correction)."""
        s, w = self.session, self.window
        case = s.current if s is not None else None
        if s is not None and case is not None and s.patient is not None:
            with contextlib.suppress(KeyError, ValueError):
                s.patient.mask_obj(segment, case.source, case.frame)  # a re-pointed structure loads here
        if w.scene is not None:
            w.scene.invalidate()
            w.tri.refresh()

    def _save_shortcut(self) -> None:
        name = self.panel.segment
        if name is not None and self._working(name):
            self.save_correction(name)
