"""The main window: tri-planar viewer, layer and display panels, patient browser, menus."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Literal

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.modality import default_window_preset
from ..core.patient import Patient
from ..edit.registry import tool_class
from ..edit.tool import EventKind
from ..io.guard import WriteRefused, check_output_root
from ..io.open import is_dataset_root, list_patients
from ..render.scene import SceneRenderer
from ..render.slicing import AXIAL
from ..render.state import ViewerState
from ..render.window import MRI_PRESETS, PRESETS, preset_range
from . import gui_thread
from .analysis_window import AnalysisTabs
from .demo_upgrade import DemoPreview
from .display_panel import DisplayPanel
from .dose_scale import ask_dose_scale, set_coordinate_convention
from .edit_controller import TOOL_ORDER, EditController
from .edit_panel import EditPanel
from .hotspot_panel import install_hotspots
from .initial_state import default_state, structure_centre, usable_base
from .input_guard import InputGuard, single_keys
from .layer_panel import LayerPanel
from .loader import PatientLoader
from .modes import install_modes
from .overrides import WindowOverride
from .png_file import save_png
from .shortcuts import SHORTCUTS, ShortcutsDialog
from .tri_view import TriView

logger = logging.getLogger(__name__)

MAX_RECENT = 10


class MainWindow(QtWidgets.QMainWindow):
    """Wires the Qt widgets to the Qt-free patient, state and renderer."""

    patient_shown = QtCore.Signal(object)

    def __init__(self) -> None:
        super().__init__()
        gui_thread.install()  # loaders and saves hand their model changes to this thread
        self.setWindowTitle("lundprobe_gui")
        avail = self.screen().availableGeometry()  # a 1366x768 laptop gets a window that fits it
        self.resize(min(1500, avail.width()), min(950, avail.height() - 40))
        self.setAcceptDrops(True)
        self.patient: Patient | None = None
        self.state: ViewerState | None = None
        self.scene: SceneRenderer | None = None
        self.settings = QtCore.QSettings()
        self.coords: Literal["LPS", "RAS"] = "RAS" if self.settings.value("coords", "LPS") == "RAS" else "LPS"
        self._cursor_touched = False
        self._dataset_root: Path | None = None

        self.tri = TriView()
        self.setCentralWidget(self.tri)
        self.layers = LayerPanel()
        self.display = DisplayPanel()
        self.browser = QtWidgets.QTableWidget(0, 3)
        self.browser.setHorizontalHeaderLabels(["Patient", "Layout", "Status"])
        self.browser.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.browser.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.browser.cellDoubleClicked.connect(self._browser_open)
        self.problems = QtWidgets.QListWidget()
        self.add_dock("Layers", self.layers, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.add_dock("Patients", self.browser, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        display_dock = self.add_dock("Display", self.display, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.edit = EditController(self)
        self.override: WindowOverride | None = None
        """Set by a study session: opening, listing and remembering patients, problems, state go to it."""
        self.edit_panel = EditPanel(self.edit)
        edit_dock = self.add_dock("Edit", self.edit_panel, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(display_dock, edit_dock)
        display_dock.raise_()
        self.problems_dock = self.add_dock("Problems", self.problems, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        self.problems_dock.hide()
        self.analysis = AnalysisTabs()
        self.analysis_tabs = self.analysis  # the tabs of the Analysis window
        self.metrics_panel = self.analysis.metrics_panel
        self.dvh_panel = self.analysis.dvh_panel
        self.unc_plot = self.analysis.unc_plot
        self.metrics_panel.pair_activated.connect(self.show_edit_map)
        self.dvh_panel.structure_selected.connect(self.go_to_structure)

        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.statusBar().addPermanentWidget(self.progress)
        self.demo_preview = DemoPreview(self)  # first start: the coarse demo, then the full one
        self.demo_upgrade = self.demo_preview.upgrade
        self.full_demo_btn = self.demo_preview.button
        self.autosave_warning = QtWidgets.QLabel()
        self.autosave_warning.setStyleSheet("color: #c0392b; font-weight: bold")
        self.autosave_warning.setVisible(False)
        self.statusBar().addPermanentWidget(self.autosave_warning)

        self.loader = PatientLoader()
        self.loader.opened.connect(self._on_opened)
        self.loader.image_ready.connect(self.show_image_ready)
        self.loader.layer_loaded.connect(self._on_layer_loaded)
        self.loader.progress.connect(self._on_progress)
        self.loader.finished.connect(self.show_all_loaded)
        self.loader.failed.connect(self._on_failed)
        self.loader.status.connect(self.statusBar().showMessage)
        self._refresh_timer = QtCore.QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(80)
        self._refresh_timer.timeout.connect(self._refresh_loaded)
        self._loaded_since_refresh: set = set()  # structure keys, None for a volume
        self._readout_timer = QtCore.QTimer(self)
        self._readout_timer.setSingleShot(True)
        self._readout_timer.setInterval(100)  # the cursor readout need not follow every brush stamp
        self._readout_timer.timeout.connect(self.tri.update_readout)

        self.tri.cursor_changed.connect(lambda _zyx: None)
        for v in self.tri.views.values():
            v.clicked.connect(self._view_clicked)
            v.dragged.connect(self._view_dragged)
            v.window_dragged.connect(self._window_dragged)
        self.layers.changed.connect(self._display_changed)
        self.layers.activated.connect(self._edit_layer)
        self.edit.redraw.connect(self._edit_redraw)
        self.edit.structure_added.connect(self._edit_structure_added)
        self.edit.save_failed.connect(self._save_failed)
        self.edit.autosave_status.connect(self._autosave_status)
        self.edit.saved.connect(lambda p: self.statusBar().showMessage(f"Saved {p}", 8000))
        self.edit.nothing_changed.connect(lambda why: self.statusBar().showMessage(why, 10000))
        self.edit_panel.tool_chosen.connect(self.choose_tool)
        self.edit_panel.apply_requested.connect(self.apply_tool)
        self.edit_panel.undo_requested.connect(self.undo)
        self.edit_panel.redo_requested.connect(self.redo)
        self.edit_panel.save_requested.connect(self.save_edits)
        self.edit_panel.start_btn.clicked.connect(self._start_from_panel)
        self.edit_panel.new_btn.clicked.connect(self._new_from_panel)
        self.edit_panel.reset_btn.clicked.connect(lambda: self._whole_from_panel("reset"))
        self.edit_panel.copy_btn.clicked.connect(lambda: self._whole_from_panel("copy"))
        for v in self.tri.views.values():
            v.hovered.connect(self._hover)
        self.display.changed.connect(self._display_changed)
        self.display.preset_chosen.connect(self.apply_preset)
        # the window's actions by name; nothing calls QWidget.actions() on the window
        self.actions: dict[str, QtGui.QAction] = {}  # type: ignore[assignment]
        self._build_menus()
        install_hotspots(self, edit_dock)  # high-uncertainty regions of the edited structure, N / Shift+N
        display_dock.raise_()  # the first tab on screen is the display's, not the last one added
        install_modes(self)  # the study and review menus and docks (registered by the ui package)
        from .saved_edits import install_saved_edits

        self.saved_edits = install_saved_edits(self)  # saved edits read back, versions, revert, compare with the start
        self.input_guard = InputGuard(single_keys(list(self.actions.values())), self)
        self.input_guard.install()

    # -- construction -------------------------------------------------------------------
    def add_dock(self, title: str, widget: QtWidgets.QWidget, area) -> QtWidgets.QDockWidget:
        """Add ``widget`` as a dock named ``title`` in ``area`` (the Display and Edit docks scroll)."""
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(title)
        if title in ("Display", "Edit"):
            scroll = QtWidgets.QScrollArea()
            scroll.setWidget(widget)
            scroll.setWidgetResizable(True)
            # room for the vertical scroll bar too: when it appears nothing is cut off at the side
            bar = scroll.verticalScrollBar().sizeHint().width()
            scroll.setMinimumWidth(widget.minimumSizeHint().width() + bar + 2 * scroll.frameWidth())
            widget = scroll
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def make_action(self, name: str, text: str, slot, keys=None) -> QtGui.QAction:
        """An action of the window, registered as ``actions[name]``, with its shortcuts from SHORTCUTS.

        ``keys`` overrides the shortcuts; ``slot`` is called with no argument when the action triggers.
        """
        a = QtGui.QAction(text, self)
        sc = next((s for s in SHORTCUTS if s.action == name), None)
        seqs = keys if keys is not None else (sc.keys if sc else ())
        if seqs:
            a.setShortcuts([QtGui.QKeySequence(k) for k in seqs])
            a.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        a.triggered.connect(lambda _checked=False, f=slot: f())  # triggered(bool) must not reach the slot
        self.addAction(a)
        self.actions[name] = a
        return a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(self.make_action("open_patient", "Open patient folder...", self.open_patient_dialog))
        f.addAction(self.make_action("open_dataset", "Open dataset root...", self.open_dataset_dialog))
        self.recent_menu = f.addMenu("Recent patients")
        self._rebuild_recent()
        f.addSeparator()
        f.addAction(self.make_action("save_view_png", "Save view as PNG...", self.save_view_png))
        f.addAction(self.make_action("save_window_png", "Save window as PNG...", self.save_window_png))
        f.addAction(self.make_action("export_dicom", "Export structures as DICOM...", self.export_dicom, keys=()))
        f.addSeparator()
        f.addAction(self.make_action("quit", "Quit", self.close))
        v = mb.addMenu("&View")
        for name, text, slot in (
            ("toggle_structures", "Toggle all structures", lambda: self._toggle("structures")),
            ("toggle_dose", "Toggle dose wash", lambda: self._toggle("dose")),
            ("toggle_isodose", "Toggle isodose lines", lambda: self._toggle("isodose")),
            ("toggle_uncertainty", "Toggle uncertainty", lambda: self._toggle("uncertainty")),
            ("toggle_fiducials", "Toggle fiducial markers", lambda: self._toggle("fiducials")),
            ("toggle_base", "Switch MRI / sCT", lambda: self._toggle("base")),
            ("cycle_fusion", "Cycle fusion mode", lambda: self._toggle("fusion")),
        ):
            v.addAction(self.make_action(name, text, slot))
        v.addSeparator()
        v.addAction(self.make_action("toggle_legend", "Show / hide the legend", self.tri.toggle_legends))
        v.addAction(self.make_action("maximise", "Maximise / restore view", lambda: self.tri.toggle_maximise()))
        v.addAction(self.make_action("reset_zoom", "Reset zoom", self.tri.reset_zoom))
        wl = v.addMenu("Window preset")
        for name in MRI_PRESETS:
            wl.addAction(name, functools.partial(self.apply_preset, name))
        wl.addSeparator()
        for name in ("CT", "soft tissue", "mediastinum", "lung", "bone"):
            wl.addAction(name, functools.partial(self.apply_preset, name))
        ras = self.make_action(
            "coords_ras", "World coordinates in RAS (NIfTI) instead of LPS (DICOM)", lambda: None, keys=()
        )
        ras.setCheckable(True)
        ras.setChecked(self.coords == "RAS")
        ras.toggled.connect(lambda on: set_coordinate_convention(self, on))
        v.addAction(ras)
        v.addAction(self.make_action("dose_scale", "Dose scale...", lambda: ask_dose_scale(self), keys=()))
        v.addAction(self.make_action("mode_window", "Mouse: window/level", lambda: self.set_mouse_mode("window")))
        v.addAction(self.make_action("mode_navigate", "Mouse: navigate", lambda: self.set_mouse_mode("navigate")))
        self.make_action("next_slice", "Next slice", lambda: self._step(+1), keys=("Up", "Right"))
        self.make_action("prev_slice", "Previous slice", lambda: self._step(-1), keys=("Down", "Left"))
        self.make_action("next_slice5", "Next 5 slices", lambda: self._step(+5), keys=("PgUp",))
        self.make_action("prev_slice5", "Previous 5 slices", lambda: self._step(-5), keys=("PgDown",))
        e = self.edit_menu = mb.addMenu("&Edit")
        e.addAction(self.make_action("undo", "Undo", self.undo))
        e.addAction(self.make_action("redo", "Redo", self.redo))
        e.addAction(self.make_action("save_edits", "Save edited structure", self.save_edits))
        e.addAction(
            self.make_action("save_all_edits", "Save all edited structures", lambda: self.save_edits(all_keys=True))
        )
        e.addAction(self.make_action("output_dir", "Output folder...", self.choose_output_dir, keys=()))
        e.addSeparator()
        for name in TOOL_ORDER:
            e.addAction(
                self.make_action(f"tool_{name}", f"Tool: {tool_class(name).label}", lambda n=name: self.choose_tool(n))
            )
        e.addAction(self.make_action("brush_bigger", "Bigger brush", lambda: self._brush_step(+0.5)))
        e.addAction(self.make_action("brush_smaller", "Smaller brush", lambda: self._brush_step(-0.5)))
        e.addAction(self.make_action("apply_tool", "Apply tool / close polygon", self.apply_tool))
        an = mb.addMenu("&Analysis")
        an.addAction(self.make_action("show_metrics", "Metrics table", lambda: self.show_analysis(0), keys=()))
        an.addAction(self.make_action("show_dvh", "DVH", lambda: self.show_analysis(1), keys=()))
        an.addAction(self.make_action("show_unc_edits", "Uncertainty vs edits", lambda: self.show_analysis(2), keys=()))
        an.addAction(self.make_action("clear_edit_map", "Clear edit map", lambda: self.show_edit_map(None), keys=()))
        h = mb.addMenu("&Help")
        h.addAction(self.make_action("shortcuts", "Shortcuts", self.show_shortcuts))
        h.addAction(self.make_action("about", "About lundprobe_gui", self.show_about, keys=()))

    # -- opening ------------------------------------------------------------------------
    def open_path(self, path: str | Path | None) -> None:
        """Open a patient folder or dataset root (the demo patient when None), in the background."""
        if self.override is not None:
            self.override.open_path(path)
            return
        if path is None:
            self.loader.start(None, demo=True)
            self.progress.setVisible(True)
            return
        path = Path(path)
        if is_dataset_root(path):
            self.show_dataset(path)
            entries = list_patients(path)
            if entries:
                self.open_path(entries[0].path)
            return
        if not self.confirm_discard():
            return
        self.statusBar().showMessage(f"Opening {path}...")
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.loader.start(path)

    def confirm_discard(self) -> bool:
        """Ask before dropping unsaved edits: save, discard or cancel."""
        if self.override is not None:
            return self.override.confirm_discard()
        dirty = self.edit.dirty()
        if not dirty:
            return True
        names = ", ".join(f"{n} ({s})" for n, s in dirty)
        answer = self.ask(
            f"Unsaved changes to {names}.", "Save them before closing the patient?", ("Save", "Discard", "Cancel")
        )
        if answer == "Cancel":
            return False
        if answer == "Save":
            self.edit.save(dirty, background=False)
            if self.edit.dirty():
                return False
        self.edit.discard_recovery()
        return True

    def ask(self, text: str, info: str, buttons: tuple[str, ...]) -> str:
        """Ask the user; returns the chosen button text (tests replace this)."""
        box = QtWidgets.QMessageBox(self)
        box.setText(text)
        box.setInformativeText(info)
        made: dict[QtWidgets.QAbstractButton, str] = {
            box.addButton(
                b,
                QtWidgets.QMessageBox.ButtonRole.AcceptRole
                if i == 0
                else QtWidgets.QMessageBox.ButtonRole.RejectRole
                if b == "Cancel"
                else QtWidgets.QMessageBox.ButtonRole.DestructiveRole,
            ): b
            for i, b in enumerate(buttons)
        }
        box.exec()
        return made.get(box.clickedButton(), buttons[-1])

    def show_dataset(self, root: Path) -> None:
        """List a dataset root's patients in the browser."""
        if self.override is not None:
            self.override.show_dataset(root)
            return
        self._dataset_root = root
        entries = list_patients(root)
        self.browser.setRowCount(len(entries))
        for i, e in enumerate(entries):
            first = QtWidgets.QTableWidgetItem(e.patient_id)
            first.setData(QtCore.Qt.ItemDataRole.UserRole, str(e.path))
            self.browser.setItem(i, 0, first)
            self.browser.setItem(i, 1, QtWidgets.QTableWidgetItem(e.layout))
            self.browser.setItem(i, 2, QtWidgets.QTableWidgetItem(""))
        self.browser.resizeColumnsToContents()

    def _browser_open(self, row: int, _col: int) -> None:
        item = self.browser.item(row, 0)
        if item is not None:
            self.open_path(item.data(QtCore.Qt.ItemDataRole.UserRole))

    def open_patient_dialog(self) -> None:
        """File > Open patient folder."""
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open patient folder", str(self._last_dir()))
        if d:
            self.open_path(d)

    def open_dataset_dialog(self) -> None:
        """File > Open dataset root."""
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open dataset root", str(self._last_dir()))
        if d:
            if is_dataset_root(d):
                self.show_dataset(Path(d))
            else:
                self.open_path(d)

    def _last_dir(self) -> Path:
        recent = self.recent()
        return Path(recent[0]).parent if recent else Path.home()

    def recent(self) -> list[str]:
        """Recently opened patient folders, newest first."""
        val = self.settings.value("recent", [])
        if isinstance(val, str):
            val = [val]
        return [str(v) for v in val] if isinstance(val, list | tuple) else []

    def _remember(self, path: Path) -> None:
        if self.override is not None:
            self.override.remember(path)
            return
        items = [str(path)] + [p for p in self.recent() if p != str(path)]
        self.settings.setValue("recent", items[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent():
            self.recent_menu.addAction(p, functools.partial(self.open_path, p))
        self.recent_menu.setEnabled(bool(self.recent()))

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:
        if ev.mimeData().hasUrls() and any(Path(u.toLocalFile()).is_dir() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:
        for u in ev.mimeData().urls():
            p = Path(u.toLocalFile())
            if p.is_dir():
                self.open_path(p)
                ev.acceptProposedAction()
                return

    # -- loader callbacks ---------------------------------------------------------------
    def _on_opened(self, patient: Patient) -> None:
        self.set_patient(patient)

    def set_patient(self, patient: Patient, state: ViewerState | None = None) -> None:
        """Show a (discovered) patient; layers appear as they load."""
        self.patient = patient
        self.state = state or self.make_state(patient)
        self.state.coords = self.coords
        self.scene = SceneRenderer(patient, self.state)
        self._cursor_touched = False
        self._loaded_since_refresh.clear()
        preview = self.demo_preview.title_suffix(patient)
        self.setWindowTitle(f"lundprobe_gui - {patient.id} ({patient.layout} layout{preview})")
        self.layers.populate(patient, self.state)
        self._fit_layer_panel()
        self.tri.bind(self.scene)
        frame = patient.reference_frame
        self.display.bind(
            self.state,
            self.scene.window(self.display.current_window_key()),
            has_sct="sCT" in frame.images,
            has_dose=frame.dose() is not None,
            has_uncertainty=bool(frame.uncertainty),
            base_name=frame.name if frame.name != "image" else "Image",
        )
        self.edit.bind(patient, self.scene)
        self.dvh_panel.set_prescription(self.state.dose.prescription_gy)
        self.analysis.set_patient(patient, set(self.state.hidden_sources))
        self.edit_panel.populate([(n, s_) for (n, s_) in patient.reference_frame.structures if self.state.allowed(s_)])
        self.show_problems()
        self._remember(patient.path)
        if (
            (self._dataset_root is None or patient.path.parent != self._dataset_root)
            and patient.dataset_root
            and is_dataset_root(patient.dataset_root)
        ):
            self.show_dataset(patient.dataset_root)
        self.patient_shown.emit(patient)

    def _fit_layer_panel(self) -> None:
        """Widen the layer panel so every name and style shows whole (up to a third of the window)."""
        dock = self.layers.parentWidget()
        if not isinstance(dock, QtWidgets.QDockWidget) or dock.isFloating():
            return
        want = min(self.layers.content_width(), self.width() // 3)
        if dock.width() < want:
            self.resizeDocks([dock], [want], QtCore.Qt.Orientation.Horizontal)

    def make_state(self, patient: Patient) -> ViewerState:
        """The initial display state of a patient (a study blinds it)."""
        if self.override is not None:
            return self.override.make_state(patient)
        return default_state(patient)

    def show_image_ready(self, patient: Patient) -> None:
        """Show ``patient``'s base image (the loader's first signal; a synchronous load calls it itself)."""
        if patient is not self.patient:
            return
        self._centre_cursor()
        state = self.state
        assert state is not None, "set_patient made the patient's state"
        base = usable_base(patient, state.base.base)
        if base != state.base.base:  # the MRI failed to load: the sCT is shown rather than a black view
            state.base.base = base
            self.layers.sync()
        self.apply_preset(default_window_preset(patient), refresh=False, key="mri")
        if self.scene is not None and base == "sct":  # the MRI's preset had no image to apply to
            self.display.sync(self.scene.window("sct"))
        self.tri.refresh()
        self.tri.reset_zoom()
        self.statusBar().showMessage(f"{patient.id}: MRI shown, loading overlays...")

    def _centre_cursor(self) -> None:
        if self._cursor_touched or self.patient is None or self.state is None:
            return
        c = structure_centre(self.patient)
        if c is not None:
            self.state.cursor = c

    def _on_layer_loaded(self, patient: Patient, path: str) -> None:
        if patient is not self.patient:
            return
        # Most layers of an extended patient (folds, observers) are hidden on open: redrawing the
        # three views for each of them would only take the CPU from the loader threads.
        # Several structures share one file (label maps, RTSTRUCT ROIs, DICOM-SEG segments): all of them count.
        assert self.state is not None, "set_patient made the patient's state"
        refs = [r for r in patient.reference_frame.structures.values() if r.path == path]
        shown = [r.key for r in refs if self.state.is_shown(r.key)]
        if not (shown if refs else self._volume_shown(path)):
            return
        self._loaded_since_refresh.update(shown if refs else [None])
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_progress(self, done: int, total: int, name: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{done}/{total} layers")

    def show_all_loaded(self, patient: Patient) -> None:
        """Show every loaded layer, the problems and any recovery (the loader's last signal)."""
        if patient is not self.patient:
            return
        self.progress.setVisible(False)
        self._prescription_from_dose()
        self._refresh_all()
        self.edit.refresh_guidance()  # folds and uncertainty maps are all in memory now
        self.show_problems()
        self.offer_recovery()
        n = len(patient.problems)
        self.statusBar().showMessage(f"{patient.id}: all layers loaded" + (f", {n} problem(s)" if n else ""), 8000)
        if any(v.unit_problem for v in patient.reference_frame.doses.values()):
            self.refresh_layers()  # the dose is not offered until its scale is confirmed
            self.statusBar().showMessage("The dose is not shown: its values are not Gy (View > Dose scale...)", 15000)
        self.demo_preview.loaded(patient)

    def _on_failed(self, message: str) -> None:
        self.progress.setVisible(False)
        self.statusBar().showMessage(message)
        QtWidgets.QMessageBox.warning(self, "Cannot open", message)

    def _volume_shown(self, path: str) -> bool:
        """Whether a volume of the reference frame is drawn now (an sCT under the MRI, a hidden map, is not)."""
        s, patient = self.state, self.patient
        assert s is not None and patient is not None, "a patient is shown"
        frame = patient.reference_frame
        for name, v in frame.images.items():
            if str(v.path) == path:
                return name != "sCT" or s.base.base == "sct" or s.base.fusion != "none"
        for name, v in frame.uncertainty.items():
            if str(v.path) == path:
                return s.uncertainty.visible and name in s.uncertainty.maps
        return True

    def _refresh_loaded(self) -> None:
        # What arrives while loading changes only its own layers: a structure its outlines, a volume the
        # dose and uncertainty layers. Redrawing just those halves the redraw (~35 to ~18 ms per structure).
        loaded, self._loaded_since_refresh = self._loaded_since_refresh, set()
        if self.scene is None:
            return
        self._centre_cursor()
        for key in loaded:
            if key is None:
                self.scene.invalidate_overlays()
                self.tri.update_colour_bars()
            else:
                self.scene.invalidate(key)
        self.tri.refresh()

    def _refresh_all(self) -> None:
        if self.scene is None:
            return
        self._centre_cursor()
        self.scene.invalidate()
        self.tri.update_colour_bars()
        self.tri.refresh()

    def _prescription_from_dose(self) -> None:
        patient, state, scene = self.patient, self.state, self.scene
        assert patient is not None and state is not None and scene is not None, "a patient is shown"
        if patient.prescription_gy is None and self.override is None:
            # No prescription in the data: the 100 % isodose is the dose maximum, known now that the dose is loaded.
            state.dose.prescription_gy = patient.effective_prescription()
            self.display.sync(scene.window(self.display.current_window_key()))
            self.dvh_panel.set_prescription(state.dose.prescription_gy)

    def refresh_layers(self) -> None:
        """Redraw after a layer changed its values (a dose scale was confirmed): list, bars and views."""
        if self.scene is None or self.patient is None or self.state is None:
            return
        self._prescription_from_dose()
        self.layers.populate(self.patient, self.state)
        self.display.dose_box.setEnabled(self.patient.reference_frame.dose() is not None)
        self.scene.invalidate_overlays()
        self.dvh_panel.set_patient(self.patient)
        self._display_changed()

    def show_problems(self) -> None:
        """List the patient's problems in the Problems panel (shown when there are any)."""
        if self.override is not None:
            self.override.show_problems()
            return
        self.problems.clear()
        if self.patient is None:
            return
        for p in self.patient.problems:
            self.problems.addItem(f"[{p.kind}] {Path(p.path).name}: {p.message}")
        self.problems_dock.setVisible(bool(self.patient.problems))

    # -- interaction --------------------------------------------------------------------
    def move_cursor(self, zyx: tuple[int, int, int]) -> None:
        """Put the cursor on stored voxel ``zyx`` as the user does: the load no longer centres it on the CTV."""
        self._cursor_touched = True
        self.tri.set_cursor(zyx)

    def _view_clicked(self, axis: int, zyx, modifiers) -> None:
        mode = self.tri.views[axis].mode
        if mode == "navigate":
            self.move_cursor(zyx)
        elif mode == "edit" and self.scene is not None:
            self.edit.handle("click", self.scene.stored_axis(axis), zyx, _mods(modifiers))
            self._show_polygon(axis, zyx)

    def _view_dragged(self, axis: int, phase: str, zyx, modifiers) -> None:
        if self.scene is None or self.state is None:  # the views are blank before a patient is shown
            return
        if self.tri.views[axis].mode == "edit":
            kinds: dict[str, EventKind] = {"start": "press", "move": "move", "finish": "release"}
            kind = kinds[phase]
            self.edit.handle(kind, self.scene.stored_axis(axis), zyx, _mods(modifiers))
            self._show_polygon(axis, zyx)
            return
        if self.tri.views[axis].mode == "navigate":
            cur = list(self.state.cursor)
            normal = self.scene.stored_axis(axis)
            for a in range(3):
                if a != normal:
                    cur[a] = zyx[a]
            self.move_cursor((cur[0], cur[1], cur[2]))

    def _window_dragged(self, dx: float, dy: float) -> None:
        if self.scene is None or self.state is None:
            return
        key = self.display.current_window_key()
        lo, hi = self.scene.window(key)
        width, level = hi - lo, (hi + lo) / 2
        step = max(width, 1.0) / 300.0
        width = max(1.0, width + dx * step * 2)
        level = level - dy * step * 2
        self.state.base.windows[key] = (level - width / 2, level + width / 2)
        self.state.base.presets[key] = ""
        self.display.sync(self.state.base.windows[key])
        self.tri.refresh()

    def apply_preset(self, name: str, refresh: bool = True, key: str | None = None) -> None:
        """Apply a window preset to the image being shown, or to ``key`` ("mri": the reference image, or "sct")."""
        if self.scene is None or self.state is None:
            return
        key = key or self.display.current_window_key()
        vol = self.scene.mri() if key == "mri" else self.scene.sct()
        if name not in PRESETS:
            return
        if PRESETS[name] is None:  # percentiles of the image
            if vol is None:
                return
            rng = preset_range(name, vol.data)
        else:
            rng = preset_range(name)
        self.state.base.windows[key] = rng
        self.state.base.presets[key] = name
        self.display.sync(self.scene.window(self.display.current_window_key()))
        if refresh:
            self.tri.refresh()

    def set_mouse_mode(self, mode: str) -> None:
        """navigate, window, or an editing mode."""
        self.tri.set_mode(mode)
        self._show_polygon()
        self.statusBar().showMessage(f"Mouse mode: {mode}", 3000)

    def _step(self, delta: int) -> None:
        self.tri.step_slice(self.tri.active_axis, delta)

    def _toggle(self, what: str) -> None:
        s = self.state
        if s is None:
            return
        if what == "structures":
            s.structures_on = not s.structures_on
        elif what == "dose":
            s.dose.wash = not s.dose.wash
        elif what == "isodose":
            s.dose.lines = not s.dose.lines
        elif what == "uncertainty":
            s.uncertainty.visible = not s.uncertainty.visible
        elif what == "fiducials":
            s.fiducials_on = not s.fiducials_on
        elif what == "base":
            s.base.base = "sct" if s.base.base == "mri" else "mri"
        elif what == "fusion":
            order = ["none", "checkerboard", "blend"]
            s.base.fusion = order[(order.index(s.base.fusion) + 1) % 3]  # type: ignore[assignment]
        self.layers.sync()
        self._display_changed()

    def _display_changed(self) -> None:
        if self.scene is None:
            return
        self.display.sync(self.scene.window(self.display.current_window_key()))
        self.tri.update_colour_bars()
        self.tri.refresh()

    # -- editing ------------------------------------------------------------------------
    def _edit_layer(self, key) -> None:
        if self.edit_panel.select(key[0], key[1]):
            self._start_from_panel()

    def _start_from_panel(self) -> None:
        chosen = self.edit_panel.chosen()
        if chosen is None:
            return
        try:
            self.edit.start_editing(chosen[0], chosen[1], self.edit_panel.target.text().strip())
        except (ValueError, KeyError) as e:
            QtWidgets.QMessageBox.warning(self, "Cannot edit", str(e))
            return
        self._uncertainty_of(chosen[0])
        self.choose_tool(self.edit.tool_name)

    def _uncertainty_of(self, name: str) -> None:
        """Show the uncertainty map of the structure being edited (if it has one) instead of another's."""
        if self.state is None or self.patient is None:
            return
        unc = self.state.uncertainty
        if name in self.patient.reference_frame.uncertainty and unc.maps != {name}:
            unc.maps = {name}
            self.layers.sync()
            self._display_changed()

    def _new_from_panel(self) -> None:
        try:
            self.edit.new_structure(self.edit_panel.new_name.text().strip(), self.edit_panel.target.text().strip())
        except ValueError as e:
            QtWidgets.QMessageBox.warning(self, "Cannot create", str(e))
            return
        self.choose_tool("brush")

    def _whole_from_panel(self, what: str) -> None:
        chosen = self.edit_panel.chosen()
        if chosen is None or self.edit.active is None:
            return
        if what == "reset":
            self.edit.reset_to(*chosen)
        else:
            self.edit.copy_from(*chosen)

    def choose_tool(self, name: str) -> None:
        """Select an editing tool and put the views in edit mode."""
        if not self.edit.set_tool(name):
            self.statusBar().showMessage(f"{tool_class(name).label}: {self.edit.why_not(name)}", 5000)
            return
        self.set_mouse_mode("edit")
        for dock in self.findChildren(QtWidgets.QDockWidget):
            if dock.objectName() == "Edit":
                dock.raise_()

    def apply_tool(self) -> None:
        """Run the whole-structure tool once (or close the polygon)."""
        if self.scene is None or self.state is None:
            return
        normal = self.scene.stored_axis(self.tri.active_axis)
        self.edit.apply_tool(normal, self.state.cursor[normal])  # the controller says why when nothing changed
        self._show_polygon()

    def undo(self) -> None:
        """Undo one editing step."""
        if self.edit.undo() is None:
            self.statusBar().showMessage("Nothing to undo", 2000)

    def redo(self) -> None:
        """Redo one editing step."""
        if self.edit.redo() is None:
            self.statusBar().showMessage("Nothing to redo", 2000)

    def _brush_step(self, delta: float) -> None:
        self.edit.set_brush_radius(self.edit.brush.radius_mm + delta)
        self.statusBar().showMessage(f"Brush radius {self.edit.brush.radius_mm:.1f} mm", 2000)

    def _hover(self, axis: int, zyx) -> None:
        view = self.tri.views[axis]
        for a, v in self.tri.views.items():
            if a != axis:
                v.set_brush_cursor(None)
        tool = self.edit.session.tool if self.edit.session is not None else None
        if (
            view.mode == "edit"
            and tool is not None
            and tool.settings is not None
            and tool.shows_brush_cursor()
            and zyx is not None
        ):
            view.set_brush_cursor(tool.settings.radius_mm, zyx)
        else:
            view.set_brush_cursor(None)
        self._show_polygon(axis, zyx)

    def _show_polygon(self, axis: int | None = None, pointer=None) -> None:
        """Draw the polygon being placed, with a rubber band to the pointer, in the view it lives in."""
        poly = self.edit.polygon_in_progress() if self.tri.views[AXIAL].mode == "edit" else None
        for a, v in self.tri.views.items():
            # the polygon lives on a stored slice; a view shows it when that slice is the one on screen
            if (
                poly is None
                or self.scene is None
                or self.scene.stored_axis(a) != poly[0]
                or self.scene.slice_index(a, poly[2][0]) != v.index
            ):
                v.set_polygon([])
            else:
                v.set_polygon(poly[2], pointer if a == axis else None)

    def _edit_redraw(self, box) -> None:
        if self.scene is None:
            return
        if box is None:
            self.tri.refresh()
            return
        self.tri.refresh_box(box)
        self._readout_timer.start()

    def _edit_structure_added(self, skey) -> None:
        found = False
        it = QtWidgets.QTreeWidgetItemIterator(self.layers)
        while it.value():
            if it.value().data(0, QtCore.Qt.ItemDataRole.UserRole + 1) == skey:
                found = True
            it += 1
        if not found:
            self.layers.add_structure(skey)
        self.layers.sync()
        self.tri.refresh()

    def save_edits(self, all_keys: bool = False) -> None:
        """Save the active (or every) edited structure as a new version, in the background."""
        keys = self.edit.dirty() if all_keys else ([self.edit.active] if self.edit.active else [])
        if not keys:
            self.statusBar().showMessage("Nothing to save", 3000)
            return
        self.statusBar().showMessage(f"Saving to {self.edit.output_dir()}...")
        self.edit.save(keys)

    def choose_output_dir(self) -> None:
        """Pick the folder edits are saved to (a dataset root or a patient folder is refused at once)."""
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Output folder for edits", str(self.edit.output_dir()))
        if d and self._output_dir_ok(d):
            self.edit.out_dir = Path(d)
            self.settings.setValue("output_dir", d)

    def _output_dir_ok(self, folder: str) -> bool:
        try:
            check_output_root(folder)
        except WriteRefused as e:
            QtWidgets.QMessageBox.warning(self, "Output folder", str(e))
            return False
        return True

    def _autosave_status(self, error: str | None) -> None:
        # Stays on screen while autosave fails: the edits are then only in memory.
        self.autosave_warning.setVisible(error is not None)
        if error is None:
            self.autosave_warning.clear()
            self.statusBar().showMessage("Autosave works again", 5000)
            return
        self.autosave_warning.setText("Autosave failing: save your edits (Ctrl+S)")
        self.autosave_warning.setToolTip(
            f"Autosave could not write the recovery copy: {error}. "
            "Your edits are kept in memory; save them to keep them."
        )
        self.statusBar().showMessage(f"Autosave failed: {error}", 15000)

    def _save_failed(self, message: str, keys) -> None:
        self.statusBar().showMessage("Save failed; your edits are kept")
        answer = self.ask(
            message, "Your edits are still in memory. Save them to another folder?", ("Choose another folder", "Cancel")
        )
        if answer == "Choose another folder":
            d = QtWidgets.QFileDialog.getExistingDirectory(self, "Save edits to", str(Path.home()))
            if d and self._output_dir_ok(d):
                self.edit.out_dir = Path(d)
                self.edit.save(list(keys))

    def offer_recovery(self) -> None:
        """After a crash or kill, offer the last autosave of this patient."""
        rec = self.edit.find_recovery()
        if rec is None or self.edit.dirty():
            return
        names = ", ".join(f"{e.name} ({e.source})" for e in rec.edits)
        answer = self.ask(
            f"Unsaved edits from {rec.time} were found for {rec.patient_id}: {names}.",
            "Restore them?",
            ("Restore", "Discard"),
        )
        if answer == "Restore":
            self.edit.restore(rec)
            self.choose_tool(self.edit.tool_name)
        else:
            self.edit.discard_recovery()

    def changeEvent(self, ev: QtCore.QEvent) -> None:
        if ev.type() == QtCore.QEvent.Type.ActivationChange and not self.isActiveWindow():
            self.edit.autosave()  # focus loss
        super().changeEvent(ev)

    # -- analysis -----------------------------------------------------------------------
    @property
    def analysis_dock(self) -> QtWidgets.QDockWidget | None:
        """The Analysis window (None until first opened)."""
        return self.analysis.dock

    def show_analysis(self, i: int) -> None:
        """Open the Analysis window on the metrics (0), DVH (1) or uncertainty-vs-edits (2) tab and compute it."""
        self.analysis.show_tab(self, i)

    def show_edit_map(self, comparison) -> None:
        """Paint where a test mask differs from its reference (None clears the map)."""
        if self.state is None:
            return
        if comparison is None:
            self.state.edit_map = None
        else:
            f = comparison.frame
            self.state.edit_map = (
                (comparison.structure, comparison.reference, f),
                (comparison.structure, comparison.test, f),
            )
        self.tri.refresh()

    def go_to_structure(self, key) -> None:
        """Show a structure and put the crosshair at its centre (DVH curve clicked)."""
        if self.patient is None or self.state is None or key is None:
            return
        self.state.style(tuple(key)).visible = True
        self.layers.sync()
        try:
            m = self.patient.mask_obj(key[0], key[1], key[2])
        except (KeyError, ValueError):
            return
        if not m.is_empty():
            c = np.argwhere(m.data).mean(axis=0) + np.asarray(m.offset)
            self.tri.set_cursor(tuple(int(round(v)) for v in c))

    # -- export and help ----------------------------------------------------------------
    def save_view_png(self, path: str | None = None) -> str | None:
        """Save the active view as PNG."""
        if not path:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save view", "view.png", "PNG (*.png)")
        if path:
            return self._save_png(self.tri.views[self.tri.active_axis].grab(), path)
        return None

    def save_window_png(self, path: str | None = None) -> str | None:
        """Save the whole window as PNG."""
        if not path:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save window", "window.png", "PNG (*.png)")
        if path:
            return self._save_png(self.grab(), path)
        return None

    def _save_png(self, pixmap: QtGui.QPixmap, path: str) -> str | None:
        try:
            save_png(pixmap, path)
        except OSError as e:  # WriteRefused too: a file in the dataset
            QtWidgets.QMessageBox.warning(self, "Save PNG", str(e))
            return None
        return path

    def export_dicom(self) -> QtWidgets.QDialog | None:
        """File > Export: the saved structures as a new RTSTRUCT or DICOM-SEG (unsaved edits must be saved first)."""
        from .export_dialog import ExportDialog

        if self.patient is None:
            return None
        if self.edit.dirty():
            QtWidgets.QMessageBox.information(
                self,
                "Export",
                "Save the edited structures first (Edit > Save edited structure): the export writes what is saved.",
            )
            return None
        dlg = ExportDialog(self.patient, self.edit.output_dir() / self.patient.id / "dicom_export", self)
        dlg.show()
        return dlg

    def show_shortcuts(self) -> None:
        """Help > Shortcuts."""
        ShortcutsDialog(parent=self).exec()

    def show_about(self) -> None:
        """Help > About."""
        from .about import AboutDialog

        AboutDialog(self).exec()

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:
        if not self.confirm_discard():
            ev.ignore()
            return
        self.loader.cancel()
        self.demo_preview.cancel()
        self.analysis.cancel()
        self.edit.autosave()
        super().closeEvent(ev)


def _mods(modifiers) -> set[str]:
    out = set()
    if modifiers & QtCore.Qt.KeyboardModifier.ShiftModifier:
        out.add("shift")
    if modifiers & QtCore.Qt.KeyboardModifier.ControlModifier:
        out.add("ctrl")
    if modifiers & QtCore.Qt.KeyboardModifier.AltModifier:
        out.add("alt")
    return out
