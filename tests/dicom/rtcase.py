"""The real radiotherapy case of dicompyler-core's source package (BSD licence), and the CT completed around it.

dicompyler-core 0.5.6 ships ``tests/testdata/example_data/`` with an anonymised breast case: an
RTSTRUCT with 10 ROIs, an RTDOSE, an RTPLAN and one CT slice. The sdist is fetched once with pip
into a cache outside the repository (``$LUNDPROBE_TEST_DATA``, default ``~/.cache/lundprobe_gui-testdata``)
and checked against its sha256.

:func:`build_case` completes the CT series on the grid the contour planes and the dose grid
define (98 axial planes 3 mm apart, the real slice's in-plane grid), keeping the real slice
where it is and giving every other plane the SOP Instance UID the structure set's contours
reference on it. Its pixels are made from the contours (air, body, lung, heart), so the
structures sit on anatomy that matches them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pydicom
from skimage.draw import polygon

SDIST = "dicompyler-core-0.5.6.tar.gz"
SHA256 = "0e3c05920a8fa3f1c0ff05a5c21dab3ff3f735e00012b69b38926b219d07faee"
MEMBERS = ("ct.0.dcm", "rtss.dcm", "rtdose.dcm", "rtplan.dcm")
PREFIX = "dicompyler-core-0.5.6/tests/testdata/example_data/"
LICENCE = "dicompyler-core-0.5.6/LICENSE"


def cache_dir() -> Path:
    """Where the sdist and its four files are kept between runs."""
    return Path(os.environ.get("LUNDPROBE_TEST_DATA", Path.home() / ".cache" / "lundprobe_gui-testdata"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch() -> Path:
    """The folder holding the four real files (and the licence); raises RuntimeError saying why not."""
    root = cache_dir()
    out = root / "dicompyler-example"
    if all((out / m).is_file() for m in MEMBERS):
        return out
    root.mkdir(parents=True, exist_ok=True)
    archive = root / SDIST
    if not archive.is_file():
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "dicompyler-core==0.5.6",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(root),
        ]
        got = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if got.returncode != 0 or not archive.is_file():
            raise RuntimeError(
                f"cannot fetch the real RT test case ({' '.join(cmd)} failed: {got.stderr.strip()[-300:]}); "
                f"put {SDIST} (sha256 {SHA256}) into {root} or set LUNDPROBE_TEST_DATA"
            )
    if _sha256(archive) != SHA256:
        raise RuntimeError(f"{archive} does not have the expected sha256 {SHA256}; delete it and run again")
    tmp = root / "dicompyler-example.part"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with tarfile.open(archive) as tf:
        for name in [*(PREFIX + m for m in MEMBERS), LICENCE]:
            member = tf.getmember(name)
            data = tf.extractfile(member).read()
            (tmp / Path(name).name).write_bytes(data)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _plane_uids(rtss) -> dict[float, str]:
    out = {}
    for rc in rtss.ROIContourSequence:
        for c in rc.get("ContourSequence", []):
            for im in c.get("ContourImageSequence", []):
                out[round(float(c.ContourData[2]), 1)] = im.ReferencedSOPInstanceUID
    return out


def _roi_planes(rtss, number: int) -> dict[float, list[np.ndarray]]:
    for rc in rtss.ROIContourSequence:
        if int(rc.ReferencedROINumber) == number:
            out: dict[float, list[np.ndarray]] = {}
            for c in rc.get("ContourSequence", []):
                pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
                out.setdefault(round(float(pts[0, 2]), 1), []).append(pts)
            return out
    return {}


def build_case(dest: Path, src: Path | None = None) -> Path:
    """Write the completed case into ``dest`` (CT slices ``ct.<k>.dcm`` plus the real RT objects)."""
    src = src or fetch()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for m in ("rtss.dcm", "rtdose.dcm", "rtplan.dcm", "LICENSE"):
        shutil.copyfile(src / m, dest / m)
    real = pydicom.dcmread(src / "ct.0.dcm")
    rtss = pydicom.dcmread(src / "rtss.dcm")
    uids = _plane_uids(rtss)
    x0, y0, z_top = (float(v) for v in real.ImagePositionPatient)
    dy, dx = (float(v) for v in real.PixelSpacing)
    rows, cols = int(real.Rows), int(real.Columns)
    body, lung, heart = (_roi_planes(rtss, n) for n in (1, 6, 5))
    rng = np.random.default_rng(7)
    n = 98
    for k in range(n):
        z = z_top - 3.0 * (n - 1 - k)
        key = round(z, 1)
        if k == n - 1:
            shutil.copyfile(src / "ct.0.dcm", dest / "ct.0.dcm")  # the real slice, unchanged
            continue
        img = np.full((rows, cols), -1000.0)
        for planes, hu in ((body, 20.0), (lung, -780.0), (heart, 45.0)):
            layer = np.zeros((rows, cols), dtype=bool)
            for pts in planes.get(key, []):
                rr, cc = polygon((pts[:, 1] - y0) / dy, (pts[:, 0] - x0) / dx, shape=layer.shape)
                layer[rr, cc] ^= True
            img[layer] = hu
        img += rng.normal(0, 8, img.shape)
        ds = real.copy()
        ds.SOPInstanceUID = uids.get(key) or pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [x0, y0, round(z, 4)]
        ds.SliceLocation = round(z, 4)
        ds.InstanceNumber = k + 2
        slope, inter = float(real.get("RescaleSlope", 1)), float(real.get("RescaleIntercept", 0))
        stored = np.clip(np.rint((img - inter) / slope), -32768, 32767).astype(np.int16)
        ds.PixelData = stored.tobytes()
        ds.save_as(dest / f"ct.{n - 1 - k}.{k}.dcm", enforce_file_format=True)
    return dest
