"""Hotspot navigator: regions of high uncertainty near the DL boundary, navigation, review, acceptance."""

from __future__ import annotations

import numpy as np

from lundprobe_gui.core.mask import Mask
from lundprobe_gui.edit.hotspots import HotspotNavigator, accept_band, accept_region, find_hotspots

from .test_edit_guided import SHAPE, ball


def uncertainty_map():
    unc = np.zeros(SHAPE, np.float32)
    unc[ball(4, centre=(4, 24, 34))] = 0.3  # on the boundary, large
    unc[ball(2.5, centre=(4, 14, 24))] = 0.45  # on the boundary (y = 14), smaller, more uncertain
    unc[ball(1.5, centre=(4, 24, 46))] = 0.45  # 12 voxels off the boundary: not a hotspot
    unc[4, 24, 24] = 0.5  # a single voxel deep inside: too far and too small
    unc[ball(6, centre=(4, 24, 14))] = 0.1  # below the threshold
    return unc


def test_hotspots_near_the_boundary_largest_first():
    ref = Mask.from_full(ball(10))
    spots = find_hotspots(uncertainty_map(), ref, (1.0, 1.0, 1.0), threshold=0.2, near_mm=3.0)
    assert [s.number for s in spots] == [1, 2]
    big, small = spots
    assert big.voxels > small.voxels
    assert abs(big.mean_uncertainty - 0.3) < 1e-6 and abs(small.max_uncertainty - 0.45) < 1e-6
    assert big.centre[2] > 28 and small.centre[1] < 18  # where each region is
    for s in spots:  # the centre is a voxel of the region itself
        assert uncertainty_map()[s.centre] >= 0.2
    assert find_hotspots(uncertainty_map(), ref, (1.0, 1.0, 1.0), threshold=0.4) == [
        s for s in find_hotspots(uncertainty_map(), ref, (1.0, 1.0, 1.0), threshold=0.4)
    ]
    assert len(find_hotspots(uncertainty_map(), ref, (1.0, 1.0, 1.0), threshold=0.4)) == 1
    assert find_hotspots(uncertainty_map(), Mask(SHAPE), (1.0, 1.0, 1.0)) == []


def test_navigator_wraps_marks_reviewed_and_logs():
    ref = Mask.from_full(ball(10))
    nav = HotspotNavigator()
    log = []
    nav.used.connect(log.append)
    nav.set_hotspots("CTVT_427", find_hotspots(uncertainty_map(), ref, (1.0, 1.0, 1.0)), 0.2)
    assert nav.go(+1).number == 1 and nav.go(+1).number == 2 and nav.go(+1).number == 1
    assert nav.go(-1).number == 2
    nav.mark_reviewed()
    assert nav.meter() == "1 of 2 regions reviewed"
    nav.mark_reviewed(0)
    nav.mark_reviewed(1, False)
    assert nav.meter() == "1 of 2 regions reviewed" and nav.reviewed == {0}
    assert [u.action for u in log] == ["navigate"] * 4 + ["review"] * 3
    assert log[0].details == {"hotspot": 1} and log[0].structure == "CTVT_427"


def test_accepting_the_low_uncertainty_boundary_restores_the_dl_mask_there_only():
    ref = Mask.from_full(ball(10))
    unc = uncertainty_map()
    band, share = accept_band(unc, ref, (1.0, 1.0, 1.0), 0.2, 2.0)
    full = band.to_full(SHAPE)
    assert not full[unc >= 0.2].any() and full[4, 24, 14] and full[4, 24, 13] and not full[4, 24, 24]
    assert 0.5 < share < 1.0
    edited = ball(10).copy()
    edited[4, 24, 33:35] = False  # an edit inside the hotspot: kept
    edited[4, 35:37, 24] = True  # an edit on the confident boundary: reverted by accepting
    where, values, _ = accept_region(Mask.from_full(edited), unc, ref, (1.0, 1.0, 1.0), 0.2, 2.0)
    after = edited.copy()
    sl = tuple(slice(a, b) for a, b in where.box)
    after[sl] = np.where(where.values, values, after[sl])
    assert not after[4, 35:37, 24].any() and after[4, 34, 24]
    assert not after[4, 24, 33:35].any()
