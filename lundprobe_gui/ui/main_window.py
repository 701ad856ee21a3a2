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
from ..io.open import is_dataset_root
from ..render.scene import SceneRenderer
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
from .shortcuts import SHORTCUTS
from .tri_view import TriView
from .window_editing import EditingWindow
from .window_exports import ExportingWindow
from .window_opening import OpeningWindow

logger = logging.getLogger(__name__)


class MainWindow(EditingWindow, OpeningWindow, ExportingWindow):
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
            self.move_cursor((int(round(c[0])), int(round(c[1])), int(round(c[2]))))

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
