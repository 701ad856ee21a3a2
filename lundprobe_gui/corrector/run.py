"""The correction loop: error, interaction, until the surface Dice is good enough."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ..edit.guidance import Guidance
from ..edit.session import EditSession
from ..edit.toolset import MANUAL_TOOLS, ToolSet
from ..metrics.overlap import dice
from ..metrics.surface import surface_distances
from .case import CorrectionCase
from .errors import ErrorFinder
from .user import SimulatedUser

logger = logging.getLogger(__name__)

GUIDED_TOOLS = frozenset(MANUAL_TOOLS) | {"fold_vote", "grow", "edge_brush", "hotspots"}
TOOLSETS: dict[str, tuple[frozenset[str], bool]] = {
    "manual": (frozenset(MANUAL_TOOLS), False),
    "guided": (GUIDED_TOOLS, False),
    "guided_judged": (GUIDED_TOOLS, True),
}
"""Tool sets compared: what every contouring program has; that plus the guided tools with k taken
from the folds alone; and the same with k judged on the preview (see :mod:`.user`)."""

GOAL_SURFACE_DICE = 0.95
TOLERANCE_MM = 2.0
MAX_INTERACTIONS = 200


@dataclass
class CorrectionResult:
    """How one case went with one tool set."""

    case: str
    structure: str
    target: str
    kind: str
    toolset: str
    interactions: int
    reached: bool
    start_surface_dice: float
    surface_dice: float
    dice: float
    tools: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return dict(self.__dict__)


def _surface_dice(a, b, spacing) -> float:
    return surface_distances(a, b, spacing).surface_dice(TOLERANCE_MM)


def simulate_correction(
    case: CorrectionCase,
    toolset: str = "manual",
    goal: float = GOAL_SURFACE_DICE,
    max_interactions: int = MAX_INTERACTIONS,
) -> CorrectionResult:
    """Correct ``case.start`` towards ``case.target`` with the tools of ``toolset``.

    Parameters
    ----------
    case : CorrectionCase
    toolset : {"manual", "guided", "guided_judged"}
    goal : float
        Surface Dice at 2 mm that ends the correction.
    max_interactions : int
        Give up after this many.

    Returns
    -------
    CorrectionResult
    """
    t0 = time.perf_counter()
    allowed, judge = TOOLSETS[toolset]
    guide = Guidance(case.folds, case.uncertainty, case.start) if case.folds else None
    session = EditSession(case.spacing_zyx, image=case.image, guidance=lambda _name: guide)
    session.tool_set = ToolSet(allowed)
    key = session.start_editing(case.structure, case.start, "simulated")
    work = session.working(key)
    user = SimulatedUser(session, allowed, judge)
    finder = ErrorFinder(case.target, case.spacing_zyx, TOLERANCE_MM)
    start_sd = sd = _surface_dice(case.target, work, case.spacing_zyx)
    n = 0
    while sd < goal and n < max_interactions:
        spot = finder.next_error(work)
        if spot is None:
            break
        user.interact(spot)
        n += 1
        sd = _surface_dice(case.target, work, case.spacing_zyx)
    return CorrectionResult(
        f"{case.patient}/{case.structure}/{case.target_name}",
        case.structure,
        case.target_name,
        case.kind,
        toolset,
        n,
        sd >= goal,
        round(start_sd, 4),
        round(sd, 4),
        round(float(dice(case.target, work)), 4),
        dict(user.used),
        round(time.perf_counter() - t0, 2),
    )
