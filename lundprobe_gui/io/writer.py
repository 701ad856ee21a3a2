"""Writing NIfTI-1 files: headers copied from a reference image, fast gzip, atomic replacement.

A saved mask takes the reference image's header (qform, sform, pixdim) byte for byte and changes
only the data type and scaling fields, so its geometry matches the reference exactly in SimpleITK,
nibabel and every other reader.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import tempfile
import time
from pathlib import Path
from typing import Literal

import numpy as np
import SimpleITK as sitk

from ..core.geometry import Geometry
from .guard import Protected, check_target, file_mode, remove_file
from .nifti import SITK_LOCK

logger = logging.getLogger(__name__)

try:
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover
    import zlib as _zlib  # type: ignore[no-redef]

_GZIP_WBITS = 31
"""zlib's window bits for a gzip stream (header and CRC trailer) with the largest window."""
_CHUNK = 1 << 20
"""Bytes compressed per call: each call releases the GIL, so a save in a worker thread never stalls the GUI
for longer than one chunk's bookkeeping (one 30 MB copy and concatenation held it for 40-80 ms)."""

_CODES = {
    np.dtype("u1"): 2,
    np.dtype("i2"): 4,
    np.dtype("i4"): 8,
    np.dtype("f4"): 16,
    np.dtype("f8"): 64,
    np.dtype("i1"): 256,
    np.dtype("u2"): 512,
    np.dtype("u4"): 768,
    np.dtype("i8"): 1024,
    np.dtype("u8"): 1280,
}


def header_from_geometry(geometry: Geometry) -> bytes:
    """A NIfTI-1 header for ``geometry`` as ITK writes it (qform and sform both set).

    ITK's own writer computes the quaternion and sform, so a 1-voxel image with the same spacing,
    origin and direction is written and its header reused with the real dimensions patched in.
    """
    with SITK_LOCK, tempfile.TemporaryDirectory() as d:
        img = sitk.Image(1, 1, 1, sitk.sitkUInt8)
        img.SetSpacing(geometry.spacing)
        img.SetOrigin(geometry.origin)
        img.SetDirection(geometry.direction)
        p = os.path.join(d, "h.nii")
        sitk.WriteImage(img, p, False)
        with open(p, "rb") as fh:
            raw = fh.read(348)
    return make_header(raw, geometry.shape_zyx, np.dtype("u1"))


def make_header(
    template: bytes, shape_zyx: tuple[int, int, int], dtype: np.dtype, description: str = "lundprobe_gui"
) -> bytes:
    """Copy a NIfTI-1 header, setting dimensions, data type and unit scaling; geometry fields stay."""
    raw = bytearray(template[:348])
    endian = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    dtype = np.dtype(dtype)
    code = _CODES[np.dtype(dtype.char)]
    z, y, x = (int(v) for v in shape_zyx)
    struct.pack_into(endian + "8h", raw, 40, 3, x, y, z, 1, 1, 1, 1)
    struct.pack_into(endian + "h", raw, 68, 0)  # intent code: none
    struct.pack_into(endian + "hh", raw, 70, code, dtype.itemsize * 8)
    struct.pack_into(endian + "f", raw, 108, 352.0)
    struct.pack_into(endian + "ff", raw, 112, 1.0, 0.0)
    struct.pack_into(endian + "ff", raw, 124, 0.0, 0.0)
    desc = description.encode("ascii", "replace")[:79]
    raw[148:228] = desc + b"\0" * (80 - len(desc))
    raw[344:348] = b"n+1\0"
    return bytes(raw)


def encode_nifti(array: np.ndarray, header: bytes, level: int = 1) -> bytes:
    """Serialise a (z, y, x) array with a header into gzip-compressed NIfTI-1 bytes."""
    endian: Literal["<", ">"] = "<" if struct.unpack("<i", header[:4])[0] == 348 else ">"
    data = np.ascontiguousarray(array, dtype=np.dtype(array.dtype).newbyteorder(endian))
    hdr = make_header(header, data.shape, data.dtype)
    comp = _zlib.compressobj(level, _zlib.DEFLATED, _GZIP_WBITS)
    out = [comp.compress(hdr + b"\0\0\0\0")]
    flat = data.reshape(-1).view(np.uint8).data  # the voxels in place: no copy of the whole volume
    for i in range(0, len(flat), _CHUNK):
        out.append(comp.compress(flat[i : i + _CHUNK]))
    out.append(comp.flush())
    return b"".join(out)


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


STALE_PART_S = 600.0
"""Age after which a temporary ``.part`` file is the remains of a save that was killed (a save takes seconds)."""


def sweep_stale_parts(folder: Path, now: float | None = None) -> list[Path]:
    """Delete the temporary files that killed saves left in ``folder``; return what was removed.

    Only this module's own temporaries (``.<name>.<random>.part``, regular files, not links) older
    than :data:`STALE_PART_S` are touched, so a save running in another process is never disturbed.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".part")):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and now - entry.stat(follow_symlinks=False).st_mtime > STALE_PART_S:
                remove_file(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone already, or not ours to remove
    if removed:
        logger.info("removed %d temporary file(s) of interrupted saves in %s", len(removed), folder)
    return removed


def open_part(path: Path, mode: int | None = None) -> tuple[int, Path]:
    """A new temporary ``.<name>.<random>.part`` file beside ``path``: (open descriptor, its path).

    It has ``mode`` (default: the permissions :func:`~lundprobe_gui.io.guard.file_mode` gives
    ``path``); :func:`publish_part` puts it in place. For a file written piece by piece (a CSV
    written while a run goes on); whole files go through :func:`atomic_write`.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        _chmod(fd, tmp, file_mode(path) if mode is None else mode)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return fd, Path(tmp)


def publish_part(tmp: Path, path: Path, protected: Protected | None = None) -> Path:
    """Put a complete, fsync'd part file in place of ``path`` (checked again first) and fsync the folder."""
    check_target(path, protected)
    try:
        os.replace(tmp, path)
    except OSError as e:
        raise located(e, path) from e
    fsync_dir(path.parent)
    return path


def _temp_write(path: Path, data: bytes, mode: int) -> Path:
    fd, tmp = open_part(path, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def _chmod(fd: int, path: str, mode: int) -> None:
    # mkstemp makes 0600; shared study and output folders need the umask's bits
    try:
        os.fchmod(fd, mode)
    except (AttributeError, NotImplementedError):  # Windows
        os.chmod(path, mode)


def atomic_write(path: Path, data: bytes, overwrite: bool = True, protected: Protected | None = None) -> Path:
    """The app's one file writer: check the target, write a temporary file, fsync, rename.

    The target is checked first (:func:`lundprobe_gui.io.guard.check_target`): an input file (by
    inode), a file in a protected patient folder or dataset root is refused with
    :class:`~lundprobe_gui.io.guard.WriteRefused`. The new file gets the replaced file's
    permissions, else ``0o666 & ~umask``.

    With ``overwrite=False`` an existing file is never replaced (``FileExistsError``): the new name
    is claimed with a hard link, which fails atomically when the name exists.
    """
    path = Path(path)
    check_target(path, protected)
    sweep_stale_parts(path.parent)
    try:
        tmp = _temp_write(path, data, file_mode(path if overwrite else None))
    except OSError as e:
        raise located(e, path) from e
    try:
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except OSError as e:
                if e.errno == errno.EEXIST:
                    raise FileExistsError(str(path)) from e
                if os.path.lexists(path):
                    raise FileExistsError(str(path)) from e
                os.rename(tmp, path)  # filesystems without hard links
            else:
                os.unlink(tmp)
    except FileExistsError:
        raise
    except OSError as e:
        raise located(e, path) from e
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    fsync_dir(path.parent)
    return path


def located(e: OSError, path: Path) -> OSError:
    """The same error (type and errno) with a message naming the file, its folder and the reason.

    An ``OSError`` from ``write`` or ``fsync`` carries no file name: "No space left on device"
    alone does not tell the user where.
    """
    reason = e.strerror or str(e)
    return type(e)(e.errno, f"{reason}: cannot write {path.name} in {path.parent}")


def write_nifti(path: Path, array: np.ndarray, header: bytes, level: int = 1, overwrite: bool = True) -> Path:
    """Encode and atomically write a NIfTI-1 .nii.gz file."""
    return atomic_write(Path(path), encode_nifti(array, header, level), overwrite=overwrite)
