"""``lundprobe-gui info PATH``: describe a patient folder (headers only) or a dataset root."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from ..core.geometry import Geometry
from ..core.orientation import Orientation, world_in
from ..core.patient import Patient
from ..core.regrid import grid_label
from ..io.open import NoImageError, is_dataset_root, list_patients, open_patient
from ..io.valuescan import dose_unit_problems


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "info",
        help="describe a patient folder or dataset root",
        description="List frames, layers, fiducials, expected-missing structures and problems. "
        "Reads headers only unless --deep is given.",
    )
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--deep", action="store_true", help="also decode every file's voxels to find data problems")
    p.add_argument(
        "--coords",
        choices=("lps", "ras"),
        default="lps",
        help="world coordinates of the text output in LPS (DICOM, the default) or RAS (NIfTI); --json is always LPS",
    )
    p.add_argument(
        "--edits",
        type=Path,
        metavar="DIR",
        help="output folder whose saved edits are listed (default: lundprobe_edits/ beside the dataset; "
        "listed under 'structures' with their 'version', the folder under 'edits_dir')",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the description; exit 0 when the patient is usable."""
    from . import CliError

    path: Path = args.path
    if is_dataset_root(path):
        rows = [{"patient_id": e.patient_id, "path": str(e.path), "layout": e.layout} for e in list_patients(path)]
        if args.json:
            print(json.dumps({"dataset_root": str(path), "patients": rows}, indent=2))
        else:
            print(f"Dataset root {path}: {len(rows)} patient(s)")
            for r in rows:
                print(f"  {r['patient_id']:<20} {r['layout']}")
        return 0
    try:
        patient = open_patient(path, edits=args.edits if args.edits is not None else True)
    except NoImageError as e:
        raise CliError(str(e)) from e
    if args.deep:
        patient.load_all(standby=True)
    else:
        for problem in dose_unit_problems(patient):  # a dose in other units than Gy, from a streaming scan
            patient.add_problem(problem)
    info = patient.to_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(format_info(patient, info, args.coords.upper()))
    return 0


def _note(layer: dict) -> str:
    src = layer.get("resampled_from")
    return f" (resampled from {grid_label(Geometry.from_dict(src))})" if src else ""


def format_info(patient: Patient, info: dict, coords: str = "LPS") -> str:
    """Readable text form of ``info``, world coordinates in ``coords`` ("LPS" or "RAS")."""
    out = [f"Patient {info['patient_id']}  ({info['layout']} layout)  {info['path']}", "", "Frames:"]
    for name, g in info["frames"].items():
        size = "x".join(str(v) for v in g["size_xyz"])
        sp = "x".join(f"{v:.4g}" for v in g["spacing"])
        org = ", ".join(f"{v:.2f}" for v in world_in(g["origin"], coords))
        stored = f"stored {g['orientation']}"
        if Orientation(obliquity_deg=g["obliquity_deg"]).is_oblique:
            stored += f", oblique {g['obliquity_deg']:.1f}° (shown on its nearest axes)"
        out.append(f"  {name:<5} {size} voxels at {sp} mm, origin {coords} ({org}) mm, {stored}")
    by_source: dict[tuple[str, str], list[str]] = defaultdict(list)
    for s in info["structures"]:
        by_source[(s["frame"], s["source"])].append(s["name"] + (f" (v{s['version']:03d})" if "version" in s else ""))
    out += ["", f"Structures ({len(info['structures'])}):"]
    for (frame, source), names in by_source.items():
        out.append(f"  {frame:<5} {source:<16} {', '.join(names)}")
    out += ["", "Images:      " + ", ".join(f"{i['frame']}/{i['name']}" for i in info["images"])]
    out.append("Doses:       " + (", ".join(f"{d['frame']}/{d['name']}{_note(d)}" for d in info["doses"]) or "none"))
    out.append(
        "Uncertainty: " + (", ".join(f"{u['frame']}/{u['structure']}{_note(u)}" for u in info["uncertainty"]) or "none")
    )
    out.append(f"Fiducials:   {len(info['fiducials'])}")
    for f in info["fiducials"]:
        w = ", ".join(f"{v:.2f}" for v in world_in(f["world_mm"], coords))
        v = ", ".join(f"{x:.1f}" for x in f["voxel_xyz"])
        out.append(f"  {coords} ({w}) mm -> voxel ({v})")
    if info.get("edits_dir"):
        saved = sum("version" in s for s in info["structures"])
        out.append(f"Saved edits: {saved} series in {info['edits_dir']}")
    out.append("Expected missing: " + (", ".join(info["missing"]) or "none"))
    out += ["", f"Problems ({len(info['problems'])}):" if info["problems"] else "Problems: none"]
    for p in info["problems"]:
        out.append(f"  [{p['kind']}] {p['path']}: {p['message']}")
    return "\n".join(out)
