"""Handing memory freed after a loading burst back to the operating system, and refusing loads that cannot fit."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

HEADROOM = 0.9
"""Share of the available RAM one load may take: the rest of the app and the OS need some too."""


class NotEnoughRam(MemoryError):
    """A load that would need more RAM than the machine has available; the message says how much."""


def available_bytes() -> int:
    """RAM the system can give this process without swapping (psutil's ``available``)."""
    import psutil

    return int(psutil.virtual_memory().available)


def check_fits(nbytes: int, what: str) -> None:
    """Refuse to allocate ``nbytes`` for ``what`` when they exceed the RAM available.

    Raises
    ------
    NotEnoughRam
        Before anything is allocated, so the app keeps running and says why.
    """
    have = available_bytes()
    if nbytes > HEADROOM * have:
        raise NotEnoughRam(
            f"{what} needs {nbytes / 1e9:.1f} GB to load, "
            f"more than the {have / 1e9:.1f} GB of RAM available; not loaded"
        )


_trim = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _trim = _libc.malloc_trim
        _trim.argtypes = [ctypes.c_size_t]
        _trim.restype = ctypes.c_int
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        _trim = None


def release_free_memory() -> bool:
    """Return free heap pages to the operating system (glibc ``malloc_trim``); False where unsupported.

    Decoding a patient on two threads frees a few hundred MB of chunk buffers into the threads'
    malloc arenas, where glibc keeps them: without this the process's RSS stays about 150 MB above
    what the patient holds.
    """
    if _trim is None:
        return False
    _trim(0)
    return True
