"""A simulated reader study run through the observer API: for tests, the bench and demonstrations.

:func:`simulate_study` creates a study on a dataset and lets scripted observers work through every
step exactly as the app would drive :class:`~lundprobe_gui.study.ObserverSession`: rate, open the
start mask, save an edit, finish the case. The edits are plausible, deterministic from the seed:

* boundary voxels of the DL mask are flipped where a smoothed random field exceeds a threshold
  that falls with the DL uncertainty, so edits concentrate where the model is unsure;
* with the map shown (a step whose rules show it), the observer edits about half as much where
  the uncertainty is below 0.15 (the published finding);
* some cases get a slice added beyond the DL mask, where the uncertainty is often exactly 0.

Times are simulated (``now`` advances by the active time of each action), so nothing waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .questions import Question

logger = logging.getLogger(__name__)

LOW = 0.15


@dataclass
class SimulatedStudy:
    """What :func:`simulate_study` made."""

    study_dir: Path
    observers: tuple[str, ...]
    cases: int
    end_time: float


def simulated_edit(
    dl: np.ndarray, unc: np.ndarray, rng: np.random.Generator, with_map: bool, zeal: float
) -> np.ndarray:
    """An observer's correction of a full-grid DL mask given the uncertainty map (see the module docstring)."""
    from scipy import ndimage

    out = dl.copy()
    if not dl.any():
        return out
    zs, ys, xs = np.nonzero(dl | (unc > 0))
    box = tuple(slice(max(int(a.min()) - 2, 0), int(a.max()) + 3) for a in (zs, ys, xs))
    d, u = dl[box], unc[box]
    ring = ndimage.binary_dilation(d) & ~ndimage.binary_erosion(d)
    field = ndimage.gaussian_filter(rng.standard_normal(d.shape), 1.2)
    field /= field.std() or 1.0
    # higher uncertainty, lower threshold: more edits; the map shown halves edits at low uncertainty
    thr = 1.6 - 4.0 * u / zeal
    if with_map:
        thr = np.where(u < LOW, thr + 0.4, thr)
    flip = ring & (field > thr)
    block = out[box]
    block[flip] = ~block[flip]
    if rng.random() < 0.5:  # a slice beyond the top of the mask, often where the map is exactly 0
        top = int(np.flatnonzero(d.any(axis=(1, 2)))[-1])
        gap = 1 + int(rng.integers(0, 2))
        if top + gap < d.shape[0]:
            block[top + gap] |= ndimage.binary_erosion(d[top], iterations=2)
    return out


def questionnaire_answers(
    questions: Sequence[Question], observer: str, step: int, rng: np.random.Generator
) -> dict[str, int | str]:
    """A scripted observer's end-of-step answers: a Likert value drawn from the scale, a short text."""
    return {
        q.id: int(rng.choice(q.values())) if q.kind == "likert" else f"{observer} after step {step}: no remarks"
        for q in questions
    }


def simulate_study(
    dataset: Path,
    study_dir: Path,
    observers: Sequence[str] = ("obs1", "obs2"),
    seed: int = 7,
    start: float = 1.7e9,
    progress: Callable[[str], None] | None = None,
    patients: Sequence[str] | None = None,
) -> SimulatedStudy:
    """Create a study and run every observer through every step (see the module docstring).

    Parameters
    ----------
    dataset : Path
        A dataset root with extended-part patients (DL masks and uncertainty maps).
    study_dir : Path
        The new study folder.
    observers : sequence of str
        Observer IDs.
    seed : int
        Seed of the study's randomisation and of the simulated edits and answers.
    start : float
        POSIX time of ``study init``; every later event is simulated from it.
    progress : callable, optional
        Called with a line per observer and step.
    patients : sequence of str, optional
        Only these patients.
    """
    from . import InitOptions, init_study

    init_study(
        study_dir,
        InitOptions(dataset_root=dataset, observers=list(observers), seed=seed, washout_days=0, patients=patients),
        now=start,
    )
    return run_observers(study_dir, observers, seed, start + 60.0, progress)


def run_observers(
    study_dir: Path,
    observers: Sequence[str],
    seed: int = 7,
    start: float = 1.7e9,
    progress: Callable[[str], None] | None = None,
) -> SimulatedStudy:
    """Let scripted observers of an existing study work through every open step (see the module docstring)."""
    from . import ObserverSession, load_study

    everyone = load_study(study_dir).observers
    t = start
    cases = 0
    for obs in observers:
        i = everyone.index(obs)
        rng = np.random.default_rng([seed, i])
        zeal = 0.8 + 0.4 * i / max(1, len(everyone) - 1)
        with ObserverSession(study_dir, obs, now=t) as s:
            while (view := s.current_case(now=t)) is not None:
                with_map = s.visibility(now=t).uncertainty_allowed
                patient = s.patient(now=t)
                for name in s.structures:
                    s.rate(
                        "quality",
                        int(rng.integers(2, 5)) - (1 if with_map and rng.random() < 0.2 else 0),
                        structure=name,
                        now=t,
                    )
                    s.rate("confidence", int(rng.integers(2, 6)), structure=name, now=t + 2)
                    t += 4 + float(rng.uniform(2, 10))
                for name in s.structures:
                    dl = s.begin_editing(name, now=t).to_full()
                    vol = patient.uncertainty(name)
                    unc = vol.array() if vol is not None and patient.load_volume(vol) else np.zeros(dl.shape)
                    edited = simulated_edit(dl, np.nan_to_num(unc), rng, with_map, zeal)
                    t += float(rng.uniform(20, 90)) * (0.8 if with_map else 1.0)
                    s.save_edit(edited, structure=name, now=t)
                    t += 2
                step = view.step
                s.finish_case(now=t)
                cases += 1
                t += 5
                if (due := s.questionnaire_due()) is not None:
                    s.answer_step_questionnaire(
                        due, questionnaire_answers(s.study.step_questions, obs, due, rng), now=t
                    )
                    t += 30
                if progress is not None and (nxt := s.current_case(now=t)) is not None and nxt.step != step:
                    progress(f"{obs}: step {step} done")
    return SimulatedStudy(Path(study_dir), tuple(observers), cases, t)
