"""Timing and memory of the editing core on a full-size LUND-PROBE grid (not a test; run by hand).

    python tests/edit/bench_edit_perf.py

Grid 88 x 682 x 1024 at (2.5, 0.4688, 0.4688) mm holding a ~40 cc ellipsoid; the constraint has
a locked structure and an intensity range on a full-size int16 image, so every stamp pays for the
whole pipeline: region, constraint, combine, tight patch, history record.
"""

from __future__ import annotations

import gc
import time
import tracemalloc

import numpy as np

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.brush import BrushSettings, BrushTool, brush_footprint, stamps_region
from lundprobe_gui.edit.constraint import EditConstraint
from lundprobe_gui.edit.history import History
from lundprobe_gui.edit.tool import EditContext, EditEvent

SHAPE = (88, 682, 1024)
SPACING = (2.5, 0.4688, 0.4688)
CENTRE = np.array([44, 341, 512])
SEMI_MM = np.array([19.0, 20.0, 25.0])


def ellipsoid(centre, semi_mm) -> Mask:
    half = np.ceil(semi_mm / SPACING).astype(int) + 1
    zz, yy, xx = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    block = (zz * SPACING[0] / semi_mm[0]) ** 2 + (yy * SPACING[1] / semi_mm[1]) ** 2 + (
        xx * SPACING[2] / semi_mm[2]
    ) ** 2 <= 1
    return Mask(SHAPE, block, tuple(centre - half))


def context(history: History) -> EditContext:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 1000, SHAPE, dtype=np.int16)
    rectum = ellipsoid([*CENTRE, 0, 110, 0], np.array([20.0, 8.0, 12.0]))
    constraint = EditConstraint(intensity_range=(50, 950), locked=[rectum])
    return EditContext(ellipsoid(CENTRE, SEMI_MM), SPACING, history, constraint, image)


def boundary_points(rng, n, jitter_mm=3.0):
    """Points near the ellipsoid surface on its central slices, where a stamp changes voxels."""
    theta = rng.uniform(0, 2 * np.pi, n)
    z = CENTRE[0] + rng.integers(-5, 6, n)
    r = 1 + rng.normal(0, jitter_mm / SEMI_MM[1:].mean(), n)
    y = CENTRE[1] + r * SEMI_MM[1] / SPACING[1] * np.sin(theta)
    x = CENTRE[2] + r * SEMI_MM[2] / SPACING[2] * np.cos(theta)
    return np.stack([z, y, x], axis=1)


def bench_stamps(ctx: EditContext, n=3000) -> None:
    rng = np.random.default_rng(1)
    fp = brush_footprint(5.0, SPACING, 0)
    pts = np.floor(boundary_points(rng, n) + 0.5).astype(int)
    modes = rng.choice(["add", "remove"], n)
    times, changed = [], 0
    gc.disable()
    for p, mode in zip(pts, modes):
        t0 = time.perf_counter()
        patch = ctx.apply(stamps_region(p[None], fp), mode)
        times.append(time.perf_counter() - t0)
        changed += patch is not None
    gc.enable()
    t = np.array(times) * 1e3
    print(
        f"5 mm 2-D stamp via ctx.apply ({n} stamps, {changed} of them changed the mask): "
        f"median {np.median(t):.3f} ms, p95 {np.percentile(t, 95):.3f} ms, max {t.max():.2f} ms"
    )


def stroke(tool: BrushTool, rng, moves=30, step_mm=1.5) -> None:
    start = boundary_points(rng, 1)[0]
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction)
    z = int(start[0])
    tool.on_event(EditEvent("press", 0, z, tuple(start)))
    for i in range(1, moves + 1):
        # 1.5 mm per move: one new stamp per move (step <= radius / 2 = 2.5 mm)
        p = start + np.r_[0, direction * i * step_mm / SPACING[1]]
        tool.on_event(EditEvent("move", 0, z, tuple(p)))
    tool.on_event(EditEvent("release", 0, z, tuple(p)))


def bench_undo(ctx: EditContext, repeats=30) -> None:
    rng = np.random.default_rng(2)
    tool = BrushTool(BrushSettings(radius_mm=5.0))
    tool.activate(ctx)
    undo, redo, press = [], [], []
    for _ in range(repeats):
        stroke(tool, rng)
        t0 = time.perf_counter()
        ctx.history.undo()
        undo.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ctx.history.redo()
        redo.append(time.perf_counter() - t0)
    print(
        f"undo of a 30-move 5 mm stroke: median {np.median(undo) * 1e3:.3f} ms, "
        f"max {np.max(undo) * 1e3:.3f} ms; redo median {np.median(redo) * 1e3:.3f} ms"
    )
    fast = []
    for _ in range(repeats):
        # fast drag, 6 mm per move: 3 interpolated stamps per move, a long sparse stroke
        stroke(tool, rng, step_mm=6.0)
        t0 = time.perf_counter()
        ctx.history.undo()
        fast.append(time.perf_counter() - t0)
        ctx.history.redo()
    print(
        f"undo of a fast 30-move stroke (up to 180 mm, too sparse to merge: a list of patches): "
        f"median {np.median(fast) * 1e3:.3f} ms, max {np.max(fast) * 1e3:.3f} ms"
    )
    for _ in range(500):
        p = boundary_points(rng, 1)[0]
        t0 = time.perf_counter()
        tool.on_event(EditEvent("click", 0, int(p[0]), tuple(p)))
        press.append(time.perf_counter() - t0)
    t = np.array(press) * 1e3
    print(
        f"click through BrushTool.on_event (stroke begin/end included): median {np.median(t):.3f} ms, "
        f"p95 {np.percentile(t, 95):.3f} ms"
    )
    tool.deactivate()


def bench_memory(n_strokes=200, step_mm=1.5) -> None:
    history = History()
    ctx = context(history)
    tool = BrushTool(BrushSettings(radius_mm=5.0))
    tool.activate(ctx)
    rng = np.random.default_rng(3)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(n_strokes):
        stroke(tool, rng, step_mm=step_mm)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    print(
        f"{n_strokes} strokes of 30 moves of {step_mm} mm: history.nbytes {history.nbytes / 1e6:.2f} MB, "
        f"traced allocation growth {used / 1e6:.2f} MB (includes mask block growth), "
        f"{history.undo_depth} undo steps"
    )


def main() -> None:
    history = History()
    ctx = context(history)
    print(ctx.mask, f"volume {ctx.mask.count() * np.prod(SPACING) / 1000:.1f} cc")
    bench_stamps(ctx)
    bench_undo(ctx)
    bench_memory()
    bench_memory(step_mm=6.0)


if __name__ == "__main__":
    main()
