"""Placement of text labels on a view so that none covers another (isodose labels)."""

from __future__ import annotations

from collections.abc import Sequence

Box = tuple[float, float, float, float]  # left, top, width, height (screen pixels, y down)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def separate(boxes: Sequence[Box], gap: float = 1.0) -> list[float]:
    """New tops for label boxes so that no two overlap, moving each as little as it can.

    Labels are placed in order of their wanted top. Each one goes to its wanted position if that
    is free; otherwise to the free position nearest to it, above or below, just clear of the
    labels placed before it. Only the vertical position changes: the label stays beside the
    point of its line that it names.

    Parameters
    ----------
    boxes : sequence of (left, top, width, height)
        The wanted box of each label, in screen pixels (y grows downwards).
    gap : float
        Free space kept between two labels, pixels.

    Returns
    -------
    list of float
        The top of each box, in the order given.
    """
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][1], i))
    placed: list[Box] = []
    tops = [0.0] * len(boxes)
    for i in order:
        left, top, width, height = boxes[i]
        # every candidate top: the wanted one, and just above or below each box in the way
        candidates = [top]
        for b in placed:
            if b[0] < left + width and left < b[0] + b[2]:
                candidates += [b[1] + b[3] + gap, b[1] - height - gap]
        best = min(
            (c for c in candidates if not any(_overlap((left, c, width, height), b) for b in placed)),
            key=lambda c: (abs(c - top), c),
        )
        tops[i] = best
        placed.append((left, best, width, height))
    return tops
