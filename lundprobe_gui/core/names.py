"""Validation of names that become file or folder names (sources, observers, structures)."""

from __future__ import annotations

import re

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.\-]*$")
_OBSERVER = re.compile(r"^[A-Za-z0-9_-]+$")
_DATA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.\-(), ]*$")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
MAX_NAME = 64


class InvalidName(ValueError):
    """A name that cannot safely become part of a file name."""


def validate_name(value: str, what: str = "name", pattern: re.Pattern[str] = _SAFE) -> str:
    """Return ``value`` when it is safe as a file-name part, else raise :class:`InvalidName`.

    Safe means: 1-64 characters from letters, digits, ``_ - + .``, starting with a letter or digit,
    not ending with ``.``, no ``..``, no path separators or control characters, and not a reserved
    Windows device name (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9``).
    """
    if not isinstance(value, str) or not value:
        raise InvalidName(f"{what} must not be empty")
    if len(value) > MAX_NAME:
        raise InvalidName(f"{what} is {len(value)} characters long; at most {MAX_NAME} are allowed")
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise InvalidName(f"{what} {value!r} contains control characters")
    if "/" in value or "\\" in value or ".." in value:
        raise InvalidName(f"{what} {value!r} must not contain path separators or '..'")
    if not pattern.match(value):
        raise InvalidName(f"{what} {value!r} may only contain letters, digits and {_allowed(pattern)}")
    if value.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:  # Windows ignores "CON .txt"'s space
        raise InvalidName(f"{what} {value!r} is a reserved device name on Windows")
    if value.endswith("."):
        raise InvalidName(f"{what} {value!r} must not end with '.' (Windows drops it: two names would become one)")
    return value


def _allowed(pattern: re.Pattern[str]) -> str:
    if pattern is _DATA:
        return "spaces, '_', '-', '+', '.', ',' and parentheses"
    return "'_' and '-'" if pattern is _OBSERVER else "'_', '-', '+' and '.'"


def validate_data_name(value: str, what: str = "name") -> str:
    """Names that come from the data (patient IDs, structure names): :func:`validate_name`, plus spaces,
    commas and parentheses.

    Other datasets name structures ``Spinal Cord`` or ``Lens (L)`` and patients ``Patient 01``;
    their edits must save under those names. A name must not start or end with a space.
    """
    validate_name(value, what, _DATA)
    if value.endswith(" "):
        raise InvalidName(f"{what} {value!r} must not end with a space (Windows drops it: two names would become one)")
    return value


def validate_observer(value: str) -> str:
    """Observer IDs: letters, digits, ``_`` and ``-`` only."""
    return validate_name(value, "observer ID", _OBSERVER)


def validate_source(value: str) -> str:
    """Source names such as ``step1_obsF``: letters, digits, ``_`` and ``-`` only."""
    return validate_name(value, "source name", _OBSERVER)
