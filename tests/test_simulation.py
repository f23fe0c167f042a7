import numpy as np
import pytest

from tomolearn.phantoms import holed_disc, make_phantom
from tomolearn.physics.noise import poisson_noise


def test_poisson_noise_statistics():
    p = np.full(200_000, 1.0, np.float32)
    i0 = 5e4
    noisy = poisson_noise(p, i0, seed=0)
    assert noisy.mean() == pytest.approx(1.0, abs=2e-3)
    # var(-log(N / i0)) ~ 1 / (i0 exp(-p)) by the delta method
    assert noisy.var() == pytest.approx(1 / (i0 * np.exp(-1.0)), rel=0.03)
    assert np.array_equal(noisy, poisson_noise(p, i0, seed=0))


def test_poisson_noise_survives_zero_counts_and_rejects_bad_i0():
    out = poisson_noise(np.full(100, 30.0), 10, seed=1)  # almost all counts are 0
    assert np.isfinite(out).all()
    with pytest.raises(ValueError, match="i0"):
        poisson_noise(np.zeros(3), 0, seed=0)


def test_holed_disc_family():
    a = holed_disc(128, 7, value=2.0)
    assert np.array_equal(a, holed_disc(128, 7, value=2.0))
    assert set(np.unique(a)) <= {0.0, 2.0}
    filled = (a > 0).mean()
    assert 0.2 < filled < np.pi * 0.46**2 + 0.01  # a disc of radius 0.92 * half-width, minus holes
    with pytest.raises(ValueError, match="family"):
        make_phantom("spheres", 32, 0)
