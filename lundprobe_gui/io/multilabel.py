"""Label maps: name tables, one structure per label value, and saving edits back as a label map.

Name tables
-----------
A label map ``<stem>.nii.gz`` takes its names from the first table found among

1. ``<stem>_labels.json`` / ``<stem>_labels.csv`` beside it (a table for this file only),
2. ``labels.json`` / ``labels.csv`` in the same folder,
3. ``labels.json`` / ``labels.csv`` in the parent folder (one table for a whole dataset).

JSON is ``{"1": "R_II+III+Va", ...}``; the reverse ``{"R_II+III+Va": 1}`` (nnU-Net's
``dataset.json`` style) and either form under a top-level ``"labels"`` key are accepted too.
CSV has ``index,name`` rows (``,`` ``;`` or tab; a header row is skipped). Label 0 is background.
A value without a name is called ``label_<k>``.

Saving
------
:func:`save_label_map` writes the whole label map again as a new version
``<stem>_v<NNN>.nii.gz`` in ``<out>/<patient>/`` with a JSON provenance sidecar, and atomically
replaces the plain ``<stem>.nii.gz`` there (editing a saved version ``<stem>_v002.nii.gz``
continues the ``<stem>`` series). Label values, data type and header geometry are
those of the file the edit was made on. Editing label ``k`` only changes voxels of label ``k``
and background: voxels of another label are never overwritten unless
``overwrite_other_labels=True`` (the default keeps them; such voxels are counted in the sidecar
as ``refused_voxels``), so adding a structure over its neighbour cannot silently shrink the
neighbour.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core.mask import Mask
from ..core.names import validate_data_name
from ..core.patient import Patient, Problem, StructureRef, check_binary
from . import nifti
from .guard import Protected
from .output_root import claim_output_root
from .probe import strip_suffix
from .small_files import TABLE_MAX_BYTES, SmallFileError, parse_json, read_small_text
from .store import FileStore, output_folder, reference_header
from .versions import build_sidecar, publish_version
from .writer import encode_nifti

logger = logging.getLogger(__name__)

TABLE_NAMES = ("labels.json", "labels.csv")
_INT = re.compile(r"^\s*\d+\s*$")
_VERSION_SUFFIX = re.compile(r"_v\d{3,}$")
# On-disk integer types the writer can encode; anything else is stored in the smallest that fits.
_WRITABLE = {np.dtype(c) for c in ("u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8")}


class LabelTableError(ValueError):
    """A label table that cannot be read; the message says why."""


def fallback_name(label: int) -> str:
    """The name of a label value no table names."""
    return f"label_{int(label)}"


def _pairs_from_mapping(data: Mapping[str, Any]) -> dict[int, str]:
    out: dict[int, str] = {}
    for k, v in data.items():
        if _INT.match(str(k)) and isinstance(v, str):
            out[int(k)] = v
        elif (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and _INT.match(v)):
            out[int(v)] = str(k)
        else:
            raise LabelTableError(f"entry {k!r}: {v!r} is neither 'index': 'name' nor 'name': index")
    return out


def parse_label_json(text: str) -> dict[int, str]:
    """Parse a JSON label table (see the module docstring)."""
    try:
        data = parse_json(text)
    except ValueError as e:
        raise LabelTableError(f"not valid JSON ({e})") from e
    if isinstance(data, dict) and isinstance(data.get("labels"), dict):
        data = data["labels"]
    if not isinstance(data, dict):
        raise LabelTableError("expected a JSON object mapping label values to names")
    return _clean(_pairs_from_mapping(data))


def parse_label_csv(text: str) -> dict[int, str]:
    """Parse an ``index,name`` CSV label table (``,`` ``;`` or tab separated; header rows skipped)."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delim = next((d for d in ("\t", ";", ",") if d in first), ",")
    out: dict[int, str] = {}
    try:
        for row in csv.reader(io.StringIO(text), delimiter=delim):
            cells = [c.strip() for c in row]
            if len(cells) < 2 or not _INT.match(cells[0]):
                continue  # header or blank line
            out[int(cells[0])] = cells[1]
    except csv.Error as e:
        raise LabelTableError(f"not a CSV table ({e})") from e
    if not out:
        raise LabelTableError("no 'index,name' rows found")
    return _clean(out)


def _clean(table: dict[int, str]) -> dict[int, str]:
    # Background is never a structure; empty names fall back to label_<k>.
    return {k: v.strip() for k, v in table.items() if k != 0 and v.strip()}


def read_label_table(path: Path) -> dict[int, str]:
    """Read a ``.json`` or ``.csv`` label table.

    Raises
    ------
    LabelTableError
        When the file cannot be read or parsed.
    """
    path = Path(path)
    try:
        text = read_small_text(path, TABLE_MAX_BYTES, "label table", encoding="utf-8-sig")
    except SmallFileError as e:
        raise LabelTableError(str(e)) from e
    except OSError as e:
        raise LabelTableError(f"cannot read it ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise LabelTableError(f"not UTF-8 text ({e})") from e
    if path.suffix.lower() == ".json":
        return parse_label_json(text)
    return parse_label_csv(text)


def table_candidates(label_map: Path) -> list[Path]:
    """Where a label map's name table may be, in order of precedence."""
    label_map = Path(label_map)
    stem = strip_suffix(label_map.name)
    folder = label_map.parent
    return [
        folder / f"{stem}_labels.json",
        folder / f"{stem}_labels.csv",
        *(folder / n for n in TABLE_NAMES),
        *(folder.parent / n for n in TABLE_NAMES),
    ]


def has_label_table(folder: Path) -> bool:
    """Whether a folder (or its parent) holds a label table, per-file or shared."""
    folder = Path(folder)
    try:
        if any(
            n.lower().endswith(("_labels.json", "_labels.csv")) or n in TABLE_NAMES
            for n in (p.name for p in folder.iterdir() if p.is_file())
        ):
            return True
    except OSError:
        return False
    return any((folder.parent / n).is_file() for n in TABLE_NAMES)


def own_table(label_map: Path) -> Path | None:
    """The per-file table ``<stem>_labels.json|csv`` of a label map, if there is one."""
    return next((p for p in table_candidates(label_map)[:2] if p.is_file()), None)


def find_label_table(label_map: Path) -> tuple[dict[int, str], Path | None, list[Problem]]:
    """The names of a label map's values from the first readable table, and the problems found.

    An unreadable table is reported and the search goes on to the next candidate.
    """
    problems: list[Problem] = []
    for cand in table_candidates(label_map):
        if not os.path.lexists(cand):
            continue  # a FIFO, a folder or a dangling link under a table's name is reported below
        try:
            return read_label_table(cand), cand, problems
        except LabelTableError as e:
            problems.append(Problem(str(cand), "corrupt", f"cannot read the label table: {e}; names not taken from it"))
    return {}, None, problems


def label_structures(
    path: Path, labels: tuple[int, ...] | list[int], table: Mapping[int, str], source: str, frame: str
) -> tuple[list[StructureRef], list[Problem]]:
    """One :class:`StructureRef` per label value present, named from ``table`` or ``label_<k>``.

    Every label stays reachable: names are made unique against every other name of the map. A
    name two values share stays with the lowest value; each other value gets ``_<k>`` appended (and
    ``_2``, ``_3``... when that is taken too, for example by a label named ``CTV_3``). Each rename is
    reported as a ``duplicate-label-name`` problem.
    """
    values = sorted(int(v) for v in labels)
    wanted = {k: table.get(k) or fallback_name(k) for k in values}
    owner: dict[str, int] = {}
    for k in values:
        owner.setdefault(wanted[k], k)  # the lowest value keeps a shared name
    taken = set(owner)  # every name some label asks for, so a new name never takes another's
    refs: list[StructureRef] = []
    problems: list[Problem] = []
    for k in values:
        name = wanted[k]
        if owner[name] != k:
            new, n = f"{name}_{k}", 1
            while new in taken:
                n += 1
                new = f"{name}_{k}_{n}"
            taken.add(new)
            problems.append(
                Problem(
                    str(path),
                    "duplicate-label-name",
                    f"labels {owner[name]} and {k} are both named {name!r}; label {k} is shown as {new}",
                )
            )
            name = new
        refs.append(StructureRef(name, source, frame, str(path), label=k))
    return refs, problems


# -- saving -------------------------------------------------------------------------------
def _target_dtype(hdr: nifti.Header | None, base: np.ndarray, max_label: int) -> np.dtype:
    """The integer type the map is saved in: the file's own when it holds every value, else the smallest that does.

    Raises
    ------
    ValueError
        When the values cannot all be written exactly (a fraction, or beyond 64-bit integers): the
        map is refused rather than saved with other labels changed.
    """
    lo = min(int(base.min()) if base.size else 0, 0)
    hi = max(int(base.max()) if base.size else 0, max_label)
    if hdr is not None:
        native = hdr.dtype.newbyteorder("=")
        if native in _WRITABLE and np.iinfo(native).min <= lo and hi <= np.iinfo(native).max:
            return native
    for candidate in ("u1", "u2", "u4", "u8") if lo >= 0 else ("i1", "i2", "i4", "i8"):
        info = np.iinfo(candidate)
        if info.min <= lo and hi <= info.max:
            return np.dtype(candidate)
    raise ValueError(f"label values {lo}..{hi} do not fit a 64-bit integer; the label map cannot be saved exactly")


def _full_bool(edit: Mask | np.ndarray, shape: tuple[int, int, int], label: int) -> np.ndarray:
    if not isinstance(edit, Mask):
        check_binary(np.asarray(edit), f"label {label}")
    arr = edit.to_full() if isinstance(edit, Mask) else np.asarray(edit) != 0
    if arr.shape != shape:
        raise ValueError(f"edited mask shape {arr.shape} does not match the label map {shape}")
    return arr


def save_label_map(
    patient: Patient,
    label_map: str | Path,
    edits: Mapping[int, Mask | np.ndarray],
    out_dir: str | Path | None = None,
    *,
    frame: str | None = None,
    overwrite_other_labels: bool = False,
    store: FileStore | None = None,
    **provenance: Any,
) -> Path:
    """Save edits of one or more labels of a label map as a new version of the whole map.

    Parameters
    ----------
    patient : Patient
        The patient whose structures come from ``label_map``.
    label_map : path
        The label-map file the structures currently point to (``StructureRef.path``).
    edits : mapping of int to Mask or numpy.ndarray
        New contents of each edited label value (full-size (z, y, x); non-zero is inside).
        Applied in ascending label order.
    out_dir : path, optional
        Output root (default ``patient.default_out_dir()``); files go to ``<out>/<patient id>/``.
    frame : str, optional
        The frame of the structures (default: the frame holding ``label_map``'s structures).
    overwrite_other_labels : bool
        Let an edit claim voxels of other labels. Off by default: other labels never change.
    store : FileStore, optional
        The patient's store, whose decoded-label-map cache is read and refreshed.
    **provenance
        Extra sidecar fields (``tool``, ``user``, ``parent``...).

    Returns
    -------
    Path
        The new version ``<stem>_v<NNN>.nii.gz``.
    """
    label_map = Path(label_map)
    refs = {r.label: r for r in patient.structures(frame) if r.label is not None and Path(r.path) == label_map}
    if not refs:
        raise KeyError(f"no structure of {patient.id} comes from the label map {label_map}")
    fname = next(iter(refs.values())).frame
    fr = patient.frames[fname]
    unknown = sorted(set(int(k) for k in edits) - set(refs))
    if unknown:
        raise KeyError(f"label value(s) {unknown} are not structures of {label_map.name}; known: {sorted(refs)}")
    store = store if store is not None else LabelMapStore()
    base = store.label_array(label_map)
    if base.shape != fr.geometry.shape_zyx:
        raise ValueError(f"label map {base.shape} does not match frame {fname} grid {fr.geometry.shape_zyx}")
    try:
        hdr: nifti.Header | None = nifti.read_header(label_map)
    except nifti.NiftiError:
        hdr = None
    dtype = _target_dtype(hdr, base, max(int(k) for k in refs))
    new = base.astype(dtype, copy=True)
    if not np.array_equal(new, base):  # a fraction or a value the type cannot hold: other labels would change
        raise ValueError(
            f"{label_map.name}: its values cannot be written exactly as {dtype} (a value is not a whole number, "
            "or out of range); the label map is not saved, so that no other label changes"
        )

    stats: dict[str, dict[str, int]] = {}
    for k in sorted(int(v) for v in edits):
        want = _full_bool(edits[k], new.shape, k)
        own = new == k
        removed = own & ~want
        claim = want & ~own
        free = claim & (new == 0)
        taken = claim & ~free & (new != 0)
        new[removed] = 0
        new[free] = k
        if overwrite_other_labels:
            new[taken] = k
        stats[str(k)] = {
            "added": int(free.sum() + (taken.sum() if overwrite_other_labels else 0)),
            "removed": int(removed.sum()),
            "refused_voxels": 0 if overwrite_other_labels else int(taken.sum()),
            "voxels": int(np.count_nonzero(new == k)),
        }

    header = hdr.raw if hdr is not None and hdr.raw else reference_header(patient, fname)
    # Editing a saved version (a reopened review) continues that file's own version series.
    stem = validate_data_name(_VERSION_SUFFIX.sub("", strip_suffix(label_map.name)), "label-map file name")
    computed = {
        "kind": "label-map",
        "patient": patient.id,
        "frame": fname,
        "edited_from": str(label_map),
        "labels": {str(k): r.name for k, r in sorted(refs.items())},
        "edited_labels": [int(k) for k in sorted(edits)],
        "overwrite_other_labels": bool(overwrite_other_labels),
        "dtype": str(dtype),
        "voxel_sha256": hashlib.sha256(np.ascontiguousarray(new).data).hexdigest(),
        "label_stats": stats,
    }
    build_sidecar(computed, provenance)  # refused provenance: nothing is written
    protected = Protected.of_patient(patient)
    root = Path(out_dir) if out_dir is not None else patient.default_out_dir()
    claim_output_root(root, "edits", protected)
    folder = output_folder(root, patient.id, fr.folder, sub=None)
    data = encode_nifti(new, header)
    pub = publish_version(folder, stem, data, computed, provenance, {"label_map": stem}, protected)
    path, plain = pub.path, pub.plain
    new.flags.writeable = False
    if plain is None:  # a label map is always published with its plain copy
        raise RuntimeError(f"{path}: published without the plain copy of the label map")
    if pub.plain_is_mine:  # else another process saved a newer version into the plain copy meanwhile
        store.remember_label_array(plain, new)
    _repoint(patient, refs, plain, new, set(int(k) for k in edits), overwrite_other_labels)
    logger.info("saved label map %s (labels %s edited)", path, sorted(edits))
    return path


def _repoint(
    patient: Patient, refs: dict[int, StructureRef], plain: Path, new: np.ndarray, edited: set[int], overwrite: bool
) -> None:
    # Every structure of the map now lives in the plain output file, so the next edit of any label
    # starts from this version. Unchanged labels keep their cached mask.
    for k, ref in refs.items():
        moved = StructureRef(ref.name, ref.source, ref.frame, str(plain), label=k)
        if k in edited or overwrite:
            mask: Mask | None = Mask.from_full(new == k)
        elif patient.is_mask_loaded(ref):
            mask = patient.mask_obj(ref.name, ref.source, ref.frame)
        else:
            mask = None
        patient.register_structure(moved, mask)


class LabelMapStore(FileStore):
    """The mask store of the NIfTI layouts, which may hold label maps.

    A structure that is one label of a label map (``StructureRef.label`` set) is saved as a new
    version of the whole map (:func:`save_label_map`); any other as :class:`FileStore` saves it.
    """

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
        """Write the next version of a structure (of its label map, for a label) and return its path."""
        ref = patient.frames[frame].structures.get((name, source))
        if ref is not None and ref.label is not None:
            return save_label_map(patient, ref.path, {ref.label: mask}, out_dir, frame=frame, store=self, **provenance)
        return super().save_mask(patient, name, mask, source, frame, out_dir, provenance)
