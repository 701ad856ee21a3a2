"""EditConstraint: editable area, intensity range and locked structures, voxel for voxel."""

from __future__ import annotations

import numpy as np
import pytest

from lundprobe_gui.core.mask import Box, Mask, box_slices
from lundprobe_gui.edit.apply import apply_region
from lundprobe_gui.edit.constraint import EditConstraint
from lundprobe_gui.edit.region import Region

SHAPE = (4, 16, 16)
BOX = ((0, 4), (2, 14), (2, 14))


def area_full() -> np.ndarray:
    a = np.zeros(SHAPE, bool)
    a[:, 5:11, 5:11] = True
    return a


def start_full() -> np.ndarray:
    s = np.zeros(SHAPE, bool)
    s[1:3, 3:9, 3:13] = True
    return s


def image_full() -> np.ndarray:
    return np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) % 97


class BoxReader:
    """An image object exposing only read(box), like the io layer's lazy images."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr
        self.calls: list[Box] = []

    def read(self, box: Box) -> np.ndarray:
        self.calls.append(box)
        return self.arr[box_slices(box)].copy()


def run(mode: str, constraint: EditConstraint, image=None) -> np.ndarray:
    mask = Mask.from_full(start_full())
    region = Region(BOX, np.ones(tuple(b - a for a, b in BOX), bool))
    apply_region(mask, region, mode, constraint, image=image)
    return mask.to_full()


def expected(mode: str, allowed: np.ndarray, locked: np.ndarray | None = None) -> np.ndarray:
    start = start_full()
    reg = Region(BOX, np.ones(tuple(b - a for a, b in BOX), bool)).to_full(SHAPE)
    lock = locked if locked is not None else np.zeros(SHAPE, bool)
    if mode == "add":
        return start | (reg & allowed & ~lock)
    if mode == "remove":
        return start & ~(reg & allowed)
    on = reg & allowed & ~lock
    off = np.zeros(SHAPE, bool)  # a full "set" region has nothing to switch off inside the box
    return (start | on) & ~off


@pytest.mark.parametrize("mode", ["add", "remove", "set"])
@pytest.mark.parametrize("area_mode", ["inside", "outside"])
@pytest.mark.slow
def test_area(mode, area_mode):
    area = area_full()
    got = run(mode, EditConstraint(area=Mask.from_full(area), area_mode=area_mode))
    allowed = area if area_mode == "inside" else ~area
    np.testing.assert_array_equal(got, expected(mode, allowed))
    # the constraint really restricted something (else the test could not fail)
    assert not np.array_equal(got, expected(mode, np.ones(SHAPE, bool)))


@pytest.mark.parametrize("mode", ["add", "remove"])
@pytest.mark.parametrize("as_reader", [False, True])
def test_intensity_range(mode, as_reader):
    img = image_full()
    image = BoxReader(img) if as_reader else img
    got = run(mode, EditConstraint(intensity_range=(20.0, 60.0), image=image))
    np.testing.assert_array_equal(got, expected(mode, (img >= 20) & (img <= 60)))
    if as_reader:
        # only the region's box was read, never the full grid
        assert image.calls and all(c == BOX for c in image.calls)


def test_intensity_open_range_and_context_image():
    img = image_full()
    got = run("add", EditConstraint(intensity_range=(None, 30.0)), image=img)
    np.testing.assert_array_equal(got, expected("add", img <= 30))


def test_intensity_without_image_raises():
    with pytest.raises(ValueError, match="no image"):
        run("add", EditConstraint(intensity_range=(0, 1)))


def test_locked_blocks_adding_not_removing():
    lock = np.zeros(SHAPE, bool)
    lock[:, 0:7, :] = True
    c = EditConstraint(locked=[Mask.from_full(lock)])
    all_ok = np.ones(SHAPE, bool)
    np.testing.assert_array_equal(run("add", c), expected("add", all_ok, lock))
    np.testing.assert_array_equal(run("remove", c), expected("remove", all_ok))
    np.testing.assert_array_equal(run("set", c), expected("set", all_ok, lock))
    # removing inside the locked part really happened
    assert not run("remove", c)[1, 3:7, 3:13].any()


def test_set_keeps_old_values_where_not_editable():
    start = start_full()
    mask = Mask.from_full(start)
    area = area_full()
    region = Region(BOX, np.zeros(tuple(b - a for a, b in BOX), bool))
    apply_region(mask, region, "set", EditConstraint(area=Mask.from_full(area)))
    reg = Region(BOX, np.ones(tuple(b - a for a, b in BOX), bool)).to_full(SHAPE)
    want = start & ~(reg & area)
    np.testing.assert_array_equal(mask.to_full(), want)
    assert want.any() and not np.array_equal(want, start)


def test_combined_constraints():
    img = image_full()
    area = area_full()
    lock = np.zeros(SHAPE, bool)
    lock[2:, :, :] = True
    c = EditConstraint(
        area=Mask.from_full(area),
        area_mode="outside",
        intensity_range=(10, 80),
        image=img,
        locked=[Mask.from_full(lock)],
    )
    allowed = ~area & (img >= 10) & (img <= 80)
    np.testing.assert_array_equal(run("add", c), expected("add", allowed, lock))
    np.testing.assert_array_equal(run("remove", c), expected("remove", allowed))


def test_restrict_masks_region_values():
    lock = np.zeros(SHAPE, bool)
    lock[0] = True
    c = EditConstraint(area=Mask.from_full(area_full()), locked=[Mask.from_full(lock)])
    region = Region(BOX, np.ones(tuple(b - a for a, b in BOX), bool))
    added = c.restrict(region, "add").to_full(SHAPE)
    removed = c.restrict(region, "remove").to_full(SHAPE)
    reg = region.to_full(SHAPE)
    np.testing.assert_array_equal(added, reg & area_full() & ~lock)
    np.testing.assert_array_equal(removed, reg & area_full())
