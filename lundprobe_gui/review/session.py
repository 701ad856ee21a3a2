"""A reviewer's session: open a case, rate each segment, correct it unless rated 5, comment, finish.

The rules the session enforces:

* a segment is corrected only after it has been rated, and only when the rating is not 5
  ("use as is"); :meth:`ReviewSession.can_edit` tells the UI whether to enable the tools;
* a segment with a correction cannot be rated 5 until the correction is discarded;
* a case is finished only when every segment is rated.

The session is built on the shared :class:`~lundprobe_gui.session.base.WorkSession`, like a study
observer's: every event is logged in ``<review>/events.jsonl`` and active time is the one rule of
:mod:`lundprobe_gui.session.activetime` (gaps up to ``idle_seconds`` count, longer ones only a
short tail), credited to the open case only. Finishing a case stops its clock until the next
input. Every change is saved to ``state.json`` at once (input alone at least every few seconds);
the window opens the session with ``background=True`` so that saving a correction never stalls it.

Every event method takes an optional ``now`` (POSIX seconds or an aware datetime, within 5
minutes of the clock unless the test clock is enabled), for tests and replay.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..core.mask import Mask
from ..core.patient import Patient, Problem, StructureRef
from ..core.text import InvalidText, validate_text
from ..io.guard import WriteRefused
from ..io.small_files import read_small_bytes
from ..session.base import WorkSession, protect_while_open
from ..session.clock import Now, event_time, iso_utc, to_epoch
from ..session.events import LogMark
from ..session.locking import SessionLock
from ..session.writer import Post
from .errors import CorruptReviewFile, NoOpenCase, ReviewError, ReviewRuleError, ReviewTextError
from .protocol import (
    EVENTS_FILE,
    LOCK_FILE,
    OUTPUT_DIR,
    RESULTS_FILE,
    STATE_FILE,
    CaseSpec,
    SegmentSpec,
    load_protocol,
    open_case_patient,
    protected_of,
)
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
)

logger = logging.getLogger(__name__)


class _NoLock:
    """The lock of a session opened with ``lock=False`` (read-only tools)."""

    def acquire(self, now: float | None = None) -> None:
        return None

    def release(self) -> None:
        return None


class ReviewSession(WorkSession):
    """One reviewer working through the case list of a review folder.

    Parameters
    ----------
    review_dir : path
        A folder made by :func:`lundprobe_gui.review.init_review` (``review init``).
    lock : bool
        Hold ``review.lock`` while open, so a second session of the same review is refused
        (:class:`lundprobe_gui.study.errors.SessionLocked`).
    background : bool
        Write on a background thread (the window) instead of before each method returns.
    post : callable, optional
        How background results reach the caller's thread.

    Attributes
    ----------
    changed : Emitter
        Emits ``(what, case_id)`` after every change: ``"opened"``, ``"closed"``, ``"rating"``,
        ``"correction"``, ``"comment"``, ``"finished"``.
    patient : Patient or None
        The open case's patient.
    """

    def __init__(
        self, review_dir: str | Path, lock: bool = True, background: bool = False, post: Post | None = None
    ) -> None:
        self.dir = Path(review_dir)
        self.protocol = load_protocol(self.dir)
        self.state = load_state(self.dir, self.protocol)
        raw = read_small_bytes(self.dir / STATE_FILE, what="review state")
        try:
            saved = json.loads(raw)
            mark = LogMark.from_dict(saved["events"]) if saved.get("events") else None
            revision = int(saved.get("revision", 0))
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptReviewFile(f"{self.dir / STATE_FILE}: damaged event-log mark ({e})") from e
        try:
            self._unprotect = protect_while_open(self, self.dir, "review", protected_of(self.protocol))
        except WriteRefused as e:
            raise ReviewError(str(e)) from e
        WorkSession.__init__(
            self,
            lock=SessionLock(self.dir / LOCK_FILE, "review session") if lock else _NoLock(),  # type: ignore[arg-type]  # duck-typed lock
            state_path=self.dir / STATE_FILE,
            events_path=self.dir / EVENTS_FILE,
            rule=self.protocol.idle_rule,
            background=background,
            post=post,
        )
        self.patient: Patient | None = None
        self._case: CaseSpec | None = None
        t = event_time(None)
        try:
            self._lock_file.acquire(t)
        except BaseException:
            self._unprotect()
            raise
        try:
            self._open(t, raw, revision, mark)
        except ValueError as e:
            self._lock_file.release()
            self._unprotect()
            raise CorruptReviewFile(str(e)) from e
        except BaseException:
            self._lock_file.release()
            self._unprotect()
            raise

    # -- the state for the shared machinery ----------------------------------------------------------
    def _state_dict(self) -> dict:
        return self.state.to_dict()

    def _restore_state(self, data: bytes) -> None:
        restored = ReviewState.from_dict(json.loads(data), self.protocol)
        self.state.cases, self.state.current = restored.cases, restored.current

    def _time_target(self) -> Hashable | None:
        return (self._case.case_id,) if self._case is not None else None

    def _target_fields(self, target: Hashable | None) -> dict:
        return {} if target is None else {"case": cast("tuple[str]", target)[0]}

    def _credit(self, target: Hashable, seconds: float, flags: frozenset[str]) -> None:
        self.state.cases[cast("tuple[str]", target)[0]].active_seconds += seconds

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
        t = event_time(now)
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
        with self._event("case_open", t, opened=case_id):
            self.patient, self._case = patient, case
            if st.status == NOT_STARTED:
                st.status, st.started = IN_PROGRESS, iso_utc(t)
            self.state.current = case_id
            self._emit_later("opened", case_id)
        return patient

    def close_case(self, now: Now = None) -> None:
        """Stop the clock and save; the patient is released."""
        if self._case is None:
            return
        t = event_time(now)
        cid = self._case.case_id
        with self._event("case_closed", t, closed=cid):
            self.patient, self._case = None, None
            self._emit_later("closed", cid)

    def close(self, now: Now = None) -> None:
        """Close the open case and release the review lock."""
        if self._closed:
            return
        try:
            self.close_case(now)
            WorkSession.close(self, now)
        finally:
            self._unprotect()

    # -- time --------------------------------------------------------------------------------
    def active_seconds(self, case_id: str | None = None, now: Now = None) -> float:
        """Active time of a case (the open one by default), including the running part."""
        cid = case_id or self._require().case_id
        base = self.state.cases[cid].active_seconds
        g = self._clock.open_gap
        if g is not None and g.target == (cid,) and not self._closed:
            base += self._clock.running(to_epoch(now))
        return base

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
        with self._event("rating", event_time(now), segment=segment, value=int(score)):
            st.ratings[segment] = int(score)
            self._emit_later("rating", case.case_id)

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
        voxels change); a binary segment as a new version of its mask. Returns the new version
        once it and the state are written (it waits in background mode too).

        Raises
        ------
        ReviewRuleError
            When the segment is not rated, or rated 5.
        """
        box: dict = {}
        self.submit_correction(segment, mask, now, on_saved=lambda p: box.setdefault("path", p), **provenance)
        if self.background:
            self.flush()
        if "path" not in box:
            raise ReviewError(f"the correction of {segment} was not saved: {self.save_failure or 'unknown reason'}")
        return box["path"]

    def submit_correction(
        self,
        segment: str,
        mask: Mask | np.ndarray,
        now: Now = None,
        on_saved: Callable[[Path], None] | None = None,
        **provenance: Any,
    ) -> None:
        """Save a correction as :meth:`save_correction` does, without waiting in background mode.

        ``mask`` must not change afterwards (hand over a copy); ``on_saved(path)`` runs in the
        caller's thread once the version is written and recorded.
        """
        case = self._require()
        why = self.edit_refusal(segment)
        if why:
            raise ReviewRuleError(why)
        seg = case.segment(segment)
        st = self.state.cases[case.case_id]
        provenance.setdefault("tool", "review")
        patient, rating = self._open_patient(), st.ratings[segment]

        def write() -> Path:
            path = patient.save_mask(
                segment,
                mask,
                source=case.source,
                out_dir=self.output_dir,
                frame=case.frame,
                user=self.reviewer,
                review_case=case.case_id,
                rating=rating,
                **provenance,
            )
            with self.mutex:
                st.files[seg.file] = path.relative_to(self.dir).as_posix()
                if segment not in st.corrected:
                    st.corrected.append(segment)
            return path

        def done(path: Path) -> None:
            emit = self.changed.emit if self.background else self._emit_later
            emit("correction", case.case_id)
            if on_saved is not None:
                on_saved(path)

        with self._event("correction", event_time(now), segment=segment):
            self.submit_write(write, on_done=done)

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
        patient = self._open_patient()
        with self._event("discard", event_time(now), segment=segment):
            st.corrected.remove(segment)  # at once: the segment may be rated 5 right after
            if seg.label is None:
                st.files.pop(seg.file, None)
                patient.register_structure(StructureRef(seg.name, case.source, case.frame, str(ai_path)))
            else:
                self.submit_write(
                    functools.partial(self._discard_label, patient, case, seg, st, ai_path),
                    on_done=lambda _p: self.changed.emit("correction", case.case_id) if self.background else None,
                )
            self._emit_later("correction", case.case_id)

    def _discard_label(self, patient: Patient, case: CaseSpec, seg: SegmentSpec, st: CaseState, ai_path: Path) -> Path:
        geom = patient.frames[case.frame].geometry
        ai_mask, _ = patient.store.load_mask(
            StructureRef(seg.name, case.source, case.frame, str(ai_path), seg.label), geom
        )
        path = patient.save_mask(
            seg.name,
            ai_mask,
            source=case.source,
            out_dir=self.output_dir,
            frame=case.frame,
            user=self.reviewer,
            review_case=case.case_id,
            tool="review: discard correction",
        )
        with self.mutex:
            st.files[seg.file] = path.relative_to(self.dir).as_posix()
        return path

    def set_comment(self, kind: str, text: str, now: Now = None) -> None:
        """Set the ``"segmentation"`` or ``"findings"`` comment of the open case."""
        case = self._require()
        if kind not in COMMENT_KINDS:
            raise ReviewError(f"comment kind must be one of {', '.join(COMMENT_KINDS)}, not {kind!r}")
        try:
            text = validate_text(text, f"the {kind} comment", MAX_COMMENT)
        except InvalidText as e:
            raise ReviewTextError(str(e)) from None
        with self._event("comment", event_time(now), comment=kind):
            self.state.cases[case.case_id].comments[kind] = text
            self._emit_later("comment", case.case_id)

    def finish_case(self, now: Now = None) -> Path:
        """Mark the open case done (every segment must be rated) and stop its clock; refreshes
        ``review-results.csv``. The case stays open; further input or changes count again.

        Returns
        -------
        Path
            The results file (being written in background mode).
        """
        case = self._require()
        st = self.state.cases[case.case_id]
        missing = [s.name for s in case.segments if s.name not in st.ratings]
        if missing:
            raise ReviewRuleError(
                f"rate every segment before finishing case {case.case_id}: {', '.join(missing)} still unrated"
            )
        t = event_time(now)
        # the reviewer is done with the case: its clock stops here, and runs again only on new input
        with self._event("finish", t, pause=True, finished=case.case_id):
            st.status, st.finished = DONE, iso_utc(t)
            self._emit_later("finished", case.case_id)
        self.submit_write(self.export)
        return self.dir / RESULTS_FILE

    def export(self, path: str | Path | None = None, include_unfinished: bool = False) -> Path:
        """Write ``review-results.csv`` (see :mod:`lundprobe_gui.review.results`)."""
        with self.mutex:
            state = ReviewState.from_dict(self.state.to_dict(), self.protocol)
        return write_results(self.dir, self.protocol, state, path, include_unfinished)

    # -- internals -------------------------------------------------------------------------
    def _require(self) -> CaseSpec:
        if self._case is None:
            raise NoOpenCase("no case is open; open one first")
        return self._case

    def _open_patient(self) -> Patient:
        """The open case's patient (it is set and cleared with the case)."""
        if self.patient is None:
            raise NoOpenCase("no case is open; open one first")
        return self.patient

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
