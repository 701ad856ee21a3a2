"""Dice, Jaccard, volume and centroid shift on hand-made boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.metrics.overlap import centroid_shift_mm, dice, jaccard, volume_cc


def _boxes() -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros((10, 12, 14), dtype=bool)
    b = np.zeros_like(a)
    a[2:6, 3:7, 4:8] = True  # 64 voxels
    b[2:6, 3:7, 4:6] = True  # 32 voxels, all inside a
    return a, b


def test_dice_and_jaccard_by_hand() -> None:
    a, b = _boxes()
    assert dice(a, b) == pytest.approx(2 * 32 / (64 + 32))
    assert jaccard(a, b) == pytest.approx(32 / 64)
    assert dice(a, a) == 1.0 and jaccard(a, a) == 1.0
    disjoint = np.roll(a, 5, axis=0)
    assert dice(a, disjoint) == 0.0 and jaccard(a, disjoint) == 0.0


def test_empty_rules() -> None:
    a, _ = _boxes()
    z = np.zeros_like(a)
    assert dice(z, z) == 1.0 and jaccard(z, Mask(z.shape)) == 1.0
    assert dice(a, z) == 0.0 and dice(z, a) == 0.0
    assert jaccard(a, z) == 0.0
    assert centroid_shift_mm(a, z, (1, 1, 1)) is None
    assert centroid_shift_mm(z, z, (1, 1, 1)) is None
    assert volume_cc(z, (2.5, 0.5, 0.5)) == 0.0


def test_volume_cc() -> None:
    a, b = _boxes()
    spacing = (2.5, 0.5, 0.4)  # 0.5 mm^3 per voxel
    assert volume_cc(a, spacing) == pytest.approx(64 * 0.5 / 1000)
    assert volume_cc(Mask.from_full(b), spacing) == pytest.approx(32 * 0.5 / 1000)


def test_centroid_shift_by_hand() -> None:
    a, _ = _boxes()
    moved = np.zeros_like(a)
    moved[4:8, 3:7, 7:11] = True  # a shifted by (2, 0, 3) voxels
    spacing = (2.5, 0.5, 0.4)
    expected = math.hypot(2 * 2.5, 3 * 0.4)
    assert centroid_shift_mm(a, moved, spacing) == pytest.approx(expected)
    assert centroid_shift_mm(Mask.from_full(a), Mask.from_full(moved), spacing) == pytest.approx(expected)
    # a half-size box shares one corner: its centroid is 1 voxel lower along x
    _, b = _boxes()
    assert centroid_shift_mm(a, b, spacing) == pytest.approx(1 * 0.4)


def test_mask_and_array_inputs_agree() -> None:
    rng = np.random.default_rng(3)
    a = rng.random((8, 20, 20)) > 0.6
    b = rng.random((8, 20, 20)) > 0.5
    ma, mb = Mask.from_full(a), Mask.from_full(b)
    inter, n_a, n_b = (a & b).sum(), a.sum(), b.sum()
    assert dice(ma, mb) == pytest.approx(2 * inter / (n_a + n_b))
    assert jaccard(a, mb) == pytest.approx(inter / (a | b).sum())
    assert dice(ma, mb) == dice(a, b)
    assert centroid_shift_mm(ma, b, (2.5, 0.47, 0.47)) == centroid_shift_mm(a, b, (2.5, 0.47, 0.47))
