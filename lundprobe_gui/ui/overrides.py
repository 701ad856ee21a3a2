"""What a mode that takes the window over (a study session) decides instead of the window.

:class:`~lundprobe_gui.ui.main_window.MainWindow` and
:class:`~lundprobe_gui.ui.edit_controller.EditController` each have an ``override`` attribute,
None by default. While it is set, the methods listed here hand their call to it, so a study can
refuse other patients, blind the viewer state and send every save to the study, and the window
and controller go back to their own behaviour when it is set to None again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..core.patient import Patient
    from ..edit import recovery
    from ..render.state import ViewerState


class WindowOverride(Protocol):
    """The main window's calls that a mode answers instead."""

    def open_path(self, path: str | Path | None) -> None:
        """Open a patient or dataset (a study refuses)."""

    def show_dataset(self, root: Path) -> None:
        """List a dataset's patients in the browser."""

    def remember(self, path: Path) -> None:
        """Add a patient to the recent list."""

    def show_problems(self) -> None:
        """Fill the Problems panel."""

    def make_state(self, patient: Patient) -> ViewerState:
        """The initial display state of a patient."""

    def confirm_discard(self) -> bool:
        """Whether the patient may be closed; unsaved edits are dealt with first."""


class EditOverride(Protocol):
    """The edit controller's calls that a mode answers instead."""

    def start_editing(self, name: str, source: str, target_source: str) -> tuple[str, str]:
        """Open a working copy of (name, source)."""

    def new_structure(self, name: str, target_source: str) -> tuple[str, str]:
        """An empty structure to draw."""

    def copy_from(self, name: str, source: str, mode: str = "set") -> bool:
        """Replace the active working copy with another structure."""

    def reset_to(self, name: str, source: str) -> bool:
        """Reset the active working copy to a source mask."""

    def save(
        self,
        keys: list[tuple[str, str]] | None = None,
        out_dir: Path | None = None,
        background: bool = True,
        on_done: Callable[[list[Path]], None] | None = None,
    ) -> threading.Thread | None:
        """Save working copies (the thread writing them, if one does)."""

    def autosave(self) -> None:
        """Keep unsaved working copies safe."""

    def find_recovery(self) -> recovery.Recovery | None:
        """An autosave left by a previous run."""

    def discard_recovery(self) -> None:
        """Forget the autosave."""
