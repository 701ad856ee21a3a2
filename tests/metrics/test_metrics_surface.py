"""Surface distances agree with DeepMind's surface-distance package (the test-only reference)."""

from __future__ import annotations

import numpy as np
import pytest
import surface_distance as sd
from scipy import ndimage
from surface_distance import lookup_tables

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.metrics.surface import hausdorff_mm, mean_surface_distance_mm, surface_dice, surface_distances
from lundprobe_gui.metrics.surfel_table import surfel_area_table

# The reference package still uses scipy's deprecated ndimage.filters/morphology namespaces.
pytestmark = pytest.mark.filterwarnings("ignore:Please import:DeprecationWarning")

TOL = 1e-6
SPACINGS = [(1.0, 1.0, 1.0), (2.5, 0.47, 0.47), (2.5, 0.4688, 0.4688), (0.8, 1.7, 0.33)]


def _blob(rng: np.random.Generator, shape: tuple[int, int, int], level: float = 0.5) -> np.ndarray:
    return ndimage.gaussian_filter(rng.random(shape), 1.5) > level


def _pooled_msd(d: dict) -> float:
    """MSD from the package's two directed means, weighted by the two surface areas."""
    mean_gt, mean_pred = sd.compute_average_surface_distance(d)
    area_gt, area_pred = d["surfel_areas_gt"].sum(), d["surfel_areas_pred"].sum()
    return float((mean_gt * area_gt + mean_pred * area_pred) / (area_gt + area_pred))


def _assert_matches_package(a: np.ndarray, b: np.ndarray, spacing: tuple[float, float, float]) -> None:
    ref = sd.compute_surface_distances(a, b, spacing)
    ours = surface_distances(a, b, spacing)
    assert ours.distances_ref_to_test.size == ref["distances_gt_to_pred"].size
    assert ours.distances_test_to_ref.size == ref["distances_pred_to_gt"].size
    np.testing.assert_allclose(ours.distances_ref_to_test, ref["distances_gt_to_pred"], atol=TOL)
    np.testing.assert_allclose(ours.distances_test_to_ref, ref["distances_pred_to_gt"], atol=TOL)
    np.testing.assert_allclose(ours.areas_ref, ref["surfel_areas_gt"], atol=TOL)
    np.testing.assert_allclose(ours.areas_test, ref["surfel_areas_pred"], atol=TOL)
    assert ours.hausdorff(95) == pytest.approx(sd.compute_robust_hausdorff(ref, 95), abs=TOL)
    assert ours.hausdorff(100) == pytest.approx(sd.compute_robust_hausdorff(ref, 100), abs=TOL)
    assert ours.hausdorff(100) == pytest.approx(
        max(ref["distances_gt_to_pred"].max(), ref["distances_pred_to_gt"].max()), abs=TOL
    )
    np.testing.assert_allclose(ours.directed_means(), sd.compute_average_surface_distance(ref), atol=TOL)
    assert ours.mean_surface_distance() == pytest.approx(_pooled_msd(ref), abs=TOL)
    for tol in (0.5, 1.0, 2.0, 3.0):
        assert ours.surface_dice(tol) == pytest.approx(sd.compute_surface_dice_at_tolerance(ref, tol), abs=TOL)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.47, 0.47), (0.3, 3.0, 1.7), (1.2, 0.9, 2.1)])
@pytest.mark.slow
def test_area_table_matches_package(spacing: tuple[float, float, float]) -> None:
    np.testing.assert_allclose(
        surfel_area_table(spacing),
        lookup_tables.create_table_neighbour_code_to_surface_area(spacing),
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.slow
def test_random_blobs_match_package(seed: int, spacing: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(seed)
    a = np.zeros((24, 40, 36), dtype=bool)
    b = np.zeros_like(a)
    a[3:20, 5:35, 4:30] = _blob(rng, (17, 30, 26))
    b[5:22, 8:38, 2:28] = _blob(rng, (17, 30, 26), level=0.48)
    assert a.any() and b.any()
    _assert_matches_package(a, b, spacing)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.slow
def test_blobs_touching_every_border_match_package(spacing: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(42)
    a = _blob(rng, (12, 20, 18), level=0.45)
    b = _blob(rng, (12, 20, 18), level=0.5)
    a[0, :, :] = True  # a full face on the volume border
    b[:, -1, :] = True
    _assert_matches_package(a, b, spacing)
    # The grid border is a surface: a block filling the whole grid has the same surface as the
    # same block placed inside a larger, empty grid.
    full = np.ones((3, 4, 5), dtype=bool)
    inside = np.zeros((7, 8, 9), dtype=bool)
    inside[2:5, 2:6, 2:7] = True
    area_full = surface_distances(full, full, spacing).areas_ref.sum()
    area_inside = surface_distances(inside, inside, spacing).areas_ref.sum()
    assert area_full > 0
    assert area_full == pytest.approx(area_inside, abs=TOL)
    assert surface_distances(full, full, spacing).hausdorff() == 0.0


def test_shifted_cube_known_distances() -> None:
    a = np.zeros((12, 12, 12), dtype=bool)
    a[3:7, 3:7, 3:7] = True
    b = np.roll(a, 2, axis=0)
    spacing = (2.5, 0.5, 0.5)
    sdist = surface_distances(a, b, spacing)
    # the far faces are two slices apart along z: 2 x 2.5 mm
    assert sdist.hausdorff(100) == pytest.approx(5.0)
    assert surface_distances(a, a, spacing).hausdorff(100) == 0.0
    assert surface_distances(a, a, spacing).mean_surface_distance() == 0.0
    assert surface_distances(a, a, spacing).surface_dice(0.0) == pytest.approx(1.0)
    assert 0.0 < sdist.surface_dice(2.0) < 1.0
    assert sdist.surface_dice(5.0) == pytest.approx(1.0)
    _assert_matches_package(a, b, spacing)


def test_single_voxels_and_thin_shapes_match_package() -> None:
    a = np.zeros((9, 9, 9), dtype=bool)
    b = np.zeros_like(a)
    a[4, 4, 4] = True
    b[2, 6, 1] = True
    b[6, 2:8, 3] = True  # a one-voxel-thick line
    _assert_matches_package(a, b, (2.5, 0.47, 0.47))
    _assert_matches_package(b, a, (1.0, 2.0, 3.0))


@pytest.mark.slow
def test_empty_masks() -> None:
    z = np.zeros((6, 6, 6), dtype=bool)
    a = z.copy()
    a[2:4, 2:4, 2:4] = True
    for ref, test in ((z, a), (a, z)):
        d = surface_distances(ref, test, (2.5, 0.47, 0.47))
        assert d.any_empty
        assert d.hausdorff(95) is None and d.hausdorff(100) is None
        assert d.mean_surface_distance() is None and d.directed_means() is None
        assert d.surface_dice(2.0) == 0.0
    both = surface_distances(z, Mask(z.shape), (1, 1, 1))
    assert both.hausdorff() is None and both.mean_surface_distance() is None
    assert both.surface_dice(2.0) == 1.0
    assert hausdorff_mm(z, a, (1, 1, 1), 95) is None
    assert mean_surface_distance_mm(a, z, (1, 1, 1)) is None
    assert surface_dice(z, z, (1, 1, 1)) == 1.0


@pytest.mark.slow
def test_mask_objects_give_identical_results() -> None:
    rng = np.random.default_rng(7)
    a = np.zeros((20, 50, 60), dtype=bool)
    b = np.zeros_like(a)
    a[4:16, 10:40, 12:44] = _blob(rng, (12, 30, 32))
    b[3:15, 12:42, 14:46] = _blob(rng, (12, 30, 32))
    spacing = (2.5, 0.47, 0.47)
    full = surface_distances(a, b, spacing)
    masked = surface_distances(Mask.from_full(a), Mask.from_full(b), spacing)
    for field in ("distances_ref_to_test", "distances_test_to_ref", "areas_ref", "areas_test"):
        assert np.array_equal(getattr(full, field), getattr(masked, field))
    assert hausdorff_mm(Mask.from_full(a), b, spacing, 95) == full.hausdorff(95)
    assert surface_dice(a, Mask.from_full(b), spacing, 1.0) == full.surface_dice(1.0)
