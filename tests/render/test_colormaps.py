"""Dose wash, uncertainty heat map, colour bars and structure colours."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

from lundprobe_gui.render.colormaps import (
    UncertaintySettings,
    dose_colour,
    dose_colour_bar,
    dose_lut,
    dose_to_rgba,
    edit_colour,
    load_colour_table,
    palette_colour,
    shade,
    structure_colour,
    structure_halo_colour,
    uncertainty_colour_bar,
    uncertainty_range,
    uncertainty_to_rgba,
)

RX = 42.7
DMAX = 45.7
ALPHA_04 = round(0.4 * 255)


def _rgba_at(dose_gy: float, **kw) -> tuple[int, int, int, int]:
    kw.setdefault("dose_max", DMAX)
    return tuple(int(v) for v in dose_to_rgba(np.array([[dose_gy]], dtype=np.float32), RX, **kw)[0, 0])


def test_dose_below_threshold_is_fully_transparent():
    thr = 0.1 * RX
    dose = np.array([[0.0, thr * 0.5, np.nextafter(np.float32(thr), 0)]], dtype=np.float32)
    rgba = dose_to_rgba(dose, RX, DMAX)
    assert (rgba[..., 3] == 0).all()
    assert _rgba_at(thr)[3] == ALPHA_04


@pytest.mark.parametrize(
    "fraction, rgb",
    [
        (0.10, (0, 0, 255)),
        (0.30, (0, 128, 255)),
        (0.40, (0, 255, 255)),
        (0.60, (0, 255, 0)),
        (0.80, (255, 255, 0)),
    ],
)
def test_dose_colours_sit_at_the_percentage_stops(fraction, rgb):
    assert _rgba_at(fraction * RX) == (*rgb, ALPHA_04)


def test_dose_max_is_red_and_above_stays_red():
    assert _rgba_at(DMAX) == (255, 0, 0, ALPHA_04)
    assert _rgba_at(DMAX + 5) == (255, 0, 0, ALPHA_04)


def test_dose_interpolates_linearly_between_stops():
    r, g, b, _ = _rgba_at(0.70 * RX)  # halfway green -> yellow
    assert abs(r - 128) <= 1 and g == 255 and b == 0
    r, g, b, _ = _rgba_at((0.8 * RX + DMAX) / 2)  # halfway yellow -> red
    assert abs(r - 255) <= 1 and abs(g - 128) <= 1 and b == 0


def test_dose_threshold_and_opacity_are_configurable():
    assert _rgba_at(0.15 * RX, threshold=0.2)[3] == 0
    assert _rgba_at(0.20 * RX, threshold=0.2)[3] == ALPHA_04
    assert _rgba_at(0.05 * RX, threshold=0.05)[:3] == (0, 0, 255)
    assert _rgba_at(0.6 * RX, opacity=1.0) == (0, 255, 0, 255)
    assert _rgba_at(0.6 * RX, opacity=0.0)[3] == 0


def test_dose_nan_is_transparent_and_default_max_is_the_slice_max():
    rgba = dose_to_rgba(np.array([[np.nan, 30.0, 20.0]], dtype=np.float32), RX)
    assert rgba[0, 0, 3] == 0
    assert tuple(rgba[0, 1, :3]) == (255, 0, 0)


def test_dose_lut_shape_and_transparency():
    lut = dose_lut(RX, DMAX)
    assert lut.shape == (256, 4) and lut.dtype == np.uint8
    gy = np.linspace(0, DMAX, 256)
    assert (lut[gy < 0.1 * RX, 3] == 0).all()
    assert (lut[gy >= 0.1 * RX, 3] == ALPHA_04).all()
    assert tuple(lut[-1, :3]) == (255, 0, 0)


def test_dose_colour_matches_the_wash():
    assert dose_colour(0.6 * RX, RX, DMAX) == (0, 255, 0)
    assert dose_colour(0.95 * RX, RX, DMAX) == _rgba_at(0.95 * RX)[:3]


def test_uncertainty_fixed_scale():
    unc = np.array([[0.0, 0.5, 0.9, -0.1, np.nan, 0.25, 1e-4]], dtype=np.float32)
    rgba = uncertainty_to_rgba(unc)
    assert rgba[0, 0, 3] == 0
    assert tuple(rgba[0, 1]) == (255, 0, 0, ALPHA_04)
    assert tuple(rgba[0, 2]) == (255, 0, 0, ALPHA_04)
    assert rgba[0, 3, 3] == 0 and rgba[0, 4, 3] == 0
    assert tuple(rgba[0, 5, :3]) == (0, 255, 0)  # middle of the seven colours
    assert tuple(rgba[0, 6, :3]) == (0, 0, 139)  # smallest visible value: dark blue


def test_uncertainty_per_map_scale():
    settings = UncertaintySettings(scale="per_map")
    lo, hi = uncertainty_range(settings, map_max=0.2)
    assert (lo, hi) == pytest.approx((0.02, 0.2))
    rgba = uncertainty_to_rgba(np.array([[0.01, 0.02, 0.2]], dtype=np.float32), lo, hi)
    assert rgba[0, 0, 3] == 0
    assert tuple(rgba[0, 1, :3]) == (0, 0, 139)
    assert tuple(rgba[0, 2, :3]) == (255, 0, 0)
    # On the fixed scale the same 0.2 is far from red.
    assert tuple(uncertainty_to_rgba(np.array([0.2]))[0, :3]) != (255, 0, 0)
    with pytest.raises(ValueError, match=r"needs the map maximum"):
        uncertainty_range(settings)


def test_dose_colour_bar():
    bar = dose_colour_bar(RX, DMAX, height=200, width=10)
    assert bar.image.shape == (200, 10, 4) and bar.image.dtype == np.uint8
    assert tuple(bar.image[0, 0, :3]) == (255, 0, 0)
    assert tuple(bar.image[-1, 0, :3]) == (0, 0, 255)
    assert (bar.image[..., 3] == 255).all()
    labels = {t.label: t for t in bar.ticks}
    assert "25.6 Gy (60 %)" in labels and "45.7 Gy (107 %)" in labels and "4.3 Gy (10 %)" in labels
    green = labels["25.6 Gy (60 %)"]
    r, g, b = bar.image[green.row, 0, :3]
    assert g == 255 and r <= 8 and b <= 8
    assert [t.row for t in bar.ticks] == sorted(t.row for t in bar.ticks)


def test_uncertainty_colour_bar():
    bar = uncertainty_colour_bar(0.0, 0.5, height=100, n_ticks=6)
    assert tuple(bar.image[0, 0, :3]) == (255, 0, 0)
    assert tuple(bar.image[-1, 0, :3]) == (0, 0, 139)
    assert [t.label for t in bar.ticks] == ["0.50", "0.40", "0.30", "0.20", "0.10", "0.00"]
    assert bar.ticks[0].row == 0 and bar.ticks[-1].row == 99


def test_structure_colours_come_from_the_table():
    data = json.loads(_json_text())
    for name, rgb in data["structures"].items():
        if "*" not in name:
            assert structure_colour(name) == tuple(rgb)
    assert structure_colour("bladder") == structure_colour("Bladder") == (255, 255, 0)
    assert structure_colour("FemoralHead_L") == structure_colour("FemoralHead_R")


def _json_text() -> str:
    from importlib.resources import files

    return (files("lundprobe_gui.resources") / "colours.json").read_text(encoding="utf-8")


def test_sources_and_fiducials():
    observers = [structure_colour("Rectum", f"step1_obs{x}") for x in "BCDE"]
    assert len(set(observers)) == 4
    assert structure_colour("Rectum", "step2_obsB") == observers[0]
    assert structure_colour("Rectum", "nnUNet") not in observers
    # the DL versions of two structures differ, and each fold is a shade of its structure's DL colour
    assert structure_colour("Rectum", "nnUNet") != structure_colour("CTVT_427", "nnUNet")
    for name in ("Rectum", "CTVT_427"):
        dl = structure_colour(name, "nnUNet")
        folds = [structure_colour(name, f"nnUNet_fold_{i}") for i in range(10)]
        assert len(set(folds)) == 10 and folds == [shade(dl, i) for i in range(10)]
        assert sum(folds[0]) < sum(dl) < sum(folds[9])  # dark to light
    assert structure_colour("Rectum", "nnUNet_fold_3") != structure_colour("CTVT_427", "nnUNet_fold_3")
    edits = [edit_colour(i) for i in range(6)]
    assert len(set(edits)) == 6 and edits[0] == (0, 255, 255) and edit_colour(6) == edits[0]
    assert structure_colour("Rectum", "clinical") == structure_colour("Rectum")
    assert structure_colour("MRI_T2_coords_fiducials") == (0, 0, 0)
    assert structure_halo_colour("MRI_T2_coords_fiducials") == (255, 255, 255)
    assert structure_halo_colour("Bladder") is None


@pytest.mark.slow
def test_unknown_names_get_a_stable_palette_colour():
    table = load_colour_table()
    assert len(table.palette) >= 20
    c = structure_colour("SeminalVesicles")
    assert c in table.palette
    assert c == table.palette[zlib.crc32(b"seminalvesicles") % len(table.palette)]
    assert structure_colour(" seminalvesicles ") == c
    names = [f"Organ{i}" for i in range(40)]
    assert len({palette_colour(n) for n in names}) > 10
    # Python's str hash is salted per process; the colour must not be.
    code = "from lundprobe_gui.render.colormaps import structure_colour as s; print(s('SeminalVesicles'))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outs == {str(c)}


def test_custom_table_file(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(
        json.dumps(
            {
                "structures": {"Prostate": [1, 2, 3], "lymph*": [4, 5, 6]},
                "sources": {"*obsX": [7, 8, 9]},
                "palette": [[10, 11, 12]],
            }
        )
    )
    table = load_colour_table(str(f))
    assert structure_colour("prostate", table=table) == (1, 2, 3)
    assert structure_colour("LymphNodes", table=table) == (4, 5, 6)
    assert structure_colour("Prostate", "step1_obsX", table=table) == (7, 8, 9)
    assert structure_colour("Other", table=table) == (10, 11, 12)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"structures": {"A": [300, 0, 0]}, "palette": [[0, 0, 0]]}))
    with pytest.raises(ValueError, match=r"bad colour \[300, 0, 0\]"):
        load_colour_table(str(bad))


def test_the_uncertainty_scales_the_viewer_offers():
    from lundprobe_gui.render.colormaps import UNCERTAINTY_SCALES, uncertainty_lut

    assert set(UNCERTAINTY_SCALES) == {"magenta", "rainbow"}
    magenta = uncertainty_lut(0.0, 0.5, 1.0, 64, colours="magenta")[:, :3].astype(int)
    assert ((magenta[:, 0] > magenta[:, 1]) & (magenta[:, 2] > magenta[:, 1])).all()  # purple to pink, no green
    assert np.array_equal(uncertainty_lut(n=64), uncertainty_lut(n=64, colours="rainbow"))  # the dataset's default
    bar = uncertainty_colour_bar(0.0, 0.5, colours="magenta")
    assert np.array_equal(bar.image[0, 0, :3], magenta[-1])
    with pytest.raises(ValueError, match="unknown uncertainty colour scale"):
        uncertainty_lut(colours="viridis")
