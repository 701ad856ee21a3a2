import numpy as np

from lundprobe_gui.core.mask import Mask, bbox_of


def _blob(shape=(12, 20, 25)):
    a = np.zeros(shape, bool)
    a[3:7, 5:11, 8:20] = True
    a[5, 7, 9] = False
    return a


def test_from_full_crops_to_bounding_box_and_round_trips():
    a = _blob()
    m = Mask.from_full(a)
    assert m.data.shape == (4, 6, 12) and m.offset == (3, 5, 8)
    assert np.array_equal(m.to_full(), a)
    assert m.count() == a.sum()
    assert m.bbox() == bbox_of(a)


def test_slice2d_in_every_orientation():
    a = _blob()
    m = Mask.from_full(a)
    for axis in range(3):
        for i in range(a.shape[axis]):
            assert np.array_equal(m.slice2d(axis, i), np.take(a, i, axis=axis))


def test_write_outside_block_grows_it_and_keeps_content():
    a = _blob()
    m = Mask.from_full(a)
    box = ((10, 12), (0, 2), (0, 3))
    m.write(box, np.ones((2, 2, 3), bool))
    a[10:12, 0:2, 0:3] = True
    assert np.array_equal(m.to_full(), a)
    assert np.array_equal(m.read(((0, 12), (0, 20), (0, 25))), a)


def test_empty_mask_behaves():
    m = Mask((4, 5, 6))
    assert m.is_empty() and m.bbox() is None and m.count() == 0
    assert not m.to_full().any()
    m.write(((0, 1), (0, 1), (0, 1)), np.zeros((1, 1, 1), bool))
    assert m.box is None  # writing nothing allocates nothing
