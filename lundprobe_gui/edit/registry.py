"""The editing tools, in the order the UI offers them.

Adding a tool is one new file in ``edit/`` that ends with ``TOOLS = (MyTool,)``, plus its module
name in :data:`TOOL_MODULES`. Everything the UI needs (button, menu entry, shortcut, settings
widgets, brush cursor, previews, what Enter does) comes from the tool class itself.
"""

from __future__ import annotations

import importlib
import logging
from functools import lru_cache

from lundprobe_gui.edit.options import check_options
from lundprobe_gui.edit.tool import Tool

logger = logging.getLogger(__name__)

TOOL_MODULES: tuple[str, ...] = (
    "brush",
    "polygon",
    "fill_holes",
    "islands",
    "interpolate",
    "margin",
    "smooth",
    "edge_brush",
    "grow",
    "fold_vote",
)
"""Modules of ``lundprobe_gui.edit`` holding tools; each lists its tool classes in ``TOOLS``."""


@lru_cache(maxsize=1)
def tool_classes() -> tuple[type[Tool], ...]:
    """Every registered tool class, in offering order (checked once: names, shortcuts, options)."""
    out: list[type[Tool]] = []
    for module in TOOL_MODULES:
        out.extend(importlib.import_module(f"lundprobe_gui.edit.{module}").TOOLS)
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two tools share a name: {names}")
    keys = [c.shortcut for c in out if c.shortcut]
    if len(set(keys)) != len(keys):
        raise RuntimeError(f"two tools share a shortcut: {keys}")
    for c in out:
        if c.options and c.settings_type is None:
            raise RuntimeError(f"tool {c.name!r} has options but no settings_type")
        if c.settings_type is not None:
            check_options(c.options, c.settings_type)
    return tuple(out)


def tool_names() -> tuple[str, ...]:
    """Names of the registered tools, in offering order."""
    return tuple(c.name for c in tool_classes())


def tool_class(name: str) -> type[Tool]:
    """The tool class called ``name``; KeyError when there is none."""
    for c in tool_classes():
        if c.name == name:
            return c
    raise KeyError(f"unknown tool {name!r}")
