"""The administrator's actions in the study window, and pointing a study at a local copy of its dataset.

Admin actions exist in the window only when the study has an admin PIN (otherwise they are
command-line only): reopening a finished case (a case of an earlier step, once the observer has
started a later one, needs a second confirmation: it is recorded as reopened after that step) and
opening a step before its washout is over. Both ask for the PIN and a reason, and are logged.

A study created on one computer records its dataset root relative to the study folder and each
patient's shown files with their sha256. When the study's dataset is not where it was recorded,
*Study > Use a local copy of the dataset...* points the window at another folder: the files are
checked by size at once and by sha256 as each case opens, and the choice is remembered per study.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from ..study import (
    AdminRequired,
    ObserverSession,
    StudyError,
    authorise_admin,
    check_patient_files,
    definition_sha256,
)

if TYPE_CHECKING:
    from ..study import StudyDefinition
    from .main_window import MainWindow

logger = logging.getLogger(__name__)

COPY_KEY = "study/dataset_copy/"


class StudyAdmin:
    """Admin actions and the dataset copy of :class:`~lundprobe_gui.ui.study_mode.StudyMode`."""

    # What StudyMode gives its mixins, declared for the type checker.
    window: MainWindow
    session: ObserverSession | None
    study_dir: Path | None

    if TYPE_CHECKING:

        @property
        def active(self) -> bool: ...

        def refresh(self) -> None: ...

        def ask(self, text: str, info: str, buttons: tuple[str, ...]) -> str: ...

        def ask_pin(self, text: str) -> str | None: ...

        def ask_reason(self, text: str) -> str | None: ...

        def choose_case(self, title: str, items: list[str]) -> str | None: ...

        def inform(self, title: str, text: str, warning: bool = False) -> None: ...

        def choose_study(self) -> tuple[Path, StudyDefinition] | None: ...

        def _save_or_rescue(self, tool: str = "lundprobe_gui study") -> bool: ...

    def _authorise(self, what: str):
        s = self.session
        if s is None or self.study_dir is None:  # no study open: nothing to authorise
            return None
        if s.study.admin is None:
            self.inform(
                "Administrator",
                "This study has no admin PIN: admin actions are available on the command "
                "line only (lundprobe-gui study ... --admin).",
            )
            return None
        pin = self.ask_pin(f"Admin PIN to {what}:")
        if pin is None:
            return None
        try:
            return authorise_admin(s.study, self.study_dir, pin=pin)
        except AdminRequired as e:
            self.inform("Administrator", str(e), warning=True)
            return None

    def admin_unlock(self) -> bool:
        """Admin: reopen a finished case (PIN, reason; logged)."""
        s = self.session
        if s is None or not self.active:
            return False
        finished = [
            (k, c.pseudonym) for k, rec in sorted(s.state.steps.items()) for c in rec.cases if c.status == "finished"
        ]
        if not finished:
            self.inform("Unlock a case", "No case is finished yet.")
            return False
        labels = [f"Step {k}: {p}" for k, p in finished]
        choice = self.choose_case("Unlock a finished case", labels)
        if choice is None or choice not in labels:
            return False
        step, pseudonym = finished[labels.index(choice)]
        later = [k for k in s.started_steps() if k > step]
        force = False
        if later:
            answer = self.ask(
                f"{pseudonym} of step {step} after step {max(later)} has started?",
                f"The observer has already worked in step {max(later)} and has seen what it shows (the "
                "uncertainty map). A case reopened now is no longer a blind rating; results.csv flags it as "
                f"reopened after step {max(later)}.",
                ("Reopen anyway", "Cancel"),
            )
            if answer != "Reopen anyway":
                return False
            force = True
        auth = self._authorise(f"unlock {pseudonym} of step {step}")
        if auth is None:
            return False
        reason = self.ask_reason("Reason (recorded in the audit log):")
        if reason is None:
            return False
        if not self._save_or_rescue():
            return False
        try:
            s.unlock_case(pseudonym, auth, step=step, reason=reason, force=force)
        except StudyError as e:
            self.inform("Unlock refused", str(e), warning=True)
            return False
        self.refresh()
        return True

    def admin_override_washout(self) -> bool:
        """Admin: open the next step now instead of after the washout (PIN, reason; logged)."""
        from ..study import WAITING

        s = self.session
        if s is None or not self.active:
            return False
        if s.status() != WAITING:
            self.inform("Override the washout", "No step is waiting for a washout.")
            return False
        auth = self._authorise("override the washout")
        if auth is None:
            return False
        reason = self.ask_reason("Reason (recorded in the audit log):")
        if reason is None:
            return False
        try:
            s.override_washout(auth, reason=reason)
        except StudyError as e:
            self.inform("Override refused", str(e), warning=True)
            return False
        self.refresh()
        return True

    # -- the dataset copy -----------------------------------------------------------------------------
    def _copy_key(self, study_dir: Path) -> str:
        try:
            return COPY_KEY + definition_sha256(study_dir)
        except StudyError:
            return COPY_KEY + str(Path(study_dir).resolve())

    def remembered_copy(self, study_dir: Path) -> Path | None:
        """The local copy of this study's dataset chosen on this computer before, if it still exists."""
        value = self.window.settings.value(self._copy_key(study_dir), "")
        if not isinstance(value, str) or not value:  # a hand-edited settings file can hold a list or a number
            return None
        return Path(value) if Path(value).is_dir() else None

    def dataset_for(self, study_dir: Path, study: StudyDefinition) -> Path | bool | None:
        """The dataset root to open the session with: None for the recorded one, a copy, or False when cancelled."""
        recorded = study.dataset_path(study_dir)
        copy = self.remembered_copy(study_dir)
        if copy is not None:
            return copy
        if all((recorded / p).is_dir() for p in study.patients):
            return None
        self.inform(
            "The study's dataset is not here",
            "The patients of this study are not in the dataset folder it records. Choose your local copy "
            "of the dataset: its files are checked against the study's before any case is shown.",
        )
        return self.choose_dataset_copy(study_dir, study)

    def choose_dataset_copy(self, study_dir: Path, study: StudyDefinition) -> Path | bool:
        """Ask for a local copy of the dataset, check it (file sizes) and remember it; False when cancelled."""
        while True:
            folder = self.choose_dataset_dir()
            if folder is None:
                return False
            problems = [
                f"{p}: {why}" for p in study.patients if (why := check_patient_files(study, p, folder, full=False))
            ]
            if not problems:
                self.window.settings.setValue(self._copy_key(study_dir), str(folder))
                return Path(folder)
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            self.inform(
                "Not a copy of the study's dataset",
                f"{folder} does not hold the study's files: {'; '.join(problems[:3])}{more}.",
                warning=True,
            )

    def use_dataset_copy(self) -> bool:
        """Study > Use a local copy of the dataset: choose it before starting (remembered per study)."""
        if self.active:
            self.inform("Study", "End the study session first; the copy is used from the next start.")
            return False
        chosen = self.choose_study()
        return chosen is not None and bool(self.choose_dataset_copy(*chosen))

    def choose_dataset_dir(self) -> Path | None:
        """The folder of a local copy of the dataset, or None when cancelled (tests replace this)."""
        d = QtWidgets.QFileDialog.getExistingDirectory(
            self.window, "Local copy of the study's dataset", str(Path.home())
        )
        return Path(d) if d else None
