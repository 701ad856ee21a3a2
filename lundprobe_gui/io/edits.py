"""Finding the edits an earlier session saved, so that commands (``export``) can use them."""

from __future__ import annotations

import logging
from pathlib import Path

from ..core.patient import Patient, StructureRef
from .probe import Probe, probe
from .small_files import LOCK_MAX_BYTES, read_json_file

logger = logging.getLogger(__name__)


def attach_saved_edits(patient: Patient, root: Path | None = None) -> list[StructureRef]:
    """Register the newest saved version of every structure in ``<root>/<patient>/[<frame folder>/]observerData``.

    ``root`` defaults to the patient's default output folder. Only files on the frame's grid are
    taken; structures already in the model are left as they are. Returns what was added.
    """
    root = Path(root) if root is not None else patient.default_out_dir()
    added = []
    for frame in patient.frames.values():
        folder = (
            root / patient.id / frame.folder / "observerData" if frame.folder else root / patient.id / "observerData"
        )
        try:
            sidecars = sorted(folder.glob("mask_*_v*.json"))
        except OSError:
            continue
        for side in sidecars:
            try:
                meta = read_json_file(side, LOCK_MAX_BYTES, "provenance sidecar")
                name, source = str(meta["structure"]), str(meta["source"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            plain = folder / f"mask_{name}_{source}.nii.gz"
            if (name, source) in frame.structures or not plain.is_file():
                continue
            pr = probe(plain)
            if not isinstance(pr, Probe) or pr.geometry.differences(frame.geometry):
                logger.info("%s: not on the %s grid; not attached", plain, frame.name)
                continue
            ref = StructureRef(name, source, frame.name, str(plain))
            frame.structures[(name, source)] = ref
            added.append(ref)
    return added
