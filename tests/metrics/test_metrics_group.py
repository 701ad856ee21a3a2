"""MaskGroup: many pairs with shared distance maps give pair_metrics' numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.metrics import PAIR_METRIC_KEYS, pair_metrics
from lundprobe_gui.metrics.group import MaskGroup

SPACINGS = [(2.5, 0.4688, 0.4688), (1.0, 1.0, 1.0), (3.0, 0.8, 0.5), (5.0, 1.875, 1.87)]


def _blob(rng: np.random.Generator, shape, centre, radius) -> np.ndarray:
    zz, yy, xx = np.indices(shape)
    noise = ndimage.gaussian_filter(rng.random(shape), 1.5) - 0.5
    r = np.sqrt(
        ((zz - centre[0]) / radius[0]) ** 2 + ((yy - centre[1]) / radius[1]) ** 2 + ((xx - centre[2]) / radius[2]) ** 2
    )
    return r + 2.0 * noise < 1.0


def _family(seed: int) -> dict[str, np.ndarray]:
    """A reference and variants of it: edits, a shifted copy, a disjoint blob, one touching the border, none."""
    rng = np.random.default_rng(seed)
    shape = (14, 48, 52)
    ref = _blob(rng, shape, (7, 24, 26), (4, 12, 14))
    grown = ndimage.binary_dilation(ref, iterations=1) & _blob(rng, shape, (7, 30, 30), (6, 16, 16))
    carved = ref & ~_blob(rng, shape, (6, 18, 20), (3, 6, 6))
    shifted = np.roll(ref, (1, 3, -2), axis=(0, 1, 2))
    far = _blob(rng, shape, (3, 8, 8), (2, 4, 4))
    border = np.zeros(shape, dtype=bool)
    border[0:3, 40:48, 45:52] = True  # reaches the grid edge on three sides
    return {
        "ref": ref,
        "grown": grown,
        "carved": carved,
        "shifted": shifted,
        "far": far,
        "border": border,
        "empty": np.zeros(shape, dtype=bool),
    }


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.slow
def test_every_pair_matches_pair_metrics(seed: int, spacing) -> None:
    masks = _family(seed)
    as_masks = {k: Mask.from_full(v) for k, v in masks.items()}
    group = MaskGroup(as_masks, spacing)
    assert group.names == list(masks)
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i:] + names[:i]:
            got = group.pair_metrics(a, b, tolerance_mm=1.5, apl_tolerance_mm=0.9)
            want = pair_metrics(masks[a], masks[b], spacing, tolerance_mm=1.5, apl_tolerance_mm=0.9)
            assert tuple(got) == PAIR_METRIC_KEYS
            for k in PAIR_METRIC_KEYS:
                assert _close(got[k], want[k]), (a, b, k, got[k], want[k])


def test_all_empty_group_and_bad_inputs() -> None:
    shape = (4, 5, 6)
    group = MaskGroup({"a": np.zeros(shape, bool), "b": Mask(shape)}, (1, 1, 1))
    assert group.pair_metrics("a", "b") == pair_metrics(np.zeros(shape, bool), np.zeros(shape, bool), (1, 1, 1))
    with pytest.raises(ValueError, match=r"different grids"):
        MaskGroup({"a": np.zeros(shape, bool), "b": np.zeros((4, 5, 7), bool)}, (1, 1, 1))
    with pytest.raises(ValueError, match=r"needs at least one mask"):
        MaskGroup({}, (1, 1, 1))
    with pytest.raises(KeyError):
        group.pair_metrics("a", "nope")
