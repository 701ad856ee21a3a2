import numpy as np
import pytest

from lundprobe_gui.core.geometry import Geometry
from lundprobe_gui.io.valuescan import MAX_LABELS, scan_values
from lundprobe_gui.io.writer import header_from_geometry, make_header, write_nifti

GEOM = Geometry((40, 30, 20), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))


def _write(tmp_path, arr, name="x.nii.gz", header=None):
    path = tmp_path / name
    write_nifti(path, arr, header or header_from_geometry(GEOM))
    return path


def _blob(value=1, dtype=np.uint8):
    a = np.zeros(GEOM.shape_zyx, dtype)
    a[5:12, 8:20, 10:30] = value
    return a


@pytest.mark.parametrize(
    "arr, kind, labels",
    [
        (_blob(1), "binary", (1,)),
        (_blob(255), "binary", (255,)),
        (_blob(1.0, np.float32), "binary", (1,)),
        (np.zeros(GEOM.shape_zyx, np.uint8), "binary", ()),
        (_blob(3, np.int16), "labels", (3,)),
    ],
)
def test_masks(tmp_path, arr, kind, labels):
    s = scan_values(_write(tmp_path, arr))
    assert (s.kind, s.labels, s.complete) == (kind, labels, True)
    assert s.is_mask_like


def test_label_map_across_chunks(tmp_path):
    a = np.zeros(GEOM.shape_zyx, np.uint16)
    for k in range(1, 8):
        a[k * 2, :, k : k + 3] = k * 100  # values above 255 in a uint16 label map
    path = _write(tmp_path, a)
    whole = scan_values(path)
    tiny = scan_values(path, chunk_bytes=64)  # many chunks, boundaries inside the data
    assert whole.kind == tiny.kind == "labels"
    assert whole.labels == tiny.labels == tuple(k * 100 for k in range(1, 8))
    assert (whole.minimum, whole.maximum) == (0.0, 700.0)


def test_ct_stops_early_and_keeps_a_sample(tmp_path):
    rng = np.random.default_rng(0)
    ct = rng.integers(-1024, 1500, GEOM.shape_zyx).astype(np.int16)
    s = scan_values(_write(tmp_path, ct), chunk_bytes=4096)
    assert s.kind == "continuous" and not s.complete and not s.is_float
    assert s.minimum < -900 and 0 < s.sample.size <= 4096


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(np.prod(GEOM.shape_zyx), dtype=np.uint16).reshape(GEOM.shape_zyx) % (MAX_LABELS + 5),
        lambda: _blob(0.25, np.float32),
        lambda: _blob(1, np.float32) * np.float32(np.nan),
    ],
)
def test_continuous(tmp_path, make):
    assert scan_values(_write(tmp_path, make())).kind == "continuous"


def test_at_most_max_labels_is_still_a_label_map(tmp_path):
    a = (np.arange(np.prod(GEOM.shape_zyx)) % (MAX_LABELS + 1)).astype(np.uint8).reshape(GEOM.shape_zyx)
    s = scan_values(_write(tmp_path, a))
    assert s.kind == "labels" and len(s.labels) == MAX_LABELS


def test_scaling_is_applied_like_the_loader(tmp_path):
    # uint16 stored with intercept -1024: decoded values are HU, so this is a continuous CT.
    raw = np.full(GEOM.shape_zyx, 24, np.uint16)
    raw[0] = 0
    hdr = bytearray(make_header(header_from_geometry(GEOM), GEOM.shape_zyx, np.dtype(np.uint16)))
    import struct

    struct.pack_into("<ff", hdr, 112, 1.0, -1024.0)
    path = tmp_path / "scaled.nii"
    path.write_bytes(bytes(hdr) + b"\0" * 4 + raw.tobytes())
    s = scan_values(path)
    assert s.kind == "continuous" and s.minimum == -1024.0 and s.is_float
