"""Reading the small files the app relies on (JSON, CSV, text, locks, sidecars) without hanging on them.

A FIFO opened for reading blocks until a writer appears, ``/dev/zero`` never ends, and a 20 GB
file named ``study.json`` would be read into memory whole. Every small file is therefore read
through :func:`read_small_bytes`: it is opened without blocking, must be a regular file (after
following symbolic links) and no larger than a cap, and is read with a bounded ``read``. JSON goes
through :func:`read_json_file`, which turns a document nested deeper than :data:`MAX_JSON_DEPTH`
(or too deep for the parser) into a ``ValueError`` like any other malformed content.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
DEFAULT_MAX_BYTES = 32 * MIB
"""Cap for a small file when the caller names none (a session file of 500 patients is about 2 MB)."""
LOCK_MAX_BYTES = 64 * KIB
TABLE_MAX_BYTES = 8 * MIB
SAVED_MASK_MAX_BYTES = 2048 * MIB
"""A saved mask read back whole to hash or copy it (a full-size 1024^3 uint8 mask compresses far below this)."""
MAX_JSON_DEPTH = 64
"""The app's own JSON files nest at most about eight levels."""

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class SmallFileError(OSError):
    """A small file that is not read: not a regular file, or larger than its cap. The message names it."""


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words (``a FIFO (named pipe)``, ``a character device``...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_small_bytes(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``.

    Parameters
    ----------
    path : path
        The file; a symbolic link is followed, and what it leads to must be a regular file.
    max_bytes : int
        Largest accepted size.
    what : str
        What the file is, for the message (``session file``, ``lock file``...).

    Returns
    -------
    bytes
        The content.

    Raises
    ------
    FileNotFoundError, PermissionError, OSError
        As ``open`` raises them.
    SmallFileError
        When the path is a FIFO, a device, a socket or a folder, or the file is larger than ``max_bytes``
        (also when it grows past the cap while being read).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise SmallFileError(f"{os.fsdecode(path)}: the {what} is a folder, not a file; not read") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SmallFileError(
                f"{os.fsdecode(path)}: the {what} is {file_kind(st.st_mode)}, not a regular file; not read"
            )
        if st.st_size > max_bytes:
            raise SmallFileError(
                f"{os.fsdecode(path)}: the {what} is {_size(st.st_size)}, larger than the {_size(max_bytes)} "
                "such a file can be; not read"
            )
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, min(MIB, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise SmallFileError(
                    f"{os.fsdecode(path)}: the {what} grew past {_size(max_bytes)} while being read; not read"
                )
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_small_text(
    path: str | os.PathLike,
    max_bytes: int = DEFAULT_MAX_BYTES,
    what: str = "file",
    encoding: str = "utf-8",
    errors: str = "strict",
) -> str:
    """The text of a small regular file (see :func:`read_small_bytes`); ``UnicodeDecodeError`` for bad text."""
    return read_small_bytes(path, max_bytes, what).decode(encoding, errors)


def json_depth(obj: Any) -> int:
    """How deeply lists and dicts nest in a parsed JSON value (0 for a scalar), without recursion."""
    depth = 0
    stack = [(obj, 1)]
    while stack:
        value, level = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        depth = max(depth, level)
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return depth


def parse_json(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that turns too deep a document into ``ValueError`` instead of a crash.

    The C parser guards its own recursion (``RecursionError`` at about a thousand levels, never a
    stack overflow); a document that parses but nests deeper than ``max_depth`` is refused too, so
    no later recursive walk over it can fail.

    Raises
    ------
    ValueError
        ``json.JSONDecodeError`` for invalid JSON, ``UnicodeDecodeError`` for bytes that are not
        UTF-8, and a plain ``ValueError`` for too deep a document.
    """
    text = raw.decode("utf-8-sig") if isinstance(raw, (bytes, bytearray)) else raw
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested too deeply to parse; at most {max_depth} levels are accepted") from None
    depth = json_depth(data)
    if depth > max_depth:
        raise ValueError(f"nested {depth} levels deep; at most {max_depth} are accepted")
    return data


def read_json_file(
    path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES, what: str = "file", max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """Read and parse a small JSON file.

    Raises
    ------
    OSError
        ``FileNotFoundError`` and the like, and :class:`SmallFileError` for a special or oversized file.
    ValueError
        For content that is not UTF-8 JSON or nests too deeply (see :func:`parse_json`).
    """
    return parse_json(read_small_bytes(path, max_bytes, what), max_depth)


def is_regular_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` leads to a regular file (FIFOs and devices are not; never raises)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _size(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MB"
    if n >= KIB:
        return f"{n / KIB:.0f} kB"
    return f"{n} bytes"
