"""A reviewer's session: open a case, rate each segment, correct it unless rated 5, comment, finish.

The rules the session enforces:

* a segment is corrected only after it has been rated, and only when the rating is not 5
  ("use as is"); :meth:`ReviewSession.can_edit` tells the UI whether to enable the tools;
* a segment with a correction cannot be rated 5 until the correction is discarded;
* a case is finished only when every segment is rated.

Active time comes from explicit events (:meth:`ReviewSession.activity` for every input, and the
actions themselves) through :class:`lundprobe_gui.study.timing.ActiveTimer`: the clock runs for
``idle_seconds`` (2 minutes) after each input and pauses on its own, and only while a case is
open. Every change is saved to ``state.json`` at once; the time alone is saved at least every
:data:`PERSIST_EVERY_S` seconds of input, and whenever a case is closed.

Every event method takes an optional ``now`` (POSIX seconds or an aware datetime), for tests and replay.
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from ..core.events import Emitter
from ..core.mask import Mask
from ..core.patient import Patient, Problem, StructureRef
from ..core.text import InvalidText, validate_text
from ..io.guard import WriteRefused, claim_output_root, protect, unprotect
from ..study.clock import Now, iso_utc, to_epoch
from ..study.locking import SessionLock
from ..study.timing import ActiveTimer
from .errors import NoOpenCase, ReviewError, ReviewRuleError, ReviewTextError
from .protocol import LOCK_FILE, OUTPUT_DIR, CaseSpec, SegmentSpec, load_protocol, open_case_patient, protected_of
from .results import write_results
from .scale import NO_CORRECTION_SCORE, level
from .state import (
    COMMENT_KINDS,
    DONE,
    IN_PROGRESS,
    MAX_COMMENT,
    NOT_STARTED,
    CaseState,
    ReviewState,
    load_state,
    save_state_dict,
)

logger = logging.getLogger(__name__)

PERSIST_EVERY_S = 10.0


class ReviewSession:
    """One reviewer working through the case list of a review folder.

    Parameters
    ----------
    review_dir : path
        A folder made by :func:`lundprobe_gui.review.init_review` (``review init``).
    lock : bool
        Hold ``review.lock`` while open, so a second session of the same review is refused
        (:class:`lundprobe_gui.study.errors.SessionLocked`).

    Attributes
    ----------
    changed : Emitter
        Emits ``(what, case_id)`` after every change: ``"opened"``, ``"closed"``, ``"rating"``,
        ``"correction"``, ``"comment"``, ``"finished"``.
    patient : Patient or None
        The open case's patient.
    """

    def __init__(self, review_dir: str | Path, lock: bool = True) -> None:
        self.dir = Path(review_dir)
        self.protocol = load_protocol(self.dir)
        self.state = load_state(self.dir, self.protocol)
        self._saved = self.state.to_dict()
        self.changed = Emitter()
        self.patient: Patient | None = None
        self._case: CaseSpec | None = None
        self._timer = ActiveTimer(self.protocol.idle_seconds)
        self._saved_at: float | None = None
        protected = protected_of(self.protocol)
        self._unprotect = weakref.finalize(self, unprotect, protect(protected))
        try:
            claim_output_root(self.dir, "review", protected)
        except WriteRefused as e:
            raise ReviewError(str(e)) from e
        self._lock = SessionLock(self.dir / LOCK_FILE, "review session") if lock else None
        if self._lock is not None:
            self._lock.acquire()

    # -- the case list ---------------------------------------------------------------------
    @property
    def reviewer(self) -> str:
        """The reviewer ID."""
        return self.protocol.reviewer

    @property
    def output_dir(self) -> Path:
        """``<review>/output``: where corrections are saved."""
        return self.dir / OUTPUT_DIR

    @property
    def case_ids(self) -> list[str]:
        """Every case, in review order."""
        return [c.case_id for c in self.protocol.cases]

    @property
    def current(self) -> CaseSpec | None:
        """The open case."""
        return self._case

    def case_state(self, case_id: str | None = None) -> CaseState:
        """Progress on a case (the open one by default)."""
        cid = case_id or self._require().case_id
        self.protocol.case(cid)
        return self.state.cases[cid]

    def next_case(self) -> str | None:
        """The case to work on: the one open at the last crash or close if unfinished, else the first unfinished."""
        if self.state.current and self.state.cases[self.state.current].status != DONE:
            return self.state.current
        return next((c for c in self.case_ids if self.state.cases[c].status != DONE), None)

    def segments(self) -> tuple[SegmentSpec, ...]:
        """The open case's segments."""
        return self._require().segments

    # -- opening and closing ---------------------------------------------------------------
    def open_case(self, case_id: str, now: Now = None) -> Patient:
        """Open a case (closing the previous one) and start its clock.

        The patient shows the newest saved corrections. Raises :class:`ReviewError` when the
        case's folder or its AI segmentation is gone.
        """
        case = self.protocol.case(case_id)
        t = to_epoch(now)
        if self._case is not None:
            self.close_case(t)
        try:
            patient = open_case_patient(self.protocol, case)
        except FileNotFoundError as e:
            raise ReviewError(f"case {case_id}: {e}") from e
        frame = patient.frames.get(case.frame)
        for seg in case.segments:
            if frame is None or (seg.name, case.source) not in frame.structures:
                raise ReviewError(
                    f"case {case_id}: segment {seg.name} ({case.source}) is no longer in {self.protocol.case_dir(case)}"
                )
        st = self.state.cases[case_id]
        for ai_file, saved in st.files.items():
            self._point(patient, case, ai_file, self.dir / saved)
        self.patient, self._case = patient, case
        if st.status == NOT_STARTED:
            st.status, st.started = IN_PROGRESS, iso_utc(t)
        self.state.current = case_id
        self._timer.activity(t)
        self._save(t)
        self.changed.emit("opened", case_id)
        return patient

    def close_case(self, now: Now = None) -> None:
        """Stop the clock and save; the patient is released."""
        if self._case is None:
            return
        t = to_epoch(now)
        cid = self._case.case_id
        self._credit(self._timer.pause(t))
        self._save(t)
        self.patient, self._case = None, None
        self.changed.emit("closed", cid)

    def close(self, now: Now = None) -> None:
        """Close the open case and release the review lock."""
        self.close_case(now)
        if self._lock is not None:
            self._lock.release()
        self._unprotect()

    # -- time --------------------------------------------------------------------------------
    def activity(self, now: Now = None) -> None:
        """An input event (mouse, key, scroll) while the case is shown."""
        if self._case is None:
            return
        t = to_epoch(now)
        self._credit(self._timer.activity(t))
        if self._saved_at is None or t - self._saved_at >= PERSIST_EVERY_S:
            self._save(t)

    def window_minimised(self, now: Now = None) -> None:
        """The window was hidden: the clock pauses at once."""
        if self._case is not None:
            t = to_epoch(now)
            self._credit(self._timer.window_minimised(t))
            self._save(t)

    def window_restored(self, now: Now = None) -> None:
        """The window is shown again: the clock runs as after an input."""
        if self._case is not None:
            self._credit(self._timer.window_restored(to_epoch(now)))

    def active_seconds(self, case_id: str | None = None, now: Now = None) -> float:
        """Active time of a case (the open one by default), including the running part."""
        cid = case_id or self._require().case_id
        st = self.state.cases[cid]
        if self._case is not None and cid == self._case.case_id:
            self._credit(self._timer.credit(to_epoch(now)))
        return st.active_seconds

    # -- ratings, corrections, comments ------------------------------------------------------
    def rate(self, segment: str, score: int, now: Now = None) -> None:
        """Rate a segment 1..5 (see :data:`lundprobe_gui.review.scale.LIKERT_SCALE`).

        Raises
        ------
        ReviewRuleError
            When rating 5 a segment that has a correction.
        """
        case = self._require()
        case.segment(segment)
        try:
            level(score)
        except ValueError as e:
            raise ReviewRuleError(str(e)) from e
        st = self.state.cases[case.case_id]
        if score == NO_CORRECTION_SCORE and segment in st.corrected:
            raise ReviewRuleError(
                f"{segment} has a saved correction, so it cannot be rated {score} (use as is); "
                "discard the correction first"
            )
        st.ratings[segment] = int(score)
        self._changed("rating", now)

    def edit_refusal(self, segment: str) -> str | None:
        """Why a segment cannot be corrected now, or None when it can."""
        case = self._require()
        case.segment(segment)
        score = self.state.cases[case.case_id].ratings.get(segment)
        if score is None:
            return f"rate {segment} first: corrections start after the rating"
        if score == NO_CORRECTION_SCORE:
            return f"{segment} is rated {score} (use as is), so it is not corrected"
        return None

    def can_edit(self, segment: str) -> bool:
        """Whether the editing tools may change a segment (rated, and not rated 5)."""
        return self.edit_refusal(segment) is None

    def save_correction(self, segment: str, mask: Mask | np.ndarray, now: Now = None, **provenance: Any) -> Path:
        """Save a corrected segment through ``Patient.save_mask`` into ``<review>/output``.

        A label-map segment is saved as a new version of the whole label map (only its own
        voxels change); a binary segment as a new version of its mask. Returns the new version.

        Raises
        ------
        ReviewRuleError
            When the segment is not rated, or rated 5.
        """
        case = self._require()
        why = self.edit_refusal(segment)
        if why:
            raise ReviewRuleError(why)
        seg = case.segment(segment)
        st = self.state.cases[case.case_id]
        provenance.setdefault("tool", "review")
        path = self.patient.save_mask(
            segment,
            mask,
            source=case.source,
            out_dir=self.output_dir,
            frame=case.frame,
            user=self.reviewer,
            review_case=case.case_id,
            rating=st.ratings[segment],
            **provenance,
        )
        st.files[seg.file] = path.relative_to(self.dir).as_posix()
        if segment not in st.corrected:
            st.corrected.append(segment)
        self._changed("correction", now)
        return path

    def discard_correction(self, segment: str, now: Now = None) -> None:
        """Undo a segment's correction: it shows (and counts as) the AI segment again.

        A binary segment goes back to its AI file. A label-map segment gets its AI voxels back
        in a new version of the label map (other labels keep their corrections; AI voxels that
        another label's correction has taken meanwhile stay with that label).
        """
        case = self._require()
        seg = case.segment(segment)
        st = self.state.cases[case.case_id]
        if segment not in st.corrected:
            return
        ai_path = Path(self.protocol.dataset) / seg.file
        if seg.label is None:
            st.files.pop(seg.file, None)
            self.patient.register_structure(StructureRef(seg.name, case.source, case.frame, str(ai_path)))
        else:
            geom = self.patient.frames[case.frame].geometry
            ai_mask, _ = self.patient.store.load_mask(
                StructureRef(seg.name, case.source, case.frame, str(ai_path), seg.label), geom
            )
            path = self.patient.save_mask(
                segment,
                ai_mask,
                source=case.source,
                out_dir=self.output_dir,
                frame=case.frame,
                user=self.reviewer,
                review_case=case.case_id,
                tool="review: discard correction",
            )
            st.files[seg.file] = path.relative_to(self.dir).as_posix()
        st.corrected.remove(segment)
        self._changed("correction", now)

    def set_comment(self, kind: str, text: str, now: Now = None) -> None:
        """Set the ``"segmentation"`` or ``"findings"`` comment of the open case."""
        case = self._require()
        if kind not in COMMENT_KINDS:
            raise ReviewError(f"comment kind must be one of {', '.join(COMMENT_KINDS)}, not {kind!r}")
        try:
            text = validate_text(text, f"the {kind} comment", MAX_COMMENT)
        except InvalidText as e:
            raise ReviewTextError(str(e)) from None
        self.state.cases[case.case_id].comments[kind] = text
        self._changed("comment", now)

    def finish_case(self, now: Now = None) -> Path:
        """Mark the open case done (every segment must be rated) and stop its clock; refreshes
        ``review-results.csv``. The case stays open; further input or changes count again.

        Returns
        -------
        Path
            The results file.
        """
        case = self._require()
        st = self.state.cases[case.case_id]
        missing = [s.name for s in case.segments if s.name not in st.ratings]
        if missing:
            raise ReviewRuleError(
                f"rate every segment before finishing case {case.case_id}: {', '.join(missing)} still unrated"
            )
        t = to_epoch(now)
        st.status, st.finished = DONE, iso_utc(t)
        self._credit(self._timer.activity(t))
        # The reviewer is done with the case: its clock stops here, and runs again only on new input.
        self._credit(self._timer.pause(t))
        self._save(t)
        self.changed.emit("finished", case.case_id)
        return self.export()

    def export(self, path: str | Path | None = None, include_unfinished: bool = False) -> Path:
        """Write ``review-results.csv`` (see :mod:`lundprobe_gui.review.results`)."""
        return write_results(self.dir, self.protocol, self.state, path, include_unfinished)

    # -- internals -------------------------------------------------------------------------
    def _require(self) -> CaseSpec:
        if self._case is None:
            raise NoOpenCase("no case is open; open one first")
        return self._case

    def _credit(self, seconds: float) -> None:
        if self._case is not None and seconds > 0:
            self.state.cases[self._case.case_id].active_seconds += seconds

    def _changed(self, what: str, now: Now) -> None:
        # An action is an input too: it keeps the clock running.
        t = to_epoch(now)
        self._credit(self._timer.activity(t))
        self._save(t)
        self.changed.emit(what, self._case.case_id if self._case else None)

    def _save(self, t: float) -> None:
        # A change and its save are one step: when the save fails, the change is taken back, so the
        # state in memory never runs ahead of state.json (and never holds what cannot be written).
        data = self.state.to_dict()
        try:
            save_state_dict(self.dir, data)
        except BaseException:
            restored = ReviewState.from_dict(self._saved, self.protocol)
            self.state.cases, self.state.current = restored.cases, restored.current
            logger.warning("saving %s failed; the unsaved change was taken back", self.dir)
            raise
        self._saved = data
        self._saved_at = t

    def _point(self, patient: Patient, case: CaseSpec, ai_file: str, saved: Path) -> None:
        """Show the segments made from ``ai_file`` from the saved file ``saved`` instead.

        Used when a case is reopened: the newest version this review recorded is what the
        results file names, so that is what the reviewer sees and edits further.
        """
        if not saved.is_file():
            patient.add_problem(
                Problem(
                    str(saved),
                    "missing",
                    "a saved correction of this review is missing; the AI segmentation is shown instead",
                )
            )
            return
        for seg in case.segments:
            if seg.file != ai_file:
                continue
            ref = patient.frames[case.frame].structures[(seg.name, case.source)]
            if Path(ref.path) != saved:
                patient.register_structure(
                    StructureRef(seg.name, case.source, case.frame, str(saved), seg.label, ref.colour)
                )
