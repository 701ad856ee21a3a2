"""The load session of test_load.py, run in a fresh process so its memory figures are its own.

Usage: ``python load_worker.py PATIENT OUT_DIR RECOVERY_AREA`` prints one JSON object: RSS samples
and counts.

2,000 brush and eraser strokes with undo and redo, an autosave every 10 strokes, 100 saves, 50
patient switches (each: the editing session's structures closed, ``open_patient`` and
``load_all`` of the patient, a new ``EditSession``). After every switch the previous patient and
session must be garbage.
"""

from __future__ import annotations

import ctypes
import gc
import json
import random
import sys
import time
import weakref

from lundprobe_gui.edit import recovery
from lundprobe_gui.edit.brush import BrushSettings, BrushTool, EraserTool
from lundprobe_gui.edit.session import EditSession
from lundprobe_gui.edit.tool import EditEvent
from lundprobe_gui.io.open import open_patient

STROKES, SAVES, SWITCHES = 2000, 100, 50

try:
    _LIBC = ctypes.CDLL("libc.so.6")
    _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
except (OSError, AttributeError):  # not glibc
    _LIBC = None


def rss_kb() -> int:
    """VmRSS after a full garbage collection and handing free heap pages back (glibc ``malloc_trim``).

    Without the trim, memory freed by the loader threads stays in their malloc arenas and the RSS
    jitters by ±15 MB from one switch to the next; a leak is live memory and survives the trim.
    """
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    path, out, area = sys.argv[1], sys.argv[2], sys.argv[3]
    rng = random.Random(1)
    t0 = time.perf_counter()
    gc.collect()
    samples = {"start": rss_kb()}
    after_switch: list[int] = []
    alive: list[weakref.ref] = []
    counts = {"strokes": 0, "undo": 0, "redo": 0, "saves": 0, "autosaves": 0, "switches": 0}
    history_max = 0

    def load():
        p = open_patient(path)
        p.load_all()
        s = EditSession(p.geometry.spacing_zyx, image=p.image())
        keys = [s.start_editing(n, p.mask_obj(n, "nnUNet"), "step1_obsL") for n in ("CTVT_427", "Rectum")]
        alive.extend([weakref.ref(p), weakref.ref(s)])
        return p, s, keys

    patient, session, keys = load()
    shape = patient.geometry.shape_zyx
    samples["first_patient_loaded"] = rss_kb()
    strokes_per_switch = STROKES // SWITCHES
    saves_every = STROKES // SAVES
    for i in range(1, STROKES + 1):
        session.set_active(rng.choice(keys))
        erase = rng.random() < 0.3
        session.set_tool(
            (EraserTool if erase else BrushTool)(
                BrushSettings(rng.uniform(2.0, 8.0), rng.random() < 0.1, "remove" if erase else "add")
            )
        )
        axis = rng.randrange(3)
        c = [rng.randrange(n) for n in shape]
        points = [tuple(c)]
        for _ in range(rng.randint(1, 6)):
            c = [min(n - 1, max(0, v + rng.randint(-6, 6))) for v, n in zip(c, shape)]
            c[axis] = points[0][axis]
            points.append(tuple(c))
        idx = points[0][axis]
        session.handle(EditEvent("press", axis, idx, points[0]))
        for pt in points[1:]:
            session.handle(EditEvent("move", axis, idx, pt))
        session.handle(EditEvent("release", axis, idx, points[-1]))
        counts["strokes"] += 1
        if i % 7 == 0:
            for _ in range(rng.randint(1, 4)):
                session.undo()
                counts["undo"] += 1
            for _ in range(rng.randint(0, 3)):
                session.redo()
                counts["redo"] += 1
        if i % 10 == 0:
            recovery.autosave(
                area,
                patient.path,
                patient.id,
                [(k[0], k[1], "nnUNet", session.working(k), session.start_mask(k)) for k in session.dirty_keys()],
            )
            counts["autosaves"] += 1
        if i % saves_every == 0:
            key = rng.choice(keys)
            patient.save_mask(key[0], session.working(key), source=key[1], out_dir=out, tool="load test")
            session.mark_saved(key)
            counts["saves"] += 1
        if i % strokes_per_switch == 0:
            history_max = max(history_max, session.history.nbytes)
            recovery.clear(area, patient.path)
            for k in list(session.keys()):
                session.close(k)
            del patient, session, keys
            patient, session, keys = load()
            counts["switches"] += 1
            gc.collect()
            after_switch.append(rss_kb())
    gc.collect()
    leaked = sum(r() is not None for r in alive) - 2  # the current patient and session are alive
    samples["end"] = rss_kb()
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    print(
        json.dumps(
            {
                "samples_kb": samples,
                "after_switch_kb": after_switch,
                "peak_kb": hwm,
                "counts": counts,
                "leaked_objects": leaked,
                "history_max_bytes": history_max,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
