"""Contour editing: regions, constraints, patch history, tools and the editing session.

Tools build :class:`Region` objects; :func:`apply_region` is the only code that writes a mask.
Nothing here imports Qt: the UI turns mouse and key input into :class:`EditEvent` objects.
"""

from __future__ import annotations

from lundprobe_gui.edit.apply import Patch, apply_region
from lundprobe_gui.edit.brush import BrushSettings, BrushTool, EraserTool, brush_footprint
from lundprobe_gui.edit.constraint import EditConstraint
from lundprobe_gui.edit.fill_holes import FillHolesSettings, FillHolesTool
from lundprobe_gui.edit.guidance import Guidance
from lundprobe_gui.edit.history import History
from lundprobe_gui.edit.interpolate import InterpolateSettings, InterpolateTool
from lundprobe_gui.edit.islands import IslandsSettings, IslandsTool
from lundprobe_gui.edit.margin import MarginSettings, MarginTool
from lundprobe_gui.edit.options import Option
from lundprobe_gui.edit.polygon import PolygonSettings, PolygonTool
from lundprobe_gui.edit.region import Region
from lundprobe_gui.edit.registry import tool_class, tool_classes, tool_names
from lundprobe_gui.edit.session import EditSession
from lundprobe_gui.edit.smooth import SmoothSettings, SmoothTool
from lundprobe_gui.edit.stats import EditStats, edit_stats
from lundprobe_gui.edit.tool import EditContext, EditEvent, Preview, Tool
from lundprobe_gui.edit.toolset import ToolSet, ToolUse

TOOLS: dict[str, type[Tool]] = {cls.name: cls for cls in tool_classes()}
"""Tool classes by name, in offering order (see :mod:`lundprobe_gui.edit.registry`)."""

__all__ = [
    "TOOLS",
    "BrushSettings",
    "BrushTool",
    "EditConstraint",
    "EditContext",
    "EditEvent",
    "EditSession",
    "EditStats",
    "EraserTool",
    "FillHolesSettings",
    "FillHolesTool",
    "Guidance",
    "History",
    "InterpolateSettings",
    "InterpolateTool",
    "IslandsSettings",
    "IslandsTool",
    "MarginSettings",
    "MarginTool",
    "Option",
    "Patch",
    "PolygonSettings",
    "PolygonTool",
    "Preview",
    "Region",
    "SmoothSettings",
    "SmoothTool",
    "Tool",
    "ToolSet",
    "ToolUse",
    "apply_region",
    "brush_footprint",
    "edit_stats",
    "tool_class",
    "tool_classes",
    "tool_names",
]
