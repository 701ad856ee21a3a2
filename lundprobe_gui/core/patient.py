"""The patient model: frames, their layers, structures and the problems found on the way."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .events import Emitter
from .geometry import Geometry
from .loading import LoadPlan, load_plan
from .mask import Mask
from .memory import NotEnoughRam
from .orientation import Orientation
from .saved import SavedVersion
from .volume import Volume

logger = logging.getLogger(__name__)

LUNDPROBE_PRESCRIPTION_GY = 42.7
"""The LUND-PROBE protocol's prescription (42.7 Gy in 7 fractions); other layouts take theirs from the data."""


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file: ``kind`` is a short tag, ``message`` says what and why."""

    path: str
    kind: str
    message: str

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class StructureRef:
    """Where a structure comes from.

    ``source`` is ``clinical``, ``nnUNet``, ``nnUNet_fold_<n>``, ``step<k>_obs<X>``...
    """

    name: str
    source: str
    frame: str
    path: str
    label: int | None = None
    colour: tuple[int, int, int] | None = None
    """The display colour the data gives (an RTSTRUCT ROI or DICOM-SEG segment colour), if any."""
    version: int | None = None
    """For a saved edit: the version number its file holds (the newest of its series)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """(name, source, frame)."""
        return (self.name, self.source, self.frame)

    def to_dict(self) -> dict:
        """JSON-ready form (without the label when there is none)."""
        d: dict[str, Any] = {"name": self.name, "source": self.source, "frame": self.frame, "path": self.path}
        if self.label is not None:
            d["label"] = self.label
        if self.colour is not None:
            d["colour"] = list(self.colour)
        if self.version is not None:
            d["version"] = self.version
        return d


@dataclass(frozen=True)
class Fiducial:
    """A fiducial marker centre in world (LPS) mm and as a continuous voxel index (x, y, z)."""

    world_mm: tuple[float, float, float]
    voxel_xyz: tuple[float, float, float]

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"world_mm": list(self.world_mm), "voxel_xyz": list(self.voxel_xyz)}


@dataclass
class Frame:
    """A grid shared by a set of layers (LUND-PROBE: ``MRI`` is MR_StorT2, ``sCT`` the sCT folder)."""

    name: str
    geometry: Geometry
    folder: str = ""
    images: dict[str, Volume] = field(default_factory=dict)
    doses: dict[str, Volume] = field(default_factory=dict)
    uncertainty: dict[str, Volume] = field(default_factory=dict)
    structures: dict[tuple[str, str], StructureRef] = field(default_factory=dict)

    def volumes(self) -> list[Volume]:
        """Every image, dose and uncertainty volume."""
        return [*self.images.values(), *self.doses.values(), *self.uncertainty.values()]

    def standby(self) -> list[Volume]:
        """Doses that would be resampled onto this grid but are not shown: the frame has its own on-grid dose.

        They are resampled only when asked for (:meth:`Patient.load_volume`), not by :meth:`Patient.load_all`.
        """
        shown = self.dose()
        return [v for v in self.doses.values() if v.resampled_from is not None and v is not shown]

    def dose(self) -> Volume | None:
        """The dose shown on this frame: one stored on its grid, else one resampled onto it, else None.

        A dose whose values are not Gy (:attr:`Volume.unit_problem`, known once loaded) is never chosen.
        """
        on_grid = [v for v in self.doses.values() if not v.unit_problem and not v.geometry.differences(self.geometry)]
        return next((v for v in on_grid if v.resampled_from is None), None) or next(iter(on_grid), None)


NAN_RULE = "NaN voxels are outside the structure"
"""The one rule for NaN in a floating-point mask: outside when loading, refused when saving."""


class NonBinaryMaskWarning(UserWarning):
    """A mask array given for saving holds values other than 0 and 1 (non-zero is saved as inside)."""


def check_binary(arr: np.ndarray, name: str) -> None:
    """Refuse NaN in a mask to be saved, and warn about values other than 0 and 1.

    Raises
    ------
    ValueError
        When ``arr`` holds NaN: a loaded mask has its NaN voxels outside, so saving one as inside
        (non-zero) or silently outside would each break the rule somewhere.
    """
    if arr.dtype == np.bool_:
        return
    if arr.dtype.kind in "fc":
        nan = int(np.count_nonzero(np.isnan(arr)))
        if nan:
            raise ValueError(
                f"the mask of {name} holds {nan} NaN voxel(s); {NAN_RULE} when a mask is loaded, so a mask "
                "with NaN is not saved: replace NaN by 0 (outside) or 1 (inside) first"
            )
    if arr.dtype.kind in "fciu" and arr.size and (arr.min() < 0 or arr.max() > 1 or _has_fractions(arr)):
        msg = (
            f"the mask of {name} is not binary (values {float(np.real(arr.min())):g}..{float(np.real(arr.max())):g}, "
            f"{arr.dtype}); non-zero voxels are saved as inside"
        )
        logger.warning("%s", msg)
        warnings.warn(msg, NonBinaryMaskWarning, stacklevel=3)


def _has_fractions(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "fc" and bool(np.any((arr != 0) & (arr != 1)))


class MaskStore(Protocol):
    """What the model needs from ``io`` to read and write masks."""

    def load_mask(self, ref: StructureRef, geometry: Geometry) -> tuple[Mask, list[Problem]]: ...

    def save_mask(
        self,
        patient: Patient,
        name: str,
        mask: Mask,
        source: str,
        frame: str,
        out_dir: Path | None,
        provenance: dict[str, Any],
    ) -> Path: ...


class Patient:
    """One patient: frames with their layers, structures, fiducials and problems.

    Built by :func:`lundprobe_gui.open_patient`; pixels load on demand.
    """

    def __init__(
        self,
        path: Path,
        patient_id: str,
        layout: str,
        frames: dict[str, Frame],
        store: MaskStore,
        problems: Iterable[Problem] = (),
        missing: Iterable[str] = (),
        fiducials: Iterable[Fiducial] = (),
        dataset_root: Path | None = None,
        prescription_gy: float | None = None,
        prescription_origin: str = "",
    ) -> None:
        self.path = Path(path)
        self.id = patient_id
        self.layout = layout
        self.frames = frames
        self.problems: list[Problem] = list(problems)
        self.missing: list[str] = sorted(set(missing))
        self.fiducials: list[Fiducial] = list(fiducials)
        self.dataset_root = dataset_root
        # What the model listed when it was opened; edits saved later are outputs, never inputs.
        self.input_files: tuple[str, ...] = tuple(
            sorted(
                {str(v.path) for f in frames.values() for v in f.volumes()}
                | {r.path for f in frames.values() for r in f.structures.values()}
            )
        )
        self.prescription_gy: float | None = prescription_gy
        """The prescription (the 100 % isodose) in Gy, or None when the data does not say."""
        self.prescription_origin = prescription_origin if prescription_gy is not None else ""
        self.changed = Emitter()
        self._store = store
        self._masks: dict[tuple[str, str, str], Mask] = {}
        self._failed: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._post: Callable[[Callable[[], None]], None] | None = None
        self.edits_dir: Path | None = None
        """The output folder whose saved edits were read back on opening (None: none were looked for)."""
        self.edits_home: Path | None = None
        """Where edits go by default when not beside the dataset (the demo's: a data folder, not the cache)."""

    # -- the thread that owns the model -----------------------------------------
    def bind_thread(self, post: Callable[[Callable[[], None]], None], owner: int | None = None) -> None:
        """Let only one thread change the model from now on (the GUI thread, which also reads it).

        A structure added or removed, a volume dropped after a failed load, or a problem announced
        from another thread (a loader, a save) is handed to ``post``, which must run it in the owner
        thread; so the owner can iterate the model without it changing underneath. Without a
        binding (scripts, the command line) changes apply at once in the calling thread.

        Parameters
        ----------
        post : callable
            ``post(fn)`` runs ``fn()`` later in the owner thread (e.g. through a queued Qt signal).
        owner : int, optional
            ``threading.get_ident()`` of the owner thread; default the calling thread.
        """
        self._owner = threading.get_ident() if owner is None else owner
        self._post = post

    @property
    def owner_thread(self) -> int | None:
        """``threading.get_ident()`` of the thread bound by :meth:`bind_thread`, or None."""
        return self._owner

    def _in_owner_thread(self, change: Callable[[], None]) -> None:
        if self._post is None or threading.get_ident() == self._owner:
            change()
        else:
            self._post(change)

    # -- description ----------------------------------------------------------
    @property
    def store(self) -> MaskStore:
        """The reader and writer of this patient's masks."""
        return self._store

    def effective_prescription(self) -> float:
        """The prescription in Gy; without one, the maximum of the reference frame's dose (loading it),
        so the isodose lines still mean something; 1.0 when there is no dose either."""
        if self.prescription_gy is not None:
            return float(self.prescription_gy)
        dose = self.dose()
        if dose is not None and self.load_volume(dose) and not dose.unit_problem and dose.vmax > 0:
            return round(float(dose.vmax), 2)
        return 1.0

    @property
    def patient_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id

    @property
    def reference_frame(self) -> Frame:
        """The frame whose grid is the patient's reference (MRI for LUND-PROBE)."""
        return self.frames.get("MRI") or next(iter(self.frames.values()))

    @property
    def geometry(self) -> Geometry:
        """The reference frame's geometry."""
        return self.reference_frame.geometry

    def structures(self, frame: str | None = None, source: str | None = None) -> list[StructureRef]:
        """Every structure, optionally filtered by frame and source, in a stable order."""
        out: list[StructureRef] = []
        for f in list(self.frames.values()):
            if frame is not None and f.name != frame:
                continue
            # list() copies the dict in one step, so another thread's change cannot break this loop
            out.extend(r for r in list(f.structures.values()) if source is None or r.source == source)
        return out

    def sources(self, frame: str | None = None) -> list[str]:
        """Source names present, in order of first appearance."""
        return list(dict.fromkeys(r.source for r in self.structures(frame)))

    def structure(self, name: str, source: str = "clinical", frame: str | None = None) -> StructureRef:
        """Look up one structure; KeyError with a helpful message when absent."""
        frame = frame or self.reference_frame.name
        ref = self.frames[frame].structures.get((name, source)) if frame in self.frames else None
        if ref is None:
            have = sorted({r.source for r in self.structures(frame) if r.name == name})
            hint = f"; sources with {name}: {', '.join(have)}" if have else ""
            raise KeyError(f"no structure {name!r} from source {source!r} in frame {frame!r}{hint}")
        return ref

    def add_problem(self, problem: Problem) -> None:
        """Record a problem found after opening (for example while decoding)."""
        with self._lock:
            if problem not in self.problems:
                self.problems.append(problem)  # a list append: readers never fail on it
        logger.warning("%s", problem)
        self._in_owner_thread(lambda: self.changed.emit("problems"))

    def confirm_dose_scale(self, vol: Volume, factor: float) -> None:
        """Confirm that ``vol``'s stored value x means ``x * factor`` Gy.

        The dose is rescaled (and may be shown and used from now on) and its ``implausible-dose``
        problem is settled: it leaves :attr:`problems`, and a log line records the confirmed factor.

        Raises
        ------
        ValueError
            When ``factor`` is not a positive number.
        """
        vol.set_scale(factor)
        with self._lock:
            settled = [q for q in self.problems if q.path == str(vol.path) and q.kind == "implausible-dose"]
            self.problems[:] = [q for q in self.problems if q not in settled]
        logger.info("%s: %g Gy per stored unit confirmed (maximum %.4g Gy)", vol.path.name, factor, vol.vmax)
        if settled:
            self._in_owner_thread(lambda: self.changed.emit("problems"))

    # -- layers ---------------------------------------------------------------
    def mask_obj(self, name: str, source: str = "clinical", frame: str | None = None) -> Mask:
        """The cropped :class:`Mask` of a structure (loaded once and cached).

        Raises
        ------
        KeyError
            When the structure does not exist.
        ValueError
            When its file could not be decoded (the problem is also added to :attr:`problems`).
        """
        ref = self.structure(name, source, frame)
        key = ref.key
        with self._lock:
            cached = self._masks.get(key)
        if cached is not None:
            return cached
        if key in self._failed:
            raise ValueError(f"{ref.path} could not be loaded; see the patient's problems")
        try:
            mask, problems = self._store.load_mask(ref, self.frames[ref.frame].geometry)
        except Exception as e:  # any decoding failure becomes a Problem
            self._failed.add(key)
            self.add_problem(_load_problem(ref.path, e))
            raise ValueError(f"{ref.path} could not be loaded: {e}") from e
        for p in problems:
            self.add_problem(p)
        with self._lock:
            self._masks.setdefault(key, mask)
            return self._masks[key]

    def mask(self, name: str, source: str = "clinical", frame: str | None = None) -> np.ndarray:
        """Full-size boolean (z, y, x) array of a structure in its frame's grid."""
        return self.mask_obj(name, source, frame).to_full()

    def dose(self, frame: str | None = None) -> Volume | None:
        """The dose volume on a frame's grid (the reference frame by default)."""
        return self.frames[frame or self.reference_frame.name].dose()

    def uncertainty(self, name: str, frame: str | None = None) -> Volume | None:
        """The DL uncertainty map of a structure, if the patient has one."""
        return self.frames[frame or self.reference_frame.name].uncertainty.get(name)

    def image(self, which: str = "image", frame: str | None = None) -> Volume | None:
        """An image volume of a frame (``image``, ``sCT`` for the sCT on the MRI grid, ...)."""
        return self.frames[frame or self.reference_frame.name].images.get(which)

    def load_volume(self, vol: Volume) -> bool:
        """Load a volume, turning a decoding failure (and a dose that is not in Gy) into a Problem. Returns success."""
        try:
            vol.load()
            # one file, one problem: its resampled copy (another maximum after interpolation) adds none
            said = any(q.path == str(vol.path) and q.kind == "implausible-dose" for q in self.problems)
            if vol.unit_problem and not said:
                self.add_problem(Problem(str(vol.path), "implausible-dose", vol.unit_problem))
            return True
        except Exception as e:  # noqa: BLE001
            self.add_problem(_load_problem(str(vol.path), e))

            def drop() -> None:
                for f in list(self.frames.values()):
                    for d in (f.images, f.doses, f.uncertainty):
                        for k, v in list(d.items()):
                            if v is vol:
                                del d[k]

            self._in_owner_thread(drop)
            return False

    def load_all(
        self,
        workers: int = 2,
        progress: Callable[[int, int, str], None] | None = None,
        frames: Iterable[str] | None = None,
        standby: bool = False,
    ) -> None:
        """Load every layer (in ``frames``, default all) on a thread pool; failures become problems.

        Doses on :meth:`Frame.standby` are left unresampled unless ``standby`` is True.
        """
        names = list(frames) if frames is not None else list(self.frames)
        plan = LoadPlan()
        for fname in names:
            f = self.frames[fname]
            skip = [] if standby else f.standby()
            plan.rest += [v for v in f.volumes() if not any(v is s for s in skip)]
            plan.rest += list(f.structures.values())
        load_plan(self, plan, on_layer=progress, workers=max(1, workers))

    def try_load_mask(self, ref: StructureRef) -> bool:
        """Load a structure's mask; False when it cannot be used (the reason is in :attr:`problems`)."""
        try:
            self.mask_obj(ref.name, ref.source, ref.frame)
            return True
        except (ValueError, KeyError):
            return False

    def is_mask_loaded(self, ref: StructureRef) -> bool:
        """Whether a structure's voxels are in memory."""
        return ref.key in self._masks

    def memory_bytes(self) -> int:
        """Bytes held by loaded masks and volumes."""
        n = sum(m.nbytes for m in self._masks.values())
        return n + sum(v.nbytes for f in self.frames.values() for v in f.volumes())

    # -- saving ---------------------------------------------------------------
    def save_mask(
        self,
        name: str,
        array: np.ndarray | Mask,
        source: str,
        out_dir: str | Path | None = None,
        frame: str | None = None,
        **provenance: Any,
    ) -> Path:
        """Save a structure as a new immutable version and return the version's path.

        Writes ``mask_<name>_<source>_v<NNN>.nii.gz`` with a JSON provenance sidecar, and atomically
        updates the plain ``mask_<name>_<source>.nii.gz``. Input files are never written.

        Parameters
        ----------
        name : str
            Structure name, e.g. ``CTVT_427``.
        array : numpy.ndarray or Mask
            Boolean (z, y, x) mask on the frame's grid.
        source : str
            Target source name, e.g. ``step1_obsF``.
        out_dir : path, optional
            Output root; default ``lundprobe_edits/`` beside the dataset root.
        frame : str, optional
            Frame name (default the reference frame).
        **provenance
            Extra sidecar fields: ``parent``, ``tool``, ``user``, ``stats``.
        """
        fname = frame or self.reference_frame.name
        geom = self.frames[fname].geometry
        mask = array if isinstance(array, Mask) else None
        if mask is None:
            arr = np.asarray(array)
            if arr.shape != geom.shape_zyx:
                raise ValueError(f"mask shape {arr.shape} does not match frame {fname} grid {geom.shape_zyx}")
            check_binary(arr, name)
            mask = Mask.from_full(arr)
        elif mask.shape != geom.shape_zyx:
            raise ValueError(f"mask shape {mask.shape} does not match frame {fname} grid {geom.shape_zyx}")
        return self._store.save_mask(self, name, mask, source, fname, Path(out_dir) if out_dir else None, provenance)

    def versions(self, name: str, source: str, frame: str | None = None) -> list[SavedVersion]:
        """The saved versions of a structure's series (oldest first); empty for a structure that was never saved.

        Raises
        ------
        KeyError
            When the structure does not exist.
        """
        ref = self.structure(name, source, frame)
        lister = getattr(self._store, "versions", None)
        return list(lister(ref)) if lister is not None else []

    def default_out_dir(self) -> Path:
        """``lundprobe_edits/`` beside the dataset root (or beside the patient folder); the demo's data folder."""
        if self.edits_home is not None:
            return self.edits_home
        root = self.dataset_root or self.path.parent
        return root.parent / "lundprobe_edits"

    def register_structure(self, ref: StructureRef, mask: Mask | None = None) -> None:
        """Add a structure (for example a saved edit) to the model (in the owner thread, see :meth:`bind_thread`)."""

        def add() -> None:
            self.frames[ref.frame].structures[(ref.name, ref.source)] = ref
            with self._lock:
                if mask is not None:
                    self._masks[ref.key] = mask
                else:
                    self._masks.pop(ref.key, None)
                self._failed.discard(ref.key)
            self.changed.emit("structures")

        self._in_owner_thread(add)

    def unregister_structure(self, key: tuple[str, str, str]) -> None:
        """Remove a structure from the model (its file is untouched), e.g. to blind a reader study."""
        name, source, frame = key

        def remove() -> None:
            self.frames[frame].structures.pop((name, source), None)
            with self._lock:
                self._masks.pop(key, None)
            self.changed.emit("structures")

        self._in_owner_thread(remove)

    def to_info(self) -> dict:
        """The ``info --json`` description."""
        frames = self.frames.values()
        return {
            "layout": self.layout,
            "patient_id": self.id,
            "prescription_gy": self.prescription_gy,
            "prescription_origin": self.prescription_origin,
            "path": str(self.path),
            "frames": {f.name: {**f.geometry.to_dict(), **_orientation(f.geometry)} for f in frames},
            "world_coordinates": "LPS",
            "structures": [r.to_dict() for r in self.structures()],
            "images": [{"name": k, "frame": f.name, "path": str(v.path)} for f in frames for k, v in f.images.items()],
            "doses": [
                {"name": k, "frame": f.name, "path": str(v.path), "geometry": v.geometry.to_dict(), **_resampled(v)}
                for f in frames
                for k, v in f.doses.items()
            ],
            "uncertainty": [
                {"structure": k, "frame": f.name, "path": str(v.path), **_resampled(v)}
                for f in frames
                for k, v in f.uncertainty.items()
            ],
            "edits_dir": None if self.edits_dir is None else str(self.edits_dir),
            "fiducials": [fd.to_dict() for fd in self.fiducials],
            "missing": list(self.missing),
            "problems": [p.to_dict() for p in self.problems],
        }


def _orientation(geometry: Geometry) -> dict:
    """How a frame is stored: ``{"orientation": "LAS", "obliquity_deg": 0.0}``."""
    orient = Orientation.from_geometry(geometry)
    return {"orientation": orient.storage_code(), "obliquity_deg": round(orient.obliquity_deg, 3)}


def _load_problem(path: str, e: Exception) -> Problem:
    """The Problem of a file whose voxels could not be loaded."""
    if isinstance(e, NotEnoughRam):
        return Problem(path, "too-large", str(e))
    kind = getattr(e, "problem_kind", "corrupt")  # "tampered": a saved edit changed since it was saved
    return Problem(path, kind, str(e) if kind != "corrupt" else f"cannot decode voxel data: {e}")


def _resampled(vol: Volume) -> dict:
    """``{"resampled_from": <grid of the file>}`` for a volume shown resampled, else nothing."""
    return {} if vol.resampled_from is None else {"resampled_from": vol.resampled_from.to_dict()}
