"""DICOM figures: ``dicom_open_s`` (discovery of a 200-slice CT with a 30-ROI structure set, headers only)
and ``dicom_first_image_s`` (discovery plus decoding the CT series, what the window needs for its first image).

The study is synthetic (512 x 512 x 200 CT, 30 spherical ROIs contoured on every slice they cross),
written once into the cache with the app's own DICOM writers; each figure is measured in a fresh process.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from .figures import Samples

N_SLICES = 200
N_ROIS = 30

_PROBE = r"""
import json, sys, time
import lundprobe_gui as lp
t0 = time.perf_counter()
p = lp.open_patient(sys.argv[1], edits=False)
t1 = time.perf_counter()
p.image().load()
t2 = time.perf_counter()
print(json.dumps({'dicom_open_s': t1 - t0, 'dicom_first_image_s': t2 - t0, 'rois': len(p.structures())}))
"""


def dicom_study(progress=None) -> Path:
    """The cached synthetic study (written on first use)."""
    from ..core.geometry import Geometry
    from ..core.mask import Mask
    from ..io.dicom import image_writer
    from ..io.dicom.identity import Reference
    from ..io.dicom.rtstruct_writer import ExportStructure, build_rtstruct
    from ..io.writer import atomic_write
    from ..paths import user_cache_dir

    folder = user_cache_dir() / f"bench-dicom-{N_SLICES}x{N_ROIS}"
    if (folder / "done").is_file():
        return folder
    if progress:
        progress(f"writing the DICOM benchmark study to {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    g = Geometry((512, 512, N_SLICES), (0.98, 0.98, 2.0), (-250.0, -250.0, -200.0))
    _z, y, x = np.ogrid[:N_SLICES, :512, :512]
    body = ((x - 256) / 200.0) ** 2 + ((y - 256) / 150.0) ** 2 <= 1
    ct = np.where(body, 30, -1000).astype(np.int16) + np.zeros((N_SLICES, 1, 1), dtype=np.int16)
    slices = image_writer.build_series(ct, g, True, "BENCH")
    for k, ds in enumerate(slices):
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        atomic_write(folder / f"IM{k:04d}.dcm", buf.getvalue())
    rng = np.random.default_rng(0)
    rois = []
    for i in range(N_ROIS):
        c = rng.uniform([40, 180, 180], [160, 330, 330])
        r = rng.uniform(8, 30)
        lo = np.maximum(np.floor(c - [r, r * 2.1, r * 2.1]).astype(int), 0)
        hi = np.minimum(np.ceil([*c, r, r * 2.1, r * 2.1]).astype(int) + 1, [N_SLICES, 512, 512])
        zz, yy, xx = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        ball = ((zz - c[0]) * 2.0) ** 2 + ((yy - c[1]) * 0.98) ** 2 + ((xx - c[2]) * 0.98) ** 2 <= (r * 2) ** 2
        rois.append(ExportStructure(f"ROI_{i + 1:02d}", Mask(g.shape_zyx, ball, tuple(lo)), (255, 128, 0)))
    rs = build_rtstruct(Reference(list(slices)), g, rois)
    buf = io.BytesIO()
    rs.save_as(buf, enforce_file_format=True)
    atomic_write(folder / "RS.dcm", buf.getvalue())
    atomic_write(folder / "done", b"ok\n")
    return folder


def run(_patient_dir: Path, repeat: int) -> Samples:
    """dicom_open_s, dicom_first_image_s."""
    study = dicom_study(lambda s: print(s, file=sys.stderr, flush=True))
    rows = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, str(study)], capture_output=True, text=True, check=True
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    return {k: ([r[k] for r in rows], "s") for k in ("dicom_open_s", "dicom_first_image_s")}
