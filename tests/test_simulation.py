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


@pytest.mark.parametrize("family", ["ellipses_polygons", "holed_disc", "heterogeneous", "cracked_particles",
                                    "crack_network", "radial_cracks"])
def test_2d_families_are_seeded_and_bounded(family):
    a = make_phantom(family, 96, 5)
    assert a.shape == (96, 96) and a.dtype == np.float32
    assert np.array_equal(a, make_phantom(family, 96, 5))
    assert not np.array_equal(a, make_phantom(family, 96, 6))
    assert 0 <= a.min() and a.max() <= 1 and a.max() > 0


def test_spheres_in_cube_follows_seed_002():
    from tomolearn.phantoms import spheres_in_cube

    vol = spheres_in_cube(128, 0)
    assert vol.shape == (128, 128, 128)
    assert np.allclose(np.unique(vol), [0.0, 0.3, 1.0])
    assert vol[0].max() == 0 and vol[64, 64, 64] > 0.29  # empty border, cube inside
    assert np.array_equal(vol, spheres_in_cube(128, 0))


def test_layered_ic_has_its_layers_in_a_thin_plate():
    from tomolearn.phantoms import layered_ic

    vol = layered_ic(96, 0)
    occupied = np.flatnonzero(vol.max(axis=(0, 2)) > 0)  # rows Y inside the plate
    assert occupied.size < 0.4 * 96 and (vol == 1.0).any()


def test_simulate_a_3d_family(tmp_path):
    from tomolearn import load_scan
    from tomolearn.scenario import sparse_view
    from tomolearn.workflow.simulate import simulate_to_file

    scan = load_scan(simulate_to_file(tmp_path / "spheres.h5", "spheres_in_cube", 32, sparse_view(20), seed=1))
    assert scan.projections.shape == (20, 32, 32) and scan.reference.shape == (32, 32, 32)


def test_simulations_that_cannot_fit_are_refused_before_any_work(tmp_path):
    import pytest

    from tomolearn.workflow.simulate import check_resources

    est = check_resources(tmp_path, 180, 256, 256, True, available_bytes=2**40, free_disk=2**40)
    assert est["file_bytes"] == pytest.approx(180 * 256 * 256 * 4 + 256**3 * 4)
    with pytest.raises(ValueError, match="fits in memory"):
        check_resources(tmp_path, 180, 100_000, 100_000, True, available_bytes=24 * 2**30, free_disk=2**50)
    with pytest.raises(ValueError, match="fits on the disk"):
        check_resources(tmp_path, 10_000_000, 1, 256, False, available_bytes=2**50, free_disk=2**30)
