"""Handing memory freed after a loading burst back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

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
