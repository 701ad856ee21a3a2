"""Hypothesis strategies that damage a NIfTI-1 file in the ways real files are damaged or forged.

A case is a list of header/data mutations applied to the decompressed bytes of a valid file, then
an encoding (gzip, gzip with a forged size trailer, cut short, several members, trailing garbage,
a "bomb" that inflates far beyond what the header says, plain ``.nii``, empty, noise).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass

from hypothesis import strategies as st

NAN, INF = math.nan, math.inf
HEADER_BYTES = 352

F32 = st.one_of(
    st.sampled_from([NAN, INF, -INF, 0.0, -0.0, -1.0, -2.5, 1e-30, 1e30, 3.4e38, 0.5, 1.0, 2.0]),
    st.floats(-1e6, 1e6, width=32),
)
I16 = st.one_of(st.sampled_from([-32768, -1, 0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 255, 32767]), st.integers(-32768, 32767))

HEADER_OPS = st.one_of(
    st.tuples(st.just("dim"), st.integers(0, 7), I16),
    st.tuples(st.just("pixdim"), st.integers(0, 7), F32),  # pixdim[0] is qfac, [1:4] the spacing
    st.tuples(
        st.just("vox_offset"),
        st.just(0),
        st.sampled_from([NAN, INF, -INF, -352.0, 0.0, 100.0, 347.0, 348.0, 351.5, 352.0, 368.0, 1e6, 1e12]),
    ),
    st.tuples(
        st.just("datatype"),
        st.just(0),
        st.sampled_from([0, 1, 2, 3, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, -1]),
    ),
    st.tuples(st.just("bitpix"), st.just(0), I16),
    st.tuples(st.just("scl"), st.integers(0, 1), F32),
    st.tuples(st.just("quatern"), st.integers(0, 5), F32),  # quatern_b/c/d, qoffset_x/y/z
    st.tuples(st.just("srow"), st.integers(0, 11), F32),
    st.tuples(st.just("xform_code"), st.integers(0, 1), st.integers(-2, 6)),
    st.tuples(st.just("magic"), st.just(0), st.sampled_from([b"n+1\0", b"ni1\0", b"n+2\0", b"nii\0", b"\0\0\0\0"])),
    st.tuples(st.just("sizeof_hdr"), st.just(0), st.sampled_from([0, 1, 347, 349, 540, -348, 0x5C010000])),
    st.tuples(st.just("byte"), st.integers(0, HEADER_BYTES - 1), st.integers(0, 255)),
    st.tuples(st.just("data_byte"), st.integers(0, 4096), st.integers(0, 255)),
    # huge declared sizes: up to 32767^3 voxels of up to 16 bytes, for files of a few hundred bytes
    st.tuples(
        st.just("huge"),
        st.tuples(st.integers(1, 32767), st.integers(1, 32767), st.integers(1, 32767)),
        st.sampled_from([2, 4, 16, 64, 128, 1536, 2048]),
    ),
    # a 2-D, 4-D or 5-D image (the extra frames are appended, so the file itself is consistent)
    st.tuples(st.just("ndim"), st.sampled_from([2, 4, 5]), st.integers(1, 3)),
    # a valid file of another orientation: one axis flipped in qform and sform
    st.tuples(st.just("flip"), st.integers(0, 2), st.just(0)),
)

ENCODINGS = ("gz", "gz_isize", "gz_cut", "gz_multi", "gz_trailing", "gz_bomb", "raw", "raw_cut", "empty", "noise")


@dataclass(frozen=True)
class Damage:
    """One fuzzing case for one file."""

    ops: tuple
    encoding: str
    cut: float
    noise: bytes

    def describe(self) -> str:
        return f"{self.encoding} cut={self.cut:.3f} ops={list(self.ops)}"


DAMAGE = st.builds(
    Damage,
    st.lists(HEADER_OPS, min_size=0, max_size=3).map(tuple),
    st.sampled_from(ENCODINGS),
    st.floats(0.0, 1.0),
    st.binary(min_size=0, max_size=600),
)


def _put(b: bytearray, fmt: str, offset: int, value) -> None:
    struct.pack_into("<" + fmt, b, offset, value)


def apply_ops(raw: bytes, ops) -> bytes:
    """Apply header and data mutations to a decompressed little-endian NIfTI-1 file."""
    b = bytearray(raw)
    for op, i, v in ops:
        if op == "dim":
            _put(b, "h", 40 + 2 * i, v)
        elif op == "pixdim":
            _put(b, "f", 76 + 4 * i, v)
        elif op == "vox_offset":
            _put(b, "f", 108, v)
        elif op == "datatype":
            _put(b, "h", 70, v)
        elif op == "bitpix":
            _put(b, "h", 72, v)
        elif op == "scl":
            _put(b, "f", 112 + 4 * i, v)
        elif op == "quatern":
            _put(b, "f", 256 + 4 * i, v)
        elif op == "srow":
            _put(b, "f", 280 + 4 * i, v)
        elif op == "xform_code":
            _put(b, "h", 252 + 2 * i, v)
        elif op == "magic":
            b[344:348] = v
        elif op == "sizeof_hdr":
            _put(b, "i", 0, v)
        elif op == "byte":
            b[i] = v
        elif op == "data_byte":
            if len(b) > HEADER_BYTES:
                b[HEADER_BYTES + i % (len(b) - HEADER_BYTES)] = v
        elif op == "huge":
            struct.pack_into("<8h", b, 40, 3, *i, 1, 1, 1, 1)
            _put(b, "h", 70, v)
        elif op == "ndim":
            x, y, z = struct.unpack_from("<3h", b, 42)
            data = bytes(b[HEADER_BYTES:])
            if i == 2:
                struct.pack_into("<8h", b, 40, 2, x, max(-32768, min(32767, y * z)), 1, 1, 1, 1, 1)
            else:
                struct.pack_into("<8h", b, 40, i, x, y, z, v, 1, 1, 1)
                b += data * (v - 1)
        elif op == "flip":
            # negate one column of the sform and the matching qoffset sign: a valid, flipped grid
            for row in range(3):
                off = 280 + 16 * row + 4 * i
                _put(b, "f", off, -struct.unpack_from("<f", b, off)[0])
            _put(b, "f", 76, -struct.unpack_from("<f", b, 76)[0] if struct.unpack_from("<f", b, 76)[0] else -1.0)
    return bytes(b)


def gzip_with_isize(data: bytes, isize: int) -> bytes:
    """A gzip stream of ``data`` whose size trailer says ``isize`` (a forged trailer)."""
    gz = gzip.compress(data, compresslevel=1, mtime=0)
    return gz[:-4] + struct.pack("<I", isize % 2**32)


BOMB_EXTRA = 48 << 20
"""Bytes of zeros a "bomb" file inflates to beyond its declared size (from ~50 kB on disk)."""


def encode(data: bytes, damage: Damage) -> tuple[bytes, bool]:
    """The file's bytes and whether it is gzip-compressed (else a plain ``.nii``)."""
    enc = damage.encoding
    if enc == "raw":
        return data, False
    if enc == "raw_cut":
        return data[: int(len(data) * damage.cut)], False
    if enc == "empty":
        return b"", True
    if enc == "noise":
        return damage.noise, True
    if enc == "gz_isize":
        # the trailer claims the size the (damaged) header implies, so the cheap check passes
        try:
            dims = struct.unpack_from("<8h", data, 40)
            bitpix = struct.unpack_from("<h", data, 72)[0]
            n = math.prod(max(d, 1) for d in dims[1 : 1 + max(1, min(7, dims[0]))])
            return gzip_with_isize(
                data[: int(len(data) * damage.cut) or len(data)], HEADER_BYTES + n * max(1, bitpix // 8)
            ), True
        except struct.error:
            return gzip.compress(data, compresslevel=1, mtime=0), True
    gz = gzip.compress(data, compresslevel=1, mtime=0)
    if enc == "gz":
        return gz, True
    if enc == "gz_cut":
        return gz[: int(len(gz) * damage.cut)], True
    if enc == "gz_multi":
        k = int(len(data) * damage.cut)
        return gzip.compress(data[:k], compresslevel=1, mtime=0) + gzip.compress(
            data[k:], compresslevel=1, mtime=0
        ), True
    if enc == "gz_trailing":
        return gz + damage.noise, True
    if enc == "gz_bomb":
        return gzip_bomb(data), True
    raise ValueError(enc)


_ZEROS: list[bytes] = []


def gzip_bomb(data: bytes) -> bytes:
    """One gzip member holding ``data`` followed by :data:`BOMB_EXTRA` zero bytes (about 50 kB on disk).

    The zeros are compressed once: after a full flush a deflate stream can continue with blocks
    made by a fresh compressor.
    """
    if not _ZEROS:
        z = zlib.compressobj(1, zlib.DEFLATED, -15)
        _ZEROS.append(z.compress(bytes(BOMB_EXTRA)) + z.flush())
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(bytes(BOMB_EXTRA), zlib.crc32(data))
    size = (len(data) + BOMB_EXTRA) % 2**32
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + _ZEROS[0] + struct.pack("<II", crc, size)
