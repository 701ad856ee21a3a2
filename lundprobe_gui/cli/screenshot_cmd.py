"""``lundprobe-gui screenshot PATIENT OUT.png``: render the tri-planar window offscreen."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.geometry import Geometry


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "screenshot",
        help="render the tri-planar window to a PNG (no display needed)",
        description="Opens the patient, loads every layer and saves the window as it shows on open, "
        "or with only the layers named by --show.",
    )
    p.add_argument("patient", type=Path)
    p.add_argument("out", type=Path)
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--cursor",
        metavar="X,Y,Z",
        help="the crosshair at this voxel of the reference image, as stored (the readout's 'voxel'; "
        "default: the CTV centre)",
    )
    where.add_argument("--cursor-lps", metavar="X,Y,Z", help="the crosshair at this point, LPS (DICOM) mm")
    where.add_argument("--cursor-ras", metavar="X,Y,Z", help="the crosshair at this point, RAS (NIfTI) mm")
    p.add_argument("--base", choices=("mri", "sct"), default="mri")
    p.add_argument(
        "--show",
        nargs="*",
        metavar="LAYER",
        help="show only these: dose, isodose, uncertainty, fiducials, a structure name (clinical), "
        "NAME:SOURCE, or source:SOURCE for all structures of a source",
    )
    p.add_argument("--size", default="1600x1000", help="window size WxH in pixels")
    p.add_argument(
        "--prescription",
        type=float,
        metavar="GY",
        help="the 100 %% isodose in Gy (default: the patient's prescription)",
    )
    p.set_defaults(func=run)


def _triple(option: str, text: str) -> tuple[float, float, float]:
    from . import CliError

    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError(text)
        x, y, z = (float(v) for v in parts)
    except ValueError as e:
        raise CliError(f"{option} must be three numbers X,Y,Z, not {text!r}") from e
    if not all(map(math.isfinite, (x, y, z))):
        raise CliError(f"{option} must be finite numbers, not {text!r}")
    return x, y, z


def cursor_index(args: argparse.Namespace, geometry: Geometry) -> tuple[int, int, int] | None:
    """The stored voxel (z, y, x) that ``--cursor``, ``--cursor-lps`` or ``--cursor-ras`` names, or None.

    Raises
    ------
    CliError
        When the value is not three numbers or the point lies outside the reference image.
    """
    from . import CliError

    given = {"--cursor": args.cursor, "--cursor-lps": args.cursor_lps, "--cursor-ras": args.cursor_ras}
    named = [(option, text) for option, text in given.items() if text]
    if not named:
        return None
    option, text = named[0]  # argparse lets one of them through
    x, y, z = _triple(option, text)
    if option == "--cursor":
        index = [x, y, z]
    else:
        lps = (-x, -y, z) if option == "--cursor-ras" else (x, y, z)
        index = [float(v) for v in geometry.world_to_index(lps)]
    ix, iy, iz = (int(round(v)) for v in index)
    if not geometry.contains_index((ix, iy, iz)):
        nx, ny, nz = geometry.size_xyz
        raise CliError(
            f"{option} {text} is voxel ({ix}, {iy}, {iz}), outside the reference image's {nx} x {ny} x {nz} voxels"
        )
    return iz, iy, ix


def apply_show(state, patient, tokens: list[str]) -> list[str]:
    """Restrict what is shown to ``tokens``; returns the tokens that matched nothing."""
    frame = patient.reference_frame
    state.dose.wash = state.dose.lines = False
    state.uncertainty.visible = False
    state.fiducials_on = False
    for st in state.layers.values():
        st.visible = False
    unknown = []
    for tok in tokens:
        hit = False
        if tok == "dose":
            state.dose.wash = hit = True
        elif tok == "isodose":
            state.dose.lines = hit = True
        elif tok == "uncertainty":
            state.uncertainty.visible = hit = True
        elif tok == "fiducials":
            state.fiducials_on = hit = True
        else:
            for name, source in frame.structures:
                if (tok == name and source == "clinical") or tok == f"{name}:{source}" or tok == f"source:{source}":
                    state.style((name, source, frame.name)).visible = hit = True
                    if name == "MRI_T2_coords_fiducials":
                        state.fiducials_on = True
        if not hit:
            unknown.append(tok)
    return unknown


def run(args: argparse.Namespace) -> int:
    """Render and save; exit 0 on success."""
    from . import CliError

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ..io.open import NoImageError, open_patient

    try:
        patient = open_patient(args.patient)
    except NoImageError as e:
        raise CliError(str(e)) from e
    if args.prescription is not None and not args.prescription > 0:
        raise CliError("--prescription must be a positive dose in Gy")
    frame = patient.reference_frame
    if args.base == "sct" and frame.images.get("sCT") is None:
        where = " (LUND-PROBE: sCT/image_reg2MRI.nii.gz)" if patient.layout == "lundprobe" else ""
        raise CliError(
            f"{args.patient}: no sCT on the {frame.name} grid{where}; --base sct would show the {frame.name} "
            "with a CT label and window"
        )
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError as e:
        raise CliError(f"--size must look like 1600x1000, not {args.size!r}") from e
    from ..io.guard import check_output_file

    try:
        check_output_file(args.out)  # before rendering: a PNG in the dataset is refused at once
    except OSError as e:
        raise CliError(str(e)) from e
    from ..app import make_application, shutdown
    from ..ui.loader import load_patient
    from ..ui.main_window import MainWindow
    from ..ui.png_file import save_png

    app = make_application()
    win = MainWindow()
    win.remembers_recent = False  # a render from a script leaves the user's recent patients alone
    try:
        win.resize(w, h)
        win.set_patient(patient)
        load_patient(patient)
        state, scene = win.state, win.scene
        assert state is not None and scene is not None  # set_patient made them
        state.base.base = args.base
        if args.show is not None:
            unknown = apply_show(state, patient, args.show)
            if unknown:
                raise CliError(f"--show: nothing called {', '.join(unknown)}")
            win.layers.sync()
        win.show_image_ready(patient)  # what the background loader signals, here after a synchronous load
        cursor = cursor_index(args, scene.frame.geometry)
        if cursor is not None:
            win.move_cursor(cursor)
        win.show_all_loaded(patient)
        if args.prescription is not None:
            state.dose.prescription_gy = float(args.prescription)
            win.display.sync(scene.window(win.display.current_window_key()))
            scene.invalidate_overlays()
            win.tri.refresh()
        win.show()
        for _ in range(5):
            app.processEvents()
        win.tri.reset_zoom()
        app.processEvents()
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            save_png(win.grab(), args.out)
        except OSError as e:
            raise CliError(str(e)) from e
        print(args.out)
    finally:
        shutdown(app, win)
    return 0
