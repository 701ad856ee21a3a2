"""SIGKILL at a random moment: nothing acknowledged is lost and no file is left half-written."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lundprobe_gui.io.nifti import load_array
from lundprobe_gui.study import ObserverSession, export_study

from .helpers import T0

HERE = Path(__file__).resolve().parent
ROUNDS = 4
PACE = 0.02


def _run_until_killed(study_dir: Path, t: float, rng: random.Random) -> tuple[list[dict], bool]:
    """Start the worker, SIGKILL it after a random number of acknowledgements plus a random delay."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "worker_session.py"), str(study_dir), "obsX", str(t), "--pace", str(PACE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    target = rng.randint(1, 14)
    acks: list[dict] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ACK "):
            acks.append(json.loads(line[4:]))
        if len(acks) >= target or line.startswith("DONE"):
            break
    # the worker idles PACE seconds after each acknowledgement: land in that pause or in the next action
    time.sleep(rng.uniform(0.0, 1.5 * PACE))
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    # what the worker printed before dying was acknowledged as well
    rest = proc.stdout.read()
    proc.wait(timeout=30)
    acks += [json.loads(x[4:]) for x in rest.splitlines() if x.startswith("ACK ")]
    return acks, finished


def _check_files(study_dir: Path) -> None:
    leftovers = [p for p in study_dir.rglob("*") if p.name.endswith(".part") or ".stale-" in p.name]
    assert leftovers == [], leftovers
    for p in study_dir.rglob("*.nii.gz"):
        arr = load_array(p)  # a truncated file fails to decode
        assert arr.dtype.kind == "u" and arr.max() <= 1, p
    for p in list(study_dir.rglob("*.json")):
        json.loads(p.read_text())


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_acknowledged_action(study_dir):
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    all_acks: list[dict] = []
    t = T0
    for round_ in range(ROUNDS):
        acks, _ = _run_until_killed(study_dir, t, rng)
        all_acks += acks
        t += 10_000
        # resume: the stale lock is taken over and interrupted writes are cleaned up
        s = ObserverSession(study_dir, "obsX", now=t)
        try:
            _check_files(study_dir)
            cases = {c.pseudonym: c for c in s.state.steps[1].cases}
            for a in all_acks:
                case = cases[a["pseudonym"]]
                where = f"seed {seed}, round {round_}: {a}"
                if a["kind"] == "rating":
                    srec = case.structures[a["structure"]]
                    assert srec.ratings[a["question"]].value == a["value"], where
                elif a["kind"] == "save":
                    srec = case.structures[a["structure"]]
                    assert srec.saves >= 1 and srec.output_version, where
                    version = study_dir / srec.output_version
                    assert version.name >= a["version"], where  # this save or a later one is recorded
                    plain = study_dir / srec.output_file
                    assert plain.read_bytes() == version.read_bytes(), where
                else:
                    assert case.status == "finished", where
        finally:
            s.close(now=t)
        t += 10_000
    # an unkilled run finishes step 1 from wherever the last one stopped
    r = subprocess.run(
        [sys.executable, str(HERE / "worker_session.py"), str(study_dir), "obsX", str(t)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    s = ObserverSession(study_dir, "obsX", now=t + 50_000)
    try:
        assert s.state.steps[1].finished()
        for case in s.state.steps[1].cases:
            for srec in case.structures.values():
                assert set(srec.ratings) == {"quality", "confidence", "comment"} and srec.output_sha256
    finally:
        s.close(now=t + 50_000)
    rep = export_study(study_dir)
    assert len(rep.copied) == 6 and not rep.problems
    _check_files(study_dir)
