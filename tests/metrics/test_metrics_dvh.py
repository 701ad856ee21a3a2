"""DVH against hand values on a ramp and against direct numpy on an analytic dose."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.core.mask import Box, Mask, box_slices
from lundprobe_gui.metrics.dvh import compute_dvh, dose_at_volume


class RecordingDose:
    """A dose map that only offers ``read(box)`` and remembers the boxes it was asked for."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr.astype(np.float32)
        self.boxes: list[Box] = []

    def read(self, box: Box) -> np.ndarray:
        self.boxes.append(box)
        return self.arr[box_slices(box)].copy()


def _ramp_case() -> tuple[np.ndarray, np.ndarray]:
    """A 1 x 10 x 100 block whose dose is 0.5 Gy x its x index (0 .. 49.5 Gy)."""
    mask = np.zeros((6, 20, 120), dtype=bool)
    mask[2, 5:15, 10:110] = True
    dose = np.zeros(mask.shape, dtype=np.float64)
    dose[:, :, 10:110] = 0.5 * np.arange(100)
    dose[:, :, 110:] = 99.0  # outside the structure, must not count
    return mask, dose


def test_ramp_by_hand() -> None:
    mask, dose = _ramp_case()
    spacing = (2.5, 0.5, 0.4)  # 0.5 mm^3 per voxel
    dvh = compute_dvh(mask, dose, spacing)
    s = dvh.stats
    assert s.volume_cc == pytest.approx(1000 * 0.5 / 1000)
    assert s.mean_gy == pytest.approx(24.75)
    assert (s.min_gy, s.max_gy) == (0.0, 49.5)
    # 10 voxels per dose level; the top x % are the highest x columns
    assert s.d2_gy == 49.0  # columns 98, 99
    assert s.d50_gy == 25.0  # columns 50..99
    assert s.d95_gy == 2.5  # columns 5..99
    assert s.d98_gy == 1.0  # columns 2..99
    # 0.95 x 42.7 = 40.565 Gy -> columns 82..99; 42.7 Gy -> columns 86..99
    assert s.v95_percent == pytest.approx(18.0)
    assert s.v100_percent == pytest.approx(14.0)
    assert s.prescription_gy == 42.7
    # curve: 0.01 Gy levels from 0 to one level past 49.5 Gy
    assert dvh.dose_gy[0] == 0.0 and dvh.volume_percent[0] == 100.0
    assert dvh.dose_gy[-1] == pytest.approx(49.51) and dvh.volume_percent[-1] == 0.0
    assert dvh.dose_gy[2500] == 25.0 and dvh.volume_percent[2500] == pytest.approx(50.0)
    assert dvh.volume_percent[2501] == pytest.approx(49.0)
    assert np.all(np.diff(dvh.volume_percent) <= 0)


def test_prescription_and_bin_width_parameters() -> None:
    mask, dose = _ramp_case()
    dvh = compute_dvh(mask, dose, (1, 1, 1), prescription_gy=20.0, bin_width_gy=0.5)
    # 19 Gy -> columns 38..99 (62 %), 20 Gy -> columns 40..99 (60 %)
    assert dvh.stats.v95_percent == pytest.approx(62.0)
    assert dvh.stats.v100_percent == pytest.approx(60.0)
    np.testing.assert_allclose(dvh.dose_gy, 0.5 * np.arange(101))
    np.testing.assert_allclose(dvh.volume_percent, np.r_[100.0 - np.arange(100), 0.0])


def test_against_direct_numpy_on_an_analytic_dose() -> None:
    shape = (20, 40, 50)
    spacing = (2.5, 0.47, 0.47)
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    # a linear ramp along x plus a gentle gradient along z and y
    dose = 30.0 + 0.35 * x + 0.2 * z - 0.05 * y
    centre = np.array([10, 20, 25])
    r2 = ((z - centre[0]) * spacing[0]) ** 2 + ((y - centre[1]) * spacing[1]) ** 2 + ((x - centre[2]) * spacing[2]) ** 2
    mask = r2 <= 8.0**2
    d = dose[mask]
    n = d.size

    dvh = compute_dvh(Mask.from_full(mask), dose, spacing, prescription_gy=42.7)
    s = dvh.stats
    assert s.volume_cc == pytest.approx(n * np.prod(spacing) / 1000)
    assert s.mean_gy == pytest.approx(d.mean())
    assert s.max_gy == pytest.approx(d.max()) and s.min_gy == pytest.approx(d.min())
    for x_pct, got in ((98, s.d98_gy), (95, s.d95_gy), (50, s.d50_gy), (2, s.d2_gy)):
        # brute force: the highest voxel dose received by at least x % of the voxels
        ok = [v for v in np.unique(d) if np.count_nonzero(d >= v) >= x_pct / 100 * n]
        assert got == pytest.approx(max(ok))
    assert s.v95_percent == pytest.approx(100 * np.mean(d >= 0.95 * 42.7))
    assert s.v100_percent == pytest.approx(100 * np.mean(d >= 42.7))
    for i in range(0, dvh.dose_gy.size, 37):
        assert dvh.volume_percent[i] == pytest.approx(100 * np.mean(d >= dvh.dose_gy[i]))


def test_box_reader_dose_reads_only_the_mask_box() -> None:
    mask, dose = _ramp_case()
    reader = RecordingDose(dose)
    from_reader = compute_dvh(Mask.from_full(mask), reader, (1, 1, 1))
    from_array = compute_dvh(mask, dose, (1, 1, 1))
    assert reader.boxes == [((2, 3), (5, 15), (10, 110))]
    assert from_reader.stats == from_array.stats
    np.testing.assert_array_equal(from_reader.volume_percent, from_array.volume_percent)


def test_empty_mask() -> None:
    _, dose = _ramp_case()
    dvh = compute_dvh(np.zeros(dose.shape, dtype=bool), dose, (1, 1, 1))
    assert dvh.stats.volume_cc == 0.0
    assert dvh.stats.mean_gy is None and dvh.stats.d95_gy is None and dvh.stats.v100_percent is None
    assert dvh.dose_gy.size == 0 and dvh.volume_percent.size == 0
    assert compute_dvh(Mask(dose.shape), RecordingDose(dose), (1, 1, 1)).stats.max_gy is None


def test_dose_at_volume_and_errors() -> None:
    desc = np.array([10.0, 8.0, 8.0, 5.0, 1.0])
    assert dose_at_volume(desc, 100) == 1.0
    assert dose_at_volume(desc, 40) == 8.0  # 2 of 5 voxels
    assert dose_at_volume(desc, 41) == 8.0  # ceil(2.05) = 3rd highest
    assert dose_at_volume(desc, 61) == 5.0
    assert dose_at_volume(desc, 0) == 10.0
    mask, dose = _ramp_case()
    with pytest.raises(ValueError, match=r"dose grid .* differs from the mask grid"):
        compute_dvh(mask, dose[:, :, :-1], (1, 1, 1))
    with pytest.raises(ValueError, match=r"bin_width_gy must be positive"):
        compute_dvh(mask, dose, (1, 1, 1), bin_width_gy=0.0)
