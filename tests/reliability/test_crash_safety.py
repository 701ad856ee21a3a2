"""3. Crash safety: SIGKILL during editing, saving, autosave and a study session loses nothing.

The processes killed are real (children of ``crash_worker.py``, a fork server, so each starts in
milliseconds). Two kinds of kill:

* at a *boundary*: the child SIGKILLs itself just before its k-th file-system call (temporary
  file, half-written data, fsync, link, rename, replace, unlink, rmtree), for every k of a fixed
  save/autosave sequence, so every step of every atomic write is interrupted once;
* at a *random moment*, from outside, after a random number of acknowledged actions plus a
  random delay.

After every kill, nothing acknowledged may be lost and nothing may be half-written:

* every ``*.nii.gz`` in the output reads fully with SimpleITK and nibabel, every sidecar and
  autosave file parses, and a leftover ``.part`` temporary file is never taken for an output;
* every version written before is byte-identical to what was acknowledged; the plain copy equals
  the newest acknowledged version (or a newer, complete one);
* ``edit.recovery.find`` returns exactly the last acknowledged autosave (or the one being written
  when the kill came, complete), never a mix of two autosaves;
* the study resumes (stale lock taken over) with every acknowledged rating, save and finished
  case, and its plain outputs equal the recorded versions.

A breach of any of these is counted as a loss; the test fails unless there are none.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import lundprobe_gui
from lundprobe_gui.edit import recovery
from lundprobe_gui.io.probe import is_image_name
from lundprobe_gui.study import InitOptions, ObserverSession, export_study, init_study
from lundprobe_gui.study.audit import read_audit

from .crash_worker import mask_digest
from .helpers import check_nifti_complete, sha256, subprocess_env, tiny_patient

HERE = Path(__file__).resolve().parent
T0 = 1_740_988_800.0  # 2025-03-03, fixed: every study event passes explicit times

EDIT_RANDOM_KILLS = 16
STUDY_BOUNDARY_KILLS = 16
STUDY_RANDOM_KILLS = 10
READ_TIMEOUT = 120.0


def _seed() -> int:
    """A fresh random seed, or LUNDPROBE_CRASH_SEED to replay a reported one's actions (not its timing)."""
    return int(os.environ.get("LUNDPROBE_CRASH_SEED") or int.from_bytes(os.urandom(4), "little"))


# -- the fork server ------------------------------------------------------------------------------------
@dataclass
class Run:
    """What one child did before it ended."""

    pid: int
    code: int
    lines: list[tuple[str, dict]]

    @property
    def killed(self) -> bool:
        return self.code == -signal.SIGKILL

    def acks(self, kind: str | None = None) -> list[dict]:
        return [d for k, d in self.lines if k == "ACK" and (kind is None or d["kind"] == kind)]

    def in_flight(self) -> dict | None:
        """The action begun but not acknowledged when the process died."""
        last = None
        for k, d in self.lines:
            if k == "BEGIN":
                last = d
            elif k == "ACK":
                last = None
        return last

    def error(self) -> str | None:
        return next((d["error"] for k, d in self.lines if k == "ERROR"), None)

    def done(self) -> dict | None:
        return next((d for k, d in self.lines if k == "DONE"), None)


class ForkServer:
    def __init__(self) -> None:
        env = subprocess_env()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "crash_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        ready = self._next()
        assert ready == f"READY {lundprobe_gui.__file__}", ready  # the code under test, not another checkout

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _next(self) -> str:
        line = self.lines.get(timeout=READ_TIMEOUT)
        assert line is not None, "the fork server died"
        return line

    def run(self, job: dict, kill_after: int | None = None, delay: float = 0.0) -> Run:
        """Run one job; with ``kill_after``, SIGKILL the child after that many BEGIN/ACK lines plus ``delay`` s."""
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        pid, lines, killed = None, [], False
        while True:
            line = self._next()
            head, _, rest = line.partition(" ")
            if head == "PID":
                pid = int(rest)
            elif head == "EXIT":
                code = int(rest.split()[1])
                return Run(pid or int(rest.split()[0]), code, lines)
            else:
                lines.append((head, json.loads(rest) if rest else {}))
            if (
                kill_after is not None
                and not killed
                and pid is not None
                and sum(h in ("BEGIN", "ACK") for h, _ in lines) >= kill_after
            ):
                time.sleep(delay)
                with contextlib.suppress(ProcessLookupError):  # it may have finished already
                    os.kill(pid, signal.SIGKILL)
                killed = True

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    s = ForkServer()
    yield s
    s.close()


# -- the editing world: what must be true after every kill ------------------------------------------------
@dataclass
class EditWorld:
    patient: Path
    out: Path
    area: Path
    versions: dict[str, str] = field(default_factory=dict)  # version file -> sha256 acknowledged or seen
    newest: dict[str, str] = field(default_factory=dict)  # plain file stem -> newest acknowledged version
    autosave: dict | None = None  # last acknowledged autosave state
    checked: dict[str, str] = field(default_factory=dict)  # file -> sha256 already read fully
    losses: list[str] = field(default_factory=list)
    parts_seen: set = field(default_factory=set)

    def lose(self, why: str) -> None:
        self.losses.append(why)

    def after(self, run: Run, label: str) -> None:
        """Record what the run acknowledged, then check everything."""
        if run.error():
            self.lose(f"{label}: the worker failed: {run.error()}")
        for a in run.acks():
            if a["kind"] == "save":
                self.versions[a["version"]] = a["sha256"]
                stem = Path(a["version"]).name.rsplit("_v", 1)[0]
                self.newest[stem] = a["version"]
            elif a["kind"] == "autosave":
                self.autosave = a["state"]
        self.check(run, label)

    def check(self, run: Run, label: str) -> None:
        flight = run.in_flight()
        # 1. every output NIfTI is complete; sidecars parse
        for f in self.out.rglob("*"):
            if not f.is_file():
                continue
            if f.name.endswith(".part"):
                if is_image_name(f.name):
                    self.lose(f"{label}: temporary file {f.name} looks like an image")
                self.parts_seen.add(str(f))
                continue
            digest = sha256(f)
            if self.checked.get(str(f)) == digest:
                continue
            try:
                if f.name.endswith(".nii.gz"):
                    check_nifti_complete(f)
                elif f.suffix == ".json":
                    json.loads(f.read_text())
            except (AssertionError, ValueError) as e:
                self.lose(f"{label}: {f} is partial or damaged: {e}")
                continue
            self.checked[str(f)] = digest
            if "_v" in f.name and f.name.endswith(".nii.gz"):
                self.versions.setdefault(str(f), digest)  # a complete version: it must never change again
        # 2. every version ever seen is unchanged
        for v, digest in self.versions.items():
            if not Path(v).exists():
                self.lose(f"{label}: version {v} disappeared")
            elif sha256(Path(v)) != digest:
                self.lose(f"{label}: version {v} changed")
        # 3. each plain copy is the newest acknowledged version, or a newer complete one
        for stem, newest in self.newest.items():
            plain = Path(newest).with_name(f"{stem}.nii.gz")
            have = sha256(plain) if plain.exists() else None
            allowed = {
                self.versions[v]
                for v in self.versions
                if Path(v).name.startswith(stem + "_v") and Path(v).name >= Path(newest).name
            }
            if have not in allowed:
                self.lose(f"{label}: {plain.name} is not the newest acknowledged version {Path(newest).name}")
        # 4. recovery offers exactly the last acknowledged autosave, or the one in flight
        expected = [self.autosave]
        if flight is not None and flight["kind"] == "autosave":
            expected.append(flight["state"])
        rec = recovery.find(self.area, self.patient)
        got = (
            None
            if rec is None
            else {f"{e.name}|{e.source}": [mask_digest(e.mask), mask_digest(e.start)] for e in rec.edits}
        )
        if (got or None) not in [(e or None) for e in expected]:
            self.lose(f"{label}: recovery offers {got}, expected one of {expected} (in flight: {flight})")
        elif len(expected) == 2 and (got or None) == (expected[1] or None):
            # the autosave in flight got as far as its session.json: it is on disk, so a later
            # run killed before its own autosave lands must offer this one, not the older ack
            self.autosave = expected[1]
        folder = recovery.patient_folder(self.area, self.patient)
        for f in folder.glob("*") if folder.is_dir() else []:
            if f.suffix == ".npz":
                try:
                    with np.load(f) as z:
                        z["bits"]
                except Exception as e:  # noqa: BLE001
                    self.lose(f"{label}: autosave file {f.name} is damaged: {e}")


@pytest.mark.slow
def test_sigkill_at_every_step_of_saving_and_autosave(server, tiny_root, tmp_path, figures):
    # the tiny patient: what matters here is where the kill lands, not how long a write takes
    w = EditWorld(tiny_root / "LUNDPROBE_0001", tmp_path / "out", tmp_path / "recovery")
    job = {
        "scenario": "edit",
        "args": {"patient": str(w.patient), "out": str(w.out), "area": str(w.area), "seed": 7, "script": "boundaries"},
        "kill_at": None,
    }
    # From an empty output folder: the first runs also kill the one-time writes (the output marker,
    # the series' owner files). A run that outlives its kill point is past the last call: it is the
    # unkilled run, and every call of the sequence has been a kill point.
    kinds = {}
    kills = 0
    for k in range(1, 1000):
        run = server.run(dict(job, kill_at=k))
        if not run.killed:
            assert run.code == 0 and run.done(), (k, run.code, run.error())
            w.after(run, "unkilled run")
            break
        kills += 1
        point = next(d for h, d in run.lines if h == "KILLPOINT")
        kinds[point["call"]] = kinds.get(point["call"], 0) + 1
        w.after(run, f"kill before call {k} ({point['call']})")
    figures.update(
        {
            "kills": kills,
            "losses": len(w.losses),
            "kill_points": dict(sorted(kinds.items())),
            "versions_checked": len(w.versions),
            "leftover_part_files": len(w.parts_seen),
        }
    )
    assert not w.losses, "\n".join(w.losses[:20])
    assert kills >= 30


@pytest.mark.slow
def test_sigkill_at_random_moments_while_editing(server, demo_patient_path, tmp_path, figures):
    # the small demo patient (256x171x44): writes take long enough for random kills to land inside them
    w = EditWorld(demo_patient_path, tmp_path / "out", tmp_path / "recovery")
    seed = _seed()
    rng = random.Random(seed)
    kills, in_flight = 0, {}
    for i in range(EDIT_RANDOM_KILLS):
        job = {
            "scenario": "edit",
            "args": {
                "patient": str(w.patient),
                "out": str(w.out),
                "area": str(w.area),
                "seed": rng.randrange(1 << 30),
                "steps": 40,
            },
            "kill_at": None,
        }
        run = server.run(job, kill_after=rng.randint(1, 12), delay=rng.uniform(0.0, 0.03))
        kills += run.killed
        flight = run.in_flight()
        if run.killed and flight is not None:
            in_flight[flight["kind"]] = in_flight.get(flight["kind"], 0) + 1
        w.after(run, f"seed {seed} round {i}")
    figures.update(
        {
            "kills": kills,
            "losses": len(w.losses),
            "seed": seed,
            "killed_inside": dict(sorted(in_flight.items())),
            "versions_checked": len(w.versions),
            "leftover_part_files": len(w.parts_seen),
        }
    )
    assert not w.losses, "\n".join(w.losses[:20])
    assert kills >= EDIT_RANDOM_KILLS // 2


# -- the study ------------------------------------------------------------------------------------------------
def _study(root: Path, n: int) -> Path:
    ds = root / "ds"
    if not ds.exists():
        for i in range(3):
            tiny_patient(root, patient_id=f"LUNDPROBE_{433 + i:04d}")
    d = root / f"study{n}"
    init_study(d, InitOptions(dataset_root=ds, observers=["obsX"], seed=11), now=T0)
    return d


def _check_study(study_dir: Path, acks: list[dict], t: float, label: str, losses: list[str]) -> None:
    s = ObserverSession(study_dir, "obsX", now=t)  # takes over the dead worker's lock
    try:
        leftovers = [p for p in study_dir.rglob("*") if p.name.endswith(".part") or ".stale-" in p.name]
        if leftovers:
            losses.append(f"{label}: leftovers after resume: {leftovers}")
        cases = {c.pseudonym: c for c in s.state.steps[1].cases}
        for a in acks:
            case = cases[a["pseudonym"]]
            if a["kind"] == "rating":
                got = case.structures[a["structure"]].ratings.get(a["question"])
                if got is None or got.value != a["value"]:
                    losses.append(f"{label}: lost rating {a}")
            elif a["kind"] == "save":
                srec = case.structures[a["structure"]]
                if not srec.output_version or Path(srec.output_version).name < a["version"]:
                    losses.append(f"{label}: lost save {a}")
                    continue
                version, plain = study_dir / srec.output_version, study_dir / srec.output_file
                if sha256(version) != srec.output_sha256 or plain.read_bytes() != version.read_bytes():
                    losses.append(f"{label}: {plain.name} is not its recorded version")
            elif case.status != "finished":
                losses.append(f"{label}: lost finish of {a['pseudonym']}")
        for f in study_dir.rglob("*.nii.gz"):
            try:
                check_nifti_complete(f)
            except AssertionError as e:
                losses.append(f"{label}: {e}")
        for f in study_dir.rglob("*.json"):
            try:
                json.loads(f.read_text())
            except ValueError as e:
                losses.append(f"{label}: {f} is damaged: {e}")
    finally:
        s.close(now=t)


@pytest.mark.slow
def test_sigkill_during_a_study_session_loses_no_rating(server, tmp_path, figures):
    seed = _seed()
    rng = random.Random(seed)
    losses: list[str] = []
    kills = {"boundary": 0, "random": 0}
    studies, acks_total = 0, 0
    t = T0 + 1000
    study_dir = _study(tmp_path, studies)
    all_acks: list[dict] = []
    plan = ["boundary"] * STUDY_BOUNDARY_KILLS + ["random"] * STUDY_RANDOM_KILLS
    rng.shuffle(plan)
    for i, how in enumerate(plan):
        job = {
            "scenario": "study",
            "args": {"study": str(study_dir), "observer": "obsX", "t": t},
            "kill_at": rng.randint(1, 40) if how == "boundary" else None,
        }
        run = (
            server.run(job)
            if how == "boundary"
            else server.run(job, kill_after=rng.randint(1, 6), delay=rng.uniform(0.0, 0.02))
        )
        if run.error():
            losses.append(f"seed {seed} round {i}: the worker failed: {run.error()}")
        all_acks += run.acks()
        acks_total += len(run.acks())
        kills[how] += run.killed
        t += 10_000
        _check_study(study_dir, all_acks, t, f"seed {seed} round {i} ({how})", losses)
        t += 10_000
        if run.done():  # step 1 finished: go on with a fresh study
            studies += 1
            study_dir, all_acks = _study(tmp_path, studies), []
    stale = sum(e["event"] == "stale_lock_recovered" for d in tmp_path.glob("study*") for e in read_audit(d))
    # an unkilled run finishes the step from wherever the last one stopped, and the export is complete
    run = server.run(
        {"scenario": "study", "args": {"study": str(study_dir), "observer": "obsX", "t": t}, "kill_at": None}
    )
    assert run.code == 0 and run.done(), run.error()
    rep = export_study(study_dir)
    assert len(rep.copied) == 6 and not rep.problems
    figures.update(
        {
            "kills": kills["boundary"] + kills["random"],
            "kills_by_kind": kills,
            "losses": len(losses),
            "seed": seed,
            "acknowledged_actions": acks_total,
            "stale_locks_recovered": stale,
            "studies_completed": studies + 1,
        }
    )
    assert not losses, "\n".join(losses[:20])
    assert kills["boundary"] + kills["random"] >= (STUDY_BOUNDARY_KILLS + STUDY_RANDOM_KILLS) // 2
