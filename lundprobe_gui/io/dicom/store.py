"""Masks of a DICOM patient: RTSTRUCT ROIs and DICOM-SEG segments rasterised on demand.

A structure from an RTSTRUCT or a DICOM-SEG is a :class:`~lundprobe_gui.core.patient.StructureRef`
whose ``path`` is that file and whose ``label`` is the ROI or segment number. Each file is parsed
once (contour points and frames are not read at discovery) and every structure from it is
rasterised when it is first shown. Structures saved by the app (NIfTI versions) load as usual.

Saving a corrected DICOM-SEG segment writes a new DICOM-SEG version of the whole segmentation
(the other segments as they are now) into ``<out>/<patient>/qa-segmentations-dcm/``; any other
structure is saved as a NIfTI version (:class:`~lundprobe_gui.io.store.FileStore`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ...core.geometry import Geometry
from ...core.mask import Mask
from ...core.patient import Patient, Problem, StructureRef
from ..probe import is_image_name
from ..store import FileStore
from . import rtstruct, seg
from .files import is_dicom_file
from .scan import RTSTRUCT_UID, SEG_UID

logger = logging.getLogger(__name__)


MAX_SEG_COPIES = 3
"""Parsed copies of one segmentation kept (one per thread that read it, the newest)."""


class DicomStore(FileStore):
    """The :class:`~lundprobe_gui.core.patient.MaskStore` of the ``dicom`` layout."""

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[str, tuple[str, Any]] = {}
        self._kinds: dict[str, str] = {}
        self._file_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.series_of: dict[str, Any] = {}
        """Frame name -> :class:`~lundprobe_gui.io.dicom.series.Series` (for writers that reference slices)."""

    def is_dicom(self, path: str | Path) -> bool:
        """Whether a structure's file is a DICOM object (not a NIfTI version)."""
        return not is_image_name(Path(path).name) and is_dicom_file(path)

    def parsed(self, path: str | Path) -> tuple[str, Any]:
        """``("rtstruct", dataset)`` or ``("seg", Segmentation)`` for a file, parsed once."""
        kind = self._kind_of(str(path))
        # highdicom keeps a segmentation's frame index in SQLite, whose objects refuse use from another
        # thread: a segmentation is parsed once per thread that reads it (loader threads are few).
        key = f"{path}|{threading.get_ident()}" if kind == "seg" else str(path)
        with self._guard:
            hit = self._parsed.get(key)
            lock = self._file_locks.setdefault(key, threading.Lock())
        if hit is not None:
            return hit
        with lock:
            hit = self._parsed.get(key)
            if hit is None:
                if kind == "seg":
                    hit = ("seg", seg.read_seg(Path(path)))
                else:
                    hit = ("rtstruct", rtstruct.read_full(Path(path)))
                with self._guard:
                    self._parsed[key] = hit
                    same = [k for k in self._parsed if k.startswith(f"{path}|")]
                    for old in same[:-MAX_SEG_COPIES]:  # threads of finished pools do not come back
                        self._parsed.pop(old, None)
        return hit

    def _kind_of(self, path: str) -> str:
        """``seg`` or ``rtstruct`` from the file's header (remembered)."""
        with self._guard:
            known = self._kinds.get(path)
        if known is not None:
            return known
        import pydicom

        head = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"])
        sop, mod = str(head.get("SOPClassUID", "")), str(head.get("Modality", "")).upper()
        if sop == SEG_UID or mod == "SEG":
            kind = "seg"
        elif sop == RTSTRUCT_UID or mod == "RTSTRUCT":
            kind = "rtstruct"
        else:
            raise ValueError(f"{Path(path).name} is neither an RTSTRUCT nor a DICOM-SEG")
        with self._guard:
            self._kinds[path] = kind
        return kind

    def load_mask(self, ref: StructureRef, geometry: Geometry) -> tuple[Mask, list[Problem]]:
        """Rasterise an ROI or segment, or read a saved NIfTI version."""
        if not self.is_dicom(ref.path):
            return super().load_mask(ref, geometry)
        if ref.label is None:
            raise ValueError(f"{Path(ref.path).name}: no ROI or segment number for {ref.name}")
        kind, obj = self.parsed(ref.path)
        if kind == "rtstruct":
            return rtstruct.rasterise(rtstruct.roi_contours(obj, ref.label), geometry, ref.path, ref.name)
        return seg.segment_mask(obj, ref.label, geometry, ref.path, ref.name)

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
        """A DICOM-SEG segment: a new DICOM-SEG version of its segmentation; anything else: a NIfTI version."""
        ref = patient.frames[frame].structures.get((name, source))
        if ref is not None and ref.label is not None and self.is_dicom(ref.path) and self._kind_of(ref.path) == "seg":
            from .seg_version import save_seg_version

            return save_seg_version(patient, self, ref, mask, out_dir, provenance)
        return super().save_mask(patient, name, mask, source, frame, out_dir, provenance)
