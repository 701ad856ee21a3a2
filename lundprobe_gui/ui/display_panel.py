"""Controls for the base image, fusion, window/level, dose and uncertainty display."""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtGui, QtWidgets

from ..render.colormaps import UNCERTAINTY_SCALES
from ..render.state import ViewerState
from ..render.window import MRI_PRESETS, PRESETS, range_to_wl, wl_to_range

logger = logging.getLogger(__name__)


CUSTOM = "custom"
"""What the preset box shows once the window was dragged or typed."""
COLOUR_LABELS = {"magenta": "magenta", "rainbow": "rainbow (dataset)"}


def _slider(lo: int, hi: int, value: int) -> QtWidgets.QSlider:
    s = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    return s


class DisplayPanel(QtWidgets.QWidget):
    """Edits the :class:`ViewerState` display settings and emits ``changed``."""

    changed = QtCore.Signal()
    preset_chosen = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: ViewerState | None = None
        self._sync = False
        form = QtWidgets.QVBoxLayout(self)

        base = QtWidgets.QGroupBox("Base image")
        fb = QtWidgets.QFormLayout(base)
        self.base = QtWidgets.QComboBox()
        self.base.addItems(["MRI", "sCT (on MRI grid)"])
        self.fusion = QtWidgets.QComboBox()
        self.fusion.addItems(["none", "checkerboard", "blend"])
        self.tile = _slider(4, 128, 32)
        self.blend = _slider(0, 100, 50)
        fb.addRow("Show", self.base)
        fb.addRow("Fusion", self.fusion)
        fb.addRow("Tile size", self.tile)
        fb.addRow("Blend", self.blend)
        form.addWidget(base)

        win = QtWidgets.QGroupBox("Window / level")
        fw = QtWidgets.QFormLayout(win)
        self.preset = QtWidgets.QComboBox()
        self.preset.addItems([*MRI_PRESETS, *[k for k in PRESETS if k not in MRI_PRESETS], CUSTOM])
        self.preset.setToolTip("MRI presets are percentiles of the image; 'custom' after a drag or typed value")
        self.window_width = QtWidgets.QDoubleSpinBox()  # not ``width``: that would hide QWidget.width()
        self.window_level = QtWidgets.QDoubleSpinBox()
        for sb in (self.window_width, self.window_level):
            sb.setRange(-5000, 40000)
            sb.setDecimals(0)
            sb.setKeyboardTracking(False)
        self.window_width.setRange(1, 40000)
        fw.addRow("Preset", self.preset)
        fw.addRow("Width", self.window_width)
        fw.addRow("Level", self.window_level)
        form.addWidget(win)

        dose = QtWidgets.QGroupBox("Dose")
        fd = QtWidgets.QFormLayout(dose)
        self.prescription = QtWidgets.QDoubleSpinBox()
        self.prescription.setRange(0.1, 200)
        self.prescription.setSuffix(" Gy")
        self.prescription.setDecimals(1)
        self.threshold = QtWidgets.QDoubleSpinBox()
        self.threshold.setRange(0, 100)
        self.threshold.setSuffix(" %")
        self.dose_opacity = _slider(0, 100, 40)
        self.levels = QtWidgets.QLineEdit()
        self.levels.setToolTip("Isodose levels in % of the prescription, comma separated")
        fd.addRow("Prescription", self.prescription)
        fd.addRow("Wash from", self.threshold)
        fd.addRow("Opacity", self.dose_opacity)
        fd.addRow("Isodose %", self.levels)
        form.addWidget(dose)
        self.dose_box = dose

        unc = QtWidgets.QGroupBox("Uncertainty")
        fu = QtWidgets.QFormLayout(unc)
        self.scale = QtWidgets.QComboBox()
        self.scale.addItems(["fixed 0-0.5", "per map (10-100 % of max)"])
        self.unc_colours = QtWidgets.QComboBox()
        for name in UNCERTAINTY_SCALES:
            self.unc_colours.addItem(COLOUR_LABELS.get(name, name), name)
        self.unc_colours.setToolTip("Magenta cannot be mistaken for the dose wash; the rainbow is the dataset's")
        self.unc_opacity = _slider(0, 100, 40)
        fu.addRow("Scale", self.scale)
        fu.addRow("Colours", self.unc_colours)
        fu.addRow("Opacity", self.unc_opacity)
        form.addWidget(unc)
        self.unc_box = unc
        form.addStretch(1)

        self.base.currentIndexChanged.connect(self._apply)
        self.fusion.currentIndexChanged.connect(self._apply)
        self.tile.valueChanged.connect(self._apply)
        self.blend.valueChanged.connect(self._apply)
        self.window_width.valueChanged.connect(self._apply_window)
        self.window_level.valueChanged.connect(self._apply_window)
        self.preset.activated.connect(self._preset_activated)
        self.prescription.valueChanged.connect(self._apply)
        self.threshold.valueChanged.connect(self._apply)
        self.dose_opacity.valueChanged.connect(self._apply)
        self.levels.editingFinished.connect(self._apply)
        self.scale.currentIndexChanged.connect(self._apply)
        self.unc_colours.currentIndexChanged.connect(self._apply)
        self.unc_opacity.valueChanged.connect(self._apply)

    def current_window_key(self) -> str:
        """``mri`` or ``sct``: which image the window fields edit."""
        return "sct" if self.state is not None and self.state.base.base == "sct" else "mri"

    def bind(
        self,
        state: ViewerState,
        window: tuple[float, float],
        has_sct: bool = True,
        has_dose: bool = True,
        has_uncertainty: bool = True,
        base_name: str = "MRI",
    ) -> None:
        """Show a state's values; controls for layers the patient does not have are disabled."""
        self.state = state
        self.base.setItemText(0, base_name)
        model = self.base.model()
        assert isinstance(model, QtGui.QStandardItemModel), "a combo box's own model"
        sct = model.item(1)
        if sct is not None:
            sct.setEnabled(has_sct)
        self.fusion.setEnabled(has_sct)
        self.dose_box.setEnabled(has_dose and state.dose_allowed)
        self.dose_box.setVisible(state.dose_allowed)
        self.unc_box.setVisible(has_uncertainty)
        self.sync(window)

    def sync(self, window: tuple[float, float]) -> None:
        """Refresh the widgets from the state (after keyboard or mouse changes)."""
        s = self.state
        if s is None:
            return
        self._sync = True
        self.base.setCurrentIndex(1 if s.base.base == "sct" else 0)
        self.fusion.setCurrentText(s.base.fusion)
        self.tile.setValue(s.base.tile_px)
        self.blend.setValue(int(round(s.base.blend * 100)))
        w, lvl = range_to_wl(*window)
        self.window_width.setValue(w)
        self.window_level.setValue(lvl)
        # each image keeps the name of its own preset; "custom" once the window was dragged or typed.
        # No name at all: the renderer's own first window, the auto one.
        self.preset.setCurrentText(s.base.presets.get(self.current_window_key(), MRI_PRESETS[0]) or CUSTOM)
        self.prescription.setValue(s.dose.prescription_gy)
        self.threshold.setValue(s.dose.threshold_pct)
        self.dose_opacity.setValue(int(round(s.dose.opacity * 100)))
        self.levels.setText(", ".join(f"{v:g}" for v in s.dose.levels_pct))
        self.scale.setCurrentIndex(0 if s.uncertainty.scale == "fixed" else 1)
        self.unc_colours.setCurrentIndex(max(0, self.unc_colours.findData(s.uncertainty.colours)))
        self.unc_opacity.setValue(int(round(s.uncertainty.opacity * 100)))
        self.unc_box.setEnabled(s.uncertainty_allowed)
        if not s.uncertainty_allowed:
            self.unc_box.setVisible(False)
        self._sync = False

    def _apply(self, *_a) -> None:
        s = self.state
        if self._sync or s is None:
            return
        s.base.base = "sct" if self.base.currentIndex() == 1 else "mri"
        s.base.fusion = self.fusion.currentText()  # type: ignore[assignment]
        s.base.tile_px = self.tile.value()
        s.base.blend = self.blend.value() / 100.0
        s.dose.prescription_gy = self.prescription.value()
        s.dose.threshold_pct = self.threshold.value()
        s.dose.opacity = self.dose_opacity.value() / 100.0
        try:
            levels = tuple(float(v) for v in self.levels.text().replace(";", ",").split(",") if v.strip())
            if all(0 < v <= 200 for v in levels):
                s.dose.levels_pct = levels
        except ValueError:
            pass
        s.uncertainty.scale = "fixed" if self.scale.currentIndex() == 0 else "per_map"
        s.uncertainty.colours = self.unc_colours.currentData() or s.uncertainty.colours
        s.uncertainty.opacity = self.unc_opacity.value() / 100.0
        self.changed.emit()

    def _preset_activated(self, i: int) -> None:
        name = self.preset.itemText(i)
        if name == CUSTOM:  # not a preset: the window the user set stays
            if self.state is None:
                return
            self.preset.setCurrentText(self.state.base.presets.get(self.current_window_key(), MRI_PRESETS[0]) or CUSTOM)
            return
        self.preset_chosen.emit(name)

    def _apply_window(self, *_a) -> None:
        if self._sync or self.state is None:
            return
        key = self.current_window_key()
        self.state.base.windows[key] = wl_to_range(self.window_width.value(), self.window_level.value())
        self.state.base.presets[key] = ""
        self.preset.setCurrentText(CUSTOM)
        self.changed.emit()
