"""Outlines, structure layers, isodose lines, cropped dose/uncertainty layers and fusion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lundprobe_gui.render.colormaps import UncertaintySettings, dose_colour, dose_to_rgba, uncertainty_to_rgba
from lundprobe_gui.render.compose import LineLayer, MaskLayer, RgbaLayer, compose_slice
from lundprobe_gui.render.overlay import (
    StructureStyle,
    bbox2d,
    blend,
    checkerboard,
    dose_wash_layer,
    halo_cropped,
    isodose_lines,
    outline,
    outline_cropped,
    structure_layers,
    uncertainty_layer,
)


def _blobs(seed: int, shape=(60, 80), touch_edge=False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = ndimage.gaussian_filter(rng.random(shape), 3) > 0.5
    if not touch_edge:
        m[:2] = m[-2:] = False
        m[:, :2] = m[:, -2:] = False
    return m


def _touches_outside(m: np.ndarray) -> np.ndarray:
    """Mask pixels with a 4-neighbour outside the mask or beyond the array edge (reference)."""
    p = np.pad(m, 1)
    nb_out = ~p[:-2, 1:-1] | ~p[2:, 1:-1] | ~p[1:-1, :-2] | ~p[1:-1, 2:]
    return m & nb_out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("touch_edge", [False, True])
@pytest.mark.slow
def test_outline_lies_exactly_on_the_mask_boundary(seed, touch_edge):
    m = _blobs(seed, touch_edge=touch_edge)
    assert m.any() and not m.all()
    line = outline(m)
    assert line.shape == m.shape and line.dtype == bool
    p = np.pad(m, 1)
    rows, cols = np.nonzero(line)
    # every outline pixel is in the mask and touches the outside...
    assert m[rows, cols].all()
    touches = ~p[rows, cols + 1] | ~p[rows + 2, cols + 1] | ~p[rows + 1, cols] | ~p[rows + 1, cols + 2]
    assert touches.all()
    # ...and every mask pixel touching the outside is in the outline.
    boundary = _touches_outside(m)
    assert not (boundary & ~line).any()


@pytest.mark.parametrize("width", [2, 3])
def test_outline_width_thickens_inwards(width):
    m = _blobs(11, touch_edge=True)
    dist = ndimage.distance_transform_cdt(np.pad(m, 1), metric="taxicab")[1:-1, 1:-1]
    line = outline(m, width)
    np.testing.assert_array_equal(line, m & (dist <= width))
    assert not (line & ~m).any()


@pytest.mark.parametrize("widths", [(1, 1), (3, 1), (1, 3), (2, 4), (4, 2)])
def test_outline_thickness_can_differ_across_rows_and_columns(widths):
    # a view that shows its pixels smaller than a screen pixel (or taller than wide) draws
    # lines that many pixels thick along each axis, so they stay whole on screen
    wr, wc = widths
    m = _blobs(5, touch_edge=True)
    k, extra = min(wr, wc), abs(wr - wc)
    along = np.ones((2 * extra + 1, 1), bool) if wr > wc else np.ones((1, 2 * extra + 1), bool)
    inner = ndimage.binary_erosion(np.pad(m, 1), ndimage.generate_binary_structure(2, 1), iterations=k, border_value=0)
    if extra:
        inner = ndimage.binary_erosion(inner, along, border_value=0)
    np.testing.assert_array_equal(outline(m, widths), m & ~inner[1:-1, 1:-1])
    if wr == wc:
        np.testing.assert_array_equal(outline(m, widths), outline(m, wr))
    sq = np.zeros((20, 30), dtype=bool)
    sq[5:15, 8:20] = True
    line = outline(sq, widths)
    assert line[5 : 5 + wr, 14].all() and not line[5 + wr, 14]  # top edge: wr rows
    assert line[10, 8 : 8 + wc].all() and not line[10, 8 + wc]  # left edge: wc columns


def test_halo_thickness_grows_outwards_per_axis():
    m = np.zeros((15, 15), dtype=bool)
    m[6:9, 6:9] = True
    ring, (r0, c0) = halo_cropped(m, width=(2, 1))
    full = np.zeros_like(m)
    full[r0 : r0 + ring.shape[0], c0 : c0 + ring.shape[1]] = ring
    grown = ndimage.binary_dilation(m, ndimage.generate_binary_structure(2, 1))
    grown = ndimage.binary_dilation(grown, np.ones((3, 1), bool))
    np.testing.assert_array_equal(full, grown & ~m)
    assert full[4, 7] and full[5, 7] and not full[3, 7] and full[7, 5] and not full[7, 4]


def test_outline_of_a_square_and_of_nothing():
    m = np.zeros((10, 10), dtype=bool)
    assert not outline(m).any()
    assert outline_cropped(m) is None
    m[2:7, 3:9] = True
    expected = m.copy()
    expected[3:6, 4:8] = False
    np.testing.assert_array_equal(outline(m), expected)
    line, (r0, c0) = outline_cropped(m, offset=(100, 200))
    assert (r0, c0) == (102, 203) and line.shape == (5, 6)
    single = np.zeros((5, 5), dtype=bool)
    single[2, 2] = True
    np.testing.assert_array_equal(outline(single), single)


def test_halo_is_the_ring_just_outside():
    m = np.zeros((9, 9), dtype=bool)
    m[4, 4] = True
    ring, (r0, c0) = halo_cropped(m)
    full = np.zeros_like(m)
    full[r0 : r0 + ring.shape[0], c0 : c0 + ring.shape[1]] = ring
    expected = ndimage.binary_dilation(m) & ~m
    np.testing.assert_array_equal(full, expected)


def test_structure_styles():
    m = np.zeros((20, 30), dtype=bool)
    m[5:15, 8:20] = True
    out = structure_layers(m, (255, 0, 0), StructureStyle("outline"))
    assert [type(layer) for layer in out] == [LineLayer]
    assert len(out[0]) == int(outline(m).sum())
    out = structure_layers(m, (255, 0, 0), StructureStyle("fill", fill_opacity=0.5))
    assert [type(layer) for layer in out] == [MaskLayer]
    assert out[0].offset == (5, 8) and out[0].mask.shape == (10, 12) and out[0].opacity == 0.5
    out = structure_layers(m, (255, 0, 0), StructureStyle("both"), halo=(255, 255, 255))
    assert [type(layer) for layer in out] == [LineLayer, MaskLayer, LineLayer]
    assert out[0].colour == (255, 255, 255)
    assert structure_layers(np.zeros((4, 4), dtype=bool), (1, 2, 3)) == []
    with pytest.raises(ValueError, match=r"unknown structure style 'dotted'"):
        structure_layers(m, (1, 2, 3), StructureStyle("dotted"))  # type: ignore[arg-type]


def test_structure_layers_of_a_crop_land_at_the_offset():
    full = np.zeros((40, 50), dtype=bool)
    full[10:20, 12:30] = True
    crop = full[8:22, 10:32]
    base = np.zeros((40, 50), dtype=np.uint8)
    a = compose_slice(base, structure_layers(full, (0, 255, 0), StructureStyle("both")))
    b = compose_slice(base, structure_layers(crop, (0, 255, 0), StructureStyle("both"), offset=(8, 10)))
    np.testing.assert_array_equal(a, b)


def _dose_field(shape=(80, 100), peak=45.7) -> np.ndarray:
    y, x = np.indices(shape)
    r2 = ((y - 40) / 25.0) ** 2 + ((x - 55) / 30.0) ** 2
    return (peak * np.exp(-r2)).astype(np.float32)


def test_isodose_lines_are_boundaries_of_the_levels():
    dose = _dose_field()
    lines = isodose_lines(dose, 42.7, dose_max=45.7)
    assert [iso.level_pct for iso in lines] == [95, 80, 60, 40, 20]
    for iso in lines:
        full = np.zeros(dose.shape, dtype=bool)
        r0, c0 = iso.offset
        full[r0 : r0 + iso.line.shape[0], c0 : c0 + iso.line.shape[1]] = iso.line
        np.testing.assert_array_equal(full, outline(dose >= iso.dose_gy))
        assert iso.dose_gy == pytest.approx(iso.level_pct / 100 * 42.7)
        assert full[iso.anchor]
        assert iso.colour == dose_colour(iso.dose_gy, 42.7, 45.7)
        assert iso.label == f"{iso.level_pct:g} %"
        assert len(iso.layer()) == int(full.sum())
    assert lines[2].colour == (0, 255, 0)
    anchors = {iso.anchor for iso in lines}
    assert len(anchors) == len(lines)


def test_isodose_levels_not_reached_are_left_out():
    dose = _dose_field(peak=30.0)  # 70 % of 42.7 Gy
    lines = isodose_lines(dose, 42.7, levels=(95, 60, 20))
    assert [iso.level_pct for iso in lines] == [60, 20]
    assert isodose_lines(np.zeros((5, 5), dtype=np.float32)) == []


def test_dose_wash_layer_is_cropped_but_draws_the_same():
    dose = _dose_field()
    layer = dose_wash_layer(dose, 45.7)
    assert isinstance(layer, RgbaLayer)
    assert layer.rgba.shape[:2] != dose.shape
    full = dose_to_rgba(dose, 42.7, 45.7)
    base = np.full(dose.shape, 90, dtype=np.uint8)
    np.testing.assert_array_equal(compose_slice(base, [layer]), compose_slice(base, [RgbaLayer(full)]))
    assert dose_wash_layer(np.zeros((5, 5), dtype=np.float32), 45.7) is None


def test_uncertainty_layer_is_cropped_but_draws_the_same():
    unc = np.zeros((50, 60), dtype=np.float32)
    unc[10:20, 30:45] = np.linspace(0.01, 0.6, 150).reshape(10, 15)
    layer = uncertainty_layer(unc)
    assert layer.offset == (10, 30) and layer.rgba.shape == (10, 15, 4)
    base = np.full(unc.shape, 30, dtype=np.uint8)
    np.testing.assert_array_equal(
        compose_slice(base, [layer]), compose_slice(base, [RgbaLayer(uncertainty_to_rgba(unc))])
    )
    per_map = uncertainty_layer(unc, map_max=0.6, settings=UncertaintySettings(scale="per_map"))
    np.testing.assert_array_equal(
        compose_slice(base, [per_map]), compose_slice(base, [RgbaLayer(uncertainty_to_rgba(unc, 0.06, 0.6))])
    )
    assert per_map.rgba[0, 0, 3] == 0  # 0.01 is below 10 % of the map maximum
    assert tuple(per_map.rgba[-1, -1, :3]) == (255, 0, 0)
    assert uncertainty_layer(np.zeros((4, 4), dtype=np.float32)) is None


def test_bbox2d():
    m = np.zeros((6, 7), dtype=bool)
    assert bbox2d(m) is None
    m[2, 3] = m[4, 1] = True
    assert bbox2d(m) == ((2, 5), (1, 4))


def test_checkerboard_alternates_tiles():
    a = np.full((8, 12, 3), 10, dtype=np.uint8)
    b = np.full((8, 12, 3), 200, dtype=np.uint8)
    cb = checkerboard(a, b, 4)
    assert cb.shape == a.shape and cb.flags.c_contiguous
    tiles = cb[::4, ::4, 0]
    np.testing.assert_array_equal(tiles, [[10, 200, 10], [200, 10, 200]])
    assert (cb[0:4, 0:4] == 10).all() and (cb[0:4, 4:8] == 200).all()
    grey = checkerboard(a[..., 0], b[..., 0], 3)
    assert grey[0, 0] == 10 and grey[0, 3] == 200 and grey[3, 3] == 10
    with pytest.raises(ValueError, match=r"checkerboard needs equal shapes"):
        checkerboard(a, b[:4], 4)


def test_blend_endpoints_and_midpoint():
    a = np.array([[0, 100, 255]], dtype=np.uint8)
    b = np.array([[255, 200, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(blend(a, b, 0.0), a)
    np.testing.assert_array_equal(blend(a, b, 1.0), b)
    np.testing.assert_array_equal(blend(a, b, 0.5), [[128, 150, 128]])
    q = blend(a, b, 0.25)
    np.testing.assert_allclose(q, 0.75 * a + 0.25 * b, atol=1)


def test_checkerboard_tiles_of_any_shape_and_a_part_that_matches_the_whole():
    a = np.zeros((30, 40), np.uint8)
    b = np.full((30, 40), 9, np.uint8)
    whole = checkerboard(a, b, (3, 8))
    assert (whole[0:3, 0:8] == 0).all() and (whole[3:6, 0:8] == 9).all() and (whole[0:3, 8:16] == 9).all()
    part = checkerboard(a[7:20, 13:31], b[7:20, 13:31], (3, 8), origin=(7, 13))
    np.testing.assert_array_equal(part, whole[7:20, 13:31])
