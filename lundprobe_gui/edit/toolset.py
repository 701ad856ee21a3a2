"""Which editing tools a user may use, and the record of each use.

A reader study decides per arm and step which tools an observer gets (a manual arm: brush,
eraser and polygon only; a guided arm: the uncertainty-guided tools too) and must never offer a
tool that reads data the step hides: the fold vote shows the folds, the hotspot navigator shows
where the uncertainty is high. :class:`ToolSet` holds that rule; the editing session refuses a
tool it does not permit. :class:`ToolUse` is what the session emits for every interaction that
changed the structure (and the navigator for its actions), for the study's interaction log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

MANUAL_TOOLS: tuple[str, ...] = ("brush", "eraser", "polygon")
"""The tools every contouring program has."""

HOTSPOTS = "hotspots"
"""The hotspot navigator's name in tool sets and logs (it reads the uncertainty map)."""

AID_NEEDS: dict[str, frozenset[str]] = {HOTSPOTS: frozenset({"uncertainty"})}
"""Data needed by the guided aids that are not editing tools."""


def needs_of(name: str) -> frozenset[str]:
    """The data a registered tool or aid reads besides the mask ("image", "folds", "uncertainty")."""
    if name in AID_NEEDS:
        return AID_NEEDS[name]
    from lundprobe_gui.edit.registry import tool_class

    try:
        return tool_class(name).needs
    except KeyError:
        return frozenset()


@dataclass(frozen=True)
class ToolSet:
    """The tools a user may use.

    Parameters
    ----------
    allowed : frozenset of str, optional
        Tool (and aid) names allowed; every tool when None.
    folds_shown : bool
        False when the folds are hidden: tools that need them are refused whatever ``allowed`` says.
    uncertainty_shown : bool
        False when the uncertainty map is hidden: likewise.
    """

    allowed: frozenset[str] | None = None
    folds_shown: bool = True
    uncertainty_shown: bool = True

    def __post_init__(self) -> None:
        if self.allowed is not None:
            object.__setattr__(self, "allowed", frozenset(self.allowed))

    @classmethod
    def manual(cls) -> ToolSet:
        """Brush, eraser and polygon only."""
        return cls(frozenset(MANUAL_TOOLS))

    @classmethod
    def for_step(
        cls, hidden_categories: Iterable[str], uncertainty_allowed: bool, allowed: Iterable[str] | None = None
    ) -> ToolSet:
        """The tool set of a study step: its blinding rules plus the arm's list of tools (all when None)."""
        return cls(
            None if allowed is None else frozenset(allowed),
            folds_shown="folds" not in set(hidden_categories),
            uncertainty_shown=bool(uncertainty_allowed),
        )

    def why_not(self, name: str, needs: frozenset[str] | None = None) -> str | None:
        """Why the tool or aid ``name`` is refused, or None when it is permitted.

        ``needs`` overrides what the registry says the tool reads (for tools not registered).
        """
        if self.allowed is not None and name not in self.allowed:
            return f"{name} is not among the tools of this session"
        if self.folds_shown and self.uncertainty_shown:
            return None
        needs = needs_of(name) if needs is None else needs
        if "folds" in needs and not self.folds_shown:
            return f"{name} shows the DL folds, which are hidden here"
        if "uncertainty" in needs and not self.uncertainty_shown:
            return f"{name} shows the uncertainty map, which is hidden here"
        return None

    def permits(self, name: str) -> bool:
        """Whether the tool or aid ``name`` may be used."""
        return self.why_not(name) is None

    def to_dict(self) -> dict:
        """JSON-ready form (study definitions, logs)."""
        return {
            "allowed": None if self.allowed is None else sorted(self.allowed),
            "folds_shown": self.folds_shown,
            "uncertainty_shown": self.uncertainty_shown,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ToolSet:
        """Inverse of :meth:`to_dict`."""
        allowed = d.get("allowed")
        return cls(
            None if allowed is None else frozenset(str(a) for a in allowed),
            bool(d.get("folds_shown", True)),
            bool(d.get("uncertainty_shown", True)),
        )


@dataclass(frozen=True)
class ToolUse:
    """One use of a tool or aid, for the interaction log.

    Parameters
    ----------
    tool : str
        Tool or aid name.
    action : str
        ``edit`` (an undo step: a stroke, a polygon, an application), ``navigate``, ``review``,
        ``accept``.
    structure, target : str
        The structure and the source its edits are saved under ("" for aids without one).
    voxels_added, voxels_removed : int
        What an ``edit`` changed.
    details : dict
        Anything else worth keeping (the fold vote's k, the hotspot's number...), JSON-ready.
    """

    tool: str
    action: str
    structure: str = ""
    target: str = ""
    voxels_added: int = 0
    voxels_removed: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "tool": self.tool,
            "action": self.action,
            "structure": self.structure,
            "target": self.target,
            "voxels_added": self.voxels_added,
            "voxels_removed": self.voxels_removed,
            "details": dict(self.details),
        }
