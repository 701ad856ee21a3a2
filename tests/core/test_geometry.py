import numpy as np
import pytest

from lundprobe_gui.core.geometry import Geometry

OBLIQUE = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def test_index_world_round_trip_with_rotation_and_origin():
    g = Geometry((30, 20, 10), (0.5, 0.7, 2.5), (-10.0, 4.0, 33.0), OBLIQUE)
    idx = np.array([[0, 0, 0], [3.5, 7, 2], [29, 19, 9]], float)
    w = g.index_to_world(idx)
    # column x of the direction is (0, 1, 0): one x step moves +0.5 mm in world y
    assert np.allclose(g.index_to_world([1, 0, 0]) - g.origin, [0, 0.5, 0])
    assert np.allclose(g.index_to_world([0, 0, 1]) - g.origin, [0, 0, -2.5])
    assert np.allclose(g.world_to_index(w), idx)


def test_axis_letters_follow_direction():
    assert Geometry((2, 2, 2), (1, 1, 1), (0, 0, 0)).axis_letters() == [("R", "L"), ("A", "P"), ("I", "S")]
    flipped = Geometry((2, 2, 2), (1, 1, 1), (0, 0, 0), (-1, 0, 0, 0, 1, 0, 0, 0, -1))
    assert flipped.axis_letters() == [("L", "R"), ("A", "P"), ("S", "I")]
    assert Geometry((2, 2, 2), (1, 1, 1), (0, 0, 0), OBLIQUE).axis_letters()[0] == ("A", "P")


def test_differences_detect_small_shifts_and_flips():
    g = Geometry((10, 10, 10), (1, 1, 2.5), (0, 0, 0))
    assert g.differences(g) == []
    assert g.differences(Geometry((10, 10, 10), (1, 1, 2.5), (0.001, 0, 0)))
    assert g.differences(Geometry((11, 10, 10), (1, 1, 2.5), (0, 0, 0)))
    assert g.differences(Geometry((10, 10, 10), (1, 1, 2.5), (0, 0, 0), (-1, 0, 0, 0, 1, 0, 0, 0, 1)))


@pytest.mark.parametrize("spacing,why", [((0, 1, 1), "non-positive"), ((float("nan"), 1, 1), "NaN")])
def test_invalid_geometry_is_explained(spacing, why):
    assert why in Geometry((2, 2, 2), spacing, (0, 0, 0)).is_valid()
