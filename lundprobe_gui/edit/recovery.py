"""Autosave of unsaved working copies to a recovery area, and their restoration after a crash.

One folder per patient (named by a hash of the patient path) holds a ``session.json`` and one
``.npz`` per working copy (the cropped block, bit-packed), named after the autosave that wrote it.
Every file is written atomically and the JSON last, so a kill at any moment leaves either the
previous autosave or the new one on offer, never a mix.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.mask import Mask
from ..io.guard import remove_file
from ..io.output_root import claim_output_root
from ..io.small_files import MIB, read_json_file, read_small_bytes
from ..io.writer import atomic_write

logger = logging.getLogger(__name__)

_OWN_BLOCK = re.compile(r"^(edit|start)_[0-9a-f]{12}_\d{3}\.npz$")
MAX_BLOCK_BYTES = 1024 * MIB
"""Largest autosave block read back (a bit-packed 1024 x 1024 x 1024 mask is 128 MB)."""


@dataclass(frozen=True)
class RecoveredEdit:
    """One working copy found in the recovery area."""

    name: str
    source: str
    start_source: str | None
    mask: Mask
    start: Mask | None


@dataclass(frozen=True)
class Recovery:
    """An autosave of a patient's unsaved edits."""

    patient_path: str
    patient_id: str
    time: str
    edits: list[RecoveredEdit]


def patient_folder(area: Path, patient_path: str | Path) -> Path:
    """The recovery folder of a patient."""
    digest = hashlib.sha1(str(Path(patient_path).resolve()).encode()).hexdigest()[:16]
    return Path(area) / digest


def _pack(mask: Mask) -> bytes:
    buf = io.BytesIO()
    np.savez(
        buf,
        shape=np.asarray(mask.shape),
        offset=np.asarray(mask.offset),
        block=np.asarray(mask.data.shape),
        bits=np.packbits(mask.data, axis=None),
    )
    return buf.getvalue()


def _unpack(data: bytes) -> Mask:
    with np.load(io.BytesIO(data)) as z:
        shape = tuple(int(v) for v in z["shape"])
        block = tuple(int(v) for v in z["block"])
        n = int(np.prod(block))
        arr = np.unpackbits(z["bits"], count=n).astype(bool).reshape(block) if n else np.zeros(block, bool)
        return Mask(shape, arr, tuple(int(v) for v in z["offset"]))


def autosave(
    area: Path, patient_path: str | Path, patient_id: str, edits: list[tuple[str, str, str | None, Mask, Mask | None]]
) -> Path | None:
    """Write the working copies ``(name, source, start_source, mask, start)`` of one patient.

    An empty list removes the patient's recovery folder (nothing is unsaved any more).
    """
    folder = patient_folder(area, patient_path)
    if not edits:
        clear(area, patient_path)
        return None
    claim_output_root(area, "recovery")
    folder.mkdir(parents=True, exist_ok=True)
    # Every autosave writes its blocks under names of its own and switches to them with the one
    # atomic rename of session.json: reusing names would let a kill leave the old session.json
    # pointing at a mix of old and new blocks (even at another structure's block).
    gen = uuid.uuid4().hex[:12]
    entries = []
    for i, (name, source, start_source, mask, start) in enumerate(edits):
        fname = f"edit_{gen}_{i:03d}.npz"
        atomic_write(folder / fname, _pack(mask))
        entry = {"name": name, "source": source, "start_source": start_source, "file": fname}
        if start is not None:
            atomic_write(folder / f"start_{gen}_{i:03d}.npz", _pack(start))
            entry["start_file"] = f"start_{gen}_{i:03d}.npz"
        entries.append(entry)
    meta = {
        "patient_path": str(Path(patient_path).resolve()),
        "patient_id": patient_id,
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "edits": entries,
    }
    atomic_write(folder / "session.json", json.dumps(meta, indent=2).encode())
    keep = {e["file"] for e in entries} | {e["start_file"] for e in entries if "start_file" in e}
    for old in folder.glob("*.npz"):  # blocks of earlier autosaves, now unreferenced
        if old.name not in keep and _OWN_BLOCK.match(old.name):
            with contextlib.suppress(OSError):
                remove_file(old)
    return folder


def find(area: Path, patient_path: str | Path) -> Recovery | None:
    """The autosave of a patient, or None. A damaged autosave is logged and ignored."""
    folder = patient_folder(area, patient_path)
    meta_path = folder / "session.json"
    if not meta_path.is_file():
        return None
    try:
        meta = read_json_file(meta_path, what="autosave index")
        edits = []
        for e in meta["edits"]:
            start = _unpack(_read_block(folder, e["start_file"])) if e.get("start_file") else None
            edits.append(
                RecoveredEdit(
                    e["name"], e["source"], e.get("start_source"), _unpack(_read_block(folder, e["file"])), start
                )
            )
        return Recovery(meta["patient_path"], meta["patient_id"], meta["time"], edits)
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.warning("ignoring a damaged autosave in %s: %s", folder, e)
        return None


def _read_block(folder: Path, name: str) -> bytes:
    # A block name comes from session.json: it must stay a plain file of this folder.
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"autosave block name {name!r} is not a file of {folder}")
    return read_small_bytes(folder / name, MAX_BLOCK_BYTES, "autosave block")


def pending(area: Path) -> list[Recovery]:
    """Every autosave in the area (newest first), for the start-up prompt."""
    out: list[Recovery] = []
    if not Path(area).is_dir():
        return out
    for d in Path(area).iterdir():
        meta = d / "session.json"
        if meta.is_file():
            try:
                path = read_json_file(meta, what="autosave index")["patient_path"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            rec = find(area, path)
            if rec is not None:
                out.append(rec)
    return sorted(out, key=lambda r: r.time, reverse=True)


def clear(area: Path, patient_path: str | Path) -> None:
    """Remove a patient's autosave (after its edits were saved or deliberately discarded).

    Only the files an autosave writes are removed (``session.json`` and its blocks), then the
    folder if that left it empty: nothing else in a recovery area is ever deleted.
    """
    folder = patient_folder(area, patient_path)
    if not folder.is_dir() or folder.is_symlink():
        return
    with contextlib.suppress(OSError):  # first the index, so a kill during removal never leaves half an autosave
        remove_file(folder / "session.json")
    for f in folder.iterdir():
        if _OWN_BLOCK.match(f.name) or (f.name.startswith(".") and f.name.endswith(".part")):
            with contextlib.suppress(OSError):
                remove_file(f)
    try:
        folder.rmdir()
    except OSError as e:
        logger.info("recovery folder %s kept: %s", folder, e.strerror or e)
