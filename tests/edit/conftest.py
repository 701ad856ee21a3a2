"""Shared helpers for the editing tests: contexts and synthetic events, no Qt."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.history import History
from lundprobe_gui.edit.tool import EditContext, EditEvent


def event(
    kind: str,
    zyx=(0.0, 0.0, 0.0),
    axis: int = 0,
    slice_index: int | None = None,
    button: str | None = "left",
    modifiers=(),
    key: str | None = None,
) -> EditEvent:
    """An EditEvent whose slice index defaults to the rounded pointer coordinate along ``axis``."""
    if slice_index is None:
        slice_index = int(round(zyx[axis]))
    return EditEvent(kind, axis, slice_index, tuple(zyx), button, frozenset(modifiers), key)


def drag(tool, points, axis: int = 0, button: str = "left") -> None:
    """Press at the first point, move through the others, release at the last."""
    tool.on_event(event("press", points[0], axis, button=button))
    for p in points[1:]:
        tool.on_event(event("move", p, axis, button=button))
    tool.on_event(event("release", points[-1], axis, button=button))


def make_ctx(shape=(8, 32, 32), spacing=(1.0, 1.0, 1.0), full: np.ndarray | None = None, **kwargs) -> EditContext:
    """Context over a fresh Mask (optionally filled from a full-size array) and a new History."""
    mask = Mask.from_full(full) if full is not None else Mask(shape)
    return EditContext(mask, spacing, History(), **kwargs)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
