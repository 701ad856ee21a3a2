"""Validation of names that become file or folder names (sources, observers, structures).

Sources and observer IDs are ASCII. Names that come from the data (structure names, patient IDs)
may use the letters of any alphabet (``Blåsa``, ``Harnblase``, ``膀胱``), in Unicode NFC form;
control, format and bidi characters, other spaces than the plain one, look-alike punctuation and
a mix of Latin, Greek and Cyrillic letters in one name are refused, so two names that look the
same are never two files.
"""

from __future__ import annotations

import re
import unicodedata

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.\-]*$")
_OBSERVER = re.compile(r"^[A-Za-z0-9_-]+$")
_DATA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.\-(), ]*$")
_VETTED = re.compile(r"^.+$", re.S)  # non-ASCII data names: checked character by character first
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
MAX_NAME = 64
MAX_DATA_NAME_BYTES = 120
"""UTF-8 bytes of a data name: ``mask_<name>_<source>_v<NNN>.nii.gz`` then stays within a 255-byte file name."""
_PUNCTUATION = frozenset("_+.-(), ")
_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC"})


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
        letters = "letters of any alphabet (in Unicode NFC form)" if pattern is _DATA else "letters"
        raise InvalidName(f"{what} {value!r} may only contain {letters}, digits and {_allowed(pattern)}")
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
    """Names that come from the data (patient IDs, structure names): :func:`validate_name`'s rules, with
    letters of any alphabet, spaces, commas and parentheses.

    Other datasets name structures ``Spinal Cord``, ``Lens (L)`` or ``Blåsa`` and patients
    ``Patient 01``; their edits must save under those names. A name must be in Unicode NFC form,
    start with a letter or digit, not end with a space or ``.``, hold at most
    :data:`MAX_DATA_NAME_BYTES` bytes in UTF-8, and not mix Latin, Greek and Cyrillic letters.
    """
    pattern = _DATA
    if isinstance(value, str) and value and not value.isascii():
        _check_unicode(value, what)
        pattern = _VETTED
    validate_name(value, what, pattern)
    if value.endswith(" "):
        raise InvalidName(f"{what} {value!r} must not end with a space (Windows drops it: two names would become one)")
    return value


def _check_unicode(value: str, what: str) -> None:
    allowed = f"letters of any alphabet (in Unicode NFC form), digits and {_allowed(_DATA)}"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidName(f"{what} {value!r} is not valid Unicode text; it may only contain {allowed}") from None
    if len(value) > MAX_NAME:
        raise InvalidName(f"{what} is {len(value)} characters long; at most {MAX_NAME} are allowed")
    if unicodedata.normalize("NFC", value) != value:
        raise InvalidName(
            f"{what} {value!r} is not in Unicode NFC form (a letter and its accent stored apart); "
            f"rename it with composed letters ({what}s may contain {allowed})"
        )
    if size > MAX_DATA_NAME_BYTES:
        raise InvalidName(f"{what} {value!r} takes {size} bytes in UTF-8; at most {MAX_DATA_NAME_BYTES} are allowed")
    scripts = set()
    for c in value:
        if c.isascii():
            if not (c.isalnum() or c in _PUNCTUATION):
                raise InvalidName(f"{what} {value!r} may only contain {allowed}")
            if c.isalpha():
                scripts.add("LATIN")
            continue
        cat = unicodedata.category(c)
        compat = unicodedata.normalize("NFKC", c)
        if compat != c and cat[0] in "LMN":
            raise InvalidName(
                f"{what} {value!r} holds {unicodedata.name(c, 'a compatibility character')}, a look-alike of "
                f"{compat!r}; write {compat!r} itself ({what}s may contain {allowed})"
            )
        if not (cat[0] in "LM" or cat == "Nd"):
            raise InvalidName(
                f"{what} {value!r} holds {unicodedata.name(c, 'an unnamed character')} (U+{ord(c):04X}); "
                f"it may only contain {allowed}"
            )
        if cat[0] == "L":
            scripts.add(unicodedata.name(c, "").split(" ")[0])
    if len(scripts & _CONFUSABLE_SCRIPTS) > 1:
        raise InvalidName(
            f"{what} {value!r} mixes {' and '.join(sorted(x.title() for x in scripts & _CONFUSABLE_SCRIPTS))} letters, "
            f"which look alike; use one alphabet ({what}s may contain {allowed})"
        )
    if not (value[0].isalnum() and unicodedata.category(value[0])[0] in "LN"):
        raise InvalidName(f"{what} {value!r} must start with a letter or digit")


def folds_case_key(value: str) -> str:
    """The key under which a case-insensitive file system (Windows, macOS by default) sees a name."""
    return unicodedata.normalize("NFC", value).casefold()


def validate_observer(value: str) -> str:
    """Observer IDs: letters, digits, ``_`` and ``-`` only."""
    return validate_name(value, "observer ID", _OBSERVER)


def validate_source(value: str) -> str:
    """Source names such as ``step1_obsF``: letters, digits, ``_`` and ``-`` only."""
    return validate_name(value, "source name", _OBSERVER)
