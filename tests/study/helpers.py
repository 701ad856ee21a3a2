"""Helpers of the study tests: fixed times and a scripted observer."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import logging
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np

from lundprobe_gui.cli import main
from lundprobe_gui.study import ObserverSession

T0 = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC).timestamp()
"""A fixed start time: every event of these tests passes explicit times."""
DAY = 86400.0


def rate_all(s: ObserverSession, t: float, quality: int = 3, confidence: int = 4, comment: str = "") -> float:
    """Answer every question of every structure of the current case; returns the next free time."""
    for name in s.structures:
        s.rate("quality", quality, structure=name, now=t)
        s.rate("confidence", confidence, structure=name, now=t + 1)
        if comment:
            s.rate("comment", comment, structure=name, now=t + 2)
        t += 3
    return t


def shave(mask_full: np.ndarray) -> np.ndarray:
    """An edit: remove the lowest slice of the structure and add one voxel next to it."""
    out = mask_full.copy()
    zs = np.flatnonzero(out.any(axis=(1, 2)))
    out[zs[0]] = False
    z, y, x = np.argwhere(mask_full)[0]
    out[z, y, max(0, x - 1)] = True
    return out


def work_case(s: ObserverSession, t: float, edit: bool = True) -> float:
    """Rate, edit (optionally) and finish the current case; returns the next free time."""
    t = rate_all(s, t)
    for name in s.structures:
        m = s.begin_editing(name, now=t)
        if edit:
            s.save_edit(shave(m.to_full()), structure=name, now=t + 5)
        t += 10
    s.finish_case(now=t)
    return t + 1


def lp(*args: object) -> subprocess.CompletedProcess[str]:
    """Run ``lundprobe-gui study ARGS`` in this process and capture it as a console would.

    A subprocess costs about a second of interpreter start-up per call; ``tests/study/test_study_cli.py``
    keeps the real entry point covered in subprocesses. Log records reach the captured stderr in the
    CLI's own format, so a test that counts stderr lines counts the warnings too.
    """
    argv = ["study", *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse refusals exit
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    finally:
        root.removeHandler(handler)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def fleiss_kappa(matrix: np.ndarray, categories: list[int]) -> float:
    """Fleiss' kappa from its definition (Fleiss 1971)."""
    n_items, raters = matrix.shape
    counts = np.array([[np.sum(row == c) for c in categories] for row in matrix], dtype=float)
    p_j = counts.sum(axis=0) / (n_items * raters)
    p_i = (np.sum(counts**2, axis=1) - raters) / (raters * (raters - 1))
    pe = np.sum(p_j**2)
    return float((p_i.mean() - pe) / (1 - pe))


def linear_weighted_kappa(a: np.ndarray, b: np.ndarray, categories: list[int]) -> float:
    """Cohen's kappa with linear weights from its definition."""
    k = len(categories)
    idx = {c: i for i, c in enumerate(categories)}
    obs = np.zeros((k, k))
    for x, y in zip(a, b):
        obs[idx[x], idx[y]] += 1
    obs /= obs.sum()
    exp = np.outer(obs.sum(axis=1), obs.sum(axis=0))
    w = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / (k - 1)
    return float(1 - (w * obs).sum() / (w * exp).sum())


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file, read with :mod:`csv` (never with the app's own reader)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load(path: Path) -> np.ndarray:
    """The voxels of a NIfTI file, read with nibabel (never with the app's own reader)."""
    return np.asanyarray(nib.load(str(path)).dataobj)
