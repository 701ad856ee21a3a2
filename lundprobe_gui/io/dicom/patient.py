"""Discovery of a folder of DICOM files: the ``dicom`` layout (headers only).

* Every image series (CT, MR, ...) is a frame, named by its modality (``CT``, ``MR``, then
  ``CT 2``...). The reference frame, listed first, is the series the first structure set
  references (else the one a DICOM-SEG references, else the CT or largest series).
* Every ROI of every RTSTRUCT becomes a structure on the frame of the series it references,
  with the ROI's name and colour; the first structure set's source is ``clinical``, the next
  ones take their StructureSetLabel. An ROI without contours is listed, empty.
* Every segment of a DICOM-SEG becomes a structure on the frame of its referenced series; the
  source is the segmentation's series description (letters, digits, ``_``, ``-``) or ``SEG``.
* An RTDOSE with the frame's Frame of Reference is shown on the frame's grid (``dose``,
  ``dose beam 1``..., resampled once when it loads, by :func:`lundprobe_gui.core.regrid.resampled_volume`)
  and kept on its own grid (``<label>_original``).
* The RTPLAN prescription (the plan the dose references, else the first) is the 100 % isodose.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from functools import partial
from pathlib import Path

from ...core.names import InvalidName, validate_data_name
from ...core.patient import Frame, Patient, Problem, StructureRef
from ...core.regrid import resampled_volume
from ...core.volume import Volume
from . import rtdose, rtplan, rtstruct, seg, series
from .scan import DicomFile, scan
from .store import DicomStore

logger = logging.getLogger(__name__)

LAYOUT = "dicom"
CLINICAL = "clinical"


def _source_name(text: str, fallback: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:40] or fallback
    if not base[0].isalnum():
        base = fallback
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _structure_name(raw: str, taken: set[str]) -> str:
    """A usable structure name: the ROI's own name when it is safe as a file name, else its safe
    characters; unique within its source."""
    try:
        name = validate_data_name(raw.strip(), "structure name")
    except InvalidName:
        name = re.sub(r"[^A-Za-z0-9_+.\-(), ]+", "_", raw).strip(" ._")[:60] or "ROI"
        if not name[0].isalnum():
            name = "ROI " + name
        try:
            validate_data_name(name)
        except InvalidName:
            name = f"ROI {name}"  # a reserved device name such as CON
    base, n = name, 2
    while name in taken:
        name, n = f"{base} ({n})", n + 1
    taken.add(name)
    return name


def _load_image(s: series.Series, _path: Path):
    return series.load_series(s)


def _load_dose(info: rtdose.DoseInfo, _path: Path):
    return rtdose.load_dose(info)


def _frame_names(all_series: list[series.Series]) -> list[str]:
    names: list[str] = []
    count: Counter[str] = Counter()
    for s in all_series:
        base = {"MR": "MR", "CT": "CT"}.get(s.modality, s.modality or "image")
        count[base] += 1
        names.append(base if count[base] == 1 else f"{base} {count[base]}")
    return names


def _pick_reference(all_series: list[series.Series], wanted: list[str]) -> series.Series:
    by_uid = {s.uid: s for s in all_series}
    for uid in wanted:
        if uid in by_uid:
            return by_uid[uid]
    return max(all_series, key=lambda s: (s.modality == "CT", len(s.files)))


def _target_series(
    all_series: list[series.Series], uid: str, instances: frozenset[str], for_uid: str
) -> tuple[series.Series | None, str]:
    """The series an RTSTRUCT or SEG belongs to, and how it was found ('' when by its own reference)."""
    for s in all_series:
        if s.uid == uid:
            return s, ""
    for s in all_series:
        if instances & {u for u in s.sop_uids() if u}:
            return s, ""
    same = [s for s in all_series if for_uid and s.frame_of_reference == for_uid]
    if same:
        return same[0], same[0].label()
    return None, ""


def discover(path: Path) -> Patient:
    """Build a :class:`Patient` from a folder tree of DICOM files, reading headers only.

    Raises
    ------
    FileNotFoundError
        When the tree holds no image series that can be shown.
    """
    path = Path(path)
    files, problems = scan(path)
    return build_patient(path, path.name, files, problems)


def build_patient(path: Path, patient_id: str, files: list[DicomFile], problems: list[Problem]) -> Patient:
    """A :class:`Patient` from DICOM headers already read (see :func:`discover`)."""
    by_kind: dict[str, list[DicomFile]] = {}
    for f in files:
        by_kind.setdefault(f.kind, []).append(f)
    all_series: list[series.Series] = []
    for uid, group in series.group_series(by_kind.get("image", [])).items():
        got = series.build_series(uid, group)
        if isinstance(got, Problem):
            problems.append(got)
        else:
            all_series.append(got)
            problems.extend(got.problems)
    if not all_series:
        raise FileNotFoundError(
            f"{path}: no DICOM image series that can be shown ({len(files)} DICOM file(s), "
            f"{', '.join(sorted(by_kind)) or 'none'})"
        )
    structure_sets = [rtstruct.read_structure_set(f) for f in by_kind.get("rtstruct", [])]
    segs = [seg.read_seg_info(f) for f in by_kind.get("seg", [])]
    wanted = [s.referenced_series for s in structure_sets] + [s.referenced_series for s in segs]
    ref = _pick_reference(all_series, wanted)
    all_series.sort(key=lambda s: s is not ref)
    frames: dict[str, Frame] = {}
    frame_of: dict[str, Frame] = {}
    store = DicomStore()
    for s, name in zip(all_series, _frame_names(all_series)):
        fr = Frame(name, s.geometry, "" if s is ref else name)
        fr.images["image"] = Volume(s.first_path, s.geometry, "image", partial(_load_image, s), name=s.label())
        frames[name] = fr
        frame_of[s.uid] = fr
        store.series_of[name] = s
    sources: set[str] = set()
    for i, ss in enumerate(structure_sets):
        target, how = _target_series(all_series, ss.referenced_series, ss.referenced_instances, ss.frame_of_reference)
        if target is None:
            problems.append(
                Problem(
                    str(ss.path),
                    "missing-series",
                    f"structure set {ss.label or ss.path.name}: "
                    f"its image series {ss.referenced_series or '(none named)'} "
                    "is not in the folder; its ROIs cannot be placed",
                )
            )
            continue
        if how:
            problems.append(
                Problem(
                    str(ss.path),
                    "missing-series",
                    f"structure set {ss.label or ss.path.name}: its image series {ss.referenced_series} is not in the "
                    f"folder; contours are placed on {how}, which shares its frame of reference",
                )
            )
        source = CLINICAL if CLINICAL not in sources else _source_name(ss.label, f"RTSTRUCT_{i + 1}", sources)
        sources.add(source)
        _add_structures(
            frame_of[target.uid],
            ss.path,
            source,
            [(r.number, r.name, r.colour, r.n_contours) for r in ss.rois],
            problems,
        )
    for sg in segs:
        target, how = _target_series(all_series, sg.referenced_series, sg.referenced_instances, sg.frame_of_reference)
        if target is None:
            problems.append(
                Problem(
                    str(sg.path),
                    "missing-series",
                    f"segmentation: its image series {sg.referenced_series} is not in the folder",
                )
            )
            continue
        source = _source_name(sg.description, "SEG", sources)
        _add_structures(
            frame_of[target.uid], sg.path, source, [(s.number, s.label, s.colour, 1) for s in sg.segments], problems
        )
    doses = []
    for f in by_kind.get("rtdose", []):
        info = rtdose.read_dose_info(f)
        if isinstance(info, Problem):
            problems.append(info)
            continue
        problems.extend(info.problems)
        doses.append(info)
    doses.sort(key=lambda d: (d.summation not in ("", "PLAN"), d.label))
    for info in doses:
        dose_frame = next(
            (frame_of[s.uid] for s in all_series if s.frame_of_reference == info.frame_of_reference), None
        )
        if dose_frame is None:
            problems.append(
                Problem(
                    str(info.file.path),
                    "frame-of-reference",
                    "RTDOSE shares no frame of reference with an image series; left out",
                )
            )
            continue
        label = info.label
        while label in dose_frame.doses:
            label += "+"
        own = Volume(
            info.file.path,
            info.geometry,
            "dose",
            partial(_load_dose, info),
            crop=True,
            name=f"{label}: {info.description()}",
        )
        grid = dose_frame.geometry
        dose_frame.doses[label] = own if not info.geometry.differences(grid) else resampled_volume(own, grid)
        dose_frame.doses[f"{label}_original"] = Volume(
            info.file.path, info.geometry, "dose", partial(_load_dose, info), crop=True, name=f"{label} (own grid)"
        )
    rx = _prescription(by_kind.get("rtplan", []), doses)
    logger.info(
        "%s: dicom layout, %d series, %d structure sets, %d SEG, %d doses",
        path,
        len(all_series),
        len(structure_sets),
        len(segs),
        len(doses),
    )
    return Patient(
        path,
        patient_id,
        LAYOUT,
        frames,
        store,
        problems,
        dataset_root=path.parent,
        prescription_gy=rx.gy if rx else None,
        prescription_origin=rx.origin if rx else "",
    )


def _add_structures(frame: Frame, path: Path, source: str, items, problems: list[Problem]) -> None:
    taken = {n for (n, s) in frame.structures if s == source}
    for number, raw, colour, n in items:
        name = _structure_name(raw, taken)
        if name != raw:
            problems.append(Problem(str(path), "renamed", f"ROI {raw!r} is shown as {name!r} (file-name safe, unique)"))
        if not n:
            problems.append(Problem(str(path), "empty", f"ROI {name} has no contours; listed empty"))
        frame.structures[(name, source)] = StructureRef(name, source, frame.name, str(path), number, colour)


def _prescription(plans: list[DicomFile], doses: list[rtdose.DoseInfo]) -> rtplan.Prescription | None:
    wanted = {d.plan_uid for d in doses if d.plan_uid}
    ordered = sorted(plans, key=lambda p: p.uid("SOPInstanceUID") not in wanted)
    for p in ordered:
        rx = rtplan.read_prescription(p)
        if rx is not None:
            return rx
    return None
