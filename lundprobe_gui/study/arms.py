"""Arms: named sets of step rules, what an observer is shown in a step.

An **arm** is what is shown (the uncertainty map, the fold contours, the dose...); a **step** is the
session order (1, 2, ...). The built-in arms are the published study's two steps, ``without`` and
``with_uncertainty``; more are written ``NAME:RULES`` (``study init --arm``, see :func:`parse_arm`).
Which arm an observer sees in which step is the design's (:mod:`lundprobe_gui.study.design`).
"""

from __future__ import annotations

import logging

from .definition import StepRules, default_steps
from .design import ArmSpecError, validate_arm_name
from .presets import HIDE_CATEGORIES, UNCERTAINTY_COLOURS

logger = logging.getLogger(__name__)

WITHOUT, WITH_UNCERTAINTY = "without", "with_uncertainty"
"""The built-in arms: the published step 1 and step 2."""
BUILTIN_ARMS = (WITHOUT, WITH_UNCERTAINTY)
SHOWABLE = ("uncertainty", *HIDE_CATEGORIES)
"""What ``show=`` and ``hide=`` of an arm's RULES name: the uncertainty map and the hidden categories."""
_DESCRIBE = {
    "uncertainty": "the uncertainty map",
    "folds": "the fold contours",
    "dose": "the dose",
    "clinical": "the clinical contours",
    "other_observers": "other observers' edits",
    "other_steps": "the observer's other steps",
}


def builtin_arm(name: str, show_dose: bool = False) -> StepRules:
    """The rules of a built-in arm (``without``, ``with_uncertainty``): step 1 / step 2 of the published study."""
    for rules in default_steps(show_dose):
        if rules.arm == name:
            return rules
    raise ArmSpecError(f"{name!r} is not a built-in arm ({', '.join(BUILTIN_ARMS)}); define it with --arm {name}:RULES")


def parse_arm(spec: str, show_dose: bool = False) -> StepRules:
    """An arm from ``NAME:RULES``.

    RULES is a comma-separated list of ``key=value``; several values are joined with ``+``. It
    starts from the ``without`` arm (everything but the start mask hidden, no uncertainty map; the
    dose as ``--show-dose`` says):

    * ``show=ITEMS`` / ``hide=ITEMS``: ``uncertainty`` (the heat map), ``folds`` (the 10 fold
      contours), ``dose``, ``clinical``, ``dl``, ``other_observers``, ``other_steps``;
    * ``scale=fixed|per_map``: the uncertainty map's scale (fixed: 0 to 0.5);
    * ``colours=rainbow|magenta``: the uncertainty map's colours;
    * ``tools=T1+T2``: the editing tools allowed (default all).

    Example: ``folds:show=folds,hide=uncertainty`` (the fold contours instead of the heat map).

    Raises
    ------
    ArmSpecError
        One line naming the arm and what is wrong.
    """
    name, sep, rules = str(spec).partition(":")
    name = name.strip()
    if not sep:
        raise ArmSpecError(f"--arm {spec!r}: expected NAME:RULES, e.g. folds:show=folds,hide=uncertainty")
    validate_arm_name(name)
    if name in BUILTIN_ARMS:
        raise ArmSpecError(f"--arm {name}: {name!r} is a built-in arm; choose another name")
    hidden = set(builtin_arm(WITHOUT, show_dose).hidden)
    shown_unc = False
    extra: dict = {}
    seen: set[str] = set()
    for item in (x.strip() for x in rules.split(",")):
        if not item:
            continue
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not value:
            raise ArmSpecError(f"--arm {name}: {item!r} is not key=value (keys: show, hide, scale, colours, tools)")
        if key in seen:
            raise ArmSpecError(f"--arm {name}: {key} given twice")
        seen.add(key)
        values = [v.strip() for v in value.split("+") if v.strip()]
        if key in ("show", "hide"):
            bad = [v for v in values if v not in SHOWABLE]
            if bad:
                raise ArmSpecError(f"--arm {name}: cannot {key} {', '.join(bad)}; known: {', '.join(SHOWABLE)}")
            for v in values:
                if v == "uncertainty":
                    shown_unc = key == "show"
                elif key == "show":
                    hidden.discard(v)
                else:
                    hidden.add(v)
        elif key == "scale":
            if value not in ("fixed", "per_map"):
                raise ArmSpecError(f"--arm {name}: scale must be fixed or per_map, not {value!r}")
            extra["uncertainty_scale"] = value
        elif key == "colours":
            if value not in UNCERTAINTY_COLOURS:
                raise ArmSpecError(f"--arm {name}: colours must be {' or '.join(UNCERTAINTY_COLOURS)}, not {value!r}")
            extra["uncertainty_colours"] = value
        elif key == "tools":
            extra["tools"] = tuple(values)
        else:
            raise ArmSpecError(f"--arm {name}: unknown key {key!r} (keys: show, hide, scale, colours, tools)")
    shown = [c for c in SHOWABLE if (c == "uncertainty" and shown_unc) or (c != "uncertainty" and c not in hidden)]
    what = ", ".join(_DESCRIBE.get(c, c) for c in shown if c in _DESCRIBE) or "the start mask only"
    try:
        return StepRules(
            1,
            f"Rate and edit with {what}",
            f"Rate the DL segmentation, then correct it. Shown besides the images and the start mask: {what}.",
            show_uncertainty=shown_unc,
            hidden=tuple(h for h in HIDE_CATEGORIES if h in hidden),
            arm=name,
            **extra,
        )
    except ValueError as e:
        raise ArmSpecError(f"--arm {name}: {e}") from None


def describe_arm(rules: StepRules) -> str:
    """One line: what an arm shows (for the methods paragraph and ``study status``)."""
    shown = ["the uncertainty map"] if rules.show_uncertainty else []
    shown += [_DESCRIBE[c] for c in HIDE_CATEGORIES if c not in rules.hidden and c in _DESCRIBE]
    text = f"{rules.arm}: " + (", ".join(shown) if shown else "no aid") + " shown"
    if rules.show_uncertainty:
        lo, hi = rules.uncertainty_range
        scale = f"fixed {lo:g} to {hi:g} scale" if rules.uncertainty_scale == "fixed" else "per-map scale"
        text += f" (map on a {scale}, {rules.uncertainty_colours})"
    return text
