import numpy as np
import pytest
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn import load_scan
from tomolearn.physics import RayTransform
from tomolearn.scenario import flyscan, limited_angle, low_dose, simulate, sparse_view
from tomolearn.workflow.simulate import simulate_to_file


def test_presets_combine():
    s = limited_angle(60, start_deg=30) + low_dose(i0=1e3)
    assert (s.range_deg, s.start_deg, s.i0, s.n_angles) == (60, 30, 1e3, 61)
    f = flyscan(30, 0.05, 120)
    assert f.exposure_arc_deg == pytest.approx(1.5) and f.n_angles == 120
    with pytest.raises(ValueError, match="n_angles"):
        sparse_view(60) + sparse_view(90)


@pytest.mark.parametrize("make, param", [
    (lambda: limited_angle(200), "range_deg"),
    (lambda: sparse_view(0), "n_angles"),
    (lambda: low_dose(i0=0), "i0"),
    (lambda: low_dose(), "low_dose"),
    (lambda: flyscan(30, 0.5, 120), "exposure_arc_deg"),
    (lambda: low_dose(i0=10) + low_dose(noise_percent=5), "scenario"),
])
def test_impossible_scenarios(make, param):
    with pytest.raises(ValueError, match=param):
        make()


def test_simulation_without_noise_matches_the_projector():
    """Oversampled simulation agrees with direct projection up to discretisation."""
    x = np.zeros((64, 64), np.float32)
    x[20:44, 16:40] = 0.02
    sim = simulate(x, sparse_view(30), seed=0)
    direct = RayTransform(sim["geometry"].replace(n_rows=1)).forward(x)
    assert np.abs(sim["projections"][:, 0] - direct).max() < 0.05 * direct.max()


def test_counting_noise_round_trip_through_data_exchange(tmp_path):
    path = simulate_to_file(tmp_path / "sim.h5", "ellipses_polygons", 64, sparse_view(45) + low_dose(i0=1e6),
                            n_slices=2, seed=3)
    scan = load_scan(path)
    assert scan.projections.shape == (45, 2, 64) and scan.reference.shape == (2, 64, 64)
    clean = simulate(scan.reference, sparse_view(45), seed=0)["projections"]
    assert np.abs(scan.projections - clean).mean() < 0.01 * clean.max()  # only counting noise left
    with pytest.raises(FileExistsError):
        simulate_to_file(path, "ellipses_polygons", 64, sparse_view(45))


def test_cli_simulate_then_reconstruct(tmp_path):
    runner = CliRunner()
    sim = tmp_path / "fly.h5"
    res = runner.invoke(app, ["simulate", "-o", str(sim), "--size", "64", "--angles", "90",
                              "--speed-deg-s", "20", "--exposure-s", "0.05", "--i0", "1e4"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["reconstruct", str(sim), "--method", "mlem", "--n-iter", "5", "-o", str(tmp_path / "r.h5")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["simulate", "-o", str(tmp_path / "x.h5"), "--range-deg", "190"])
    assert res.exit_code == 2 and "range_deg" in res.output


def test_acquisition_sweep_maps(tmp_path):
    from tomolearn.workflow.sweep import acquisition_sweep

    res = acquisition_sweep(tmp_path / "sweep", size=32, n_phantoms=1, angles=(10, 40), i0s=(1e2, 1e5), sirt_iter=10)
    psnr_fbp = np.array(res["grids"]["FBP"]["psnr"])
    assert psnr_fbp.shape == (2, 2) and (tmp_path / "sweep" / "sweep.png").exists()
    assert psnr_fbp[1, 1] > psnr_fbp[0, 0]  # more angles and more photons help
    speed = acquisition_sweep(tmp_path / "speed", size=32, n_phantoms=1, angles=(10, 40), speeds_deg_s=(10, 200),
                              sirt_iter=5)
    assert np.isnan(speed["grids"]["SIRT"]["psnr"][1][1])  # 10 deg per exposure > 4.5 deg step: impossible


def test_cli_sweep_rejects_bad_lists(tmp_path):
    res = CliRunner().invoke(app, ["simulate", "--sweep", "-o", str(tmp_path / "s"), "--sweep-angles", "30,abc"])
    assert res.exit_code == 2 and "--sweep-angles" in res.output


def test_chunked_simulation_writes_every_row(tmp_path):
    path = simulate_to_file(tmp_path / "c.h5", "cracked_particles", 32, sparse_view(20) + low_dose(i0=1e5),
                            n_slices=5, seed=2, chunk_rows=2)
    scan = load_scan(path)
    assert scan.projections.shape == (20, 5, 32)
    from tomolearn.phantoms import make_phantom

    for z in range(5):  # each row holds its own seeded phantom, in order
        assert np.allclose(scan.reference[z], make_phantom("cracked_particles", 32, 2 + z) * 0.02)
    assert np.isfinite(scan.projections).all() and scan.projections[:, 4].max() > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]


def test_failed_write_leaves_nothing(tmp_path):
    from tomolearn.io.dxchange import DataExchangeWriter

    with pytest.raises(RuntimeError):
        with DataExchangeWriter(tmp_path / "x.h5", 3, 2, 4, [0, 1, 2]) as w:
            w.write_rows(0, np.zeros((3, 1, 4)))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_a_start_angle_beyond_a_few_turns_is_refused_at_once():
    """`simulate --start-deg 1e20` used to hang at 100 % CPU (issue 17)."""
    import pytest

    from tomolearn.scenario import Scenario

    for bad in (1e20, float("inf"), -4000.0):
        with pytest.raises(ValueError, match="start_deg"):
            Scenario(start_deg=bad).validated()
    assert Scenario(start_deg=-3599.0).validated().start_deg == -3599.0
