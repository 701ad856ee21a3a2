"""The streaming reader keeps exactly the non-zero box of masks, dose and uncertainty files."""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import pytest

from lundprobe_gui.core.geometry import Geometry
from lundprobe_gui.core.mask import bbox_of, box_slices
from lundprobe_gui.core.volume import Volume
from lundprobe_gui.io import nifti, slab_reader
from lundprobe_gui.io.writer import encode_nifti, header_from_geometry

SHAPE = (9, 37, 53)  # rows of 53 voxels: chunks of whole rows straddle slices at odd places


def _write(tmp_path, arr: np.ndarray, name: str = "m.nii.gz", members: int = 1):
    header = header_from_geometry(Geometry(arr.shape[::-1], (0.5, 0.5, 2.5), (0.0, 0.0, 0.0)))
    blob = gzip.decompress(encode_nifti(arr, header))
    cuts = np.linspace(0, len(blob), members + 1).astype(int)
    path = tmp_path / name
    path.write_bytes(b"".join(gzip.compress(blob[a:b], 1) for a, b in itertools.pairwise(cuts)))
    return path


def _read(path):
    return slab_reader.read_slab(path, nifti.read_header(path))


@pytest.fixture(params=[1 << 20, 4096, 53 * 4 * 3], ids=["1MB", "4kB", "3rows"])
def chunk(request, monkeypatch):
    """Chunk sizes from one chunk per file to several chunks per slice."""
    monkeypatch.setattr(slab_reader, "CHUNK", request.param)
    return request.param


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", ["u1", "i2", "f4"])
@pytest.mark.slow
def test_the_slab_is_the_bounding_box_of_the_non_zero_voxels(tmp_path, chunk, seed, dtype):
    rng = np.random.default_rng(seed)
    arr = np.zeros(SHAPE, dtype)
    for _ in range(rng.integers(1, 4)):  # a few blobs anywhere, values of either sign
        z, y, x = (int(rng.integers(0, n)) for n in SHAPE)
        arr[z : z + rng.integers(1, 4), y : y + rng.integers(1, 9), x : x + rng.integers(1, 9)] = rng.integers(-3, 4)
    slab = _read(_write(tmp_path, arr))
    box = bbox_of(arr)
    if box is None:
        assert slab.block.size == 0
    else:
        assert slab.offset == tuple(b[0] for b in box)
        assert np.array_equal(slab.block, arr[box_slices(box)])
    assert slab.block.dtype == np.dtype(dtype)
    assert np.array_equal(slab.full(), arr)


def test_rows_between_two_slices_data_outside_the_box_are_left_out(tmp_path, chunk):
    # one chunk holds y = ny-2 of slice 3 and y = 1 of slice 4: the rows between lie outside the box in y
    arr = np.zeros(SHAPE, np.uint8)
    arr[3, SHAPE[1] - 2, 10] = 1
    arr[4, 1, 40] = 1
    slab = _read(_write(tmp_path, arr))
    assert slab.offset == (3, 1, 10)
    assert slab.block.shape == (2, SHAPE[1] - 2, 31)
    assert np.array_equal(slab.full(), arr)


def test_minus_zero_is_zero_and_nan_is_data(tmp_path, chunk):
    arr = np.zeros(SHAPE, np.float32)
    arr[0, 0, :] = -0.0  # non-zero bytes, but zero values
    arr[2, 5, 7] = np.nan
    arr[6, 30, 50] = 0.25
    slab = _read(_write(tmp_path, arr))
    assert slab.offset == (2, 5, 7)
    assert slab.block.shape == (5, 26, 44)
    assert np.isnan(slab.block[0, 0, 0]) and slab.block[-1, -1, -1] == np.float32(0.25)
    assert np.count_nonzero(slab.block) == 2


def test_an_empty_mask_gives_an_empty_block(tmp_path, chunk):
    slab = _read(_write(tmp_path, np.zeros(SHAPE, np.uint8)))
    assert slab.block.size == 0 and slab.shape == SHAPE
    assert not slab.full().any()


def test_several_gzip_members_read_as_one_stream(tmp_path, chunk):
    arr = np.zeros(SHAPE, np.uint8)
    arr[1:8, 3:30, 4:50] = 1
    slab = _read(_write(tmp_path, arr, members=5))
    assert np.array_equal(slab.full(), arr)


def test_truncated_and_corrupt_files_raise(tmp_path, chunk):
    arr = (np.random.default_rng(1).random(SHAPE) > 0.5).astype(np.uint8)
    good = _write(tmp_path, arr).read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(nifti.NiftiError, match=r"truncated|corrupt"):
        _read(cut)
    bad = bytearray(good)
    bad[-8] ^= 0xFF  # the CRC of the member
    crc = tmp_path / "crc.nii.gz"
    crc.write_bytes(bytes(bad))
    with pytest.raises(nifti.NiftiError):
        _read(crc)


@pytest.mark.parametrize("kind", ["dose", "uncertainty"])
def test_a_cropped_volume_reads_the_same_through_the_slab(tmp_path, kind):
    rng = np.random.default_rng(3)
    arr = np.zeros(SHAPE, np.float32)
    arr[2:7, 4:30, 9:41] = rng.random((5, 26, 32), dtype=np.float32) * 40
    path = _write(tmp_path, arr, "dose.nii.gz")
    geom = Geometry(SHAPE[::-1], (0.5, 0.5, 2.5), (0.0, 0.0, 0.0))
    streamed = Volume(path, geom, kind, slab_reader.load_slab_or_array, crop=True).load()
    whole = Volume(path, geom, kind, nifti.load_array, crop=True).load()
    assert streamed.offset == whole.offset == (2, 4, 9)
    assert np.array_equal(streamed.data, whole.data)
    assert (streamed.vmin, streamed.vmax) == (whole.vmin, whole.vmax)
    assert np.array_equal(streamed.array(), arr)
    # a volume that is not cropped gets the full array from a slab
    full = Volume(path, geom, "image", slab_reader.load_slab_or_array).load()
    assert full.offset == (0, 0, 0) and np.array_equal(full.data, arr)
