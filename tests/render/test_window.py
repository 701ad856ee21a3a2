"""Grey-level windowing."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.render.window import (
    AUTO_PRESET,
    PRESETS,
    apply_window,
    percentile_window,
    preset_range,
    range_to_wl,
    window_to_lut,
    wl_to_range,
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint16, np.int32, np.uint8, np.int8])
def test_lo_maps_to_0_and_hi_to_255(dtype):
    lo, hi = (-20, 100) if np.dtype(dtype).kind != "u" else (20, 100)
    vals = np.array([lo - 7, lo, (lo + hi) / 2, hi, hi + 7]).astype(dtype)
    out = apply_window(vals, lo, hi)
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 128, 255, 255]


def test_linear_in_between():
    vals = np.linspace(0, 255, 256, dtype=np.float32)
    np.testing.assert_array_equal(apply_window(vals, 0, 255), np.arange(256))
    quarter = apply_window(np.array([25.0]), 0, 100)
    assert quarter[0] == round(0.25 * 255)


def test_lut_and_float_paths_agree_on_8bit():
    vals = np.arange(-128, 128, dtype=np.int8)
    a = apply_window(vals, -40.5, 77.25)
    b = apply_window(vals.astype(np.float32), -40.5, 77.25)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_int16_lut_offset_indexing():
    lut = window_to_lut(-160, 200, np.int16)
    assert lut.shape == (65536,)
    assert lut[-160 + 32768] == 0 and lut[200 + 32768] == 255
    assert lut[-32768 + 32768] == 0 and lut[32767 + 32768] == 255
    assert lut[20 + 32768] == 128
    vals = np.array([-1000, -160, 20, 200, 3000], dtype=np.int16)
    np.testing.assert_array_equal(lut[vals.astype(np.int32) + 32768], apply_window(vals, -160, 200))


def test_nan_is_black_and_out_is_reused():
    vals = np.array([[np.nan, 50.0]], dtype=np.float32)
    buf = np.full(vals.shape, 7, dtype=np.uint8)
    res = apply_window(vals, 0, 100, out=buf)
    assert res is buf
    assert buf.tolist() == [[0, 128]]


def test_zero_width_window_is_a_threshold():
    out = apply_window(np.array([9.0, 10.0, 11.0]), 10, 10)
    assert out[0] == 0 and out[2] == 255


def test_presets_give_the_documented_ranges():
    assert preset_range("CT") == (-160.0, 200.0)
    assert preset_range("soft tissue") == (-160.0, 240.0)
    assert preset_range("mediastinum") == (-135.0, 215.0)
    assert preset_range("lung") == (-1400.0, 0.0)
    assert preset_range("bone") == (-500.0, 1300.0)
    assert PRESETS[AUTO_PRESET] is None
    with pytest.raises(KeyError):
        preset_range("no such preset")


def test_mri_auto_uses_the_01_999_percentiles():
    rng = np.random.default_rng(0)
    img = rng.gamma(2.0, 100.0, size=(40, 50)).astype(np.float32)
    img[0, 0] = 1e6  # an outlier must not stretch the window
    lo, hi = preset_range(AUTO_PRESET, img)
    exp_lo, exp_hi = np.percentile(img, [0.1, 99.9])
    assert lo == pytest.approx(exp_lo) and hi == pytest.approx(exp_hi)
    assert hi < 1e5
    with pytest.raises(ValueError, match=r"needs the image data"):
        preset_range(AUTO_PRESET)


def test_percentile_window_ignores_nan_and_handles_constant_images():
    img = np.full((10, 10), 42.0)
    img[0, :3] = np.nan
    lo, hi = percentile_window(img)
    assert lo == 42.0 and hi > lo
    big = np.arange(5_000_000, dtype=np.float32)
    lo, hi = percentile_window(big)
    assert lo == pytest.approx(5000, rel=0.05) and hi == pytest.approx(4_995_000, rel=0.01)


def test_width_level_round_trip():
    assert wl_to_range(360, 20) == (-160, 200)
    assert range_to_wl(-160, 200) == (360, 20)
    assert range_to_wl(*wl_to_range(1400, -700)) == (1400, -700)


def test_t2_presets_take_percentiles_of_the_tissue_not_of_the_air_around_it():
    from lundprobe_gui.render.window import MRI_PRESETS, preset_range

    rng = np.random.default_rng(0)
    air = rng.normal(5, 2, 600_000)  # most of a pelvic MRI's field of view
    tissue = rng.normal(300, 60, 300_000)
    fluid = rng.normal(1200, 30, 20_000)  # bladder urine, bright on T2
    data = np.concatenate([air, tissue, fluid]).astype(np.float32)
    assert MRI_PRESETS[0] == "MRI auto"
    lo, hi = preset_range("T2 prostate", data)
    assert 100 < lo < 300 < hi < 1200  # soft tissue spread over the grey levels, fluid saturated
    plo, phi = preset_range("T2 pelvis", data)
    assert plo > 20 and phi > 1100  # the fluid kept, the air left out
    auto = preset_range("MRI auto", data)
    assert auto[0] < 10  # the whole image, air included
