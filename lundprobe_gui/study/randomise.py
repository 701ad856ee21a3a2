"""Case orders and pseudonyms: a different, reproducible order per observer and step.

The order of step ``k`` for an observer sorts the patients by
``sha256("<seed>|<observer>|<step>|<attempt>|<patient>")``. A keyed hash gives a uniformly random
permutation that depends on nothing but these strings, so the orders can be recomputed from
``study.json`` on any machine and Python version. When a later step would repeat an earlier
step's order for the same observer (likely with few patients), the next ``attempt`` is taken, so
an observer never sees the same sequence twice.

A case is labelled "Case <position>" within its step: the label carries no patient ID, and the
same patient has unrelated labels in different steps, so step 2 gives no hint of step 1.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 64

RECIPE = {
    "method": "sha256 order",
    "key": "<seed>|<observer>|<step>|<attempt>|<patient>",
    "order": "patients sorted by the sha256 digest of the key (UTF-8 bytes), ascending",
    "attempt": f"0; while the order equals one of the observer's orders of earlier steps, the next attempt "
    f"(1, 2, ..., at most {MAX_ATTEMPTS - 1}; the last one is kept)",
    "pseudonym": "Case <position>: the 1-based position, zero-padded to at least two digits",
}
"""How the orders are drawn, recorded in ``study.json`` so they can be recomputed without this program."""


@dataclass(frozen=True)
class CaseSlot:
    """One case of an observer's step: its 1-based position, its pseudonym and the patient behind it."""

    position: int
    pseudonym: str
    patient: str


def _draw(patients: Sequence[str], seed: int, observer: str, step: int, attempt: int) -> list[str]:
    def key(p: str) -> tuple[bytes, str]:
        return hashlib.sha256(f"{seed}|{observer}|{step}|{attempt}|{p}".encode()).digest(), p

    return sorted(patients, key=key)


def case_order(patients: Sequence[str], seed: int, observer: str, step: int) -> list[str]:
    """The patients in the order ``observer`` sees them in ``step``.

    Parameters
    ----------
    patients : sequence of str
        The study's patient IDs (their listed order does not matter).
    seed : int
        The study's recorded seed.
    observer : str
        Observer ID.
    step : int
        1-based step.

    Returns
    -------
    list of str
        A permutation of ``patients`` that differs from this observer's orders of steps
        ``1..step-1`` whenever the number of patients allows it.
    """
    earlier = [case_order(patients, seed, observer, k) for k in range(1, step)]
    order: list[str] = []
    for attempt in range(MAX_ATTEMPTS):
        order = _draw(patients, seed, observer, step, attempt)
        if order not in earlier:
            return order
    logger.info("step %d of %s repeats an earlier order (only %d patients)", step, observer, len(patients))
    return order


def pseudonym(position: int, total: int) -> str:
    """``Case 07``: the position, zero-padded to at least two digits."""
    width = max(2, len(str(total)))
    return f"Case {position:0{width}d}"


def case_plan(patients: Sequence[str], seed: int, observer: str, step: int) -> list[CaseSlot]:
    """The slots of an observer's step, in presentation order."""
    order = case_order(patients, seed, observer, step)
    return [CaseSlot(i, pseudonym(i, len(order)), p) for i, p in enumerate(order, start=1)]
