"""A corrected DICOM-SEG segment saved as a new version of its whole segmentation.

The new file holds every segment of the segmentation the structure came from, each as the model
holds it now (the corrected one, the others as they were), with the same labels and colours. It is
written as ``<out>/<patient>/qa-segmentations-dcm/<stem>_v<NNN>.dcm`` (mirroring the published
review collections) with a JSON provenance sidecar; the input segmentation is never written.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

from ... import __version__
from ...core.mask import Mask
from ...core.patient import Patient, StructureRef
from ..store import claim_version, jsonable, output_folder, user_name
from ..writer import atomic_write
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
    for r in sorted(siblings, key=lambda r: r.label):
        m = mask if r.key == ref.key else patient.mask_obj(r.name, r.source, r.frame)
        segments.append(ExportSegment(r.name, m, r.colour or (255, 255, 0), manual=r.key == ref.key))
    reference = _dicom_reference(patient)
    if reference is None:
        raise ValueError(f"{patient.id}: no DICOM series to reference for the corrected segmentation")
    seg = build_seg(reference, segments, description=f"{ref.source} corrected")
    buf = io.BytesIO()
    seg.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    root = Path(out_dir) if out_dir is not None else patient.default_out_dir()
    folder = output_folder(root, patient.id, "", sub=SEG_FOLDER)
    stem = seg_stem(ref.path)
    path, n = claim_version(folder, stem, data, ".dcm")
    side = {
        "structure": ref.name,
        "source": ref.source,
        "frame": ref.frame,
        "patient": patient.id,
        "version": n,
        "file": path.name,
        "parent": Path(ref.path).name,
        "segments": [s.label for s in segments],
        "tool": provenance.pop("tool", None),
        "user": provenance.pop("user", None) or user_name(),
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "app": "lundprobe_gui",
        "app_version": __version__,
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "voxels": int(mask.count()),
        "sop_instance_uid": str(seg.SOPInstanceUID),
        "stats": provenance.pop("stats", None),
    }
    side.update({k: v for k, v in provenance.items() if jsonable(v)})
    try:
        atomic_write(folder / f"{stem}_v{n:03d}.json", json.dumps(side, indent=2).encode())
    except BaseException:
        os.unlink(path)
        raise
    for r in siblings:
        m = mask.copy() if r.key == ref.key else patient.mask_obj(r.name, r.source, r.frame).copy()
        patient.register_structure(StructureRef(r.name, r.source, r.frame, str(path), r.label, r.colour), m)
    logger.info("saved %s (%d segments)", path, len(segments))
    return path
