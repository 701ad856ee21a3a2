"""Reading back the edits earlier sessions saved: their structures, their version histories.

Saved edits live in ``<output root>/<patient>/[<frame folder>/]observerData`` (see
:func:`lundprobe_gui.io.store.output_folder`), one series per structure and source. Opening a
patient with an output root registers the newest version of every series (its plain copy) as a
structure of that source, with ``StructureRef.version`` set; :func:`series_history` lists the versions.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..core.names import validate_data_name, validate_source
from ..core.patient import Patient, StructureRef
from ..core.saved import SavedVersion
from .probe import Probe, probe
from .small_files import LOCK_MAX_BYTES, read_json_file
from .versions import VERSION_RE, data_ext, is_complete, read_json_object, series_versions, version_name

logger = logging.getLogger(__name__)


def edits_folder(root: Path, patient: Patient, frame_folder: str) -> Path:
    """The folder a frame's saved edits of a patient live in (not created)."""
    base = Path(root) / patient.id
    return base / frame_folder / "observerData" if frame_folder else base / "observerData"


def attach_saved_edits(patient: Patient, root: Path | None = None) -> list[StructureRef]:
    """Register the newest saved version of every structure in ``<root>/<patient>/[<frame folder>/]observerData``.

    ``root`` defaults to the patient's default output folder. Only files on the frame's grid are
    taken; structures already in the model (the dataset's own) are left as they are. Returns what was added.
    """
    root = Path(root) if root is not None else patient.default_out_dir()
    added = []
    for frame in patient.frames.values():
        folder = edits_folder(root, patient, frame.folder)
        try:
            sidecars = sorted(folder.glob("mask_*_v*.json"))
        except OSError:
            continue
        for side in sidecars:
            try:
                meta = read_json_file(side, LOCK_MAX_BYTES, "provenance sidecar")
                name, source = str(meta["structure"]), str(meta["source"])
                validate_data_name(name, "structure name")
                validate_source(source)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a sidecar of ours, or names that could point outside the folder
            m = VERSION_RE.match(side.name)
            if m is None or m["stem"] != f"mask_{name}_{source}":
                logger.info("%s: names %s (%s), not the series of its file name; not attached", side, name, source)
                continue
            plain = folder / f"mask_{name}_{source}.nii.gz"
            if (name, source) in frame.structures or not plain.is_file():
                continue
            pr = probe(plain)
            if not isinstance(pr, Probe) or pr.geometry.differences(frame.geometry):
                logger.info("%s: not on the %s grid; not attached", plain, frame.name)
                continue
            history = series_history(folder, f"mask_{name}_{source}")
            ref = StructureRef(name, source, frame.name, str(plain), version=history[-1].number if history else None)
            frame.structures[(name, source)] = ref
            added.append(ref)
    return added


def series_history(folder: Path, stem: str) -> list[SavedVersion]:
    """The complete versions of a series (data and readable sidecar), oldest first."""
    out = []
    for n, exts in sorted(series_versions(folder, stem).items()):
        ext = data_ext(exts)
        if not is_complete(exts) or ext is None:
            continue
        side = read_json_object(Path(folder) / version_name(stem, n, "json"))
        if side is None:
            continue
        raw_stats = side.get("stats")
        stats: dict = raw_stats if isinstance(raw_stats, dict) else {}
        out.append(
            SavedVersion(
                number=n,
                path=str(Path(folder) / version_name(stem, n, ext)),
                time=str(side.get("time") or ""),
                tool=str(side.get("tool") or ""),
                user=str(side.get("user") or ""),
                added_cc=_number(stats.get("added_cc")),
                removed_cc=_number(stats.get("removed_cc")),
                dice_vs_start=_number(stats.get("dice_vs_start")),
                started_from=side.get("started_from") if isinstance(side.get("started_from"), str) else None,
                voxels=side.get("voxels") if isinstance(side.get("voxels"), int) else None,
                voxel_sha256=str(side.get("voxel_sha256") or ""),
            )
        )
    return out


def ref_history(ref: StructureRef) -> list[SavedVersion]:
    """The versions of the series whose plain copy (or version file) ``ref`` points at; [] for a dataset file."""
    path = Path(ref.path)
    m = VERSION_RE.match(path.name)
    stem = m["stem"] if m else (path.name[: -len(".nii.gz")] if path.name.endswith(".nii.gz") else None)
    if stem != f"mask_{ref.name}_{ref.source}":
        return []
    return series_history(path.parent, stem)


def newest_saved(root: Path, patient: Patient, frame: str, name: str, source: str) -> SavedVersion | None:
    """The newest version of (name, source) saved under an output root, or None."""
    folder = edits_folder(root, patient, patient.frames[frame].folder)
    history = series_history(folder, f"mask_{name}_{source}")
    return history[-1] if history else None


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
