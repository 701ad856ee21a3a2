"""Streaming decoder for mostly-zero images (masks, dose, uncertainty): keep only the non-zero box.

A LUND-PROBE mask is 61 MB of mostly zeros, an uncertainty map 240 MB. The file is inflated in
chunks of whole rows of about 1 MB. A chunk of zeros is recognised with one ``memcmp`` while it
is hot in the cache and dropped; of any other chunk only the rows and columns that hold data are
copied. The full-size array is never allocated: fresh memory costs about 1 ms per MB in page
faults, more than inflating does. The whole gzip stream is inflated, so its CRC is verified (up
to 256 MB past the declared data: a small file that inflates to gigabytes is not read to its end).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..core.memory import check_fits
from ..core.volume import Slab
from . import nifti
from .nifti import _DRAIN_LIMIT, Header, NiftiError, _fast_zlib, is_gz

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
IN_CHUNK = 1 << 20


@lru_cache(maxsize=8)
def _zeros(n: int) -> bytes:
    return bytes(n)


def can_stream(path: Path, hdr: Header) -> bool:
    """Whether :func:`read_slab` applies: a 3-D gzip file of unscaled native integers or floats."""
    dims = list(hdr.dims)
    while len(dims) > 3 and dims[-1] == 1:
        dims.pop()
    unscaled = hdr.slope in (0.0, 1.0) and hdr.inter == 0.0
    return is_gz(path) and len(dims) == 3 and hdr.dtype.kind in "iuf" and hdr.dtype.isnative and unscaled


class _BoxCollector:
    """Takes the voxel data in chunks of whole rows, in order, and keeps the parts with non-zero voxels."""

    def __init__(self, shape_zyx: tuple[int, int, int], dtype: np.dtype) -> None:
        self.shape = shape_zyx
        self.dtype = dtype
        self.row_bytes = shape_zyx[2] * dtype.itemsize
        self.parts: list[tuple[int, int, np.ndarray]] = []  # (first global row, first column, rows x columns)
        self.z = [shape_zyx[0], -1]
        self.y = [shape_zyx[1], -1]
        self.x = [shape_zyx[2], -1]

    def feed(self, at: int, data: bytes) -> None:
        """``data`` holds the voxel bytes ``at .. at + len(data)``, a whole number of rows."""
        if data == _zeros(len(data)):  # memcmp: far cheaper than any numpy test, and most chunks are zeros
            return
        rows = np.frombuffer(data, self.dtype).reshape(-1, self.shape[2])
        inside = rows != 0
        rs = np.flatnonzero(inside.any(axis=1))
        if rs.size == 0:
            return  # only bytes that are not values (-0.0)
        cs = np.flatnonzero(inside.any(axis=0))
        r0 = at // self.row_bytes
        ny = self.shape[1]
        ys = (r0 + rs) % ny
        self.z = [min(self.z[0], (r0 + int(rs[0])) // ny), max(self.z[1], (r0 + int(rs[-1])) // ny)]
        self.y = [min(self.y[0], int(ys.min())), max(self.y[1], int(ys.max()))]
        self.x = [min(self.x[0], int(cs[0])), max(self.x[1], int(cs[-1]))]
        # a copy of the box of this chunk, so the chunk's buffer is reused for the next one
        self.parts.append((r0 + int(rs[0]), int(cs[0]), rows[rs[0] : rs[-1] + 1, cs[0] : cs[-1] + 1].copy()))

    def slab(self) -> Slab:
        """The bounding box of everything fed."""
        if self.z[1] < 0:
            return Slab(self.shape, (0, 0, 0), np.zeros((0, 0, 0), self.dtype))
        (z0, z1), (y0, y1), (x0, x1) = self.z, self.y, self.x
        out = np.zeros((z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1), self.dtype)
        ny = self.shape[1]
        for r0, c0, part in self.parts:
            r = r0 + np.arange(len(part))
            z, y = r // ny, r % ny
            keep = (z >= z0) & (z <= z1) & (y >= y0) & (y <= y1)  # rows between two slices' data may lie outside
            out[z[keep] - z0, y[keep] - y0, c0 - x0 : c0 - x0 + part.shape[1]] = part[keep]
        self.parts.clear()
        return Slab(self.shape, (z0, y0, x0), out)


def read_slab(path: Path, hdr: Header) -> Slab:
    """Decode a gzip NIfTI file keeping only the bounding box of its non-zero voxels.

    Returns
    -------
    Slab
        The full (z, y, x) shape, the box's offset and its voxels (an empty block when every voxel
        is zero).

    Raises
    ------
    NiftiError
        When the stream is truncated, corrupt, or its CRC does not match.
    """
    nx, ny, nz = (int(v) for v in hdr.dims[:3])
    check_fits(hdr.data_bytes, Path(path).name)  # the box may be the whole image
    start, end = hdr.vox_offset, hdr.vox_offset + hdr.data_bytes
    collect = _BoxCollector((nz, ny, nx), hdr.dtype)
    step = collect.row_bytes * max(1, CHUNK // collect.row_bytes)
    pending: list[bytes] = []  # pieces of the chunk being filled
    chunk_at = start  # stream position of that chunk

    def wanted(pos: int) -> int:
        # stop each call at the next chunk boundary, so a whole chunk usually arrives in one piece
        if pos < start:
            return start - pos
        if pos < end:
            return min(chunk_at + step, end) - pos
        return CHUNK

    pos = 0  # bytes of uncompressed stream seen
    with open(path, "rb") as fh:
        raw = fh.read()
    view = memoryview(raw)
    off = 0  # compressed bytes consumed
    try:
        while off < len(view):
            d = _fast_zlib.decompressobj(31)
            while pos <= end + _DRAIN_LIMIT:
                # at most IN_CHUNK of input per call: the decompressor copies what it leaves unconsumed,
                # so handing it the whole rest of a large file each time would copy it again and again
                given = view[off : off + IN_CHUNK]
                out = d.decompress(given, wanted(pos))
                used = len(given) - len(d.unconsumed_tail) - len(d.unused_data)
                off += used
                if out:
                    lo, pos = pos, pos + len(out)
                    if lo >= start and lo < end:
                        pending.append(out)
                        if pos == min(chunk_at + step, end):
                            collect.feed(chunk_at - start, pending[0] if len(pending) == 1 else b"".join(pending))
                            pending.clear()
                            chunk_at = pos
                if d.eof or (not out and (off >= len(view) or not used)):
                    break
            if pos > end + _DRAIN_LIMIT:
                # far more data than the header declares: a file that inflates to gigabytes is not read to its end
                break
            if not d.eof:
                raise NiftiError(f"truncated: the gzip stream ends after {pos} bytes, header implies {end}")
    except NiftiError:
        raise
    except Exception as e:  # isal and zlib raise different types
        raise NiftiError(f"corrupt or truncated gzip data after {pos} bytes ({e})") from e
    if pos < end:
        raise NiftiError(f"truncated: {pos} bytes of data after decompression, header implies {end}")
    return collect.slab()


def load_slab_or_array(path: Path) -> Slab | np.ndarray:
    """A mostly-zero image: a :class:`Slab` when the file streams, else the full array (any layout)."""
    path = Path(path)
    try:
        hdr = nifti.read_header(path)
    except NiftiError:
        hdr = None
    if hdr is not None and can_stream(path, hdr):
        return read_slab(path, hdr)
    return nifti.load_array(path)
