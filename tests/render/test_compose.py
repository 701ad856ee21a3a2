"""Layer compositing."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.render.colormaps import alpha8
from lundprobe_gui.render.compose import LineLayer, MaskLayer, RgbaLayer, blend_lut, compose_slice


def _base(h=20, w=30) -> np.ndarray:
    return (np.arange(h * w, dtype=np.uint32).reshape(h, w) % 251).astype(np.uint8)


def _over(dst: np.ndarray, rgb, alpha: int) -> np.ndarray:
    """Float reference of the over operator, rounded half up."""
    x = dst.astype(np.float64) * (255 - alpha) + np.asarray(rgb, dtype=np.float64) * alpha
    return np.floor(x / 255.0 + 0.5).astype(np.uint8)


def test_no_layers_gives_grey_rgb():
    base = _base()
    out = compose_slice(base, [])
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    for ch in range(3):
        np.testing.assert_array_equal(out[:, :, ch], base)


def test_rgb_base_is_accepted():
    rgb = np.stack([_base(), 255 - _base(), np.full((20, 30), 7, np.uint8)], axis=-1)
    np.testing.assert_array_equal(compose_slice(rgb, []), rgb)


def test_fully_opaque_layer_replaces_the_base():
    base = _base()
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 11, 22, 33, 255
    out = compose_slice(base, [RgbaLayer(rgba)])
    assert (out == [11, 22, 33]).all()
    out = compose_slice(base, [MaskLayer(np.ones((20, 30), bool), (44, 55, 66), 1.0)])
    assert (out == [44, 55, 66]).all()


def test_half_opacity_gives_the_midpoint():
    base = np.full((4, 5), 100, dtype=np.uint8)
    mask = np.ones((4, 5), dtype=bool)
    out = compose_slice(base, [MaskLayer(mask, (200, 0, 255), 0.5)])
    assert alpha8(0.5) == 128
    np.testing.assert_array_equal(out[0, 0], _over(np.array([100, 100, 100]), (200, 0, 255), 128))
    assert np.abs(out[0, 0].astype(int) - [150, 50, 178]).max() <= 1
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[...] = (200, 0, 255, 128)
    np.testing.assert_array_equal(compose_slice(base, [RgbaLayer(rgba)]), out)
    line = LineLayer.from_mask(mask, (200, 0, 255), 0.5)
    np.testing.assert_array_equal(compose_slice(base, [line]), out)


def test_per_pixel_alpha_is_exact():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (32, 40), dtype=np.uint8)
    rgba = rng.integers(0, 256, (32, 40, 4), dtype=np.uint8)
    out = compose_slice(base, [RgbaLayer(rgba)])
    x = base[..., None].astype(np.int64) * (255 - rgba[..., 3:4]) + rgba[..., :3].astype(np.int64) * rgba[..., 3:4]
    np.testing.assert_array_equal(out, np.floor(x / 255 + 0.5).astype(np.uint8))


def test_blend_lut_division_is_exact_everywhere():
    for alpha in (1, 77, 128, 254):
        for colour in ((0, 128, 255), (255, 1, 33)):
            lut = blend_lut(colour, alpha)
            for ch in range(3):
                np.testing.assert_array_equal(lut[ch], _over(np.arange(256), [colour[ch]] * 256, alpha))


def test_layer_with_offset_touches_only_its_box():
    base = _base()
    rgba = np.zeros((5, 6, 4), dtype=np.uint8)
    rgba[...] = (255, 0, 0, 255)
    out = compose_slice(base, [RgbaLayer(rgba, offset=(3, 7))])
    inside = np.zeros((20, 30), dtype=bool)
    inside[3:8, 7:13] = True
    assert (out[inside] == [255, 0, 0]).all()
    for ch in range(3):
        np.testing.assert_array_equal(out[~inside, ch], base[~inside])


def test_mask_layer_offset_and_clipping_at_the_edges():
    base = np.zeros((10, 10), dtype=np.uint8)
    mask = np.ones((4, 4), dtype=bool)
    out = compose_slice(base, [MaskLayer(mask, (0, 255, 0), 1.0, offset=(-2, 8))])
    expected = np.zeros((10, 10), dtype=bool)
    expected[0:2, 8:10] = True
    np.testing.assert_array_equal(out[..., 1] == 255, expected)
    assert (out[..., [0, 2]] == 0).all()
    out = compose_slice(
        base,
        [
            MaskLayer(mask, (0, 255, 0), 1.0, offset=(50, 50)),
            RgbaLayer(np.full((3, 3, 4), 255, np.uint8), offset=(-5, -5)),
        ],
    )
    assert (out == 0).all()


def test_line_layer_outside_the_image_is_clipped():
    line = LineLayer(np.array([-1, 0, 9, 10]), np.array([0, 0, 9, 3]), (255, 255, 255))
    out = compose_slice(np.zeros((10, 10), dtype=np.uint8), [line])
    assert (out[..., 0] > 0).sum() == 2 and out[0, 0, 0] == 255 and out[9, 9, 0] == 255


def test_painters_order_and_zero_opacity():
    base = np.zeros((6, 6), dtype=np.uint8)
    m = np.ones((6, 6), dtype=bool)
    out = compose_slice(base, [MaskLayer(m, (255, 0, 0)), MaskLayer(m[:3], (0, 0, 255))])
    assert (out[:3] == [0, 0, 255]).all() and (out[3:] == [255, 0, 0]).all()
    out = compose_slice(base, [MaskLayer(m, (255, 0, 0), opacity=0.0)])
    assert (out == 0).all()


def test_out_buffer_is_reused_and_validated():
    base = _base()
    buf = np.empty((20, 30, 3), dtype=np.uint8)
    assert compose_slice(base, [], out=buf) is buf
    with pytest.raises(ValueError, match=r"out must be C-contiguous uint8"):
        compose_slice(base, [], out=np.empty((20, 30, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"base must be uint8"):
        compose_slice(base.astype(np.float32), [])
    with pytest.raises(TypeError):
        compose_slice(base, [object()])  # type: ignore[list-item]


def test_different_slice_sizes_in_a_row():
    # The per-thread scratch planes must follow the slice size (axial then sagittal).
    a = compose_slice(np.full((20, 30), 5, np.uint8), [])
    b = compose_slice(np.full((7, 9), 9, np.uint8), [MaskLayer(np.ones((2, 2), bool), (1, 2, 3), 1.0, (6, 8))])
    assert a.shape == (20, 30, 3) and b.shape == (7, 9, 3)
    assert (b[6, 8] == [1, 2, 3]).all() and (b[0, 0] == 9).all()
