import numpy as np
import pytest

from tomolearn.geometry import FanGeometry, ParallelGeometry, uniform_angles


def test_shapes_and_defaults():
    g = ParallelGeometry(uniform_angles(90), 64, n_rows=3)
    assert g.projection_shape == (90, 3, 64)
    assert g.volume_shape_3d == (3, 64, 64)
    assert np.isclose(np.degrees(g.angular_range), 180)


def test_arc_any_start_wraps_around_the_period():
    g = ParallelGeometry(uniform_angles(180), 32)
    sub = g.arc(np.deg2rad(60), np.deg2rad(150))
    deg = np.degrees(sub.angles)
    assert sub.n_angles == 61
    assert deg[0] == pytest.approx(150) and deg[-1] == pytest.approx(30)  # ordered along the arc
    f = FanGeometry(uniform_angles(720, 2 * np.pi), 32, source_origin=100, origin_detector=50)
    assert f.arc(np.deg2rad(30), np.deg2rad(350)).n_angles == 61


def test_sparse_subset():
    g = ParallelGeometry(uniform_angles(180), 32)
    idx = g.sparse_indices(30)
    assert idx.size == 30 and np.all(np.diff(idx) == 6)


@pytest.mark.parametrize("kwargs, param", [
    ({"angles": [], "n_detector": 8}, "angles"),
    ({"angles": [0, np.nan], "n_detector": 8}, "angles"),
    ({"angles": [0, 1], "n_detector": 0}, "n_detector"),
    ({"angles": [0, 1], "n_detector": 8, "voxel_size": -1}, "voxel_size"),
    ({"angles": [0, 1], "n_detector": 8, "volume_shape": (8,)}, "volume_shape"),
])
def test_bad_geometry_names_the_parameter(kwargs, param):
    with pytest.raises(ValueError, match=param):
        ParallelGeometry(**kwargs)


def test_bad_arc():
    g = ParallelGeometry(uniform_angles(180), 32)
    with pytest.raises(ValueError, match="range_rad"):
        g.arc(np.deg2rad(200))
    with pytest.raises(ValueError, match="n_angles"):
        g.sparse(500)
    with pytest.raises(ValueError, match="source_origin"):
        FanGeometry([0.0], 8, source_origin=0)
