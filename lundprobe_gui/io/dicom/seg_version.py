"""A corrected DICOM-SEG segment saved as a new version of its whole segmentation.

The new file holds every segment of the segmentation the structure came from, each as the model
holds it now (the corrected one, the others as they were), with the same labels and colours. It is
written as ``<out>/<patient>/qa-segmentations-dcm/<stem>_v<NNN>.dcm`` (mirroring the published
review collections) with a JSON provenance sidecar; the input segmentation is never written.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from ...core.mask import Mask
from ...core.patient import Patient, StructureRef
from ..guard import Protected
from ..output_root import claim_output_root
from ..store import output_folder
from ..versions import build_sidecar, publish_version
from .export import _dicom_reference
from .seg_writer import ExportSegment, build_seg

logger = logging.getLogger(__name__)

SEG_FOLDER = "qa-segmentations-dcm"


def seg_stem(path: str | Path) -> str:
    """The file stem a segmentation's versions are named after (without ``.dcm`` and ``_v<NNN>``)."""
    name = Path(path).name
    stem = name[:-4] if name.lower().endswith(".dcm") else name
    head, sep, tail = stem.rpartition("_v")
    return head if sep and tail.isdigit() and len(tail) >= 3 else stem


def save_seg_version(
    patient: Patient, store, ref: StructureRef, mask: Mask, out_dir: Path | None, provenance: dict[str, Any]
) -> Path:
    """Write the next DICOM-SEG version holding ``mask`` for ``ref`` and the other segments of its file."""
    frame = patient.frames[ref.frame]
    siblings = [r for r in frame.structures.values() if r.path == ref.path and r.label is not None]
    segments = []
    for r in sorted(siblings, key=lambda r: r.label or 0):  # siblings all have a label
        m = mask if r.key == ref.key else patient.mask_obj(r.name, r.source, r.frame)
        segments.append(ExportSegment(r.name, m, r.colour or (255, 255, 0), manual=r.key == ref.key))
    reference = _dicom_reference(patient)
    if reference is None:
        raise ValueError(f"{patient.id}: no DICOM series to reference for the corrected segmentation")
    seg = build_seg(reference, segments, description=f"{ref.source} corrected")
    buf = io.BytesIO()
    seg.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    computed = {
        "structure": ref.name,
        "source": ref.source,
        "frame": ref.frame,
        "patient": patient.id,
        "segments": [s.label for s in segments],
        "voxels": int(mask.count()),
        "sop_instance_uid": str(seg.SOPInstanceUID),
    }
    provenance = {**provenance, "parent": provenance.get("parent") or Path(ref.path).name}
    build_sidecar(computed, provenance)  # refused provenance: nothing is written
    protected = Protected.of_patient(patient)
    root = Path(out_dir) if out_dir is not None else patient.default_out_dir()
    claim_output_root(root, "edits", protected)
    folder = output_folder(root, patient.id, "", sub=SEG_FOLDER)
    stem = seg_stem(ref.path)
    # sidecar first, then the version; no plain copy: the published collections hold versions only
    pub = publish_version(folder, stem, data, computed, provenance, {"segmentation": stem}, protected, "dcm", False)
    path = pub.path
    for r in siblings:
        m = mask.copy() if r.key == ref.key else patient.mask_obj(r.name, r.source, r.frame).copy()
        patient.register_structure(StructureRef(r.name, r.source, r.frame, str(path), r.label, r.colour), m)
    logger.info("saved %s (%d segments)", path, len(segments))
    return path
