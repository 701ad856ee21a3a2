"""Three linked slice views plus a cell with the colour bars and the cursor readout."""

from __future__ import annotations

import logging
import time
from typing import cast

import numpy as np
from PySide6 import QtCore, QtWidgets

from ..render.colormaps import dose_colour_bar, uncertainty_colour_bar
from ..render.scene import SceneRenderer, box_to_display_rect
from ..render.slicing import AXIAL, CORONAL, SAGITTAL, orientation_labels
from .colour_bar import ColourBarWidget
from .slice_view import SliceView, legend_html

logger = logging.getLogger(__name__)

OUTLINE_PAD = 5
"""Pixels around an edited box whose outline (up to 4 px wide) may change too."""


class TriView(QtWidgets.QWidget):
    """Axial (top left), sagittal (top right), coronal (bottom left), info (bottom right).

    Owns no data: it asks the :class:`SceneRenderer` for pixels and shows them. ``cursor_changed``
    fires when a view moves the cursor.
    """

    cursor_changed = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene: SceneRenderer | None = None
        self.views = {a: SliceView(a) for a in (AXIAL, SAGITTAL, CORONAL)}
        self.active_axis = AXIAL
        self.maximised: int | None = None
        self.last_render_ms = 0.0
        self._rendering = False
        self._rescaled: set[int] = set()  # views whose line scale changed while they were being shown
        # The fourth cell: the one legend of the three views, the colour bars and the cursor readout,
        # on the views' dark background.
        info = QtWidgets.QWidget()
        info.setObjectName("info")
        info.setStyleSheet("QWidget#info { background: #191919; } QLabel { color: #e6e6e6; }")
        info.setAttribute(QtCore.Qt.WidgetAttribute.WA_StyledBackground, True)
        il = QtWidgets.QGridLayout(info)
        il.setContentsMargins(6, 6, 6, 6)
        il.setSpacing(6)
        self.legend = QtWidgets.QLabel("")
        self.legend.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.legend.setStyleSheet("font-size: 11px;")
        self.legend.setToolTip("Shown structures (L hides the legend)")
        self.legend_enabled = True
        self._legend: list = []
        self.dose_bar = ColourBarWidget("Dose Gy (%)")
        self.unc_bar = ColourBarWidget("Uncertainty")
        for bar in (self.dose_bar, self.unc_bar):
            bar.setVisible(False)  # until a patient's dose or uncertainty is shown
        self.readout = QtWidgets.QLabel("")
        self.readout.setWordWrap(True)
        self.readout.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.readout.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setStyleSheet("font-family: monospace; font-size: 11px;")
        # the legend scrolls rather than widen the cell: a longer name must not shrink the views mid-drag
        legend_scroll = QtWidgets.QScrollArea()
        legend_scroll.setWidget(self.legend)
        legend_scroll.viewport().setObjectName("legendViewport")
        legend_scroll.setWidgetResizable(True)
        legend_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        legend_scroll.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored)
        # transparent over the dark cell, with thin dark scroll bars (a blanket "background: transparent"
        # left the scroll bars as empty white boxes when the legend overflows on a small screen)
        legend_scroll.setStyleSheet(
            "QScrollArea, QWidget#legendViewport, QLabel { background: transparent; }"
            "QScrollBar { background: #262626; width: 8px; height: 8px; }"
            "QScrollBar::handle { background: #6a6a6a; border-radius: 3px; min-width: 16px; min-height: 16px; }"
            "QScrollBar::add-line, QScrollBar::sub-line { width: 0px; height: 0px; }"
            "QScrollBar::add-page, QScrollBar::sub-page { background: none; }"
        )
        legend_scroll.viewport().setAutoFillBackground(False)
        il.addWidget(legend_scroll, 0, 0)
        il.addWidget(self.readout, 1, 0)
        il.addWidget(self.dose_bar, 0, 1, 2, 1)
        il.addWidget(self.unc_bar, 0, 2, 2, 1)
        il.setColumnStretch(0, 1)
        il.setRowStretch(0, 1)
        self.info = info
        grid = self._grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        grid.addWidget(self.views[AXIAL], 0, 0)
        grid.addWidget(self.views[SAGITTAL], 0, 1)
        grid.addWidget(self.views[CORONAL], 1, 0)
        grid.addWidget(info, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        for v in self.views.values():
            v.maximise_toggled.connect(self.toggle_maximise)
            v.slice_step.connect(self.step_slice)
            v.hovered.connect(self._hovered)
            v.line_scale_changed.connect(self._line_scale_changed)

    # -- binding ------------------------------------------------------------------------
    def bind(self, scene: SceneRenderer) -> None:
        """Show a new patient's scene."""
        self.scene = scene
        geom = scene.frame.geometry
        for axis, v in self.views.items():
            v.bind_grid(geom.shape_zyx, scene.orient, scene.view_title(axis))
            v.set_orientation_letters(orientation_labels(axis, geom))
            scene.set_line_scale(axis, v.line_scale)
        self.refresh()

    def _line_scale_changed(self, axis: int, scale) -> None:
        if self.scene is None or not self.scene.set_line_scale(axis, scale):
            return
        if self._rendering:  # a view's first image fits its zoom: draw it again once that is done
            self._rescaled.add(axis)
        else:
            self.refresh((axis,), readout=False)

    def _hovered(self, axis: int, zyx) -> None:
        self.active_axis = axis

    # -- slices -------------------------------------------------------------------------
    def step_slice(self, axis: int, delta: int) -> None:
        """Move one view's slice (and so the cursor) by ``delta`` display slices."""
        if self.scene is None:
            return
        cur = list(self.scene.state.cursor)
        a = self.scene.stored_axis(axis)
        cur[a] = int(np.clip(cur[a] + self.scene.orient.stored_step(axis, delta), 0, self.scene.shape[a] - 1))
        self.set_cursor(tuple(cur), axes=(axis,))

    def set_cursor(self, zyx, axes=None) -> None:
        """Move the cursor to a stored (z, y, x) voxel; re-render the views whose slice changed."""
        if self.scene is None:
            return
        zyx = tuple(int(np.clip(round(float(v)), 0, n - 1)) for v, n in zip(zyx, self.scene.shape))
        old = self.scene.state.cursor
        self.scene.state.cursor = zyx
        if axes is None:
            scene = self.scene
            changed = [a for a in (AXIAL, CORONAL, SAGITTAL) if scene.slice_index(a, old) != scene.slice_index(a, zyx)]
        else:
            changed = list(axes)
        self.refresh(changed, crosshair_only=[a for a in (AXIAL, CORONAL, SAGITTAL) if a not in changed])
        self.cursor_changed.emit(zyx)

    def refresh(self, axes=None, crosshair_only=(), readout: bool = True) -> None:
        """Re-render ``axes`` (default all) and move the crosshair in the others."""
        if self.scene is None:
            return
        t0 = time.perf_counter()
        axes = (AXIAL, CORONAL, SAGITTAL) if axes is None else axes
        cur = self.scene.state.cursor
        self._rendering = True
        try:
            for a in axes:
                self._show(a, cur)
        finally:
            self._rendering = False
        again, self._rescaled = self._rescaled, set()
        for a in again:
            self._show(a, cur)
        for a in crosshair_only:
            v = self.views[a]
            r, c = v.voxel_to_display(cur)
            row_mm, col_mm = v._aspect  # noqa: SLF001
            v.hline.setPos((r + 0.5) * row_mm)
            v.vline.setPos((c + 0.5) * col_mm)
        if readout:
            self.update_readout()
        self.last_render_ms = (time.perf_counter() - t0) * 1000.0

    def _show(self, axis: int, cur) -> None:
        v, scene = self.views[axis], self.scene
        assert scene is not None, "refresh renders only with a scene"
        sl = scene.render(axis)
        v.show_slice(sl, v.voxel_to_display(cur), scene.display_shape[axis])
        if sl.legend != self._legend:
            self._legend = list(sl.legend)
            self._show_legend()

    def _show_legend(self) -> None:
        """The legend in the fourth cell, or in a maximised view (the cell is hidden then)."""
        on = self.legend_enabled and bool(self._legend)
        self.legend.setText(legend_html(self._legend) if on else "")
        self.legend.setVisible(on)
        for a, v in self.views.items():
            v.set_legend_enabled(self.legend_enabled and self.maximised == a)

    def refresh_box(self, box) -> None:
        """Re-render only the part of each view that a changed stored (z, y, x) box covers."""
        if self.scene is None:
            return
        scene = self.scene
        dbox = scene.orient.box_to_display(box)
        for a, v in self.views.items():
            index = scene.slice_index(a)
            if not dbox[a][0] <= index < dbox[a][1] or v.image.image is None or v.index != index:
                continue
            # outlines and halos are drawn thicker on a zoomed-out view: the changed part is wider
            pad = OUTLINE_PAD * max(scene.line_scale(a))
            rect = box_to_display_rect(a, box, scene.shape, pad=pad, orient=scene.orient)
            if rect[0] >= rect[1] or rect[2] >= rect[3]:
                continue
            v.update_region(scene.render_region(a, index, rect), rect[0], rect[2])

    def update_readout(self) -> None:
        """Cursor readout text."""
        if self.scene is None:
            return
        self.readout.setText("\n".join(self.scene.readout().lines()))

    def update_colour_bars(self) -> None:
        """Colour bars that match the current dose and uncertainty settings."""
        if self.scene is None:
            return
        st = self.scene.state
        dose = self.scene.dose()
        if dose is not None and (st.dose.wash or st.dose.lines):
            self.dose_bar.set_bar(dose_colour_bar(st.dose.prescription_gy, dose.vmax, st.dose.threshold_pct / 100.0))
            self.dose_bar.setVisible(True)
        else:
            self.dose_bar.set_bar(None)
            self.dose_bar.setVisible(False)
        maps = [self.scene.frame.uncertainty[m] for m in st.uncertainty.maps if m in self.scene.frame.uncertainty]
        shown = [m for m in maps if m.loaded]
        if st.uncertainty.visible and st.uncertainty_allowed and shown:
            self.unc_bar.title = "Uncertainty" if st.uncertainty.scale == "fixed" else "Uncertainty (per map)"
            colours = st.uncertainty.colours
            if st.uncertainty.scale == "fixed":
                self.unc_bar.set_bar(uncertainty_colour_bar(0.0, 0.5, colours=colours))
            else:
                top = max(m.vmax for m in shown)
                self.unc_bar.set_bar(uncertainty_colour_bar(0.1 * top, top, colours=colours))
            self.unc_bar.setVisible(True)
        else:
            self.unc_bar.setVisible(False)

    # -- layout -------------------------------------------------------------------------
    def toggle_maximise(self, axis: int | None = None) -> None:
        """Maximise a view (the active one by default), or restore the four-cell layout."""
        axis = self.active_axis if axis is None else axis
        if self.maximised is None:
            for a, v in self.views.items():
                v.setVisible(a == axis)
            self.info.setVisible(False)
            self.maximised = axis
        else:
            for v in self.views.values():
                v.setVisible(True)
            self.info.setVisible(True)
            self.maximised = None
        # a stretched row or column keeps its share of the space even when all it holds is hidden
        # PySide6 returns (row, column, row span, column span); its stubs say object
        pos = cast(tuple[int, int, int, int], self._grid.getItemPosition(self._grid.indexOf(self.views[axis])))
        row, col = pos[:2]
        for i in range(2):
            self._grid.setRowStretch(i, 1 if self.maximised is None or i == row else 0)
            self._grid.setColumnStretch(i, 1 if self.maximised is None or i == col else 0)
        self._show_legend()
        QtCore.QTimer.singleShot(0, self.reset_zoom)

    def toggle_legends(self) -> None:
        """Show or hide the structure legend."""
        self.legend_enabled = not self.legend_enabled
        self._show_legend()

    def reset_zoom(self) -> None:
        """Fit every view."""
        for v in self.views.values():
            v.reset_zoom()

    def set_mode(self, mode: str) -> None:
        """Mouse mode of every view: navigate, window, or an editing mode."""
        for v in self.views.values():
            v.mode = mode
