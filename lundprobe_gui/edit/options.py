"""Declarative tool options: what a tool's settings panel holds, described without Qt.

A tool lists its user-facing settings as :class:`Option` objects (3D Slicer's Segment Editor
effects describe their parameters the same way). The UI builds one widget per option from this
description and writes the values back into the tool's settings dataclass through
:func:`set_option`, which also validates them, so scripts and tests get the same checks as the
panel.

``shared`` names a value that several tools hold in common (the brush radius is one value for
the brush, the eraser, the edge-aware brush and the fold-vote brush, so ``+``/``-`` and the
spin box act on all of them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

logger = logging.getLogger(__name__)

OptionKind = Literal["float", "int", "bool", "choice"]
OPTION_KINDS: tuple[str, ...] = ("float", "int", "bool", "choice")


@dataclass(frozen=True)
class Option:
    """One user-facing setting of a tool.

    Parameters
    ----------
    name : str
        Field of the tool's settings dataclass.
    label : str
        Text shown beside the widget.
    kind : {"float", "int", "bool", "choice"}
        Spin box (float or int), check box or combo box.
    minimum, maximum : float
        Range of numeric options (values outside are clamped).
    step : float
        Spin box step.
    decimals : int
        Decimals shown for float options.
    suffix : str
        Unit shown after the value, e.g. " mm".
    choices : sequence of (value, text)
        The values of a choice option and the text shown for each.
    tooltip : str
        Longer help.
    shared : str, optional
        Name of a value several tools share (see the module docstring).
    shown_when : (str, tuple), optional
        ``(other option, values)``: the option only matters while the other one has one of
        ``values`` (the panel hides it otherwise).
    """

    name: str
    label: str
    kind: OptionKind
    minimum: float = 0.0
    maximum: float = 100.0
    step: float = 1.0
    decimals: int = 1
    suffix: str = ""
    choices: tuple[tuple[Any, str], ...] = ()
    tooltip: str = ""
    shared: str | None = None
    shown_when: tuple[str, tuple[Any, ...]] | None = None

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option {self.name!r}: kind must be one of {OPTION_KINDS}, got {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"option {self.name!r}: a choice needs choices")
        if self.kind in ("float", "int") and not self.minimum <= self.maximum:
            raise ValueError(f"option {self.name!r}: minimum {self.minimum} > maximum {self.maximum}")

    def coerce(self, value: Any) -> Any:
        """``value`` as this option stores it: clamped number, bool, or one of the choices.

        Raises
        ------
        ValueError
            For a value that is not a number (numeric options), not finite, or not a choice.
        """
        if self.kind == "bool":
            return bool(value)
        if self.kind == "choice":
            allowed = [c for c, _ in self.choices]
            if value not in allowed:
                raise ValueError(f"{self.label}: {value!r} is not one of {allowed}")
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.label}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{self.label}: {value!r} is not a finite number")
        number = min(max(number, self.minimum), self.maximum)
        return int(round(number)) if self.kind == "int" else number

    def is_shown(self, settings: Any) -> bool:
        """Whether the option matters for the current values of ``settings``."""
        if self.shown_when is None:
            return True
        other, values = self.shown_when
        return getattr(settings, other) in values


def check_options(options: Sequence[Option], settings_type: type) -> None:
    """Raise ValueError when an option names no field of ``settings_type`` (a typo in a tool file)."""
    names = {f.name for f in fields(settings_type)}
    for opt in options:
        if opt.name not in names:
            raise ValueError(f"option {opt.name!r} is not a field of {settings_type.__name__}")
        if opt.shown_when is not None and opt.shown_when[0] not in names:
            raise ValueError(f"option {opt.name!r} depends on unknown field {opt.shown_when[0]!r}")


def set_option(settings: Any, option: Option, value: Any) -> Any:
    """Validate ``value`` for ``option`` and store it in ``settings``; returns the stored value."""
    stored = option.coerce(value)
    setattr(settings, option.name, stored)
    return stored


def find_option(options: Sequence[Option], name: str) -> Option:
    """The option called ``name``; KeyError when there is none."""
    for opt in options:
        if opt.name == name:
            return opt
    raise KeyError(name)
