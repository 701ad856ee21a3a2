"""The edit-versus-uncertainty histogram against a hand count."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.core.mask import Box, Mask, box_slices
from lundprobe_gui.metrics.uncertainty_edits import edit_uncertainty_histogram

UNC = np.array(
    [
        [0.0, 0.02, 0.07, 0.12, 0.5],
        [0.0, 0.05, 0.15, 0.49, 0.7],
        [0.0, 0.0, 0.1, 0.25, 0.3],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)
DL = np.array(
    [
        [0, 0, 1, 1, 1],
        [0, 1, 1, 1, 1],
        [0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0],
    ],
    dtype=bool,
)
EDITED = np.array(
    [
        [0, 1, 1, 0, 1],  # added (0,1) u=0.02 -> bin 0; removed (0,3) u=0.12 -> bin 2
        [1, 1, 1, 1, 0],  # added (1,0) u=0 -> bin 0 (outside support); removed (1,4) u=0.7 -> bin 9
        [0, 0, 0, 1, 1],  # removed (2,2) u=0.1 -> bin 2; added (2,4) u=0.3 -> bin 6
        [0, 0, 0, 1, 0],  # added (3,3) u=0 -> bin 0 (outside support)
    ],
    dtype=bool,
)

# Region = uncertainty > 0 (11 voxels) or edited (2 more at u = 0): per bin
# bin 0: (0,1) (1,0) (3,3); bin 1: 0.07, 0.05 (a value on an edge goes up); bin 2: 0.12, 0.1;
# bin 3: 0.15; bin 5: 0.25; bin 6: 0.3; bin 9: 0.5, 0.49, 0.7.
TOTAL = [3, 2, 2, 1, 0, 1, 1, 0, 0, 3]
ADDED = [3, 0, 0, 0, 0, 0, 1, 0, 0, 0]
REMOVED = [0, 0, 2, 0, 0, 0, 0, 0, 0, 1]
FRACTION = [1.0, 0.0, 1.0, 0.0, None, 0.0, 1.0, None, None, 1 / 3]


def _embed(plane: np.ndarray, dtype) -> np.ndarray:
    """Place a 4 x 5 plane at slice 3, rows 10..13, columns 20..24 of a larger grid."""
    out = np.zeros((6, 30, 40), dtype=dtype)
    out[3, 10:14, 20:25] = plane
    return out


class UncertaintyReader:
    """An uncertainty map offering ``read(box)`` (and optionally the stored ``box``)."""

    def __init__(self, arr: np.ndarray, box: Box | None = None, with_box: bool = False) -> None:
        self.arr = arr
        self.reads: list[Box] = []
        if with_box:
            self.box = box

    def read(self, box: Box) -> np.ndarray:
        self.reads.append(box)
        return self.arr[box_slices(box)]


def _check(hist) -> None:
    assert len(hist.bins) == 10
    np.testing.assert_allclose([b.bin_low for b in hist.bins], np.arange(10) * 0.05, atol=1e-12)
    np.testing.assert_allclose([b.bin_high for b in hist.bins], np.arange(1, 11) * 0.05, atol=1e-12)
    assert [b.total_voxels for b in hist.bins] == TOTAL
    assert [b.added_voxels for b in hist.bins] == ADDED
    assert [b.removed_voxels for b in hist.bins] == REMOVED
    assert [b.edited_voxels for b in hist.bins] == [a + r for a, r in zip(ADDED, REMOVED)]
    for b, f in zip(hist.bins, FRACTION):
        assert b.fraction_edited == (None if f is None else pytest.approx(f))
    assert hist.edited_voxels == 7 and hist.total_voxels == 13


@pytest.mark.slow
def test_hand_count_arrays() -> None:
    _check(edit_uncertainty_histogram(_embed(DL, bool), _embed(EDITED, bool), _embed(UNC, np.float64)))


@pytest.mark.slow
def test_hand_count_float32_and_masks() -> None:
    unc = _embed(UNC, np.float32)
    _check(edit_uncertainty_histogram(Mask.from_full(_embed(DL, bool)), Mask.from_full(_embed(EDITED, bool)), unc))


@pytest.mark.slow
def test_reader_with_box_reads_only_the_support() -> None:
    unc = _embed(UNC, np.float64)
    support = ((3, 4), (10, 13), (21, 25))  # the non-zero block of the map
    reader = UncertaintyReader(unc, support, with_box=True)
    _check(edit_uncertainty_histogram(_embed(DL, bool), _embed(EDITED, bool), reader))
    # union of the support and the two masks' boxes, never the full 6 x 30 x 40 grid
    assert reader.reads == [((3, 4), (10, 14), (20, 25))]


@pytest.mark.slow
def test_reader_without_box_falls_back_to_the_full_grid_or_a_given_support() -> None:
    unc = _embed(UNC, np.float64)
    reader = UncertaintyReader(unc)
    _check(edit_uncertainty_histogram(_embed(DL, bool), _embed(EDITED, bool), reader))
    assert reader.reads == [((0, 6), (0, 30), (0, 40))]
    reader = UncertaintyReader(unc)
    _check(
        edit_uncertainty_histogram(
            _embed(DL, bool), _embed(EDITED, bool), reader, support_box=((3, 4), (10, 13), (21, 25))
        )
    )
    assert reader.reads == [((3, 4), (10, 14), (20, 25))]


@pytest.mark.slow
def test_no_edits_and_rows() -> None:
    dl = _embed(DL, bool)
    hist = edit_uncertainty_histogram(dl, dl, _embed(UNC, np.float64))
    assert hist.edited_voxels == 0
    # the two edited voxels at u = 0 leave the region; (0,1) at u = 0.02 stays in bin 0
    assert [b.total_voxels for b in hist.bins] == [1, 2, 2, 1, 0, 1, 1, 0, 0, 3]
    rows = hist.to_rows()
    assert rows[1] == {
        "bin_low": 0.05,
        "bin_high": 0.1,
        "edited_voxels": 0,
        "added_voxels": 0,
        "removed_voxels": 0,
        "total_voxels": 2,
        "fraction_edited": 0.0,
    }
    assert rows[0]["fraction_edited"] == 0.0 and rows[4]["fraction_edited"] is None


@pytest.mark.slow
def test_everything_empty() -> None:
    z = np.zeros((2, 3, 4), dtype=bool)
    hist = edit_uncertainty_histogram(z, z, np.zeros(z.shape))
    assert hist.total_voxels == 0 and all(b.fraction_edited is None for b in hist.bins)
    with pytest.raises(ValueError, match=r"uncertainty grid .* differs from the mask grid"):
        edit_uncertainty_histogram(z, z, np.zeros((2, 3, 5)))
