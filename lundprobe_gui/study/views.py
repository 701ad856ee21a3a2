"""What a session shows the UI: the current case, the progress, a saved edit (read-only dataclasses)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

ACTIVE, WAITING, COMPLETE = "active", "waiting_washout", "complete"
"""Session states: a case is open; the next step waits for its washout; every step is finished."""


@dataclass(frozen=True)
class CaseView:
    """The current case as the UI may show it (no patient ID: the pseudonym stands for it)."""

    step: int
    position: int
    total: int
    pseudonym: str
    status: str
    structures: tuple[str, ...]
    active_structure: str
    step_title: str
    instructions: str


@dataclass(frozen=True)
class Progress:
    """Where the observer stands.

    ``state`` is ``active``, ``waiting_washout`` or ``complete``; ``position`` is the current
    case's 1-based position (0 when there is none); ``available_at`` is when the waiting step opens.
    """

    state: str
    step: int | None
    position: int
    total: int
    finished: int
    available_at: str | None = None

    @property
    def text(self) -> str:
        """``Case k of N`` (or what the observer is waiting for)."""
        if self.state == ACTIVE:
            return f"Case {self.position} of {self.total}"
        if self.state == WAITING:
            return f"Step {self.step} opens on {self.available_at}"
        return "All steps are finished"


@dataclass(frozen=True)
class SavedEdit:
    """What :meth:`ObserverSession.save_edit` wrote."""

    structure: str
    version_file: Path
    output_file: Path
    sha256: str
    voxels_added: int
    voxels_removed: int
