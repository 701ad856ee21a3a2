"""Patch-based undo/redo shared by all tools and structures of an editing session.

Modelled on napari's labels history: each undo step is a list of patches (box, before, after)
rather than a copy of the volume. Blocks are stored bit-packed (``np.packbits``: 8 voxels a byte),
so a brush stroke costs kilobytes, not the 61 MB of a full LUND-PROBE grid.

Patches recorded between :meth:`History.begin_stroke` and :meth:`History.end_stroke` become a
single step. When the stroke is compact, its patches are merged per structure into one patch over
their union box (fewer objects, one write on undo); a long thin stroke whose union box would be
mostly untouched voxels keeps its list of patches, undone in reverse order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from lundprobe_gui.core.mask import Box, Mask, bbox_of, box_slices, union_box
from lundprobe_gui.edit.apply import Patch

logger = logging.getLogger(__name__)

# Rough size of the Python objects around one stored patch (dataclass, box tuples, two array
# headers); counted so that many tiny patches cannot slip past the memory cap.
_PATCH_OVERHEAD = 320

# Merge a stroke's patches when their union box holds at most this many times their own voxels.
_MERGE_RATIO = 2.0


@dataclass(eq=False)
class PackedPatch:
    """A :class:`Patch` with its blocks bit-packed."""

    mask: Mask
    box: Box
    before: np.ndarray
    after: np.ndarray

    @classmethod
    def from_patch(cls, patch: Patch) -> PackedPatch:
        """Pack a patch's blocks."""
        return cls(patch.mask, patch.box, np.packbits(patch.before, axis=None), np.packbits(patch.after, axis=None))

    def _unpack(self, bits: np.ndarray) -> np.ndarray:
        shape = tuple(b - a for a, b in self.box)
        return np.unpackbits(bits, count=int(np.prod(shape))).view(bool).reshape(shape)

    def blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """The box's contents before and after, unpacked (bool, the box's shape)."""
        return self._unpack(self.before), self._unpack(self.after)

    def undo(self) -> None:
        """Write the old contents back."""
        self.mask.write(self.box, self._unpack(self.before))

    def redo(self) -> None:
        """Write the new contents again."""
        self.mask.write(self.box, self._unpack(self.after))

    @property
    def nbytes(self) -> int:
        """Packed bytes plus an estimate of the object overhead."""
        return int(self.before.nbytes + self.after.nbytes + _PATCH_OVERHEAD)


@dataclass(eq=False)
class _Step:
    patches: list[PackedPatch] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.patches)

    def changed(self) -> list[tuple[Mask, Box]]:
        out: dict[int, tuple[Mask, Box]] = {}
        for p in self.patches:
            prev = out.get(id(p.mask))
            out[id(p.mask)] = (p.mask, union_box(prev[1] if prev else None, p.box))
        return list(out.values())


def _volume(box: Box) -> int:
    return int(np.prod([b - a for a, b in box]))


def _merge(patches: list[Patch]) -> list[Patch]:
    """Merge one structure's patches (in recording order) into one over their union box if compact.

    The mask is in its after-state, so the union box's "after" is read from it and its "before"
    is rebuilt by pasting the patches' befores in reverse order.
    """
    if len(patches) < 2:
        return patches
    mask = patches[0].mask
    ubox = patches[0].box
    for p in patches[1:]:
        ubox = union_box(ubox, p.box)
    if _volume(ubox) > _MERGE_RATIO * sum(_volume(p.box) for p in patches):
        return patches
    after = mask.read(ubox)
    before = after.copy()
    for p in reversed(patches):
        before[tuple(slice(a - u[0], b - u[0]) for (a, b), u in zip(p.box, ubox))] = p.before
    inner = bbox_of(before ^ after)
    if inner is None:
        return []
    sl = box_slices(inner)
    tight = tuple((a + u[0], b + u[0]) for (a, b), u in zip(inner, ubox))
    return [Patch(mask, tight, np.ascontiguousarray(before[sl]), np.ascontiguousarray(after[sl]))]  # type: ignore[arg-type]


class History:
    """Undo/redo stacks of patch steps, bounded by memory.

    Parameters
    ----------
    max_bytes : int
        Memory cap for all stored steps (undo and redo). When a new step exceeds it, the oldest
        undo steps are dropped first; the newest step is always kept, however large.
    """

    def __init__(self, max_bytes: int = 512 * 1024**2) -> None:
        self.max_bytes = int(max_bytes)
        self._undo: deque[_Step] = deque()
        self._redo: list[_Step] = []
        self._pending: list[Patch] | None = None
        self._nbytes = 0
        self.last_changed: list[tuple[Mask, Box]] = []
        """(mask, box) pairs touched by the last undo or redo, for re-rendering several structures."""
        self.steps_pushed = 0
        """How many undo steps were ever recorded (never decreases), to tell when an interaction made one."""

    # -- recording -----------------------------------------------------------
    @property
    def in_stroke(self) -> bool:
        """True between :meth:`begin_stroke` and :meth:`end_stroke`."""
        return self._pending is not None

    def begin_stroke(self) -> None:
        """Start collecting patches into one step (a second call while open is ignored)."""
        if self._pending is None:
            self._pending = []

    def record(self, patch: Patch | None) -> None:
        """Record an applied patch: into the open stroke, or as its own step."""
        if patch is None:
            return
        # the mask has moved on: what was undone can no longer be redone on top of it
        self._drop_redo()
        if self._pending is not None:
            self._pending.append(patch)
        else:
            self._push([patch])

    def end_stroke(self) -> bool:
        """Close the stroke; returns True when it became an undo step (it changed something)."""
        pending, self._pending = self._pending, None
        if not pending:
            return False
        return self._push(pending)

    @contextmanager
    def stroke(self) -> Iterator[History]:
        """Context manager: everything recorded inside is one undo step."""
        opened = not self.in_stroke
        self.begin_stroke()
        try:
            yield self
        finally:
            if opened:
                self.end_stroke()

    def _push(self, patches: list[Patch]) -> bool:
        by_mask: dict[int, list[Patch]] = {}
        for p in patches:
            by_mask.setdefault(id(p.mask), []).append(p)
        merged = [q for group in by_mask.values() for q in _merge(group)]
        if not merged:
            return False
        step = _Step([PackedPatch.from_patch(p) for p in merged])
        self._undo.append(step)
        self.steps_pushed += 1
        self._nbytes += step.nbytes
        while self._nbytes > self.max_bytes and len(self._undo) > 1:
            self._nbytes -= self._undo.popleft().nbytes
            logger.debug("history over %d bytes: dropped the oldest step", self.max_bytes)
        return True

    def _drop_redo(self) -> None:
        for step in self._redo:
            self._nbytes -= step.nbytes
        self._redo.clear()

    # -- undo / redo ---------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        """Whether there is a step to undo (an open stroke counts once it changed something)."""
        return bool(self._undo) or bool(self._pending)

    @property
    def can_redo(self) -> bool:
        """Whether there is a step to redo."""
        return bool(self._redo)

    def undo(self) -> Box | None:
        """Undo the newest step; returns the union box it changed, or None when there was none.

        An open stroke is closed first, so undo during a drag undoes the drag so far.
        """
        if self.in_stroke:
            self.end_stroke()
        if not self._undo:
            return None
        step = self._undo.pop()
        for p in reversed(step.patches):
            p.undo()
        self._redo.append(step)
        return self._changed(step)

    def redo(self) -> Box | None:
        """Redo the newest undone step; returns the union box it changed, or None."""
        if self.in_stroke:
            self.end_stroke()
        if not self._redo:
            return None
        step = self._redo.pop()
        for p in step.patches:
            p.redo()
        self._undo.append(step)
        return self._changed(step)

    def _changed(self, step: _Step) -> Box | None:
        self.last_changed = step.changed()
        box: Box | None = None
        for _, b in self.last_changed:
            box = union_box(box, b)
        return box

    # -- bookkeeping ---------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Memory held by the stored steps (packed blocks plus estimated object overhead)."""
        pending = sum(p.nbytes for p in self._pending) if self._pending else 0
        return self._nbytes + pending

    def newest_counts(self) -> tuple[int, int]:
        """(voxels added, voxels removed) by the newest undo step; (0, 0) when there is none."""
        if not self._undo:
            return (0, 0)
        added = removed = 0
        for p in self._undo[-1].patches:
            before, after = p.blocks()
            added += int(np.count_nonzero(after & ~before))
            removed += int(np.count_nonzero(before & ~after))
        return added, removed

    @property
    def undo_depth(self) -> int:
        """Number of steps that can be undone."""
        return len(self._undo)

    @property
    def redo_depth(self) -> int:
        """Number of steps that can be redone."""
        return len(self._redo)

    def clear(self) -> None:
        """Forget everything (an open stroke is discarded, its edits stay applied)."""
        self._undo.clear()
        self._redo.clear()
        self._pending = None
        self._nbytes = 0

    def forget(self, mask: Mask) -> None:
        """Drop every patch of ``mask`` (when its structure is closed); other structures keep theirs."""
        for stack in (self._undo, self._redo):
            kept = []
            for step in stack:
                step.patches = [p for p in step.patches if p.mask is not mask]
                if step.patches:
                    kept.append(step)
            stack.clear()
            stack.extend(kept)
        if self._pending:
            self._pending = [p for p in self._pending if p.mask is not mask]
        self._nbytes = sum(s.nbytes for s in self._undo) + sum(s.nbytes for s in self._redo)
