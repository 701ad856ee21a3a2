"""Designs: in which order each observer sees the study's arms.

* ``sequential`` (the published study): every observer sees the arms in the listed order;
* ``crossover``: the order of the arms is counterbalanced across observers with a Williams design
  (a balanced Latin square: every arm comes equally often at every position, and, for an even
  number of arms, every arm follows every other equally often). Observer ``i`` (in the study's
  order) takes row ``i mod rows``; which arm is which label of the square is drawn from the study's
  seed (:data:`ORDER_RECIPE`), so the orders are reproducible, and an observer listed after the
  others takes the next row of the rotation (the orders of the observers before it do not change).

This module knows arms by name only (their rules are in :mod:`lundprobe_gui.study.arms`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence

logger = logging.getLogger(__name__)

DESIGNS = ("sequential", "crossover")
ARM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
ORDER_RECIPE = {
    "method": "Williams design",
    "rows": "k arms labelled 0..k-1; row 0 is 0, 1, k-1, 2, k-2, ...; row r adds r to every label (mod k); "
    "for an odd k the k mirrored rows follow",
    "labels": "the arms sorted by the sha256 digest of '<seed>|arm|<name>' (UTF-8 bytes), ascending, "
    "take labels 0..k-1",
    "observers": "the i-th observer (0-based, in the study's order) takes row i mod the number of rows",
}
"""How a crossover's orders are drawn, recorded in ``study.json`` so they can be recomputed."""


class ArmSpecError(ValueError):
    """A bad ``--arm``, arm name or design; the message is one line naming what is wrong."""


def validate_arm_name(name: str) -> str:
    """Check an arm name: lower-case letters, digits and ``_``, a letter first, at most 32 characters.

    The name is a value of the ``arm`` column and may become part of a file name.
    """
    if not isinstance(name, str) or not ARM_NAME.match(name):
        raise ArmSpecError(
            f"arm name {name!r}: use lower-case letters, digits and '_', starting with a letter, at most 32 characters"
        )
    return name


def williams_rows(k: int) -> list[list[int]]:
    """The rows of a Williams design for ``k`` treatments (``k`` rows for an even ``k``, ``2k`` for an odd one)."""
    if k < 1:
        raise ValueError("a design needs at least one arm")
    first, lo, hi = [0], 1, k - 1
    while len(first) < k:
        first.append(lo)
        lo += 1
        if len(first) < k:
            first.append(hi)
            hi -= 1
    rows = [[(x + r) % k for x in first] for r in range(k)]
    if k % 2 == 1 and k > 1:
        rows += [row[::-1] for row in rows]
    return rows


def arm_orders(design: str, arms: Sequence[str], observers: Sequence[str], seed: int) -> dict[str, tuple[str, ...]]:
    """Each observer's arm per step (step ``k`` shows ``order[k - 1]``).

    ``sequential``: the listed order for everyone. ``crossover``: see the module docstring.
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(DESIGNS)}, not {design!r}")
    arms = list(arms)
    if design == "sequential":
        return {o: tuple(arms) for o in observers}
    labelled = sorted(arms, key=lambda a: hashlib.sha256(f"{seed}|arm|{a}".encode()).digest())
    rows = williams_rows(len(arms))
    return {o: tuple(labelled[x] for x in rows[i % len(rows)]) for i, o in enumerate(observers)}
