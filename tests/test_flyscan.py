import numpy as np
import pytest

from tomolearn.geometry import FanGeometry, ParallelGeometry, uniform_angles
from tomolearn.metrics import psnr
from tomolearn.phantoms import ellipses_polygons
from tomolearn.physics import FlyScanTransform, RayTransform, gaussian_noise, simulate_flyscan
from tomolearn.physics.flyscan import default_sub_angles
from tomolearn.recon import mlem, poisson_log_likelihood

N = 96
G = ParallelGeometry(uniform_angles(60), N)


def test_zero_exposure_arc_is_the_plain_projector(rng):
    x = rng.random((N, N), dtype=np.float32)
    fly = FlyScanTransform(G, 0.0)
    assert fly.n_sub == 1
    assert np.allclose(fly.forward(x), RayTransform(G).forward(x))
    tiny = FlyScanTransform(G, 1e-6, n_sub=3)
    assert np.allclose(tiny.forward(x), RayTransform(G).forward(x), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("geometry", [G, FanGeometry(uniform_angles(90, 2 * np.pi), 128, detector_spacing=1.5,
                                                      source_origin=200, origin_detector=80, volume_shape=(N, N))],
                         ids=["parallel", "fan"])
def test_flyscan_adjoint(geometry, rng):
    fly = FlyScanTransform(geometry, np.deg2rad(2.0))
    x = rng.random((2, N, N), dtype=np.float32)
    y = rng.random((2, *fly.sinogram_shape), dtype=np.float32)
    lhs, rhs = np.vdot(fly.forward_slices(x), y), np.vdot(x, fly.adjoint_slices(y))
    assert abs(lhs - rhs) / abs(lhs) < 1e-3


def test_sub_angle_rule_of_the_paper():
    # 512 px and 1.5 deg: ~6.7 px of blur at the edge -> 7 sub-arcs of under one pixel each
    g = ParallelGeometry(uniform_angles(120), 512)
    assert default_sub_angles(g, np.deg2rad(1.5)) == 7


def test_exposure_arc_wider_than_step_is_rejected():
    with pytest.raises(ValueError, match="exposure_arc"):
        FlyScanTransform(G, np.deg2rad(4.0))  # step is 3 deg
    with pytest.raises(ValueError, match="exposure_arc"):
        FlyScanTransform(G, -0.1)


@pytest.fixture(scope="module")
def blurred():
    x = ellipses_polygons(N, 3) * 0.05
    fly = FlyScanTransform(G, np.deg2rad(3.0))
    return x, fly, simulate_flyscan(x, fly, i0=2e4, seed=0)


def test_mlem_log_likelihood_never_decreases(blurred):
    x, fly, b = blurred
    values = []
    mlem(b, fly, 15, callback=lambda k, est: values.append(poisson_log_likelihood(b, fly.forward(est))))
    assert np.all(np.diff(values) >= -1e-6 * abs(values[-1]))


def test_modified_mlem_beats_naive_mlem_on_fly_scan_data(blurred):
    """Seed 003, Table 1: modelling the rotation blur beats treating a fly scan as a step scan."""
    x, fly, b = blurred
    naive = mlem(b, G, 30, n_subsets=6)
    modified = mlem(b, fly, 30, n_subsets=6)
    assert psnr(x, modified, data_range=0.05) > psnr(x, naive, data_range=0.05) + 1.0
    assert modified.min() >= 0


def test_flyscan_poisson_noise_statistics():
    x = np.zeros((N, N), np.float32)  # open beam: line integrals ~ N(0, 1/i0)
    fly = FlyScanTransform(G, np.deg2rad(3.0))
    b = simulate_flyscan(x, fly, i0=1e4, seed=1)
    assert abs(b.mean()) < 1e-3 and b.var() == pytest.approx(1e-4, rel=0.05)


def test_gaussian_noise_percent_of_maximum():
    p = np.linspace(0, 2.0, 100_000, dtype=np.float32)
    noisy = gaussian_noise(p, 10, seed=0)
    assert (noisy - p).std() == pytest.approx(0.2, rel=0.02)
    with pytest.raises(ValueError, match="percent"):
        gaussian_noise(p, -1, seed=0)
