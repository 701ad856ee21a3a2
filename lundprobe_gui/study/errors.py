"""Errors of the study package: every one carries a message meant for the person at the screen."""

from __future__ import annotations

import logging

from ..session.errors import ClockRefused, DamagedFile, SessionError, SessionLocked  # noqa: F401 - re-exported under the old name

logger = logging.getLogger(__name__)

StudyError = SessionError
"""A study-level problem whose message can be shown as is (the CLI exits with code 2)."""


class CorruptStudyFile(DamagedFile):
    """A study file (study.json, a session file) cannot be read or fails its checks; nothing has been overwritten."""


class DefinitionChanged(StudyError):
    """``study.json`` differs from the definition sealed when the study was created (or last re-sealed)."""


class AdminRequired(StudyError):
    """An action needs the study administrator (PIN or ``--admin``), and it was not given."""


class StepLocked(StudyError):
    """A step cannot be started yet (washout not over, or the previous step not finished)."""


class CaseLocked(StudyError):
    """The case is finished and locked; only the administrator can unlock it."""


class RatingsIncomplete(StudyError):
    """Editing or finishing was asked for before the required ratings were given."""

    def __init__(self, structure: str, missing: list[str]) -> None:
        self.structure = structure
        self.missing = list(missing)
        super().__init__(
            f"rate {structure} first: {', '.join(missing)} still missing "
            "(editing starts only after the ratings are complete)"
        )


class RatingFrozen(StudyError):
    """A scale rating cannot change once editing of that structure has begun."""


class NoCurrentCase(StudyError):
    """There is no case to work on now (step finished, waiting for the washout, or study done)."""
