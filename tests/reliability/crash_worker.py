"""A fork server for the crash tests: each job runs in a fresh child process that the test SIGKILLs.

Usage: ``python crash_worker.py`` (the test drives it through stdin/stdout).

Starting Python and importing numpy, SimpleITK and the app takes about 1.5 s; forking a process
that has already done so takes milliseconds, so a test can kill dozens of real processes. The
server starts no thread before forking. Protocol, one line each:

* the test writes a job: ``{"scenario": "edit" | "study", "args": {...}, "kill_at": k | null}``;
* the server answers ``PID <pid>``, then the child prints ``BEGIN <json>`` before and ``ACK <json>``
  after every action (an acknowledged action is one whose call returned), and ``DONE <json>``;
* ``EXIT <pid> <status>`` follows once the child is gone.

``kill_at = k`` makes the child SIGKILL itself just before the k-th file-system call (temporary
file creation, write, fsync, link, rename, replace, unlink, rmtree) made after it was armed, so
every step of an atomic write can be interrupted deterministically. Without it, the test kills
the child from outside at a random moment.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit import recovery
from lundprobe_gui.edit.brush import BrushSettings, BrushTool, EraserTool
from lundprobe_gui.edit.session import EditSession
from lundprobe_gui.edit.tool import EditEvent
from lundprobe_gui.io.open import open_patient
from lundprobe_gui.study import ACTIVE, ObserverSession

try:  # imported by the tests, within their package; or run as the fork server script
    from .helpers import HalfWriteFile
except ImportError:
    from helpers import HalfWriteFile  # type: ignore[no-redef]

WATCHED = [
    (os, "fsync"),
    (os, "replace"),
    (os, "link"),
    (os, "rename"),
    (os, "unlink"),
    (os, "write"),
    (tempfile, "mkstemp"),
    (shutil, "rmtree"),
]


_write = os.write  # the unwatched one, for this protocol


def emit(line_kind: str, **info) -> None:
    _write(1, f"{line_kind} {json.dumps(info)}\n".encode())


def mask_digest(mask: Mask) -> str:
    """Content digest of a mask (independent of how its block is cropped)."""
    return hashlib.sha256(np.packbits(mask.to_full()).tobytes()).hexdigest()[:16]


class Killer:
    """SIGKILL this process just before the k-th watched file-system call after :meth:`arm`."""

    def __init__(self, kill_at: int | None) -> None:
        self.kill_at = kill_at
        self.calls = 0
        self.armed = False
        for mod, name in WATCHED:
            real = getattr(mod, name)
            setattr(mod, name, self._wrap(real, name))
        real_fdopen = os.fdopen
        # every write of a temporary file stops half-way at a kill point
        os.fdopen = lambda *a, **k: HalfWriteFile(real_fdopen(*a, **k), lambda: self.check("write (half done)"))

    def check(self, name: str) -> None:
        if self.armed:
            self.calls += 1
            if self.kill_at is not None and self.calls >= self.kill_at:
                emit("KILLPOINT", call=name, n=self.calls)
                os.kill(os.getpid(), signal.SIGKILL)

    def _wrap(self, real, name):
        def watched(*a, **k):
            self.check(name)
            return real(*a, **k)

        return watched

    def arm(self) -> None:
        self.armed = True


# -- editing: EditSession + autosave + Patient.save_mask, as the editor does --------------------------
def _stroke(session: EditSession, rng: random.Random, shape, erase: bool) -> None:
    z = rng.randrange(shape[0])
    y0, x0 = rng.randrange(shape[1]), rng.randrange(shape[2])
    y1 = min(shape[1] - 1, max(0, y0 + rng.randint(-20, 20)))
    x1 = min(shape[2] - 1, max(0, x0 + rng.randint(-20, 20)))
    session.set_tool(
        (EraserTool if erase else BrushTool)(BrushSettings(rng.uniform(1.0, 6.0), False, "remove" if erase else "add"))
    )
    session.handle(EditEvent("press", 0, z, (z, y0, x0)))
    session.handle(EditEvent("move", 0, z, (z, (y0 + y1) / 2, (x0 + x1) / 2)))
    session.handle(EditEvent("release", 0, z, (z, y1, x1)))


def _edits(session: EditSession):
    return [(k[0], k[1], "nnUNet", session.working(k), session.start_mask(k)) for k in session.dirty_keys()]


def _state(edits) -> dict:
    return {f"{n}|{s}": [mask_digest(m), mask_digest(st)] for n, s, _, m, st in edits}


def _autosave(session, area, patient) -> None:
    edits = _edits(session)
    emit("BEGIN", kind="autosave", state=_state(edits))
    recovery.autosave(area, patient.path, patient.id, edits)
    emit("ACK", kind="autosave", state=_state(edits))


def _save(session, key, out, patient) -> None:
    mask = session.working(key).copy()
    emit("BEGIN", kind="save", key=list(key), digest=mask_digest(mask))
    path = patient.save_mask(key[0], mask, source=key[1], out_dir=out, tool="crash test")
    session.mark_saved(key)
    emit(
        "ACK",
        kind="save",
        key=list(key),
        digest=mask_digest(mask),
        version=str(path),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def run_edit(args: dict, killer: Killer) -> None:
    rng = random.Random(args["seed"])
    patient = open_patient(args["patient"])
    shape = patient.geometry.shape_zyx
    session = EditSession(patient.geometry.spacing_zyx)
    keys = [
        session.start_editing(name, patient.mask_obj(name, "nnUNet"), "step1_obsK") for name in ("CTVT_427", "Rectum")
    ]
    out, area = args["out"], args["area"]
    if args.get("script") == "boundaries":
        # a fixed sequence whose every file-system call is a kill point: two working copies are
        # autosaved; one is saved, so the next autosave holds the other one alone; then that one is
        # saved and the autosave is cleared
        for k in keys:
            session.set_active(k)
            _stroke(session, rng, shape, erase=False)
        _autosave(session, area, patient)
        killer.arm()
        _save(session, keys[0], out, patient)
        _autosave(session, area, patient)
        _save(session, keys[1], out, patient)
        _autosave(session, area, patient)
    else:
        killer.arm()
        for _ in range(args["steps"]):
            action = rng.choice(["stroke"] * 4 + ["erase", "undo", "redo", "autosave", "autosave", "save"])
            if action in ("stroke", "erase"):
                session.set_active(rng.choice(keys))
                _stroke(session, rng, shape, erase=action == "erase")
            elif action == "undo":
                session.undo()
            elif action == "redo":
                session.redo()
            elif action == "autosave":
                _autosave(session, area, patient)
            else:
                dirty = session.dirty_keys()
                if dirty:
                    _save(session, rng.choice(dirty), out, patient)
                    _autosave(session, area, patient)  # what the editor does after a save
    emit("DONE", calls=killer.calls)


# -- a study session: ObserverSession, as the study screens drive it ------------------------------------
def run_study(args: dict, killer: Killer) -> None:
    t = float(args["t"])
    s = ObserverSession(args["study"], args["observer"], now=t)
    killer.arm()
    while s.status(t) == ACTIVE and s.progress(t).step == 1:
        case = s.current_case(t)
        for i, name in enumerate(s.structures):
            have = s.ratings(name, now=t)
            for qid, value in (
                ("quality", 1 + (case.position + i) % 4),
                ("confidence", 1 + (case.position + 2 * i) % 5),
                ("comment", f"{case.pseudonym} {name} ok"),
            ):
                if qid not in have:
                    t += 1
                    emit("BEGIN", kind="rating", pseudonym=case.pseudonym, structure=name, question=qid)
                    s.rate(qid, value, structure=name, now=t)
                    emit("ACK", kind="rating", pseudonym=case.pseudonym, structure=name, question=qid, value=value)
            t += 1
            m = s.begin_editing(name, now=t).to_full()
            m[tuple(np.argwhere(m)[0])] = False  # one voxel less each save: every version differs
            t += 2
            emit("BEGIN", kind="save", pseudonym=case.pseudonym, structure=name)
            saved = s.save_edit(m, structure=name, now=t)
            emit(
                "ACK",
                kind="save",
                pseudonym=case.pseudonym,
                structure=name,
                version=saved.version_file.name,
                sha256=saved.sha256,
            )
        t += 1
        emit("BEGIN", kind="finish", pseudonym=case.pseudonym)
        s.finish_case(now=t)
        emit("ACK", kind="finish", pseudonym=case.pseudonym)
    s.close(now=t)
    emit("DONE", calls=killer.calls)


def child(job: dict) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    killer = Killer(job.get("kill_at"))
    try:
        (run_edit if job["scenario"] == "edit" else run_study)(job["args"], killer)
    except BaseException as e:  # noqa: BLE001 - reported to the test, which fails on it
        emit("ERROR", error=f"{type(e).__name__}: {e}")
        os._exit(1)
    os._exit(0)


def main() -> None:
    import lundprobe_gui

    _write(1, f"READY {lundprobe_gui.__file__}\n".encode())
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            sys.stdin.close()
            child(job)
        _write(1, f"PID {pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        _write(1, f"EXIT {pid} {code}\n".encode())


if __name__ == "__main__":
    main()
