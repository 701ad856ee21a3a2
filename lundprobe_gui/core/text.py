"""Validation of free text (comments, answers, reasons, titles) before it enters any saved state.

A comment with a lone surrogate (what Python makes of text that is not valid Unicode, e.g. pasted
from a broken clipboard) cannot be written as UTF-8: once in a session's state it would make every
later save fail. Text is therefore checked where it comes in, and refused with a message that says
what is accepted.
"""

from __future__ import annotations

import logging
import unicodedata

logger = logging.getLogger(__name__)

MAX_TEXT = 4000
ALLOWED_CONTROLS = frozenset("\t\n\r")


class InvalidText(ValueError):
    """Free text that cannot be stored; the message says why and what is accepted."""


def validate_text(value: object, what: str = "text", max_length: int = MAX_TEXT) -> str:
    """Return ``value`` in Unicode NFC form when it can be stored, else raise :class:`InvalidText`.

    Accepted: any Unicode text of at most ``max_length`` characters that can be encoded as UTF-8
    (no lone surrogates), without control characters other than tab, line feed and carriage return.

    Parameters
    ----------
    value : object
        What was given; it must be a ``str``.
    what : str
        What the text is, for the message (``segmentation comment``...).
    max_length : int
        Longest accepted text, in characters.
    """
    if not isinstance(value, str):
        raise InvalidText(f"{what} must be text, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidText(
            f"{what} holds a character that is not valid Unicode (U+{ord(value[e.start]):04X} at position "
            f"{e.start}); it was not stored: type or paste the text again"
        ) from None
    bad = next((i for i, c in enumerate(value) if unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROLS), None)
    if bad is not None:
        raise InvalidText(
            f"{what} holds the control character U+{ord(value[bad]):04X} at position {bad}; only tab and line "
            "breaks are accepted among control characters"
        )
    value = unicodedata.normalize("NFC", value)
    if len(value) > max_length:
        raise InvalidText(f"{what} is {len(value)} characters long; at most {max_length} are accepted")
    return value
