"""One slice view (axial, coronal or sagittal): shows a rendered RGB slice and forwards mouse input.

Scene coordinates are millimetres: display pixel (row, col) covers
``[col * col_mm, (col + 1) * col_mm) x [row * row_mm, (row + 1) * row_mm)``, so a locked aspect of 1
gives the correct physical proportions (2.5 mm slices look 2.5 mm thick).

The view shows the display array (patient orientation); every position it reports is mapped back
through the grid's :class:`~lundprobe_gui.core.orientation.Orientation` to one stored voxel.
"""

from __future__ import annotations

import html
import logging
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.orientation import Orientation
from ..render.label_layout import separate
from ..render.scene import SliceImage
from ..render.slicing import VIEW_NAMES, display_to_voxel, voxel_to_display
from .png_file import save_png

logger = logging.getLogger(__name__)

# a dark backing keeps titles and orientation letters readable over bright anatomy and the dose wash
_LABEL_CSS = (
    "color: #ffd24a; font-weight: bold; font-size: 13px; background: rgba(0, 0, 0, 190);"
    " padding: 1px 4px; border-radius: 3px;"
)
LEGEND_CSS = "color: white; font-size: 11px; background: rgba(0, 0, 0, 170); padding: 3px; border-radius: 3px;"
LEGEND_ROWS = 14


def _halo_css(halo: tuple[int, int, int] | None) -> str:
    # a structure drawn with a halo (dark fiducials) would vanish as a bare swatch on the dark legend
    return f" background-color:rgb{halo};" if halo is not None else ""


def legend_html(entries: list, rows: int = LEGEND_ROWS) -> str:
    """A legend table of (name, colour, halo colour or None) entries, at most ``rows`` of them."""
    body = "".join(
        f"<tr><td><span style='color:rgb{c};{_halo_css(halo)}'>&#9632;</span></td>"
        f"<td>&nbsp;{html.escape(name)}</td></tr>"
        for name, c, halo in entries[:rows]
    )
    more = f"<tr><td></td><td>+{len(entries) - rows} more</td></tr>" if len(entries) > rows else ""
    return f"<table cellspacing=0 cellpadding=0>{body}{more}</table>"


class _ViewBox(pg.ViewBox):
    """A ViewBox whose mouse input goes to the owning :class:`SliceView`."""

    def __init__(self, owner: SliceView) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        self._owner = owner

    def mouseClickEvent(self, ev) -> None:
        self._owner.handle_click(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:
        self._owner.handle_drag(ev)

    def wheelEvent(self, ev, axis=None) -> None:
        self._owner.handle_wheel(ev)


class SliceView(QtWidgets.QWidget):
    """A view of one orientation.

    Signals carry stored voxel coordinates (z, y, x) as floats; the main window decides what they
    mean (move the cursor, adjust the window, or feed an editing tool). :attr:`index` is the
    display slice index.
    """

    clicked = QtCore.Signal(int, object, object)  # axis, zyx, modifiers
    dragged = QtCore.Signal(int, str, object, object)  # axis, phase (start/move/finish), zyx, button
    window_dragged = QtCore.Signal(float, float)  # dx, dy in screen pixels
    slice_step = QtCore.Signal(int, int)  # axis, delta
    maximise_toggled = QtCore.Signal(int)
    hovered = QtCore.Signal(int, object)  # axis, zyx
    line_scale_changed = QtCore.Signal(int, object)  # axis, (rows, cols) image pixels per screen pixel

    def __init__(self, axis: int, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.axis = axis
        self.mode = "navigate"
        self.shape_zyx = (1, 1, 1)
        self.orient = Orientation.identity(self.shape_zyx)
        self.view_name = VIEW_NAMES[axis].capitalize()
        self.index = 0
        self._aspect = (1.0, 1.0)
        self._img_shape: tuple[int, int] | None = None
        self._drag_button = None
        self._last_pos: QtCore.QPointF | None = None

        self.graphics = pg.GraphicsView(background="k")
        self.graphics.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        # pyqtgraph repaints only what it thinks changed; a crosshair line moved while the view was
        # zoomed left stale copies in the black band around the image. The image covers most of the
        # view anyway, so repainting all of it costs little.
        self.graphics.setViewportUpdateMode(QtWidgets.QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.vb = _ViewBox(self)
        self.graphics.setCentralItem(self.vb)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        pen = pg.mkPen((80, 220, 255, 170), width=1)
        self.hline = pg.InfiniteLine(angle=0, pen=pen, movable=False)
        self.vline = pg.InfiniteLine(angle=90, pen=pen, movable=False)
        for line in (self.hline, self.vline):
            line.setZValue(10)
            self.vb.addItem(line, ignoreBounds=True)
        self.fiducial_items = pg.ScatterPlotItem(
            size=12, pen=pg.mkPen((255, 255, 255), width=1.5), brush=pg.mkBrush(0, 0, 0, 0), symbol="o"
        )
        self.fiducial_items.setZValue(11)
        self.vb.addItem(self.fiducial_items, ignoreBounds=True)
        self.brush_cursor = QtWidgets.QGraphicsEllipseItem()
        self.brush_cursor.setPen(pg.mkPen((255, 255, 255, 200), width=1, style=QtCore.Qt.PenStyle.DashLine))
        self.brush_cursor.setZValue(12)
        self.brush_cursor.setVisible(False)
        self.vb.addItem(self.brush_cursor, ignoreBounds=True)
        # the polygon being placed: its edges, a rubber band to the pointer, and its vertices
        self.polygon_path = QtWidgets.QGraphicsPathItem()
        self.polygon_path.setPen(pg.mkPen((255, 255, 0), width=2))
        self.rubber_band = QtWidgets.QGraphicsPathItem()
        self.rubber_band.setPen(pg.mkPen((255, 255, 0), width=1, style=QtCore.Qt.PenStyle.DashLine))
        self.polygon_vertices = pg.ScatterPlotItem(
            size=7, pen=pg.mkPen((0, 0, 0), width=1), brush=pg.mkBrush(255, 255, 0), symbol="s"
        )
        for z, item in ((13, self.polygon_path), (13, self.rubber_band), (14, self.polygon_vertices)):
            item.setZValue(z)
            item.setVisible(False)
            self.vb.addItem(item, ignoreBounds=True)
        self._iso_items: list[pg.TextItem] = []
        self._iso_anchors: list[tuple[float, float]] = []  # view (x, y) of each shown label's line point
        self.line_scale = (1, 1)
        for sig in (self.vb.sigRangeChanged, self.vb.sigResized):
            sig.connect(self._layout_isodose_labels)
            sig.connect(self._check_line_scale)
        self._legend_shown: list = []
        self.legend_enabled = False  # the window shows one legend beside the views; a maximised view shows its own
        self._iso_shown: list = []

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.graphics)
        self.title = self._overlay_label(f"{VIEW_NAMES[axis].capitalize()}")
        self.letters = {k: self._overlay_label("") for k in ("top", "bottom", "left", "right")}
        for lab in self.letters.values():
            lab.setVisible(False)
        self.legend = self._overlay_label("")
        self.legend.setStyleSheet(LEGEND_CSS)
        self.legend.setVisible(False)
        self.setMouseTracking(True)
        self.graphics.setMouseTracking(True)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.setMinimumSize(160, 160)
        # a click or wheel in a view takes the keyboard from the panels: keys then act on the views
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.WheelFocus)

    # -- overlays -----------------------------------------------------------------------
    def _overlay_label(self, text: str) -> QtWidgets.QLabel:
        lab = QtWidgets.QLabel(text, self.graphics)
        lab.setStyleSheet(_LABEL_CSS)
        lab.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        return lab

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:
        super().resizeEvent(ev)
        self._place_overlays()

    def _place_overlays(self) -> None:
        w, h = self.graphics.width(), self.graphics.height()
        for lab in [self.title, self.legend, *self.letters.values()]:
            lab.adjustSize()
        self.title.move(6, 4)
        self._place_top_letter()
        self.letters["bottom"].move((w - self.letters["bottom"].width()) // 2, h - self.letters["bottom"].height() - 4)
        self.letters["left"].move(6, (h - self.letters["left"].height()) // 2)
        self.letters["right"].move(w - self.letters["right"].width() - 6, (h - self.letters["right"].height()) // 2)
        self.legend.move(w - self.legend.width() - 4, 4)

    def _place_top_letter(self) -> None:
        top = self.letters["top"]
        x = (self.graphics.width() - top.width()) // 2
        # below a title long enough to reach the middle ("Axial (oblique 9.3°)  13/25"), never under it
        y = 4 if self.title.geometry().right() + 4 < x else self.title.geometry().bottom() + 2
        if (top.x(), top.y()) != (x, y):
            top.move(x, y)

    def set_orientation_letters(self, letters: dict[str, str]) -> None:
        """Show the anatomical direction at each edge (derived from the direction matrix)."""
        for k, lab in self.letters.items():
            lab.setText(letters.get(k, ""))
            lab.setVisible(bool(lab.text()))  # an empty label would still show its dark backing
        self._place_overlays()

    def set_legend(self, entries: list[tuple[str, tuple[int, int, int], tuple[int, int, int] | None]]) -> None:
        """The on-view legend of visible structures: (name, colour, halo colour or None)."""
        if not entries or not self.legend_enabled:
            self.legend.setText("")
            self.legend.setVisible(False)
            return
        self.legend.setText(legend_html(entries))
        self.legend.setVisible(True)
        self._place_overlays()

    def set_legend_enabled(self, on: bool) -> None:
        """Show or hide the on-view legend (it covers the top-right corner of the image)."""
        self.legend_enabled = on
        self.set_legend(self._legend_shown)

    # -- display ------------------------------------------------------------------------
    def show_slice(self, sl: SliceImage, cursor_display: tuple[float, float], total: int) -> None:
        """Display a rendered slice, the crosshair at display (row, col), labels and fiducials."""
        self.index = sl.index
        h, w = sl.rgb.shape[:2]
        row_mm, col_mm = sl.aspect
        self.image.setImage(sl.rgb, autoLevels=False)
        first = self._img_shape is None
        if (h, w) != self._img_shape or sl.aspect != self._aspect:
            self.image.setRect(QtCore.QRectF(0, 0, w * col_mm, h * row_mm))
            self._img_shape, self._aspect = (h, w), sl.aspect
            if first:
                self.reset_zoom()
        r, c = cursor_display
        self.hline.setPos((r + 0.5) * row_mm)
        self.vline.setPos((c + 0.5) * col_mm)
        title = f"{self.view_name}  {sl.index + 1}/{total}"
        if self.title.text() != title:
            width = self.title.width()
            self.title.setText(title)
            self.title.adjustSize()  # "118/171" after "86/171", or "Axial (oblique 9.3°)": never clipped
            if self.title.width() != width:
                self._place_top_letter()
        self._show_isodose_labels(sl)
        if sl.fiducials:
            self.fiducial_items.setData(
                [(c_ + 0.5) * col_mm for _, c_ in sl.fiducials], [(r_ + 0.5) * row_mm for r_, _ in sl.fiducials]
            )
        else:
            self.fiducial_items.setData([], [])
        if sl.legend != self._legend_shown:
            self._legend_shown = list(sl.legend)
            self.set_legend(sl.legend)

    def update_region(self, rgb: np.ndarray, r0: int, c0: int) -> None:
        """Replace part of the shown image (an edit's box) without re-rendering the rest."""
        img = self.image.image
        if img is None:
            return
        img[r0 : r0 + rgb.shape[0], c0 : c0 + rgb.shape[1]] = rgb
        self.image.updateImage()

    def _show_isodose_labels(self, sl: SliceImage) -> None:
        if sl.isodose_labels == self._iso_shown:
            return
        self._iso_shown = list(sl.isodose_labels)
        row_mm, col_mm = sl.aspect
        while len(self._iso_items) < len(sl.isodose_labels):
            item = pg.TextItem(anchor=(0, 0.5), fill=(0, 0, 0, 150))  # readable over the dose wash
            item.setZValue(9)
            self.vb.addItem(item, ignoreBounds=True)
            self._iso_items.append(item)
        self._iso_anchors = []
        for i, item in enumerate(self._iso_items):
            if i < len(sl.isodose_labels):
                text, r, c, colour = sl.isodose_labels[i]
                item.setText(text, color=colour)
                self._iso_anchors.append(((c + 1.5) * col_mm, (r + 0.5) * row_mm))
                item.setVisible(True)
            else:
                item.setVisible(False)
        self._layout_isodose_labels()

    def _check_line_scale(self, *_args) -> None:
        # Qt draws the image scaled by nearest neighbour: shown smaller than one screen pixel per
        # image pixel, a one-pixel line loses rows or columns and breaks into dots.
        if self._img_shape is None:
            return
        px = self.vb.viewPixelSize()  # mm per screen pixel (x, y)
        row_mm, col_mm = self._aspect
        scale = tuple(min(8, max(1, math.ceil(size / mm - 1e-3))) for size, mm in ((px[1], row_mm), (px[0], col_mm)))
        if scale != self.line_scale:
            self.line_scale = scale
            self.line_scale_changed.emit(self.axis, scale)

    def _layout_isodose_labels(self, *_args) -> None:
        # Labels keep their size on screen while the lines scale with the zoom, so whether two
        # of them collide depends on the zoom: place them again whenever the view range changes.
        items = self._iso_items[: len(self._iso_anchors)]
        if not items:
            return
        boxes = []
        for item, (x, y) in zip(items, self._iso_anchors):
            p = self.vb.mapViewToScene(QtCore.QPointF(x, y))
            size = item.textItem.boundingRect()
            boxes.append((p.x(), p.y() - size.height() / 2, size.width(), size.height()))
        for item, (x, y), box, top in zip(items, self._iso_anchors, boxes, separate(boxes)):
            if top == box[1]:
                item.setPos(x, y)
            else:
                item.setPos(x, self.vb.mapSceneToView(QtCore.QPointF(box[0], top + box[3] / 2)).y())

    def reset_zoom(self) -> None:
        """Fit the whole slice."""
        if self._img_shape is None:
            return
        h, w = self._img_shape
        row_mm, col_mm = self._aspect
        self.vb.setRange(QtCore.QRectF(0, 0, w * col_mm, h * row_mm), padding=0.02)

    def set_brush_cursor(self, radius_mm: float | None, zyx: tuple[float, float, float] | None = None) -> None:
        """Draw the brush outline at its true size (None hides it)."""
        if radius_mm is None or zyx is None or self._img_shape is None:
            self.brush_cursor.setVisible(False)
            return
        r, c = self.voxel_to_display(zyx)
        row_mm, col_mm = self._aspect
        cx, cy = (c + 0.5) * col_mm, (r + 0.5) * row_mm
        self.brush_cursor.setRect(QtCore.QRectF(cx - radius_mm, cy - radius_mm, 2 * radius_mm, 2 * radius_mm))
        self.brush_cursor.setVisible(True)

    def set_polygon(self, vertices_zyx: list, pointer_zyx=None) -> None:
        """Show a polygon being placed: vertices (voxel z, y, x) joined in order, and a rubber band
        from the last vertex to the pointer and back to the first (an empty list hides it)."""
        if not vertices_zyx or self._img_shape is None:
            for item in (self.polygon_path, self.rubber_band, self.polygon_vertices):
                item.setVisible(False)
            return
        row_mm, col_mm = self._aspect
        pts = []
        for zyx in vertices_zyx:
            r, c = self.voxel_to_display(zyx)
            pts.append(QtCore.QPointF((c + 0.5) * col_mm, (r + 0.5) * row_mm))
        path = QtGui.QPainterPath(pts[0])
        for p in pts[1:]:
            path.lineTo(p)
        self.polygon_path.setPath(path)
        self.polygon_vertices.setData([p.x() for p in pts], [p.y() for p in pts])
        band = QtGui.QPainterPath()
        if pointer_zyx is not None:
            r, c = self.voxel_to_display(pointer_zyx)
            band.moveTo(pts[-1])
            band.lineTo(QtCore.QPointF((c + 0.5) * col_mm, (r + 0.5) * row_mm))
            if len(pts) > 1:
                band.lineTo(pts[0])  # where Enter would close it
        self.rubber_band.setPath(band)
        for item in (self.polygon_path, self.rubber_band, self.polygon_vertices):
            item.setVisible(True)

    def centre_on(self, zyx) -> None:
        """Pan (keeping the zoom) so that voxel ``zyx`` is in the middle of the view."""
        if self._img_shape is None:
            return
        r, c = self.voxel_to_display(zyx)
        row_mm, col_mm = self._aspect
        here = self.vb.viewRect().center()
        self.vb.translateBy(x=(c + 0.5) * col_mm - here.x(), y=(r + 0.5) * row_mm - here.y())

    # -- coordinates --------------------------------------------------------------------
    def bind_grid(self, shape_zyx: tuple[int, int, int], orient: Orientation, name: str) -> None:
        """Show a new grid: its stored shape, its storage-to-display mapping and the view's title."""
        self.shape_zyx = (shape_zyx[0], shape_zyx[1], shape_zyx[2])
        self.orient = orient
        self.view_name = name
        self._img_shape = None  # refit on the next image

    def scene_to_voxel(self, scene_pos: QtCore.QPointF) -> tuple[float, float, float]:
        """Stored voxel (z, y, x) under a scene position, in the current slice."""
        p = self.vb.mapSceneToView(scene_pos)
        row_mm, col_mm = self._aspect
        row, col = p.y() / row_mm - 0.5, p.x() / col_mm - 0.5
        shown = display_to_voxel(self.axis, self.index, row, col, self.orient.display_shape)
        return self.orient.to_stored(shown)

    def voxel_to_display(self, zyx) -> tuple[float, float]:
        """Display (row, col) of a stored voxel."""
        return voxel_to_display(self.axis, self.orient.to_display(zyx), self.orient.display_shape)

    # -- mouse --------------------------------------------------------------------------
    def _clamp(self, zyx) -> tuple[float, float, float]:
        z, y, x = (float(min(max(v, 0), n - 1)) for v, n in zip(zyx, self.shape_zyx))
        return z, y, x

    def handle_click(self, ev) -> None:
        """Left click: cursor (or tool); double click: maximise."""
        if ev.double():
            self.maximise_toggled.emit(self.axis)
            ev.accept()
            return
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            self.clicked.emit(self.axis, self._clamp(self.scene_to_voxel(ev.scenePos())), ev.modifiers())
            ev.accept()

    def handle_drag(self, ev) -> None:
        """Left: cursor, window or tool; right: zoom; middle: pan."""
        ev.accept()
        button = ev.button()
        if button == QtCore.Qt.MouseButton.MiddleButton:
            d = self.vb.mapSceneToView(ev.lastScenePos()) - self.vb.mapSceneToView(ev.scenePos())
            self.vb.translateBy(x=d.x(), y=d.y())
            return
        if button == QtCore.Qt.MouseButton.RightButton:
            dy = ev.scenePos().y() - ev.lastScenePos().y()
            factor = math.exp(dy * 0.01)
            centre = self.vb.mapSceneToView(ev.buttonDownScenePos())
            self.vb.scaleBy((factor, factor), center=centre)
            return
        if button != QtCore.Qt.MouseButton.LeftButton:
            return
        phase = "start" if ev.isStart() else "finish" if ev.isFinish() else "move"
        if self.mode == "window":
            d = ev.scenePos() - ev.lastScenePos()
            self.window_dragged.emit(float(d.x()), float(d.y()))
            return
        if ev.isStart():
            # pyqtgraph reports a drag only once the mouse has moved: start it where the button went down
            self.dragged.emit(
                self.axis, "start", self._clamp(self.scene_to_voxel(ev.buttonDownScenePos())), ev.modifiers()
            )
            phase = "move"
        zyx = self._clamp(self.scene_to_voxel(ev.scenePos()))
        self.dragged.emit(self.axis, phase, zyx, ev.modifiers())

    def handle_wheel(self, ev) -> None:
        """Wheel: next/previous slice; Ctrl+wheel: zoom."""
        ev.accept()
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        if ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            factor = 0.85 if delta > 0 else 1 / 0.85
            self.vb.scaleBy((factor, factor), center=self.vb.mapSceneToView(ev.scenePos()))
            return
        self.slice_step.emit(self.axis, 1 if delta > 0 else -1)

    def _on_mouse_moved(self, pos: QtCore.QPointF) -> None:
        if self._img_shape is not None:
            self.hovered.emit(self.axis, self._clamp(self.scene_to_voxel(pos)))

    def enterEvent(self, ev) -> None:
        self.hovered.emit(self.axis, None)
        super().enterEvent(ev)

    def grab_png(self, path: str) -> bool:
        """Save what this view shows as a PNG."""
        try:
            save_png(self.grab(), path)
        except OSError as e:
            logger.error("%s", e)
            return False
        return True


def qimage_to_array(img: QtGui.QImage) -> np.ndarray:
    """An (h, w, 4) uint8 copy of a QImage (for tests and screenshots)."""
    img = img.convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
    ptr = img.constBits()
    arr = np.frombuffer(ptr, np.uint8, count=img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 4].reshape(img.height(), img.width(), 4).copy()
