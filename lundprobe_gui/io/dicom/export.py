"""Exporting a patient's structures as a new RT Structure Set or DICOM Segmentation.

``export_patient`` writes only new objects into the output folder, each built from the model:

* a DICOM patient: the structure set or segmentation references its reference series as it is;
* any other patient (LUND-PROBE, NIfTI): the reference image is written first as a DICOM series
  (:mod:`.image_writer`) and the structure set or segmentation references that series.

Structures of source ``clinical`` keep their names; every other one is named
``<name> <source>`` and, when it is a saved version, ``<name> <source> v<NNN>``
(``CTVT_427 corrected v003``). File names carry the new SOP Instance UID, so two exports never
share a name, and no file is ever replaced. The output folder must not be inside the patient or
its dataset.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from ...core.geometry import ints3
from ...core.patient import Patient, StructureRef
from ...render.colormaps import structure_colour
from ..guard import Protected, WriteRefused
from ..output_root import claim_output_root
from ..writer import atomic_write
from . import image_writer
from .identity import Reference
from .rtstruct_writer import ExportStructure, build_rtstruct
from .seg_writer import ExportSegment, build_seg

logger = logging.getLogger(__name__)

FORMATS = ("rtstruct", "seg")
_VERSIONED = re.compile(r"_v(\d{3,})\.nii\.gz$")


class ExportError(ValueError):
    """The export cannot be made; the message says why (for the CLI and the dialog)."""


@dataclass
class ExportResult:
    """What an export wrote."""

    files: list[Path] = field(default_factory=list)
    structures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def main(self) -> Path:
        """The structure set or segmentation file."""
        return self.files[-1]


def roi_name(ref: StructureRef) -> str:
    """The name a structure gets in the exported file (rule in the module docstring)."""
    if ref.source == "clinical":
        return ref.name
    name = f"{ref.name} {ref.source}"
    m = _VERSIONED.search(Path(ref.path).name)
    if m:
        return f"{name} v{int(m.group(1)):03d}"
    plain = Path(ref.path)
    if plain.name.endswith(".nii.gz") and plain.parent.is_dir():
        stem = plain.name[: -len(".nii.gz")]
        versions = [int(v.group(1)) for p in plain.parent.glob(f"{stem}_v*.nii.gz") if (v := _VERSIONED.search(p.name))]
        if versions:
            return f"{name} v{max(versions):03d}"
    return name


def select(patient: Patient, tokens: Sequence[str] | None) -> list[StructureRef]:
    """The structures named by ``NAME`` (source ``clinical``, else its only source) or ``NAME:SOURCE``;
    every structure of the reference frame when ``tokens`` is empty.

    Raises
    ------
    ExportError
        For a name that matches nothing or several sources.
    """
    frame = patient.reference_frame
    refs = list(frame.structures.values())
    if not tokens:
        return refs
    out: list[StructureRef] = []
    for tok in tokens:
        name, _, source = tok.partition(":")
        hits = [r for r in refs if r.name == name and (r.source == source if source else True)]
        if not source and len(hits) > 1:
            hits = [r for r in hits if r.source == "clinical"] or hits
            if len(hits) > 1:
                raise ExportError(
                    f"{name} exists in sources {', '.join(r.source for r in hits)}; name one as NAME:SOURCE"
                )
        if not hits:
            have = ", ".join(sorted({f"{r.name}:{r.source}" for r in refs})) or "none"
            raise ExportError(f"no structure {tok!r} in frame {frame.name}; structures: {have}")
        out.extend(h for h in hits if h not in out)
    return out


def _check_out(patient: Patient, out: Path) -> Path:
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    try:  # never the patient's folder, its dataset root or any folder in them (io/guard.py)
        # no marker: a planning system imports every file of the folder
        return claim_output_root(out, "export", Protected.of_patient(patient), mark=False)
    except WriteRefused as e:
        raise ExportError(str(e)) from e


def _write(ds, folder: Path, prefix: str) -> Path:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return atomic_write(folder / f"{prefix}.{ds.SOPInstanceUID}.dcm", buf.getvalue(), overwrite=False)


def _dicom_reference(patient: Patient) -> Reference | None:
    series = getattr(patient.store, "series_of", {}).get(patient.reference_frame.name)
    if series is None:
        return None
    slices: list[Dataset | None] = [
        None if f is None else pydicom.dcmread(f.path, stop_before_pixels=True) for f in series.slots
    ]
    return Reference(slices)


def _nifti_reference(patient: Patient, out: Path, result: ExportResult) -> Reference:
    frame = patient.reference_frame
    vol = frame.images.get("image") or next(iter(frame.images.values()), None)
    if vol is None or not patient.load_volume(vol):
        raise ExportError(f"{patient.id}: the reference image of frame {frame.name} cannot be read")
    is_ct = frame.name in ("CT", "sCT")
    datasets = image_writer.build_series(vol.array(), frame.geometry, is_ct, patient.id, f"{patient.id} {frame.name}")
    for ds in datasets:
        result.files.append(_write(ds, out, "CT" if is_ct else "MR"))
    result.notes.append(f"reference image written as a {len(datasets)}-slice {'CT' if is_ct else 'MR'} series")
    return Reference(list(datasets))


def export_patient(
    patient: Patient, fmt: str, out: str | Path, structures: Sequence[str] | None = None
) -> ExportResult:
    """Write a new structure set (``fmt="rtstruct"``) or segmentation (``"seg"``) into ``out``.

    Raises
    ------
    ExportError
        For an unknown format, an output folder inside the data, or structures that do not exist.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    refs = select(patient, structures)
    out = _check_out(patient, Path(out))
    result = ExportResult()
    masks = []
    for r in refs:
        try:
            m = patient.mask_obj(r.name, r.source, r.frame)
        except (KeyError, ValueError) as e:
            result.notes.append(f"{r.name} ({r.source}) left out: {e}")
            continue
        colour = r.colour or structure_colour(r.name, None if r.source == "clinical" else r.source)
        masks.append((roi_name(r), m, ints3(colour), r))
    if fmt == "seg":
        masks = [t for t in masks if not t[1].is_empty()]
        if not masks:
            raise ExportError("no non-empty structure to write as a segmentation")
    taken: set[str] = set()
    unique = []
    for name, m, colour, r in masks:
        base, n = name, 2
        while name in taken:
            name, n = f"{base} ({n})", n + 1
        taken.add(name)
        unique.append((name, m, colour, r))
    reference = _dicom_reference(patient) if patient.layout == "dicom" else None
    if reference is None:
        reference = _nifti_reference(patient, out, result)
    geometry = patient.reference_frame.geometry
    if fmt == "rtstruct":
        ds = build_rtstruct(reference, geometry, [ExportStructure(n, m, c) for n, m, c, _ in unique])
        result.files.append(_write(ds, out, "RS"))
    else:
        seg = build_seg(
            reference,
            [ExportSegment(n, m, c, r.source == "clinical" or "nnUNet" not in r.source) for n, m, c, r in unique],
        )
        result.files.append(_write(seg, out, "SEG"))
    result.structures = [n for n, *_ in unique]
    logger.info("exported %d structure(s) of %s as %s to %s", len(unique), patient.id, fmt, result.main)
    return result
