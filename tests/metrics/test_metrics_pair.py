"""pair_metrics: keys, JSON-ready values, agreement with the reference package and the parts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import surface_distance as sd
from scipy import ndimage

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.metrics import PAIR_METRIC_KEYS, added_path_length, pair_metrics

# The reference package still uses scipy's deprecated ndimage.filters/morphology namespaces.
pytestmark = pytest.mark.filterwarnings("ignore:Please import:DeprecationWarning")

KEYS = {
    "dice",
    "jaccard",
    "hd_mm",
    "hd95_mm",
    "msd_mm",
    "surface_dice",
    "tolerance_mm",
    "apl_mm",
    "fnpl_mm",
    "volume_reference_cc",
    "volume_test_cc",
    "centroid_shift_mm",
}
SPACING = (2.5, 0.47, 0.47)


def _pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    a = np.zeros((16, 60, 60), dtype=bool)
    b = np.zeros_like(a)
    a[2:14, 8:52, 6:50] = ndimage.gaussian_filter(rng.random((12, 44, 44)), 2.0) > 0.5
    b[3:15, 10:54, 9:53] = ndimage.gaussian_filter(rng.random((12, 44, 44)), 2.0) > 0.49
    return a, b


def test_keys_types_and_values() -> None:
    a, b = _pair()
    m = pair_metrics(a, b, SPACING, tolerance_mm=1.5, apl_tolerance_mm=0.8)
    assert set(m) == KEYS and tuple(m) == PAIR_METRIC_KEYS
    assert all(type(v) is float for v in m.values())
    json.dumps(m)

    d = sd.compute_surface_distances(a, b, SPACING)
    inter, na, nb = (a & b).sum(), a.sum(), b.sum()
    assert m["dice"] == pytest.approx(2 * inter / (na + nb))
    assert m["jaccard"] == pytest.approx(inter / (a | b).sum())
    assert m["hd_mm"] == pytest.approx(sd.compute_robust_hausdorff(d, 100), abs=1e-6)
    assert m["hd95_mm"] == pytest.approx(sd.compute_robust_hausdorff(d, 95), abs=1e-6)
    mean_gt, mean_pred = sd.compute_average_surface_distance(d)
    area_gt, area_pred = d["surfel_areas_gt"].sum(), d["surfel_areas_pred"].sum()
    assert m["msd_mm"] == pytest.approx((mean_gt * area_gt + mean_pred * area_pred) / (area_gt + area_pred), abs=1e-6)
    assert m["surface_dice"] == pytest.approx(sd.compute_surface_dice_at_tolerance(d, 1.5), abs=1e-6)
    assert m["tolerance_mm"] == 1.5
    path = added_path_length(a, b, SPACING, 0.8)
    assert m["apl_mm"] == path.apl_mm and m["fnpl_mm"] == path.fnpl_mm
    assert m["apl_mm"] > 0 and m["fnpl_mm"] > 0
    voxel_cc = np.prod(SPACING) / 1000
    assert m["volume_reference_cc"] == pytest.approx(na * voxel_cc)
    assert m["volume_test_cc"] == pytest.approx(nb * voxel_cc)
    ca = np.argwhere(a).mean(axis=0) * SPACING
    cb = np.argwhere(b).mean(axis=0) * SPACING
    assert m["centroid_shift_mm"] == pytest.approx(float(np.linalg.norm(ca - cb)))


def test_mask_input_is_identical_to_array_input() -> None:
    a, b = _pair()
    assert pair_metrics(Mask.from_full(a), Mask.from_full(b), SPACING) == pair_metrics(a, b, SPACING)
    assert pair_metrics(a, Mask.from_full(b), SPACING) == pair_metrics(a, b, SPACING)


def test_empty_masks() -> None:
    a, _ = _pair()
    z = np.zeros_like(a)
    both = pair_metrics(z, Mask(z.shape), SPACING)
    assert both == {
        "dice": 1.0,
        "jaccard": 1.0,
        "hd_mm": None,
        "hd95_mm": None,
        "msd_mm": None,
        "surface_dice": 1.0,
        "tolerance_mm": 2.0,
        "apl_mm": 0.0,
        "fnpl_mm": 0.0,
        "volume_reference_cc": 0.0,
        "volume_test_cc": 0.0,
        "centroid_shift_mm": None,
    }
    one = pair_metrics(a, z, SPACING)
    assert (one["dice"], one["jaccard"], one["surface_dice"]) == (0.0, 0.0, 0.0)
    assert one["hd_mm"] is None and one["hd95_mm"] is None and one["msd_mm"] is None
    assert one["centroid_shift_mm"] is None
    assert one["apl_mm"] == 0.0
    assert one["fnpl_mm"] == pytest.approx(added_path_length(z, a, SPACING).apl_mm)
    assert one["fnpl_mm"] > 0
    json.dumps(one)


@pytest.mark.slow
def test_metrics_package_does_not_pull_in_qt() -> None:
    import subprocess
    import sys

    code = (
        "import sys, lundprobe_gui.metrics; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6') "
        "or m.startswith('lundprobe_gui.ui')]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
