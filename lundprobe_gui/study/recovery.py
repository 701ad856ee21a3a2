"""Starting or resuming an observer's state, and cleaning up after an interrupted process.

A SIGKILL can leave two traces: the temporary file of an atomic write that never got renamed,
and a plain ``mask_<S>_step<k>_<obs>.nii.gz`` one version ahead of the state (killed between
writing a new version and recording it). Both are repaired when the observer's session opens,
while it holds the observer's lock, so no live write of that observer can be disturbed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from ..io.guard import MARKER, remove_file
from ..io.lundprobe import MRI_DIR
from ..io.small_files import SAVED_MASK_MAX_BYTES, read_small_bytes
from ..io.writer import atomic_write
from .clock import iso_utc
from .definition import StudyDefinition
from .files import output_root, sessions_dir
from .randomise import case_plan
from .state import CaseRecord, SessionState, StepRecord, StructureRecord

logger = logging.getLogger(__name__)


def new_state(study: StudyDefinition, observer: str, t: float) -> SessionState:
    """A fresh state: every step's cases in the observer's randomised order, nothing done."""
    state = SessionState(observer, iso_utc(t), {}, updated_at=iso_utc(t))
    for rules in study.steps:
        cases = [
            CaseRecord(
                slot.patient,
                slot.pseudonym,
                slot.position,
                {s: StructureRecord() for s in study.structures},
                study.structures[0],
            )
            for slot in case_plan(study.patients, study.seed, observer, rules.step)
        ]
        state.steps[rules.step] = StepRecord(rules.step, cases)
    return state


def sweep_temp_files(study_dir: Path, observer: str, patients: tuple[str, ...]) -> list[Path]:
    """Remove this observer's leftover temporary files; returns what was removed.

    Only names that belong to this observer are touched: its session and lock temporaries, and
    the ``.mask_*_step<k>_<observer>*.part`` files of its outputs (versions, sidecars, owner
    files), plus the temporaries of the study's output markers.
    """
    obs = re.escape(observer)
    own_session = re.compile(rf"^\.{obs}\.(json|lock)\..+\.part$|^\.{obs}\.lock\.stale-[0-9a-f]+$")
    own_output = re.compile(
        rf"^\.mask_.+_step\d+_{obs}(_v\d{{3,}})?\.(nii\.gz|json)\..+\.part$"
        rf"|^\.\.mask_.+_step\d+_{obs}\.series\.json\..+\.part$"
    )
    # the output markers: written once per folder, by whichever observer saved first
    marker = re.compile(rf"^\.{re.escape(MARKER)}\..+\.part$")
    folders = [(sessions_dir(study_dir), own_session), (study_dir, marker), (output_root(study_dir), marker)]
    folders += [(output_root(study_dir) / p / MRI_DIR / "observerData", own_output) for p in patients]
    removed = []
    for folder, pattern in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if pattern.match(name):
                logger.warning("removing %s, left by an interrupted write", folder / name)
                try:
                    remove_file(folder / name)
                    removed.append(folder / name)
                except OSError as e:
                    logger.warning("could not remove %s: %s", folder / name, e)
    return removed


def repair_plain_outputs(study_dir: Path, state: SessionState) -> list[Path]:
    """Make every plain output equal its recorded (acknowledged) version; returns the files restored."""
    restored = []
    for rec in state.steps.values():
        for case in rec.cases:
            for srec in case.structures.values():
                if not srec.output_version or not srec.output_file:
                    continue
                version, plain = study_dir / srec.output_version, study_dir / srec.output_file
                try:
                    data = read_small_bytes(version, SAVED_MASK_MAX_BYTES, "saved mask")
                except OSError as e:
                    logger.error("recorded output %s cannot be read: %s", version, e)
                    continue
                if hashlib.sha256(data).hexdigest() != srec.output_sha256:
                    logger.error("recorded output %s does not match its recorded sha256", version)
                    continue
                try:
                    same = (
                        hashlib.sha256(read_small_bytes(plain, SAVED_MASK_MAX_BYTES, "plain output")).hexdigest()
                        == srec.output_sha256
                    )
                except OSError:
                    same = False
                if not same:
                    logger.warning("restoring %s to the recorded version %s", plain, version.name)
                    atomic_write(plain, data)
                    restored.append(plain)
    return restored
