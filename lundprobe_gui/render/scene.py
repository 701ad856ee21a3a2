"""Renders the three views of a patient from a :class:`ViewerState`: numpy in, RGB uint8 out.

The Qt views only display what :meth:`SceneRenderer.render` returns, so every pixel can be
tested (and screenshots rendered) without a display. Structure outlines are cached per
(structure, view, slice) and invalidated only where an edit touched the mask.

Views show patient orientation whatever the storage order: every plane is taken from the stored
arrays and put in display order through the frame's
:class:`~lundprobe_gui.core.orientation.Orientation` (views of the arrays, never a resample).
Slice indices of views are display indices; the cursor and every box are stored (z, y, x).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.mask import Box
from ..core.orientation import Orientation, world_in
from ..core.patient import Patient
from ..core.volume import Volume
from .colormaps import DoseWashSettings, UncertaintySettings, structure_halo_colour
from .compose import LineLayer, MaskLayer, RgbaLayer, compose_slice
from .edit_map import edit_map_layers
from .overlay import (
    StructureStyle,
    blend,
    checkerboard,
    dose_wash_layer,
    isodose_lines,
    structure_layers,
    uncertainty_layer,
)
from .slicing import VIEW_NAMES, cropped_slice, display_slice, is_flipped, pixel_aspect, plane_axes, voxel_to_display
from .state import Key, ViewerState
from .window import apply_window, percentile_window

logger = logging.getLogger(__name__)

FIDUCIAL_STRUCTURE = "MRI_T2_coords_fiducials"


@dataclass
class SliceImage:
    """One rendered view."""

    axis: int
    index: int
    rgb: np.ndarray
    aspect: tuple[float, float]
    isodose_labels: list[tuple[str, int, int, tuple[int, int, int]]] = field(default_factory=list)
    fiducials: list[tuple[float, float]] = field(default_factory=list)
    legend: list[tuple[str, tuple[int, int, int], tuple[int, int, int] | None]] = field(default_factory=list)


@dataclass
class Readout:
    """What lies under the cursor."""

    voxel_xyz: tuple[int, int, int]
    world_mm: tuple[float, float, float]
    mri: float | None = None
    hu: float | None = None
    dose_gy: float | None = None
    dose_pct: float | None = None
    uncertainty: dict[str, float] = field(default_factory=dict)
    structures: list[str] = field(default_factory=list)
    base_label: str = "MRI"
    coords: str = "LPS"
    """The convention :meth:`lines` shows world coordinates in (``world_mm`` itself is always LPS)."""

    def lines(self) -> list[str]:
        """Human-readable lines."""
        x, y, z = self.voxel_xyz
        w = world_in(self.world_mm, self.coords)
        out = [f"voxel ({x}, {y}, {z})   {self.coords} ({w[0]:.1f}, {w[1]:.1f}, {w[2]:.1f}) mm"]
        vals = []
        if self.mri is not None:
            vals.append(f"{self.base_label} {self.mri:.0f}" + (" HU" if self.base_label == "CT" else ""))
        if self.hu is not None:
            vals.append(f"sCT {self.hu:.0f} HU")
        if self.dose_gy is not None:
            vals.append(f"dose {self.dose_gy:.2f} Gy ({self.dose_pct:.1f} %)")
        for k, v in self.uncertainty.items():
            vals.append(f"unc. {k} {v:.3f}")
        if vals:
            out.append("   ".join(vals))
        out.append("in: " + (summarise_structures(self.structures) if self.structures else "no structure"))
        return out


def summarise_structures(labels: list[str]) -> str:
    """Group "NAME (source)" labels by structure: "CTVT_427: clinical, nnUNet, folds 7/10, step1 B C"."""
    by_name: dict[str, list[str]] = {}
    for lab in labels:
        name, _, src = lab.partition(" (")
        by_name.setdefault(name, []).append(src.rstrip(")") or "clinical")
    parts = []
    for name, sources in by_name.items():
        folds = [s for s in sources if s.startswith("nnUNet_fold_")]
        steps: dict[str, list[str]] = {}
        rest = []
        for s in sources:
            if s in folds:
                continue
            head, sep, obs = s.partition("_obs")
            if sep and head.startswith("step"):
                steps.setdefault(head, []).append(obs)
            else:
                rest.append(s)
        bits = rest + ([f"folds {len(folds)}"] if folds else []) + [f"{k} {' '.join(v)}" for k, v in steps.items()]
        parts.append(f"{name}: {', '.join(bits)}" if bits != ["clinical"] else name)
    return "; ".join(parts)


class SceneRenderer:
    """Composes the slices of one patient's reference frame."""

    def __init__(self, patient: Patient, state: ViewerState) -> None:
        self.patient = patient
        self.state = state
        self.frame = patient.reference_frame
        self.shape = self.frame.geometry.shape_zyx
        """Stored (z, y, x) shape of the frame."""
        self.orient = Orientation.from_geometry(self.frame.geometry)
        self.display_shape = self.orient.display_shape
        """Shape of the display array: views' slice counts and planes."""
        self.display_spacing = self.orient.display_spacing(self.frame.geometry.spacing_zyx)
        self._outline_cache: dict[tuple[Key, int, int], tuple[tuple, list]] = {}
        self._lock = threading.Lock()
        self._edited: dict[Key, object] = {}
        self._generation = 0
        self._overlay_cache: dict[tuple[str, int], tuple[tuple, object]] = {}
        self._dose_vol: Volume | None = None
        self._line_scale: dict[int, tuple[int, int]] = {}

    def slice_index(self, axis: int, zyx: Sequence[float] | None = None) -> int:
        """The display slice index a view shows for a stored position (the cursor by default)."""
        return self.orient.display_index(axis, self.state.cursor if zyx is None else zyx)

    def stored_axis(self, axis: int) -> int:
        """The stored array axis normal to a view (what editing tools call the slice axis)."""
        return self.orient.stored_axis(axis)

    def view_title(self, axis: int) -> str:
        """A view's name, with the obliquity when the grid is oblique (e.g. "Axial (oblique 4.0°)")."""
        name = VIEW_NAMES[axis].capitalize()
        oblique = self.orient.obliquity_text()
        return f"{name} ({oblique})" if oblique else name

    def plane(self, vol: Volume, axis: int, index: int) -> np.ndarray:
        """The full display plane of a volume at display slice ``index`` (rows top to bottom)."""
        a = self.orient.stored_axis(axis)
        return display_slice(self.orient.plane(vol.slice2d(a, self.orient.stored_index(axis, index)), axis), axis)

    def line_scale(self, axis: int) -> tuple[int, int]:
        """Image pixels (rows, columns) per screen pixel in a view, rounded up (1, 1 until told)."""
        return self._line_scale.get(axis, (1, 1))

    def set_line_scale(self, axis: int, scale: tuple[int, int]) -> bool:
        """Tell how small a view shows its pixels; lines are drawn that much thicker so none breaks up.

        A view that shows a 1024-pixel slice in 430 screen pixels drops more than half of the image
        columns and rows, and a one-pixel line with them. Returns whether the scale changed (the
        view must then be redrawn).
        """
        scale = (max(1, int(scale[0])), max(1, int(scale[1])))
        if self.line_scale(axis) == scale:
            return False
        self._line_scale[axis] = scale
        return True

    # -- volumes -------------------------------------------------------------------------
    def _ready(self, vol: Volume | None) -> Volume | None:
        return vol if vol is not None and vol.loaded else None

    def mri(self) -> Volume | None:
        """The MRI (or the frame's main image) once loaded."""
        return self._ready(self.frame.images.get("image"))

    def sct(self) -> Volume | None:
        """The sCT on the MRI grid once loaded."""
        return self._ready(self.frame.images.get("sCT"))

    def dose(self) -> Volume | None:
        """The dose on this grid once loaded (looked up once: the grid comparison is not free); None while hidden."""
        if not self.state.dose_allowed:
            return None
        if self._dose_vol is None:
            self._dose_vol = self.frame.dose()
        return self._ready(self._dose_vol)

    def window(self, which: str) -> tuple[float, float]:
        """The current (lo, hi) window of ``mri`` or ``sct``, the MRI's auto window computed once."""
        wins = self.state.base.windows
        if which not in wins:
            vol = self.mri() if which == "mri" else self.sct()
            if vol is None:
                return (0.0, 1.0)
            wins[which] = percentile_window(vol.voxels())
        return wins[which]

    # -- structures ----------------------------------------------------------------------
    def set_edited_mask(self, key: Key, mask) -> None:
        """Show ``mask`` for ``key`` (a working copy being edited) instead of the stored one."""
        self._edited[key] = mask
        self.invalidate(key)

    def clear_edited_mask(self, key: Key) -> None:
        """Stop overriding a key with a working copy."""
        self._edited.pop(key, None)
        self.invalidate(key)

    def mask_for(self, key: Key):
        """The loaded (or edited) mask of a key, or None while it is not in memory."""
        if key in self._edited:
            return self._edited[key]
        ref = self.frame.structures.get((key[0], key[1]))
        if ref is None or not self.patient.is_mask_loaded(ref):
            return None
        try:
            return self.patient.mask_obj(key[0], key[1], key[2])
        except (KeyError, ValueError):
            return None

    def invalidate(self, key: Key | None = None, box: Box | None = None) -> None:
        """Forget cached outlines of a key (all keys when None), only within ``box`` when given."""
        with self._lock:
            if key is None:
                self._generation += 1
                self._outline_cache.clear()
                self._dose_vol = None
                return
            dbox = None if box is None else self.orient.box_to_display(box)
            for ck in list(self._outline_cache):
                if ck[0] != key:
                    continue
                if dbox is not None:
                    axis, index = ck[1], ck[2]
                    if not dbox[axis][0] <= index < dbox[axis][1]:
                        continue
                del self._outline_cache[ck]

    def invalidate_overlays(self) -> None:
        """Forget the cached dose and uncertainty layers (a volume arrived or changed); outlines stay."""
        with self._lock:
            self._generation += 1
            self._dose_vol = None

    def _structure_layers(self, key: Key, axis: int, index: int) -> list:
        st = self.state.layers[key]
        scale = self.line_scale(axis)
        sig = (st.mode, st.width, st.opacity, st.colour, scale)
        ck = (key, axis, index)
        with self._lock:
            hit = self._outline_cache.get(ck)
        if hit is not None and hit[0] == sig:
            return hit[1]
        mask = self.mask_for(key)
        layers: list = []
        if mask is not None:
            cut = cropped_slice(mask, axis, index, self.orient)
            if cut is not None:
                block, offset = cut
                style = StructureStyle(st.mode, st.width, st.opacity, 0.35 * st.opacity)
                layers = structure_layers(block, st.colour, style, offset, structure_halo_colour(key[0]), scale)
        with self._lock:
            self._outline_cache[ck] = (sig, layers)
        return layers

    def shown_keys(self) -> list[Key]:
        """Visible structure keys of this frame, in drawing order (clinical first, observers last)."""
        keys = [k for k in self.state.layers if k[2] == self.frame.name and self.state.is_shown(k)]
        if not self.state.fiducials_on:
            keys = [k for k in keys if k[0] != FIDUCIAL_STRUCTURE]
        return keys

    # -- rendering -------------------------------------------------------------------------
    def base_slice(self, axis: int, index: int, rect: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """The windowed greyscale base (or MRI/sCT fusion) in display order, uint8 (only ``rect`` if given)."""
        b = self.state.base
        mri, sct = self.mri(), self.sct()
        first = sct if (b.base == "sct" and sct is not None) else mri
        crop = (slice(None), slice(None)) if rect is None else (slice(rect[0], rect[1]), slice(rect[2], rect[3]))
        if first is None:
            return np.ascontiguousarray(np.zeros(self._plane_shape(axis), np.uint8)[crop])
        which = "sct" if first is sct else "mri"
        img = apply_window(np.ascontiguousarray(self.plane(first, axis, index)[crop]), *self.window(which))
        if b.fusion != "none" and mri is not None and sct is not None:
            other = mri if first is sct else sct
            oth = apply_window(
                np.ascontiguousarray(self.plane(other, axis, index)[crop]),
                *self.window("mri" if other is mri else "sct"),
            )
            if b.fusion == "checkerboard":
                # tiles square on screen: a sagittal or coronal pixel is 2.5 mm tall and 0.47 mm wide
                row_mm, col_mm = pixel_aspect(axis, self.display_spacing)
                tile = max(1, b.tile_px)
                tiles = (max(1, round(tile * col_mm / row_mm)), tile)
                img = checkerboard(img, oth, tiles, (0, 0) if rect is None else (rect[0], rect[2]))
            else:
                img = blend(img, oth, b.blend)
        return img

    def _plane_shape(self, axis: int) -> tuple[int, int]:
        return tuple(n for i, n in enumerate(self.display_shape) if i != axis)  # type: ignore[return-value]

    def _dose_signature(self, index: int) -> tuple:
        ds = self.state.dose
        return (
            index,
            self._generation,
            ds.wash,
            ds.lines,
            ds.prescription_gy,
            ds.threshold_pct,
            ds.opacity,
            ds.levels_pct,
            self.dose() is not None,
        )

    def _dose_layers(self, axis: int, index: int) -> tuple[list, list, list]:
        """(wash layers, isodose line layers, isodose labels), cached per view while nothing changes."""
        sig = (self._dose_signature(index), self.line_scale(axis))
        hit = self._overlay_cache.get(("dose", axis))
        if hit is not None and hit[0] == sig:
            return hit[1]  # type: ignore[return-value]
        wash_layers: list = []
        line_layers: list = []
        labels: list = []
        dose = self.dose()
        ds = self.state.dose
        if dose is not None and (ds.wash or ds.lines):
            dose2d = self.plane(dose, axis, index)
            if ds.wash:
                wash = dose_wash_layer(
                    dose2d, dose.vmax, DoseWashSettings(ds.prescription_gy, ds.threshold_pct / 100.0, ds.opacity)
                )
                if wash is not None:
                    wash_layers.append(wash)
            if ds.lines:
                aspect = pixel_aspect(axis, self.display_spacing)
                for i, ln in enumerate(
                    isodose_lines(dose2d, ds.prescription_gy, ds.levels_pct, dose.vmax, self.line_scale(axis))
                ):
                    layer = ln.layer()
                    line_layers.append(layer)
                    r, c = spread_anchor(layer, i, aspect)
                    labels.append((ln.label, r, c, ln.colour))
        result = (wash_layers, line_layers, labels)
        self._overlay_cache[("dose", axis)] = (sig, result)
        return result

    def _uncertainty_layers(self, axis: int, index: int) -> list:
        st = self.state
        us = st.uncertainty
        sig = (
            index,
            self._generation,
            us.visible and st.uncertainty_allowed,
            tuple(sorted(us.maps)),
            us.scale,
            us.opacity,
            us.colours,
            tuple(v.loaded for v in self.frame.uncertainty.values()),
        )
        hit = self._overlay_cache.get(("unc", axis))
        if hit is not None and hit[0] == sig:
            return hit[1]  # type: ignore[return-value]
        layers: list = []
        if us.visible and st.uncertainty_allowed:
            for name in sorted(us.maps):
                vol = self._ready(self.frame.uncertainty.get(name))
                if vol is None:
                    continue
                lay = uncertainty_layer(
                    self.plane(vol, axis, index),
                    vol.vmax,
                    UncertaintySettings(us.scale, opacity=us.opacity, colours=us.colours),
                )
                if lay is not None:
                    layers.append(lay)
        self._overlay_cache[("unc", axis)] = (sig, layers)
        return layers

    def overlays(self, axis: int, index: int) -> tuple[list, list, list]:
        """(layers in painting order, isodose labels, legend) of one view.

        Dose and uncertainty layers are cached per view; structure layers per structure and slice,
        so a brush stamp only redraws the edited structure's outline.
        """
        wash, lines, labels = self._dose_layers(axis, index)
        layers = list(wash) + self._uncertainty_layers(axis, index)
        legend = []
        for key in self.shown_keys():
            layers.extend(self._structure_layers(key, axis, index))
            if self.mask_for(key) is not None:
                legend.append(
                    (
                        key[0] if key[1] == "clinical" else f"{key[0]} ({key[1]})",
                        self.state.layers[key].colour,
                        structure_halo_colour(key[0]),
                    )
                )
        em = self.state.edit_map
        if em is not None and self.state.allowed(em[0][1]) and self.state.allowed(em[1][1]):
            base, edited = self.mask_for(em[0]), self.mask_for(em[1])
            if base is not None and edited is not None:
                layers.extend(edit_map_layers(base, edited, axis, index, orient=self.orient))
                legend.append((f"edit map {em[0][1]} -> {em[1][1]}", (255, 255, 255), None))
        layers.extend(lines)
        return layers, labels, legend

    def render(self, axis: int, index: int | None = None) -> SliceImage:
        """Compose one view at display slice ``index`` (default: the cursor's slice)."""
        if index is None:
            index = self.slice_index(axis)
        index = int(np.clip(index, 0, self.display_shape[axis] - 1))
        layers, isolabels, legend = self.overlays(axis, index)
        rgb = compose_slice(self.base_slice(axis, index), layers)
        fids = []
        if self.state.fiducials_on:
            for f in self.patient.fiducials:
                zyx = self.orient.to_display((f.voxel_xyz[2], f.voxel_xyz[1], f.voxel_xyz[0]))
                if abs(zyx[axis] - index) <= 0.5:
                    fids.append(voxel_to_display(axis, zyx, self.display_shape))
        return SliceImage(axis, index, rgb, pixel_aspect(axis, self.display_spacing), isolabels, fids, legend)

    def render_region(self, axis: int, index: int, rect: tuple[int, int, int, int]) -> np.ndarray:
        """Compose only display rows r0:r1, cols c0:c1 of a view (the part an edit touched)."""
        r0, _r1, c0, _c1 = rect
        layers, _labels, _legend = self.overlays(axis, index)
        base = self.base_slice(axis, index, rect)
        return compose_slice(base, [shift_layer(layer, r0, c0) for layer in layers])

    # -- cursor readout -----------------------------------------------------------------------
    def readout(self, zyx: tuple[int, int, int] | None = None) -> Readout:
        """Values and structures at a voxel (the cursor by default)."""
        z, y, x = zyx or self.state.cursor
        geom = self.frame.geometry
        world = tuple(float(v) for v in geom.index_to_world([x, y, z]))
        r = Readout((x, y, z), world, coords=self.state.coords)  # type: ignore[arg-type]
        r.base_label = {"MRI": "MRI", "CT": "CT"}.get(self.frame.name, "image")
        if (m := self.mri()) is not None:
            r.mri = m.value_at(z, y, x)
        if (s := self.sct()) is not None:
            r.hu = s.value_at(z, y, x)
        if (d := self.dose()) is not None:
            r.dose_gy = d.value_at(z, y, x)
            r.dose_pct = 100.0 * r.dose_gy / self.state.dose.prescription_gy
        if self.state.uncertainty_allowed:
            for name, vol in self.frame.uncertainty.items():
                if vol.loaded:
                    r.uncertainty[name] = vol.value_at(z, y, x)
        for name, source in self.frame.structures:
            if not self.state.allowed(source):
                continue
            mask = self.mask_for((name, source, self.frame.name))
            if mask is not None and mask.contains(z, y, x):
                r.structures.append(name if source == "clinical" else f"{name} ({source})")
        return r


def shift_layer(layer, dr: int, dc: int):
    """The same layer with its display position moved by (-dr, -dc), for rendering a sub-rectangle."""
    if isinstance(layer, LineLayer):
        return LineLayer(layer.rows - np.int32(dr), layer.cols - np.int32(dc), layer.colour, layer.opacity)
    if isinstance(layer, MaskLayer):
        return MaskLayer(layer.mask, layer.colour, layer.opacity, (layer.offset[0] - dr, layer.offset[1] - dc))
    return RgbaLayer(layer.rgba, (layer.offset[0] - dr, layer.offset[1] - dc))


def box_to_display_rect(
    axis: int, box: Box, shape_zyx: tuple[int, int, int], pad: int = 0, orient: Orientation | None = None
) -> tuple[int, int, int, int]:
    """Display rectangle (row0, row1, col0, col1) that a stored (z, y, x) box covers in a view, padded and clipped.

    ``shape_zyx`` is the stored shape; ``orient`` maps the box into display order (identity when omitted).
    """
    if orient is not None:
        box, shape_zyx = orient.box_to_display(box), orient.display_shape
    row_axis, col_axis = plane_axes(axis)
    (r0, r1), (c0, c1) = box[row_axis], box[col_axis]
    if is_flipped(axis):
        n = shape_zyx[row_axis]
        r0, r1 = n - r1, n - r0
    nrows, ncols = shape_zyx[row_axis], shape_zyx[col_axis]
    return (max(0, r0 - pad), min(nrows, r1 + pad), max(0, c0 - pad), min(ncols, c1 + pad))


def spread_anchor(line: LineLayer, i: int, aspect: tuple[float, float] = (1.0, 1.0)) -> tuple[int, int]:
    """A label position on a line, at a different angle per level so nested levels' labels do not overlap.

    Parameters
    ----------
    line : LineLayer
        The isodose line, display pixels.
    i : int
        The level's rank; each rank takes its own direction from the line's centre.
    aspect : tuple of float
        Pixel size (row mm, column mm): the angles are taken on screen, where sagittal and coronal
        pixels are several times taller than wide.

    Returns
    -------
    tuple of int
        Display (row, col) of the label.
    """
    if len(line) == 0:
        return (0, 0)
    angle = np.deg2rad(-50.0 + 28.0 * i)
    rows, cols = line.rows.astype(float) * aspect[0], line.cols.astype(float) * aspect[1]
    score = (cols - cols.mean()) * np.cos(angle) + (rows - rows.mean()) * np.sin(angle)
    k = int(np.argmax(score))
    return int(line.rows[k]), int(line.cols[k])
