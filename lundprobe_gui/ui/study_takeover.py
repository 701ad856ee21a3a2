"""How a study session takes the main window over, and the blinded display (a mixin of StudyMode).

While a study runs: the patient browser, the recent patients and File > Open are out of reach,
docks and menus that could show other layers are hidden or disabled, the window title, panels
and messages show the pseudonym and never the patient ID or a path, and the viewer state is
blinded by the step's rules (hidden sources, the dose, the uncertainty map and its colours).
Everything is undone step by step when the session ends.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.patient import Patient
from ..edit.toolset import ToolSet
from ..render.colormaps import structure_colour
from ..render.state import ViewerState
from ..study import ObserverSession, StudyError
from ..study.files import output_root
from ..study.presets import DEFAULT_HIDDEN
from ..study.visibility import source_category
from .layer_panel import KEY_ROLE, KIND_ROLE
from .main_window import MainWindow, default_state
from .session_mode import ExitSteps

if TYPE_CHECKING:
    from .study_mode import StudyMode

logger = logging.getLogger(__name__)

STUDY_DOCK = "Study"
ALLOWED_DOCKS = frozenset({"Layers", "Display", "Edit", "Problems", STUDY_DOCK})
"""Docks that stay usable during a study; any other dock (patients, metrics, DVH...) is hidden."""
KNOWN_MENUS = frozenset({"&File", "&View", "&Edit", "&Help", "&Study"})
"""Menus whose study-relevant actions are handled one by one; the actions of any other menu are disabled."""
DISABLED_ACTIONS = ("open_patient", "open_dataset", "output_dir")
PANEL_WIDTH = 430


def _all_actions(menu: QtWidgets.QMenu) -> list[QtGui.QAction]:
    out = []
    for a in menu.actions():
        out.append(a)
        sub = a.menu()
        if isinstance(sub, QtWidgets.QMenu):
            out.extend(_all_actions(sub))
    return out


def _show_dock(dock: QtWidgets.QDockWidget, visible: bool) -> None:
    dock.setVisible(visible)
    dock.toggleViewAction().setEnabled(True)


class StudyTakeover:
    """Entering and leaving the study's window, blinding, and what the window may show."""

    # What StudyMode gives its mixins, declared for the type checker.
    window: MainWindow
    session: ObserverSession | None
    exit_steps: ExitSteps
    dock: QtWidgets.QDockWidget
    menu: QtWidgets.QMenu
    study_dir: Path | None
    _loaded: tuple[int, str] | None
    _loaded_patient: Patient | None
    _before_study: Path | None

    if TYPE_CHECKING:

        @property
        def active(self) -> bool: ...

    def _enter_study_ui(self) -> None:
        w: MainWindow = self.window
        P = self.exit_steps
        # undone last: the docks come back where they were, at their sizes, not squeezed by the study panel
        layout = w.saveState()
        P.on_exit(lambda: w.restoreState(layout))
        self._before_study = w.patient.path if w.patient is not None else None
        for dock in w.findChildren(QtWidgets.QDockWidget):
            if dock is self.dock or dock.objectName() in ALLOWED_DOCKS:
                continue
            was, tv = dock.isVisible(), dock.toggleViewAction()
            dock.hide()
            tv.setEnabled(False)
            P.on_exit(functools.partial(_show_dock, dock, was))
        browser = getattr(w, "browser", None)
        if browser is not None:
            root = getattr(w, "_dataset_root", None)
            browser.setRowCount(0)
            if root is not None:
                P.on_exit(functools.partial(w.show_dataset, root))
        for name in DISABLED_ACTIONS:
            a = w.actions.get(name)
            if a is not None:
                a.setEnabled(False)
                P.on_exit(functools.partial(a.setEnabled, True))
        recent = getattr(w, "recent_menu", None)
        if recent is not None:  # hidden and emptied: its entries are patient folders
            recent.menuAction().setVisible(False)
            recent.setEnabled(False)
            recent.clear()

            def show_recent() -> None:
                recent.menuAction().setVisible(True)
                self._rebuild_recent()

            P.on_exit(show_recent)
        for a in w.menuBar().actions():
            m = a.menu()
            if not isinstance(m, QtWidgets.QMenu) or m is self.menu or a.text() in KNOWN_MENUS:
                continue
            for sub in [a, *_all_actions(m)]:
                if sub.isEnabled():
                    sub.setEnabled(False)
                    P.on_exit(functools.partial(sub.setEnabled, True))
        policy = w.contextMenuPolicy()
        w.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.NoContextMenu)  # no dock toggles from the popup
        P.on_exit(lambda: w.setContextMenuPolicy(policy))
        drops = w.acceptDrops()
        w.setAcceptDrops(False)
        P.on_exit(lambda: w.setAcceptDrops(drops))
        ep = w.edit_panel
        target = ep.target.text()
        P.on_exit(lambda: ep.target.setText(target))
        ep.target.setReadOnly(True)
        ep.new_btn.setEnabled(False)
        ep.new_name.setEnabled(False)

        def unlock_target() -> None:
            ep.target.setReadOnly(False)
            ep.new_btn.setEnabled(True)
            ep.new_name.setEnabled(True)

        P.on_exit(unlock_target)
        for name in ("scale", "unc_colours"):  # the study fixes the uncertainty scale and its colours
            box = getattr(w.display, name, None)
            if box is not None:
                box.setEnabled(False)
                P.on_exit(functools.partial(box.setEnabled, True))
        ctrl = w.edit
        out_dir, user = ctrl.out_dir, ctrl.user
        assert self.study_dir is not None and self.session is not None  # start() sets both first
        ctrl.out_dir = output_root(self.study_dir)
        ctrl.user = self.session.observer

        def restore_output() -> None:
            ctrl.out_dir, ctrl.user = out_dir, user

        P.on_exit(restore_output)
        # the window's own paths that would open, list or remember other patients, and the edit
        # controller's: every save goes to the study, only the study's structures can be edited
        from .study_editing import StudyEdits

        mode = cast("StudyMode", self)  # this mixin only ever runs as part of a StudyMode
        w.override, ctrl.override = StudyWindow(mode), StudyEdits(mode)

        def drop_overrides() -> None:
            w.override = ctrl.override = None

        P.on_exit(drop_overrides)
        self.dock.show()
        self.dock.raise_()
        layers = next((d for d in w.findChildren(QtWidgets.QDockWidget) if d.objectName() == "Layers"), None)
        w.resizeDocks([self.dock], [PANEL_WIDTH], QtCore.Qt.Orientation.Horizontal)
        if layers is not None and w.dockWidgetArea(layers) == w.dockWidgetArea(self.dock):
            w.resizeDocks([layers, self.dock], [180, max(400, w.height() - 260)], QtCore.Qt.Orientation.Vertical)
        w.setWindowTitle("lundprobe_gui - Study")

    def _leave_study_ui(self) -> None:
        w: MainWindow = self.window
        self.exit_steps.restore()
        w.edit.set_tool_set(ToolSet())  # every tool again
        self.dock.hide()
        # the last case stays in memory, but is not shown or listed any more
        self._unshow_patient()
        w.setWindowTitle("lundprobe_gui")
        w.statusBar().showMessage("Study session ended; everything is saved", 8000)
        before, self._before_study = self._before_study, None
        if before is not None:  # the window goes back to the patient it showed before, not a blank one
            w.open_path(before)

    def _rebuild_recent(self) -> None:
        w: MainWindow = self.window
        rebuild = getattr(w, "_rebuild_recent", None)
        if rebuild is not None:
            rebuild()
            return
        for p in w.recent():  # pragma: no cover - the window changed
            w.recent_menu.addAction(p, functools.partial(w.open_path, p))
        w.recent_menu.setEnabled(bool(w.recent()))

    def views_shown(self) -> bool:
        """Whether the slice views show a case (they are blanked between cases and after the study)."""
        return self.window.tri.views[0].isVisibleTo(self.window.tri)

    def _show_views(self, on: bool) -> None:
        """Blank or show the slice views; the central area keeps its size, so the docks do not grow."""
        tri = self.window.tri
        if not on and tri.maximised is not None:
            tri.toggle_maximise()
        for v in tri.views.values():
            v.setVisible(on)
        tri.info.setVisible(on)

    def _unshow_patient(self) -> None:
        w: MainWindow = self.window
        self._show_views(False)
        w.layers.clear()
        w.edit_panel.populate([])
        w.problems.clear()
        w.problems_dock.hide()
        if w.edit.session is not None and w.edit.session.active_key is not None:
            w.edit.session.set_active(None)
            w.edit.changed.emit()

    def _on_patient_shown(self, _patient) -> None:
        # a study case shows its views once loaded; after the study, any patient the window opens shows them
        if (not self.active or self._loaded_patient is not None) and not self.views_shown():
            self._show_views(True)

    def refuse_open(self, *_a, **_k) -> None:
        """Say in the status bar that no other patient opens during a study."""
        self.window.statusBar().showMessage("Other patients cannot be opened during a study session", 5000)

    def show_redacted_problems(self) -> None:
        """The Problems panel without file names, paths or patient IDs."""
        w: MainWindow = self.window
        w.problems.clear()
        if w.patient is None:
            return
        for p in w.patient.problems:
            w.problems.addItem(f"[{p.kind}] {self.redact(p.message)}")
        w.problems_dock.setVisible(bool(w.patient.problems))

    def redact(self, text: str) -> str:
        """Replace the current patient's ID and folders with the pseudonym, and the dataset with ``<dataset>``."""
        s: ObserverSession | None = self.session
        p = self._loaded_patient
        label = self._loaded[1] if self._loaded else "the case"
        if p is not None:
            for secret in (str(p.path), str(p.dataset_root or ""), p.id):
                if secret:
                    text = text.replace(secret, label)
        if s is not None:
            for root in {str(s.dataset_root), str(Path(s.dataset_root).resolve())}:
                text = text.replace(root, "<dataset>")
            for pid in s.study.patients:  # any patient of the study, not only the current one
                text = text.replace(pid, "a patient")
        return text

    # -- blinding ----------------------------------------------------------------------------------
    def blinded_state(self, patient: Patient) -> ViewerState:
        """The window's initial state of a case with the session's blinding applied (``MainWindow.make_state``)."""
        s: ObserverSession | None = self.session
        assert s is not None, "the study's state is made while its session is open"
        state = default_state(patient)
        vis = s.visibility()
        vis.apply(state, patient.sources())  # hidden sources, the uncertainty map and the dose
        # the step's tools; those that would show what the step hides (fold vote: folds; the hotspot
        # navigator: the uncertainty map) are refused whatever the list says
        self.window.edit.set_tool_set(ToolSet.for_step(vis.hidden_categories, vis.uncertainty_allowed, vis.tools))
        frame = patient.reference_frame
        start, own = s.study.start_source, s.target_source
        # what the arm shows as an aid (the fold contours, say: hidden by the published protocol) is on
        # from the start of each case, as the uncertainty map of an arm that shows it is
        aids = {c for c in DEFAULT_HIDDEN if c != "dose" and c not in vis.hidden_categories}
        for name, source in frame.structures:
            st = state.style((name, source, frame.name))
            aid = source_category(source, s.observer, vis.step, start) in aids
            st.visible = state.allowed(source) and name in s.structures and (source in (start, own) or aid)
        for name in s.structures:  # the observer's edits share one source: each structure's gets its own colour
            state.style((name, own, frame.name)).colour = structure_colour(name)
        state.uncertainty.maps = set(frame.uncertainty) if vis.uncertainty_allowed else set()
        state.uncertainty.visible = vis.uncertainty_allowed
        if vis.uncertainty_scale == "fixed":
            state.uncertainty.scale = "fixed"
        elif vis.uncertainty_scale == "per_map":
            state.uncertainty.scale = "per_map"
        if hasattr(state.uncertainty, "colours"):  # the renderer's named colour scales
            state.uncertainty.colours = vis.uncertainty_colours
        c = self._structure_centre(patient)
        if c is not None:
            state.cursor = c
        return state

    def _structure_centre(self, patient: Patient, name: str | None = None) -> tuple[int, int, int] | None:
        s: ObserverSession | None = self.session
        if s is None:
            return None
        try:
            view = s.current_case()
            name = name or (view.active_structure if view else None)
            if name is None:
                return None
            m = patient.mask_obj(name, s.study.start_source, patient.reference_frame.name)
        except (KeyError, ValueError, StudyError):
            return None
        if m.is_empty():
            return None
        idx = np.argwhere(m.data)
        c = idx.mean(axis=0) + np.asarray(m.offset)
        return int(round(c[0])), int(round(c[1])), int(round(c[2]))

    def _prune_layer_panel(self) -> None:
        """Remove any layer row ``can_open`` refuses (the panel already skips hidden sources)."""
        s: ObserverSession | None = self.session
        w: MainWindow = self.window
        assert s is not None and w.patient is not None, "a case of the open session is shown"
        frame = w.patient.reference_frame
        it = QtWidgets.QTreeWidgetItemIterator(w.layers)
        doomed = []
        while it.value():
            item = it.value()
            if item.data(0, KIND_ROLE) == "structure":
                key = item.data(0, KEY_ROLE)
                ref = frame.structures.get((key[0], key[1]))
                if not s.can_open(key[1], ref.path if ref is not None else None):
                    doomed.append(item)
            it += 1
        for item in doomed:
            logger.warning("study mode: %s refused by the blinding rules", item.data(0, KEY_ROLE))
            (item.parent() or w.layers.invisibleRootItem()).removeChild(item)

    def editable(self) -> list[tuple[str, str]]:
        """What the edit panel's "Start from" offers: the start mask of each study structure."""
        s: ObserverSession | None = self.session
        w: MainWindow = self.window
        assert s is not None and w.patient is not None, "a case of the open session is shown"
        frame = w.patient.reference_frame
        out = []
        for name in s.structures:
            ref = frame.structures.get((name, s.study.start_source))
            if ref is not None and s.can_open(ref.source, ref.path):
                out.append((name, ref.source))
        return out


class StudyWindow:
    """The main window's :class:`~lundprobe_gui.ui.overrides.WindowOverride` during a study."""

    def __init__(self, mode: StudyMode) -> None:
        self.mode = mode

    def open_path(self, path: str | Path | None) -> None:  # every path is refused
        self.mode.refuse_open()

    def show_dataset(self, root: Path) -> None:
        """Nothing: the browser stays empty, it would list other patients."""

    def remember(self, path: Path) -> None:
        """Nothing: a case's folder must not show up in the recent patients."""

    def show_problems(self) -> None:
        self.mode.show_redacted_problems()

    def make_state(self, patient: Patient) -> ViewerState:
        return self.mode.blinded_state(patient)

    def confirm_discard(self) -> bool:
        return self.mode.confirm_discard_in_study()
