"""Multislice ptycho-tomography: physics, simulation, approximant, two-step, file and CLI checks."""
import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn.geometry import ParallelGeometry
from tomolearn.io import load_scan
from tomolearn.io.ptycho import load_ptycho
from tomolearn.physics import make_operator
from tomolearn.physics.multislice import (MultisliceOperator, PtychoGeometry, make_probe, propagate, propagator,
                                          rotate_volume, scan_positions, wavelength)
from tomolearn.recon.ptycho import approximant, phase_projections, projection_geometry, ptychography
from tomolearn.workflow import reconstruct
from tomolearn.workflow.simulate import ptycho_object, simulate_ptycho_to_file

runner = CliRunner()
SMALL = dict(size=24, n_angles=5, pattern_size=16, step=4.0, n_modes=2)


def _geometry(n=16, angles=(-40.0, 0.0, 35.0), q=16, step=4, energy=1.5, voxel=3.0):
    return PtychoGeometry(np.radians(angles), (n, n, n), scan_positions(n, n, step), q, voxel, "nm", energy)


def test_wavelength_of_8p8_kev_is_0p1409_nm():
    assert wavelength(8.8) == pytest.approx(0.14089e-9, rel=1e-4)


def test_rotation_by_zero_is_the_identity_and_by_90_degrees_a_permutation():
    v = torch.rand(3, 8, 8)
    assert torch.equal(rotate_volume(v, 0.0), v)
    r = rotate_volume(v, np.pi / 2)
    assert any(torch.allclose(r, t, atol=1e-5) for t in (v.flip(1).transpose(1, 2), v.flip(2).transpose(1, 2)))


def test_propagator_conserves_energy():
    k = propagator((32, 32), 200e-9, 3e-9, wavelength(1.5))
    assert torch.allclose(k.abs(), torch.ones(()), atol=1e-6)
    u = torch.randn(4, 32, 32, dtype=torch.complex64)
    out = propagate(u, k)
    assert torch.allclose((out.abs() ** 2).sum(), (u.abs() ** 2).sum(), rtol=1e-5)
    assert torch.allclose(propagate(u, propagator((32, 32), 0.0, 3e-9, wavelength(1.5))), u, atol=1e-5)


def test_single_slab_phase_is_k_times_the_parallel_beam_ray_transform():
    """L = 1, weak phase object: the phase delay equals k ∫δ dy of the project's ray transform.

    Tolerance: 3 % in the L2 norm (trilinear resampling vs ASTRA's line model differ at the
    phantom's sharp edges, up to 8 % of the peak on single rays).
    """
    g = _geometry(n=32, angles=(-60.0, -20.0, 0.0, 45.0))
    delta = ptycho_object(32, 3, g.energy_kev)
    op = MultisliceOperator(g, make_probe(16, 1), n_slabs=1)
    phase = torch.stack([op.slab_phases(torch.as_tensor(delta), a)[0] for a in g.angles]).numpy()  # (A, Z, X)
    rt = make_operator(ParallelGeometry(g.angles, n_detector=32, volume_shape=(32, 32), voxel_size=g.voxel_size,
                                        detector_spacing=g.voxel_size, unit="nm"))
    k = 2 * np.pi / g.wavelength_m
    expected = k * 1e-9 * np.moveaxis(rt.forward_batch(delta), 0, 1)  # unit nm -> m
    assert np.linalg.norm(phase - expected) < 0.03 * np.linalg.norm(expected)
    assert np.abs(phase - expected).max() < 0.08 * np.abs(expected).max()
    # and it is what the transmission carries (weak phase: no wrapping)
    t = op.transmission(torch.as_tensor(delta), float(g.angles[2]))[0, g.pad:-g.pad, g.pad:-g.pad]
    np.testing.assert_allclose(-torch.angle(t).numpy(), phase[2], atol=1e-5)


def test_gradient_matches_finite_differences():
    g = _geometry(n=8, angles=(-30.0, 20.0), q=8, step=3)
    op = MultisliceOperator(g, make_probe(8, 2, 4), n_slabs=3)
    rng = np.random.default_rng(0)
    x0 = torch.tensor(rng.random(g.volume_shape) * 2e-3, dtype=torch.float64)
    w = torch.tensor(rng.random(g.data_shape))
    d = torch.tensor(rng.standard_normal(g.volume_shape))

    def f(x):
        return (op.intensities(x.float()).double() * w).sum()

    x = x0.clone().requires_grad_(True)
    f(x).backward()
    analytic = float((x.grad * d).sum())
    h = 1e-4
    numeric = float((f(x0 + h * d) - f(x0 - h * d)) / (2 * h))
    assert analytic == pytest.approx(numeric, rel=2e-2)


def test_patterns_hold_the_probe_power_and_device_follows_input():
    g = _geometry()
    op = MultisliceOperator(g, make_probe(16, 3, 8), n_slabs=2)
    out = op.apply(torch.zeros((1, *g.volume_shape)))
    assert isinstance(out, torch.Tensor) and out.shape == (1, *g.data_shape) and out.device.type == "cpu"
    np.testing.assert_allclose(out.sum(dim=(-2, -1)).numpy(), 1.0, rtol=1e-4)  # a free-space pattern holds power 1


def test_a_single_slice_model_fits_thick_plate_data_worse_than_three_slabs():
    """The default regime (1.5 keV, 3 nm voxels, plate of 32 voxels) needs multislice."""
    n = 64
    g = PtychoGeometry(np.radians([-70.4, 0.0, 70.4]), (n, n, n), scan_positions(n, n, 6), 32, 3.0, "nm", 1.5)
    probe = make_probe(32, 2, 16, seed=1)
    delta = torch.as_tensor(ptycho_object(n, 0, g.energy_kev))
    with torch.no_grad():
        truth = MultisliceOperator(g, probe, n_slabs=n).intensities(delta).numpy()
        misfit = {L: float(((MultisliceOperator(g, probe, n_slabs=L).intensities(delta).numpy() - truth) ** 2).sum())
                  for L in (1, 3, 5)}
    assert g.depth_of_field_m < 0.5 * n * g.voxel_size_m * 1.2  # plate (half the grid) ~ as thick as the DOF
    assert misfit[1] > 2 * misfit[3] > 2 * misfit[5]


def test_ptychography_recovers_the_phase_projection_of_a_thin_object(tmp_path):
    path = simulate_ptycho_to_file(tmp_path / "thin.h5", n_slabs=1, photons=None, **{**SMALL, "n_angles": 2})
    scan = load_ptycho(path)
    proj = phase_projections(ptychography(scan, n_iter=150), scan.geometry)
    rt = make_operator(projection_geometry(scan.geometry).replace(n_rows=1))
    truth = np.moveaxis(rt.forward_batch(scan.reference), 0, 1)
    assert np.corrcoef(proj.ravel(), truth.ravel())[0, 1] > 0.97
    assert np.abs(proj).max() == pytest.approx(np.abs(truth).max(), rel=0.15)


def test_approximant_lowers_the_data_term_and_lands_on_the_grid(tmp_path):
    scan = load_ptycho(simulate_ptycho_to_file(tmp_path / "s.h5", **SMALL))
    losses = []
    vol = approximant(scan, n_iter=3, n_slabs=3, callback=lambda k, loss: losses.append(loss))
    assert vol.shape == scan.geometry.volume_shape and vol.dtype == np.float32
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert np.corrcoef(vol.ravel(), scan.reference.ravel())[0, 1] > 0.1


def test_simulated_file_round_trips_and_reconstructs(tmp_path):
    path = simulate_ptycho_to_file(tmp_path / "s.h5", seed=3, **SMALL)
    scan = load_scan(path)
    assert scan.kind == "diffraction" and scan.patterns.shape == (5, 49, 16, 16)
    assert scan.reference.shape == (24, 24, 24) and scan.photons == 1e6
    assert np.all(scan.patterns == np.round(scan.patterns))  # counts
    np.testing.assert_allclose(np.degrees(scan.geometry.angles[[0, -1]]), [-70.4, 70.4])
    for method in ("approximant", "two_step_fbp"):
        res = reconstruct(scan, method, {"ptycho_iter": 20, "refine_iter": 2} if "two" in method else {})
        assert res.volume.shape == (24, 24, 24) and np.isfinite(res.volume).all() and res.volume.std() > 0
    with pytest.raises(ValueError, match="method"):
        reconstruct(scan, "sirt")
    sub = scan.subset([0, 2, 4])
    assert sub.patterns.shape[0] == 3 and sub.geometry.n_angles == 3


def test_cli_simulate_info_reconstruct(tmp_path):
    out = tmp_path / "ic.h5"
    args = ["simulate", "--modality", "ptycho", "-o", str(out), "--size", "24", "--angles", "4", "--pattern-size",
            "16", "--step", "4", "--modes", "2"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["info", str(out)])
    assert r.exit_code == 0 and '"positions_per_angle": 49' in r.output
    r = runner.invoke(app, ["reconstruct", str(out), "--method", "approximant", "-o", str(tmp_path / "a.h5"),
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "a.h5") as f:
        assert f["volume"].shape == (24, 24, 24) and f["volume"].attrs["unit"] == "nm"
        assert f["volume"].attrs["voxel_size"] == 3.0
    r = runner.invoke(app, ["reconstruct", str(out), "--method", "fbp", "-o", str(tmp_path / "b.h5")])
    assert r.exit_code == 2 and "ptycho" in r.output
    r = runner.invoke(app, args)  # no silent overwrite
    assert r.exit_code == 2 and "exists" in r.output


@pytest.mark.parametrize("option, value, name", [
    ("--energy-kev", "0", "energy_kev"), ("--voxel-size", "-1", "voxel_size"), ("--step", "0", "step"),
    ("--photons", "0", "photons"), ("--probe-diameter", "15", "probe_diameter"), ("--step", "16", "step"),
])
def test_cli_rejects_bad_ptycho_settings_in_one_line(tmp_path, option, value, name):
    extra = ["--pattern-size", "32", "--size", "16"] if option == "--probe-diameter" else []
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(tmp_path / "x.h5"), "--size", "24",
                            "--pattern-size", "16", option, value, *extra])
    assert r.exit_code == 2 and name in r.output and r.output.count("\n") == 1, r.output
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_cli_object_file_needs_volume(tmp_path):
    bad = tmp_path / "obj.h5"
    with h5py.File(bad, "w") as f:
        f["data"] = np.zeros((8, 8, 8), np.float32)
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(tmp_path / "x.h5"), "--object", str(bad)])
    assert r.exit_code == 2 and "/volume" in r.output
    good = tmp_path / "good.h5"
    vol = ptycho_object(24, 1, 1.5)
    with h5py.File(good, "w") as f:
        f["volume"] = vol
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(tmp_path / "y.h5"), "--object", str(good),
                            "--angles", "3", "--pattern-size", "16", "--step", "4", "--modes", "1"])
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(load_ptycho(tmp_path / "y.h5").reference, vol)


def test_cli_ptycho_defaults_are_the_library_defaults():
    """`simulate --modality ptycho` options repeat simulate_ptycho_to_file's defaults; they must not drift."""
    import inspect

    from tomolearn import cli

    lib = inspect.signature(simulate_ptycho_to_file).parameters
    opts = inspect.signature(cli.simulate).parameters
    pairs = {"energy_kev": "energy_kev", "voxel_size": "voxel_size", "pattern_size": "pattern_size",
             "probe_diameter": "probe_diameter", "modes": "n_modes", "step": "step", "scan_pattern": "scan_pattern",
             "photons": "photons", "slabs": "n_slabs", "rows": "rows", "wiring_density": "density"}
    for option, param in pairs.items():
        assert opts[option].default.default == lib[param].default, option
