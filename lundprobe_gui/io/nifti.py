"""NIfTI-1 and NIfTI-2 reading.

Headers are read with SimpleITK (``ImageFileReader.ReadImageInformation``), so the geometry is
exactly what SimpleITK and ITK-based tools see. Voxel data of single-file NIfTI-1 and NIfTI-2
files is decoded here, with ISA-L's gzip when available, because SimpleITK's reader is several
times slower on 61 M-voxel masks and always allocates the full image. Anything unusual falls back
to SimpleITK. :func:`parse_header` also keeps the fields that describe the geometry (pixdim,
qform, sform), so that :mod:`lundprobe_gui.io.header_check` can catch headers that lie.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import os
import re
import struct
import tempfile
import threading
import types
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..core.geometry import Geometry
from ..core.memory import check_fits

logger = logging.getLogger(__name__)

try:  # ISA-L inflates 3-4x faster than zlib; optional at run time.
    from isal import isal_zlib

    _fast_zlib: types.ModuleType = isal_zlib
except ImportError:  # pragma: no cover - exercised only without isal
    _fast_zlib = zlib

_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8", 1280: "u8"}
MAX_DECLARED_BYTES = 8 * 1024**3
SITK_LOCK = threading.RLock()
"""Held around every SimpleITK reader and writer call. Patients are discovered and loaded on thread
pools, and SimpleITK/ITK reading from several threads at once can crash the process (most often
while its IO factories initialise: SimpleITK issues #74 and #1607); the header reads it serialises
take about a millisecond each."""
"""A header declaring more voxel data than this is rejected before anything is allocated."""
GZIP_MAX_RATIO = 1032
"""DEFLATE's largest expansion: one compressed byte never decodes to more than this many bytes."""


class NiftiError(Exception):
    """A NIfTI file that cannot be used; the message says why and :attr:`kind` is the Problem kind."""

    def __init__(self, message: str, kind: str = "", fallback: bool = False) -> None:
        super().__init__(message)
        self.kind = kind or ("truncated" if "truncat" in message else "corrupt")
        self.fallback = fallback
        """SimpleITK may still read the file (a datatype this module does not decode)."""


GZIP_MAGIC = b"\x1f\x8b"
NIFTI2_MAGICS = (b"n+2\0\r\n\x1a\n", b"ni2\0\r\n\x1a\n")
_SIZEOF_HDR = tuple(struct.pack(e + "i", n) for e in "<>" for n in (348, 540))


@dataclass(frozen=True)
class Header:
    """The parts of a NIfTI-1 or NIfTI-2 header the loaders and header checks need."""

    dims: tuple[int, ...]
    dtype: np.dtype
    vox_offset: int
    slope: float
    inter: float
    raw: bytes
    """The 348-byte NIfTI-1 header (copied into saved masks); empty for NIfTI-2."""
    version: int = 1
    pixdim: tuple[float, ...] = (1.0,) * 8
    qform_code: int = 0
    sform_code: int = 0
    quatern: tuple[float, ...] = (0.0,) * 6
    """quatern_b, c, d, qoffset_x, y, z."""
    srow: tuple[float, ...] = (0.0,) * 12
    """srow_x, srow_y, srow_z (RAS mm)."""

    @property
    def n_voxels(self) -> int:
        """Voxel count of the first three dimensions (times any extra ones)."""
        return int(np.prod([max(d, 1) for d in self.dims], dtype=np.int64))

    @property
    def data_bytes(self) -> int:
        """Bytes of voxel data the header promises."""
        return self.n_voxels * self.dtype.itemsize


def is_gz(path: Path) -> bool:
    """True for a .gz file name."""
    return str(path).lower().endswith(".gz")


def _open_head(path: Path, n: int = 544) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read(max(n, 4096) if is_gz(path) else n)
    if is_gz(path):
        if raw[:2] != GZIP_MAGIC and raw[:4] in _SIZEOF_HDR:
            raise NiftiError(
                "not gzip-compressed although named .gz: an uncompressed NIfTI file (rename it .nii)", "mislabelled"
            )
        try:
            return zlib.decompressobj(31).decompress(raw, n)
        except zlib.error as e:
            raise NiftiError(f"not a valid gzip file ({e})") from e
    if raw[:2] == GZIP_MAGIC:
        raise NiftiError("gzip-compressed data in a file named .nii (rename it .nii.gz)", "mislabelled")
    return raw


def _version(raw: bytes) -> tuple[int, str]:
    """(1 or 2, byte order) from sizeof_hdr."""
    for endian in ("<", ">"):
        if len(raw) >= 4 and struct.unpack(endian + "i", raw[:4])[0] == 348:
            return 1, endian
        if len(raw) >= 4 and struct.unpack(endian + "i", raw[:4])[0] == 540:
            return 2, endian
    raise NiftiError("not a NIfTI header (sizeof_hdr is neither 348 nor 540)")


_FIELDS = {
    # (byte offset, struct format) of each field the loaders use, per NIfTI version
    1: {
        "dim": (40, "8h"), "types": (70, "2h"), "pixdim": (76, "8f"), "offset": (108, "f"), "scl": (112, "2f"),
        "xform": (252, "2h"), "quatern": (256, "6f"), "srow": (280, "12f"),
    },
    2: {
        "dim": (16, "8q"), "types": (12, "2h"), "pixdim": (104, "8d"), "offset": (168, "q"), "scl": (176, "2d"),
        "xform": (344, "2i"), "quatern": (352, "6d"), "srow": (400, "12d"),
    },
}  # fmt: skip
_HEADER_BYTES = {1: 348, 2: 540}


def parse_header(raw: bytes) -> Header:
    """Parse the header of a single-file NIfTI-1 (348 bytes) or NIfTI-2 (540 bytes) image.

    Raises
    ------
    NiftiError
        For anything that is not a single-file NIfTI image this module can decode.
    """
    if len(raw) < 348:
        raise NiftiError(f"header is truncated ({len(raw)} of 348 bytes)")
    version, endian = _version(raw)
    size = _HEADER_BYTES[version]
    if len(raw) < size:
        raise NiftiError(f"NIfTI-{version} header is truncated ({len(raw)} of {size} bytes)")
    magic = raw[344:348] if version == 1 else raw[4:12]
    if magic[:3] in (b"ni1", b"ni2"):
        raise NiftiError(f"a NIfTI-{version} .hdr/.img pair, not a single .nii file; not supported", "unsupported")
    if magic[:3] != (b"n+1" if version == 1 else b"n+2") or (version == 2 and magic not in NIFTI2_MAGICS):
        raise NiftiError(f"wrong NIfTI magic {magic!r}")

    def field(name: str) -> tuple[Any, ...]:
        at, fmt = _FIELDS[version][name]
        return struct.unpack_from(endian + fmt, raw, at)

    (offset,) = field("offset")
    if not (math.isfinite(offset) and (offset == 0 or size <= offset <= MAX_DECLARED_BYTES)):
        raise NiftiError(f"invalid vox_offset {offset!r} (voxel data must start after the {size}-byte header)")
    code, bitpix = field("types")
    dims, dtype = _dims_and_dtype(field("dim"), code, bitpix, endian)
    slope, inter = field("scl")
    qform_code, sform_code = field("xform")
    return Header(
        dims,
        dtype,
        int(offset) or size + 4,
        float(slope),
        float(inter),
        raw[:348] if version == 1 else b"",
        version,
        field("pixdim"),
        qform_code,
        sform_code,
        field("quatern"),
        field("srow"),
    )


def _dims_and_dtype(dim: tuple[int, ...], code: int, bitpix: int, endian: str) -> tuple[tuple[int, ...], np.dtype]:
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        raise NiftiError(f"invalid number of dimensions {ndim}")
    dims = tuple(int(d) for d in dim[1 : 1 + ndim])
    if any(d < 0 for d in dims):
        raise NiftiError(f"negative dimension in {dims}")
    if any(d == 0 for d in dims):
        raise NiftiError(f"zero-length dimension in {dims}")
    # The size check comes first, for every datatype: a file this reader does not decode goes to
    # SimpleITK, which allocates whatever the header declares.
    itemsize = np.dtype(_DTYPES[code]).itemsize if code in _DTYPES else max(1, (bitpix + 7) // 8)
    declared = math.prod(dims) * itemsize  # Python ints: seven 32767s overflow int64
    if declared > MAX_DECLARED_BYTES:
        raise NiftiError(f"header declares {declared / 1e9:.1f} GB of voxel data, too large to be real")
    if code not in _DTYPES:
        raise NiftiError(f"unsupported NIfTI datatype code {code}", "unsupported", fallback=True)
    dtype = np.dtype(endian + _DTYPES[code])
    if bitpix != 8 * dtype.itemsize:
        # the data size depends on which of the two is right: a guess would misread every voxel
        raise NiftiError(
            f"datatype {code} ({dtype.name}, {8 * dtype.itemsize} bits) disagrees with bitpix {bitpix}", "corrupt"
        )
    return dims, dtype


def read_header(path: Path) -> Header:
    """Read and parse the NIfTI-1 header of ``path``."""
    return parse_header(_open_head(Path(path)))


def max_decoded_bytes(path: Path) -> int:
    """The most bytes a file can decode to: its size, or for gzip the size times DEFLATE's ratio limit.

    DEFLATE cannot expand data by more than 1032:1, so a header that declares more voxel data than
    this is lying about the file, and nothing is allocated on its word.
    """
    size = os.path.getsize(path)
    return size * GZIP_MAX_RATIO + (1 << 16) if is_gz(path) else size


@contextlib.contextmanager
def itk_file_name(path: str | os.PathLike | bytes) -> Iterator[str]:
    """A name of ``path`` that SimpleITK can be given.

    SimpleITK takes file names as UTF-8 text, and a name that is not valid UTF-8 (Linux allows any
    bytes in a name) aborts the whole process inside its C++ wrapper. Such a file is handed over
    through a symbolic link with a plain name in a temporary folder.
    """
    name = os.fsdecode(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        yield name
        return
    suffix = ".nii.gz" if name.lower().endswith(".nii.gz") else os.path.splitext(name)[1]
    with tempfile.TemporaryDirectory(prefix="lundprobe-name-") as d:
        link = os.path.join(d, "file" + suffix)
        os.symlink(os.path.abspath(name), link)
        yield link


def dimension_problem(dims: tuple[int, ...]) -> str | None:
    """Why an image of ``dims`` (x, y, z, ...) cannot be shown, e.g. "4-D image (12 volumes of 64x64x30): not shown"."""
    extra = [d for d in dims[3:] if d > 1]
    if not extra:
        return None
    return f"{3 + len(extra)}-D image ({math.prod(extra)} volumes of {'x'.join(map(str, dims[:3]))}): not shown"


def read_geometry(path: Path) -> tuple[Geometry, str, int]:
    """Geometry, pixel type name and component count from SimpleITK's header reader."""
    reader = sitk.ImageFileReader()
    try:
        with itk_file_name(path) as name, SITK_LOCK:
            reader.SetFileName(name)
            reader.ReadImageInformation()
    except RuntimeError as e:
        raise NiftiError(_short_itk_error(e)) from e
    if reader.GetDimension() != 3:
        size = tuple(int(v) for v in reader.GetSize())
        raise NiftiError(dimension_problem(size) or f"{len(size)}-D image of size {size}: not shown", "unsupported")
    geom = Geometry.from_sitk(reader)
    return geom, sitk.GetPixelIDValueAsString(reader.GetPixelID()), reader.GetNumberOfComponents()


def _short_itk_error(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    detail = next((ln for ln in reversed(lines) if "rror" in ln or "not" in ln.lower()), lines[-1] if lines else "")
    return f"SimpleITK cannot read it: {detail[:200]}"


def gzip_isize_ok(path: Path, hdr: Header) -> bool:
    """The cheap truncation test: gzip's ISIZE trailer must match the size the header implies.

    ISIZE is the uncompressed length modulo 2**32 of the last gzip member only, so a mismatch
    is confirmed by decoding (see :func:`confirm_truncated`) before a file is called truncated.
    """
    size = os.path.getsize(path)
    if size < 18 or hdr.vox_offset + hdr.data_bytes > max_decoded_bytes(path):
        return False
    with open(path, "rb") as fh:
        fh.seek(-4, os.SEEK_END)
        isize = struct.unpack("<I", fh.read(4))[0]
    return isize == (hdr.vox_offset + hdr.data_bytes) % 2**32


def decoded_length(path: Path, limit: int) -> int:
    """Decode a gzip file (all members) and return its uncompressed length, up to ``limit`` + 1.

    Raises NiftiError when the stream is corrupt or ends early.
    """
    total = 0
    with gzip.open(path, "rb") as fh:
        try:
            while total <= limit:
                chunk = fh.read(1 << 16)  # small reads: the message says where the data ends to within 64 KB
                if not chunk:
                    break
                total += len(chunk)
        except (EOFError, OSError, zlib.error) as e:
            raise NiftiError(f"corrupt or truncated gzip data after {total} bytes ({e})") from e
    return total


def check_complete(path: Path, hdr: Header) -> str | None:
    """Return why the file's voxel data is incomplete, or None when it is complete."""
    path = Path(path)
    need = hdr.vox_offset + hdr.data_bytes
    if not is_gz(path):
        have = os.path.getsize(path)
        return None if have >= need else f"truncated: {have} bytes on disk, header implies {need}"
    if gzip_isize_ok(path, hdr):
        return None
    if need > max_decoded_bytes(path):
        return (
            f"truncated: header implies {need} bytes of data, more than this "
            f"{os.path.getsize(path)}-byte gzip file can hold"
        )
    try:
        have = decoded_length(path, need)
    except NiftiError as e:
        return str(e)
    if have < need:
        return f"truncated: {have} bytes of data after decompression, header implies {need}"
    return None


_DRAIN_LIMIT = 256 * 1024**2


def _finish_member(d) -> None:
    """Inflate the rest of a gzip member (output discarded, bounded) so its CRC and length are verified.

    Raises NiftiError when the member is damaged or its trailer is missing: such a file would
    otherwise load as silently wrong voxels.
    """
    tail = d.unconsumed_tail
    extra = 0
    while not d.eof:
        out = d.decompress(tail, 1 << 20)
        tail = d.unconsumed_tail
        extra += len(out)
        if not out and not tail:
            raise NiftiError("gzip stream ends before its trailer (truncated)")
        if extra > _DRAIN_LIMIT:
            return  # far more data than the header declares: not worth inflating to the end


def _decompress(raw: bytes, expected: int) -> bytes:
    """Inflate the first ``expected`` bytes of a (possibly multi-member) gzip stream.

    Never more: a small file that inflates to gigabytes cannot exhaust memory, and nothing is
    allocated beyond what the stream really holds.
    """
    parts: list[bytes] = []
    have = 0
    data = raw
    try:
        while have < expected and data:
            d = _fast_zlib.decompressobj(31)
            chunk = d.decompress(data, expected - have)
            parts.append(chunk)
            have += len(chunk)
            if not d.eof:
                if have >= expected:
                    _finish_member(d)  # the CRC is only checked at the member's end
                break  # enough data, or the stream ends early (the caller reports it)
            data = d.unused_data
    except Exception as e:  # isal and zlib raise different types
        raise NiftiError(f"corrupt or truncated gzip data after {have} bytes ({e})") from e
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_array(path: Path, hdr: Header | None = None) -> np.ndarray:
    """Read the voxel data of a 3-D NIfTI-1 file as a (z, y, x) array, scaled like SimpleITK.

    The result may be a read-only view of the decoded buffer.
    """
    path = Path(path)
    hdr = hdr or read_header(path)
    dims = [d for d in hdr.dims]
    while len(dims) > 3 and dims[-1] == 1:
        dims.pop()
    if len(dims) != 3:
        raise NiftiError(f"expected a 3-D image, found dimensions {tuple(hdr.dims)}")
    need = hdr.vox_offset + hdr.data_bytes
    if need > max_decoded_bytes(path):
        raise NiftiError(
            f"truncated: header implies {need} bytes of data, more than this {os.path.getsize(path)}-byte file can hold"
        )
    copies = (0 if hdr.dtype.isnative else hdr.data_bytes) + (
        hdr.n_voxels * 4 if hdr.slope not in (0.0, 1.0) or hdr.inter != 0.0 else 0
    )
    check_fits(need + copies + (os.path.getsize(path) if is_gz(path) else 0), path.name)
    if is_gz(path):
        with open(path, "rb") as fh:
            raw = fh.read()
        buf = _decompress(raw, need)
        del raw
    else:
        with open(path, "rb") as fh:
            buf = fh.read(need)
    if len(buf) < need:
        raise NiftiError(f"truncated: {len(buf)} bytes of data, header implies {need}")
    arr = np.frombuffer(buf, dtype=hdr.dtype, count=hdr.n_voxels, offset=hdr.vox_offset)
    return stored_values(arr.reshape(dims[2], dims[1], dims[0]), hdr)


def stored_values(arr: np.ndarray, hdr: Header) -> np.ndarray:
    """The values ``arr`` (raw data of a file with header ``hdr``) stands for: native byte order, scaled.

    ``scl_slope`` 0 or 1 with ``scl_inter`` 0 means unscaled, as does a non-finite slope or intercept
    (the NIfTI-1 standard says to ignore them). Scaled values are float32; a scale that takes them past
    float32's range gives infinities, which the value scan and the windows treat as not finite.
    """
    if not hdr.dtype.isnative:
        arr = arr.astype(hdr.dtype.newbyteorder("="))
    scaled = hdr.slope not in (0.0, 1.0) or hdr.inter != 0.0
    if scaled and np.isfinite(hdr.slope) and np.isfinite(hdr.inter):
        with np.errstate(over="ignore", invalid="ignore"):
            arr = arr.astype(np.float32) * np.float32(hdr.slope) + np.float32(hdr.inter)
    return arr


def read_array_sitk(path: Path) -> tuple[np.ndarray, Geometry]:
    """Fallback reader through SimpleITK (NIfTI-2, odd layouts).

    The header is read first: SimpleITK allocates the whole image its header declares, so an
    image larger than :data:`MAX_DECLARED_BYTES`, or than the file can hold, is refused unread.
    """
    reader = sitk.ImageFileReader()
    try:
        with itk_file_name(path) as name, SITK_LOCK:
            reader.SetFileName(name)
            reader.ReadImageInformation()
            declared = (
                math.prod(reader.GetSize()) * reader.GetNumberOfComponents() * _component_bytes(reader.GetPixelID())
            )
            if declared > MAX_DECLARED_BYTES or declared > max_decoded_bytes(path):
                raise NiftiError(
                    f"header declares {declared} bytes of voxel data, more than this "
                    f"{os.path.getsize(path)}-byte file can hold"
                )
            check_fits(2 * declared, Path(path).name)  # SimpleITK's image, then numpy's copy
            if is_gz(path):
                # SimpleITK allocates first and reads after (a short gzip stream leaves zeros): count
                # the data without keeping it before anything of the declared size is allocated
                have = decoded_length(path, declared)
                if have < declared:
                    raise NiftiError(
                        f"truncated: {have} bytes after decompression, header declares {declared} bytes of voxel data"
                    )
            img = reader.Execute()
    except RuntimeError as e:
        raise NiftiError(_short_itk_error(e)) from e
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise NiftiError(f"expected a scalar 3-D image, found {img.GetDimension()}-D")
    with SITK_LOCK:
        return sitk.GetArrayFromImage(img), Geometry.from_sitk(img)


def _component_bytes(pixel_id: int) -> int:
    """Bytes of one pixel component of a SimpleITK pixel type (8 when unknown).

    A complex pixel counts as two components of its float type.
    """
    bits = re.findall(r"(\d+)-bit", sitk.GetPixelIDValueAsString(pixel_id))
    return max(1, int(bits[0]) // 8) if bits else 8


def load_array(path: Path) -> np.ndarray:
    """Read a 3-D image's voxels, using the fast path when the file allows it.

    Raises
    ------
    NiftiError
        For a file whose content cannot be used (OSError when it cannot be read at all).
    """
    path = Path(os.fsdecode(path))
    try:
        hdr = read_header(path)
    except NiftiError:
        return read_array_sitk(path)[0]
    return read_array(path, hdr)
