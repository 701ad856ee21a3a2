"""Discovery of a folder of NIfTI files: the ``generic`` and ``multilabel`` layouts (and StructSeg's core).

Every ``*.nii`` / ``*.nii.gz`` directly inside the folder is looked at: its header
(:func:`~lundprobe_gui.io.probe.probe`) and a cheap look at its values
(:func:`~lundprobe_gui.io.valuescan.scan_values`), which sorts it into binary masks, label maps
and continuous images. Then:

* **Reference image**: the continuous file with the most voxels. Files whose names suggest an
  overlay (``dose``, ``uncert``, ``std``, ``prob``, ``entropy``, ``softmax``, ``variance``) are
  only chosen when nothing else is continuous; ties go to integer data, then to the name. It is
  put under ``frame.images["image"]`` of a single frame named ``"CT"`` when its values look like
  CT (:func:`~lundprobe_gui.core.modality.looks_like_ct`), else ``"image"``.
* Every other file must have the reference's grid (else a ``geometry-mismatch`` problem; masks,
  label maps and images are never resampled) and becomes:

  - a **binary mask**: a structure named after the file (a leading ``mask_`` dropped);
  - a **label map** (or a binary file with its own ``<stem>_labels.json|csv`` table): one
    structure per label value present, named from the label table (see
    :mod:`lundprobe_gui.io.multilabel`) or ``label_<k>``, with ``StructureRef.label = k``;
  - a **continuous** file: a dose when its name contains ``dose``; otherwise a float map becomes
    an uncertainty-like overlay (``frame.uncertainty[stem]``) and an integer image an extra image
    (``frame.images[stem]``). A dose or float overlay on another grid in the same world space is
    resampled onto the reference grid (:func:`~lundprobe_gui.core.regrid.attach_overlay`).

  Structures get the source ``clinical``; when a name is already taken, the whole file's
  structures take the file's stem as their source instead.
* 4-D files, unreadable or corrupt files and files of another grid are :class:`Problem` entries.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..core.modality import looks_like_ct
from ..core.patient import NAN_RULE, Frame, Patient, Problem, StructureRef
from ..core.regrid import attach_overlay
from ..core.volume import Volume
from . import multilabel, nifti
from .probe import Probe, is_image_name, probe, strip_suffix, unsupported_files
from .slab_reader import load_slab_or_array
from .valuescan import ValueScan, scan_values

logger = logging.getLogger(__name__)

GENERIC = "generic"
MULTILABEL = "multilabel"
OVERLAY_HINTS = ("dose", "uncert", "std", "prob", "entropy", "softmax", "variance")
CLINICAL = "clinical"


@dataclass(frozen=True)
class FileInfo:
    """One usable file: its header and what its values look like."""

    path: Path
    probe: Probe
    scan: ValueScan

    @property
    def stem(self) -> str:
        """File name without .nii / .nii.gz."""
        return strip_suffix(self.path.name)


@dataclass(frozen=True)
class Roles:
    """Roles a layout fixes by file name (StructSeg: ``data`` is the CT, ``label`` a label map)."""

    reference: Path | None = None
    label_maps: tuple[Path, ...] = ()
    frame: str | None = None


def nifti_files(folder: Path) -> list[Path]:
    """The NIfTI files directly inside ``folder``, sorted by name."""
    try:
        return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_image_name(p.name))
    except OSError:
        return []


def detect(path: Path) -> bool:
    """A generic patient folder holds at least one NIfTI file."""
    return bool(nifti_files(path))


def detect_multilabel(path: Path) -> bool:
    """A multi-label patient folder holds NIfTI files and a label table (here or in its parent)."""
    return detect(path) and multilabel.has_label_table(path)


def inspect_file(path: Path) -> FileInfo | Problem:
    """Header and value look of one file, or the :class:`Problem` that stops its use."""
    pr = probe(path)
    if isinstance(pr, Problem):
        return pr
    try:
        scan = scan_values(path)
    except (nifti.NiftiError, OSError, ValueError) as e:
        return Problem(str(path), "corrupt", f"cannot decode voxel data: {e}")
    return FileInfo(Path(path), pr, scan)


def no_image_reasons(infos: list[FileInfo], problems: list[Problem]) -> str:
    """Why none of a folder's files can be the image shown: each file with its reason."""
    what = {"binary": "a binary mask", "labels": "a label map"}
    parts = [f"{i.path.name}: {what.get(i.scan.kind, 'an overlay')}" for i in infos]
    parts += [f"{Path(pr.path).name}: {pr.message}" for pr in problems]
    return "; ".join(parts) or "no NIfTI files"


def _overlay_named(stem: str) -> bool:
    low = stem.lower()
    return any(h in low for h in OVERLAY_HINTS)


def choose_reference(infos: list[FileInfo]) -> FileInfo | None:
    """The reference image among continuous files (rule in the module docstring), or None."""
    cands = [i for i in infos if i.scan.kind == "continuous"]
    if not cands:
        return None
    return min(cands, key=lambda i: (_overlay_named(i.stem), -i.probe.geometry.n_voxels, i.scan.is_float, i.path.name))


def structure_name(stem: str) -> str:
    """Structure name of a binary mask file: the stem without a leading ``mask_``."""
    return stem[5:] if stem.startswith("mask_") and len(stem) > 5 else stem


class _Builder:
    """Puts the classified files of one folder into a frame."""

    def __init__(self, frame: Frame, problems: list[Problem]) -> None:
        self.frame = frame
        self.problems = problems

    def _source_for(self, names: list[str], stem: str) -> str:
        taken = {n for (n, s) in self.frame.structures if s == CLINICAL}
        return stem if taken & set(names) else CLINICAL

    def add_label_map(self, info: FileInfo) -> None:
        if info.scan.kind == "continuous":
            self.problems.append(
                Problem(
                    str(info.path),
                    "not-a-label-map",
                    "expected a label map but the values are not whole non-negative numbers; ignored",
                )
            )
            return
        if not info.scan.labels:
            self.problems.append(Problem(str(info.path), "empty", "the label map has no labelled voxels"))
            return
        table, _, table_problems = multilabel.find_label_table(info.path)
        self.problems.extend(table_problems)
        refs, name_problems = multilabel.label_structures(info.path, info.scan.labels, table, CLINICAL, self.frame.name)
        self.problems.extend(name_problems)
        source = self._source_for([r.name for r in refs], info.stem)
        for r in refs:
            self.frame.structures[(r.name, source)] = StructureRef(r.name, source, r.frame, r.path, r.label)

    def add_mask(self, info: FileInfo) -> None:
        name = structure_name(info.stem)
        source = self._source_for([name], info.stem)
        if info.probe.is_float:
            self.problems.append(
                Problem(
                    str(info.path),
                    "non-binary",
                    f"mask is stored as floating point ({info.probe.pixel_type}); "
                    f"non-zero voxels are treated as inside, {NAN_RULE}",
                )
            )
        self.frame.structures[(name, source)] = StructureRef(name, source, self.frame.name, str(info.path))

    @staticmethod
    def overlay_kind(info: FileInfo) -> str | None:
        """``dose`` or ``uncertainty`` for a continuous overlay (resampled when on another grid), else None."""
        if info.scan.kind != "continuous":
            return None
        if "dose" in info.stem.lower():
            return "dose"
        return "uncertainty" if info.scan.is_float else None

    def add_continuous(self, info: FileInfo) -> None:
        geom, stem = info.probe.geometry, info.stem
        kind = self.overlay_kind(info)
        if kind is not None:
            why = attach_overlay(self.frame, Volume(info.path, geom, kind, load_slab_or_array, crop=True, name=stem))
            if why is not None:
                self.problems.append(why)
        else:
            key = stem if stem not in self.frame.images else info.path.name
            self.frame.images[key] = Volume(info.path, geom, "image", nifti.load_array, name=key)


def discover(path: Path, layout: str = GENERIC, roles: Roles = Roles()) -> Patient:
    """Build a :class:`Patient` from a folder of NIfTI files.

    Raises
    ------
    FileNotFoundError
        When the folder has no usable continuous image to serve as the reference.
    """
    path = Path(path)
    files = nifti_files(path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(inspect_file, files))
    problems = [f for f in found if isinstance(f, Problem)] + unsupported_files(path)
    infos = [f for f in found if isinstance(f, FileInfo)]
    for info in infos:
        problems.extend(info.probe.notes)
    ref = next((i for i in infos if roles.reference is not None and i.path == roles.reference), None)
    if ref is None:
        ref = choose_reference([i for i in infos if i.path not in roles.label_maps])
    if ref is None:
        raise FileNotFoundError(f"{path}: no usable image to show: {no_image_reasons(infos, problems)}")
    frame_name = roles.frame or ("CT" if looks_like_ct(ref.scan) else "image")
    frame = Frame(frame_name, ref.probe.geometry, "")
    frame.images["image"] = Volume(ref.path, ref.probe.geometry, "image", nifti.load_array, name="image")
    build = _Builder(frame, problems)
    for info in infos:
        if info is ref:
            continue
        diffs = info.probe.geometry.differences(frame.geometry)
        if diffs and build.overlay_kind(info) is not None:
            build.add_continuous(info)
        elif diffs:
            problems.append(
                Problem(
                    str(info.path),
                    "geometry-mismatch",
                    f"grid differs from the reference image {ref.path.name} ({'; '.join(diffs)}); "
                    "left out, not resampled",
                )
            )
        elif (
            info.path in roles.label_maps
            or info.scan.kind == "labels"
            or (info.scan.kind == "binary" and multilabel.own_table(info.path) is not None)
        ):
            build.add_label_map(info)
        elif info.scan.kind == "binary":
            build.add_mask(info)
        else:
            build.add_continuous(info)
    problems = list(dict.fromkeys(problems))  # one unreadable shared table is reported once
    logger.info(
        "%s: %s layout, reference %s (%s frame), %d structures, %d problems",
        path,
        layout,
        ref.path.name,
        frame_name,
        len(frame.structures),
        len(problems),
    )
    return Patient(
        path, path.name, layout, {frame_name: frame}, multilabel.LabelMapStore(), problems, dataset_root=path.parent
    )
