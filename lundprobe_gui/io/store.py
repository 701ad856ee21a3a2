"""Reading masks into cropped :class:`Mask` objects, and saving them as immutable versions."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..core.geometry import Geometry
from ..core.mask import Mask, bbox_of, box_slices
from ..core.names import validate_data_name, validate_source
from ..core.patient import NAN_RULE, Patient, Problem, StructureRef
from . import nifti
from .edits import ref_history
from .guard import Protected
from .output_root import claim_output_root
from .slab_reader import can_stream, read_slab
from .verify import check_saved, file_sha256
from .versions import (
    build_sidecar,
    check_series_name,
    claim_series,
    newest_version,
    publish_version,
    read_json_object,
    read_version,
    update_plain,
    version_name,
)
from .writer import encode_nifti, header_from_geometry

logger = logging.getLogger(__name__)


def mask_from_array(arr: np.ndarray, path: str, label: int | None = None) -> tuple[Mask, list[Problem]]:
    """Crop a decoded mask array, noting values other than 0/1 (non-zero counts as inside)."""
    problems: list[Problem] = []
    if label is not None:
        inside = arr == label
        return Mask.from_full(inside), problems
    if arr.dtype.kind == "f":
        nan = int(np.count_nonzero(np.isnan(arr)))
        if nan:
            problems.append(
                Problem(
                    path, "nan", f"{nan} voxel(s) of the mask are NaN; {NAN_RULE} (and a mask with NaN is not saved)"
                )
            )
        arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=1.0)
    box = bbox_of(arr)
    if box is None:
        return Mask(arr.shape), problems
    crop = arr[box_slices(box)]
    lo, hi = crop.min(), crop.max()
    if lo < 0 or hi > 1 or (arr.dtype.kind == "f" and not np.all((crop == 0) | (crop == 1))):
        problems.append(
            Problem(
                path,
                "non-binary",
                f"mask is not binary (values {float(lo):g}..{float(hi):g}, {arr.dtype}); "
                f"non-zero voxels are treated as inside, {NAN_RULE}",
            )
        )
    return Mask(arr.shape, crop != 0, (box[0][0], box[1][0], box[2][0])), problems


class FileStore:
    """The :class:`~lundprobe_gui.core.patient.MaskStore` for masks in NIfTI files."""

    def __init__(self) -> None:
        self._label_cache: dict[str, tuple[tuple[int, int], np.ndarray]] = {}
        self._lock = threading.Lock()

    def load_mask(self, ref: StructureRef, geometry: Geometry) -> tuple[Mask, list[Problem]]:
        """Decode a structure's file and crop it. Raises on undecodable data, and
        :class:`~lundprobe_gui.io.verify.TamperedFile` for a saved edit that changed since it was saved."""
        check_saved(ref.path)
        if ref.label is not None:
            arr = self.label_array(ref.path)
        else:
            path = Path(ref.path)
            try:
                hdr = nifti.read_header(path)
            except nifti.NiftiError:
                hdr = None
            if hdr is not None and can_stream(path, hdr):
                slab = read_slab(path, hdr)
                if slab.shape != geometry.shape_zyx:
                    raise ValueError(f"voxel array {slab.shape} does not match the grid {geometry.shape_zyx}")
                part, problems = mask_from_array(slab.block, ref.path)
                if part.data.size == 0:
                    return Mask(slab.shape), problems
                return Mask(slab.shape, part.data, tuple(a + b for a, b in zip(part.offset, slab.offset))), problems
            arr = nifti.load_array(path)
        if arr.shape != geometry.shape_zyx:
            raise ValueError(f"voxel array {arr.shape} does not match the grid {geometry.shape_zyx}")
        return mask_from_array(arr, ref.path, ref.label)

    def label_array(self, path: str | Path) -> np.ndarray:
        """The decoded voxels of a label-map file (read-only; decoded once per file version).

        Several structures share one label-map file, so it is decoded once. The cache entry is
        keyed by the file's modification time and size as well: a saved label map replaces its
        plain output file, and a stale array must never be handed out for it.
        """
        key = str(path)
        stamp = _stamp(Path(path))
        with self._lock:
            hit = self._label_cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        check_saved(path)
        arr = nifti.load_array(Path(path))
        with self._lock:
            self._label_cache[key] = (stamp, arr)
        return arr

    def remember_label_array(self, path: str | Path, arr: np.ndarray) -> None:
        """Cache the voxels just written to a label-map file, so they are not decoded again."""
        with self._lock:
            self._label_cache[str(path)] = (_stamp(Path(path)), arr)

    def versions(self, ref: StructureRef) -> list:
        """The saved versions (:class:`~lundprobe_gui.core.saved.SavedVersion`) of the series ``ref`` shows."""
        return ref_history(ref)

    # -- saving -------------------------------------------------------------------
    def save_mask(
        self,
        patient: Patient,
        name: str,
        mask: Mask,
        source: str,
        frame: str,
        out_dir: Path | None,
        provenance: dict[str, Any],
    ) -> Path:
        """Write the next version of a structure and return its path.

        Saved as ``mask_<name>_<source>_v<NNN>.nii.gz`` with its sidecar and the plain copy. A
        structure that is one label of a label map (``StructureRef.label`` set) needs the store of
        the layouts that have label maps (:class:`lundprobe_gui.io.multilabel.LabelMapStore`),
        which saves a new version of the whole map; this store refuses it rather than split the map.

        A mask whose voxels equal the newest version of its series is not written again: that
        version's path is returned ("no changes since v<NNN>"). The first save of a series is always written.
        """
        ref = patient.frames[frame].structures.get((name, source))
        if ref is not None and ref.label is not None:
            raise ValueError(
                f"{name} ({source}) is label {ref.label} of the label map {ref.path}; "
                f"{type(self).__name__} does not save label maps"
            )
        validate_data_name(name, "structure name")
        validate_source(source)
        check_series_name(name, "structure name")
        check_series_name(source, "source name")
        fr = patient.frames[frame]
        arr = mask.to_full().view(np.uint8)
        computed = {
            "structure": name,
            "source": source,
            "frame": frame,
            "patient": patient.id,
            # hashed in place: a copy of the whole volume would hold the GIL (the GUI thread) for tens of ms
            "voxel_sha256": hashlib.sha256(arr.data).hexdigest(),
            "voxels": int(mask.count()),
            "reference_image": str(reference_image_path(patient, frame)),
        }
        build_sidecar(computed, provenance)  # refused provenance: nothing is written
        protected = Protected.of_patient(patient)
        root = Path(out_dir) if out_dir is not None else patient.default_out_dir()
        claim_output_root(root, "edits", protected)
        folder = output_folder(root, patient.id, fr.folder)
        data = encode_nifti(arr, reference_header(patient, frame))
        stem = f"mask_{name}_{source}"
        claim_series(folder, stem, {"structure": name, "source": source})  # another series' stem is refused first
        same = unchanged_since(folder, stem, str(computed["voxel_sha256"]))
        if same is not None:
            path = folder / version_name(stem, same)
            logger.info("%s (%s): no changes since v%03d; no new version", name, source, same)
            repair_plain(folder, stem, same, protected)
            ref = patient.frames[frame].structures.get((name, source))
            if ref is None or ref.version != same:
                patient.register_structure(
                    StructureRef(name, source, frame, str(folder / f"{stem}.nii.gz"), version=same), mask.copy()
                )
            return path
        pub = publish_version(
            folder, stem, data, computed, provenance, {"structure": name, "source": source}, protected
        )
        logger.info("saved %s (%d voxels)", pub.path, computed["voxels"])
        patient.register_structure(StructureRef(name, source, frame, str(pub.plain), version=pub.number), mask.copy())
        return pub.path


def repair_plain(folder: Path, stem: str, n: int, protected: Protected | None) -> None:
    """Make the plain copy version ``n`` again when it is not (replaced by a link, changed, removed)."""
    plain = folder / f"{stem}.nii.gz"
    data = read_version(folder, stem, n)
    if data is None:
        return
    try:
        intact = not plain.is_symlink() and plain.is_file() and file_sha256(plain) == hashlib.sha256(data).hexdigest()
    except OSError:
        intact = False
    if not intact:
        logger.warning("%s was not version %d; written again from it", plain, n)
        update_plain(folder, stem, n, data, protected)


def unchanged_since(folder: Path, stem: str, voxel_sha256: str) -> int | None:
    """The newest version of a series when its voxels hash to ``voxel_sha256`` (and its file is intact), else None."""
    newest = newest_version(folder, stem)
    if newest is None:
        return None
    side = read_json_object(folder / version_name(stem, newest, "json"))
    if side is None or side.get("voxel_sha256") != voxel_sha256:
        return None
    return newest if read_version(folder, stem, newest) is not None else None


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def output_folder(root: Path, patient_id: str, frame_folder: str, sub: str | None = "observerData") -> Path:
    """The output folder of a patient inside an output root, created safely.

    ``<root>/<patient>[/<frame folder>]/observerData`` by default; ``sub=None`` leaves out the last
    part (label maps are written where the patient layout keeps them, beside the image).

    Every component is validated and the resolved folder must stay inside ``root``: a symlink in the
    output tree that points elsewhere is refused rather than followed for writing.
    """
    validate_data_name(patient_id, "patient ID")
    parts = [patient_id] + ([frame_folder] if frame_folder else []) + ([sub] if sub else [])
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    real_root = root.resolve()
    folder = root
    for part in parts:
        folder = folder / part
        if folder.is_symlink():
            raise PermissionError(f"{folder} is a symbolic link; refusing to write through it")
        folder.mkdir(exist_ok=True)
    if real_root not in folder.resolve().parents and folder.resolve() != real_root:
        raise PermissionError(f"{folder} resolves outside the output folder {root}")
    return folder


def reference_image_path(patient: Patient, frame: str) -> Path | None:
    """The file whose grid defines a frame."""
    fr = patient.frames[frame]
    for v in fr.images.values():
        if not v.geometry.differences(fr.geometry):
            return v.path
    return None


def reference_header(patient: Patient, frame: str) -> bytes:
    """The frame's reference header (copied so the geometry matches bit for bit)."""
    path = reference_image_path(patient, frame)
    if path is not None:
        try:
            raw = nifti.read_header(path).raw
        except nifti.NiftiError:
            raw = b""
        if raw:
            return raw
        logger.info("reference %s is not plain NIfTI-1; building a header from its geometry", path)
    return header_from_geometry(patient.frames[frame].geometry)
