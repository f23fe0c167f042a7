import numpy as np
import pytest
from scipy import ndimage

from conftest import data_file
from tomolearn.geometry import ParallelGeometry
from tomolearn import load_scan
from tomolearn.phantoms import ellipses_polygons
from tomolearn.physics import RayTransform
from tomolearn.alignment import align_tilt_series, find_center_of_rotation
from tomolearn.recon import fbp, sirt
from tomolearn.trust import held_out_projection_check


def test_alignment_recovers_known_shifts():
    angles = np.deg2rad(np.arange(-60, 61, 5.0))
    g = ParallelGeometry(angles, 64, n_rows=64)
    vol = np.stack([ellipses_polygons(64, 7)] * 64) * np.hanning(64)[:, None, None]  # varies along rows too
    proj = RayTransform(g).forward(vol)
    true = np.random.default_rng(0).uniform(-4, 4, (angles.size, 2))
    true[np.argmin(np.abs(angles))] = 0
    shifted = np.stack([ndimage.shift(p, -s, order=1, mode="nearest") for p, s in zip(proj, true)])
    _, found = align_tilt_series(shifted, angles)
    err = found - true
    assert np.abs(err - np.median(err, axis=0)).max() < 1.0


def test_bad_angles():
    with pytest.raises(ValueError, match="angles"):
        align_tilt_series(np.zeros((3, 8, 8)), [0.0, 0.1])


@pytest.fixture(scope="module")
def et_binned():
    scan = load_scan(data_file("et_needle_haadf", "HAADF.mrc"))
    def binned(x):
        return x[:, 96:160].reshape(x.shape[0], 16, 4, 64, 4).mean((2, 4))
    g = scan.geometry.replace(n_detector=64, n_rows=16, volume_shape=(64, 64))
    return scan, binned, g


def test_alignment_improves_held_out_tilt_consistency_on_real_et(et_binned):
    scan, binned, g = et_binned
    aligned, _ = align_tilt_series(scan.projections, scan.geometry.angles, max_shift_px=40)
    scores = {}
    for name, data in (("raw", scan.projections), ("aligned", aligned)):
        b = binned(data)
        gb = g.replace(cor_offset=find_center_of_rotation(b[:, 8], g.replace(n_rows=1)))
        scores[name] = held_out_projection_check(b, gb, lambda p, gg: fbp(p, gg), every=4)
    assert scores["aligned"]["nrmse"] < 0.6 * scores["raw"]["nrmse"]
    assert scores["aligned"]["pcc"] > 0.95
    assert len(scores["aligned"]["held_out_indices"]) == 19


def test_held_out_check_rejects_bad_step(et_binned):
    scan, binned, g = et_binned
    with pytest.raises(ValueError, match="every"):
        held_out_projection_check(binned(scan.projections), g, lambda p, gg: sirt(p, gg, 2), every=1, first=0)


@pytest.mark.parametrize("wedge_deg", [0, 40])
def test_centre_of_rotation_on_full_and_limited_arcs(wedge_deg):
    half = (180 - wedge_deg) / 2
    g = ParallelGeometry(np.deg2rad(np.arange(-half, half, 1.0)), 64, volume_shape=(64, 64))
    obj = ellipses_polygons(64, 1)  # fills most of the field of view
    sino = RayTransform(g.replace(cor_offset=3.0)).forward(obj)
    # "auto" picks the consistency criterion for the wedge; the L1 norm alone is biased there
    assert find_center_of_rotation(sino, g) == pytest.approx(3.0, abs=0.5)
    if wedge_deg:
        assert abs(find_center_of_rotation(sino, g, criterion="l1") - 3.0) > 2
    with pytest.raises(ValueError, match="criterion"):
        find_center_of_rotation(sino, g, criterion="entropy")
