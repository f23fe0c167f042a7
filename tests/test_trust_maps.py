"""Trust maps of any reconstruction (issue 16, items 2, 3 and 6): data residual and null-space part."""
import h5py
import numpy as np
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn.geometry import ParallelGeometry, uniform_angles
from tomolearn.phantoms import make_phantom
from tomolearn.physics.projector import RayTransform
from tomolearn.trust import data_residual_map, missing_wedge_mask, null_space_map

runner = CliRunner()
N = 48


def _op(angles):
    return RayTransform(ParallelGeometry(angles, N, volume_shape=(N, N)))


def _wave(direction_deg: float, frequency: float = 0.15):
    """A windowed plane wave whose Fourier content points along a projection angle (the mask's convention)."""
    yy, xx = np.mgrid[:N, :N] - (N - 1) / 2
    d = np.deg2rad(direction_deg)
    wave = np.cos(2 * np.pi * frequency * (np.cos(d) * xx - np.sin(d) * yy))
    return (wave * np.exp(-(xx ** 2 + yy ** 2) / (2 * 9.0 ** 2))).astype(np.float32)[None]


def test_data_residual_map_is_zero_for_data_explained_and_finds_what_contradicts_them():
    op = _op(uniform_angles(60))
    x = make_phantom("ellipses_polygons", N, 2)[None].astype(np.float32) * 0.02
    y = np.moveaxis(op.forward_batch(x), 0, 1)
    clean, rel = data_residual_map(x, y, op)
    assert np.abs(clean).max() < 1e-4 * x.max() and rel[0] < 1e-5
    wrong = x.copy()
    wrong[0, 10:16, 30:36] += 0.02  # a feature the data do not have
    m, rel = data_residual_map(wrong, y, op)
    assert rel[0] > 1e-3
    inside = np.abs(m[0, 10:16, 30:36]).mean()
    assert inside > 5 * np.abs(m[0]).mean()  # the map points at the contradiction


def test_null_space_map_holds_missing_wedge_content_and_nothing_measured():
    arc = np.deg2rad(np.arange(0, 90, 1.0))  # measures directions 0-90 deg; the missing wedge is 90-180 deg
    op = _op(arc)
    assert missing_wedge_mask((N, N), arc).any()
    guessed, measured = _wave(135), _wave(45)
    ns_guessed = null_space_map(guessed, op)
    ns_measured = null_space_map(measured, op)
    assert np.linalg.norm(ns_guessed) > 0.9 * np.linalg.norm(guessed)  # nearly all of it is a guess
    assert np.linalg.norm(ns_measured) < 0.15 * np.linalg.norm(measured)  # the data determine it
    full = _op(uniform_angles(120))
    x = make_phantom("ellipses_polygons", N, 4)[None].astype(np.float32)
    assert np.linalg.norm(null_space_map(x, full, n_iter=60)) < 0.1 * np.linalg.norm(x)


def test_reconstruct_trust_writes_both_maps_beside_the_volume(tmp_path):
    scan = tmp_path / "s.h5"
    r = runner.invoke(app, ["simulate", "-o", str(scan), "--size", "32", "--n-slices", "3", "--angles", "40",
                            "--range-deg", "90"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "r.h5"
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "sirt", "--n-iter", "20", "--trust", "-o", str(out)])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        vol, res, ns = f["volume"][...], f["data_residual"][...], f["null_space"][...]
    assert vol.shape == res.shape == ns.shape == (3, 32, 32)
    assert np.isfinite(res).all() and np.isfinite(ns).all() and np.abs(ns).max() > 0
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "fbp", "--trust", "-o", str(tmp_path / "r.tif")])
    assert r.exit_code == 2 and "--trust" in r.output and not (tmp_path / "r.tif").exists()


def test_the_mirrored_scan_is_the_measurement_of_the_mirrored_object():
    from tomolearn.geometry import FanGeometry
    from tomolearn.workflow.reconstruct import mirrored

    x = make_phantom("ellipses_polygons", 40, 3).astype(np.float32)
    th = np.deg2rad(np.arange(10, 70, 2.0))
    for g in (ParallelGeometry(th, 40, volume_shape=(40, 40), cor_offset=1.5),
              FanGeometry(th, 48, detector_spacing=1.4, source_origin=120, origin_detector=50, volume_shape=(40, 40),
                          cor_offset=-2.0)):
        y = RayTransform(g).forward(x)
        ym, gm = mirrored(y, g)
        expected = RayTransform(gm).forward(np.ascontiguousarray(x[:, ::-1]))
        assert np.abs(ym - expected).max() < 1e-4 * np.abs(expected).max()


def test_a_learned_method_with_shipped_weights_gets_an_uncertainty_map(tmp_path):
    scan = tmp_path / "s.h5"
    r = runner.invoke(app, ["simulate", "-o", str(scan), "--size", "32", "--n-slices", "2", "--angles", "60",
                            "--range-deg", "120"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "mw.h5"
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "missing_wedge", "--trust", "-o", str(out)])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        u = f["uncertainty"][...]
        assert u.shape == f["volume"].shape == f["null_space"].shape
    assert (u >= 0).all() and u.max() > 0


def test_calibration_scores_rank_a_good_map_above_a_random_one():
    from tomolearn.trust import coverage, feature_auc, sigma_scale, sparsification, spearman

    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.1, 1.0, 4000)
    err = np.abs(rng.normal(0, sigma))  # errors drawn with the stated spread
    noise = rng.uniform(0.1, 1.0, 4000)
    assert spearman(sigma, err) > 0.3 > abs(spearman(noise, err))
    good, bad = sparsification(sigma, err), sparsification(noise, err)
    assert 0 <= good["ause"] < bad["ause"] and sparsification(err, err)["ause"] == 0
    assert good["curve"][0] == 1.0 and good["curve"][-1] < 1.0
    s = sigma_scale(sigma[:2000], err[:2000])  # fitted on "validation" voxels
    assert abs(coverage(sigma[2000:], err[2000:], s) - 0.95) < 0.03
    assert abs(coverage(sigma, err) - 0.954) < 0.03  # a calibrated sigma needs no recalibration
    mask = np.zeros(100)
    mask[:10] = 1
    assert feature_auc(mask + 0.1 * rng.random(100), mask) == 1.0
    import pytest

    with pytest.raises(ValueError, match="feature_mask"):
        feature_auc(np.ones(5), np.ones(5))


def test_ptycho_data_residual_vanishes_on_the_truth_and_points_at_a_contradiction(tmp_path):
    """Ptycho-tomography: the multislice data term's step, evaluated with the model that made the patterns."""
    from tomolearn.io.ptycho import load_ptycho
    from tomolearn.trust import ptycho_data_residual_map
    from tomolearn.workflow.simulate import simulate_ptycho_to_file

    scan = load_ptycho(simulate_ptycho_to_file(tmp_path / "s.h5", size=24, n_angles=5, pattern_size=16, step=4.0,
                                               n_modes=1, photons=None, n_slabs=3))
    truth = scan.reference.astype(np.float32)
    clean, rel_clean = ptycho_data_residual_map(truth, scan, n_slabs=3)
    assert rel_clean < 1e-4 and np.abs(clean).max() < 1e-3 * truth.max()
    wrong = truth.copy()
    wrong[8:14, 8:14, 8:14] += truth.max()  # a block the patterns never saw
    m, rel = ptycho_data_residual_map(wrong, scan, n_slabs=3)
    assert rel > 100 * rel_clean
    assert m[8:14, 8:14, 8:14].mean() > 5 * np.abs(m).mean()  # positive: more δ there than the data support
    _, rel_zero = ptycho_data_residual_map(np.zeros_like(truth), scan, n_slabs=3)
    assert rel_zero > rel_clean


def test_mirror_spread_is_zero_for_a_mirror_symmetric_network_only():
    import torch

    from tomolearn.models.card import Architecture, ModelCard, Pipeline
    from tomolearn.recipes.rapid import mirror_spread

    card = ModelCard(method="rapid", architecture=Architecture(name="rapid", spatial_dims=3),
                     pipeline=Pipeline(input_mean=0.0, input_std=1.0, output_affine=(1.0, 0.0), window_3d=(8, 8, 8),
                                       overlap=0.5))
    approx = np.random.default_rng(0).random((8, 10, 12)).astype(np.float32)
    torch.manual_seed(0)
    pointwise = torch.nn.Conv3d(1, 1, 1)
    assert np.abs(mirror_spread(pointwise, card, approx)).max() < 1e-6
    lopsided = torch.nn.Conv3d(1, 1, 3, padding=1)
    spread = mirror_spread(lopsided, card, approx)
    assert spread.shape == approx.shape and spread.mean() > 1e-3


def test_reconstruct_trust_on_a_ptycho_scan_stores_every_map(tmp_path):
    """`reconstruct --trust` on a ptycho-tomography scan: RAPID's shipped weights, all three maps."""
    scan = tmp_path / "ic.h5"
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(scan), "--size", "24", "--angles", "7",
                            "--pattern-size", "16", "--step", "4", "--modes", "1"])
    assert r.exit_code == 0, r.output
    for method, maps in (("rapid", {"uncertainty", "data_residual", "null_space"}),
                         ("approximant", {"data_residual", "null_space"})):
        out = tmp_path / f"{method}.h5"
        r = runner.invoke(app, ["reconstruct", str(scan), "--method", method, "--trust", "-o", str(out),
                                "--device", "cpu"])
        assert r.exit_code == 0, r.output
        with h5py.File(out) as f:
            assert set(f) == {"volume", *maps}
            vol = f["volume"][()]
            assert 0 < f["volume"].attrs["data_residual_relative"] < 1
            for name in maps:
                assert f[name].shape == vol.shape and np.isfinite(f[name][()]).all() and np.abs(f[name][()]).max() > 0
            if "uncertainty" in maps:
                assert f["uncertainty"][()].min() >= 0
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "rapid", "--trust", "-o", str(tmp_path / "r.tif")])
    assert r.exit_code == 2 and "--trust" in r.output and r.output.count("\n") == 1
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "rapid", "--mc-dropout", "4", "-o",
                            str(tmp_path / "mc.h5")])
    assert r.exit_code == 2 and "dropout" in r.output and r.output.count("\n") == 1


def test_ptycho_null_space_is_invisible_to_the_measured_projections(tmp_path):
    from tomolearn.io.ptycho import load_ptycho
    from tomolearn.recon.ptycho import projection_geometry
    from tomolearn.workflow import reconstruct
    from tomolearn.workflow.reconstruct import geometry_operator
    from tomolearn.workflow.simulate import simulate_ptycho_to_file

    scan = load_ptycho(simulate_ptycho_to_file(tmp_path / "s.h5", size=24, n_angles=3, pattern_size=16, step=4.0,
                                               n_modes=1))
    res = reconstruct(scan, "approximant", trust=True)
    op = geometry_operator(projection_geometry(scan.geometry))
    seen = np.abs(op.forward_batch(res.volume)).max()
    assert np.abs(op.forward_batch(res.null_space)).max() < 0.05 * seen
    assert np.linalg.norm(res.null_space) > 0.05 * np.linalg.norm(res.volume)  # 3 angles leave much undetermined


def test_a_rapid_ensemble_reconstructs_a_ptycho_scan_with_every_map(tmp_path):
    """`train rapid --ensemble 2` then `reconstruct --model RUN --trust`: the members' spread is the uncertainty."""
    scan = tmp_path / "ic.h5"
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(scan), "--size", "24", "--angles", "7",
                            "--pattern-size", "16", "--step", "4", "--modes", "1"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "rapid", str(scan), "--train-region", "z<0.6", "--reduced-angles", "4", "--patch",
                            "8,24,16", "--base-channels", "2", "--depth", "1", "--rates", "2", "--depth-rates", "3",
                            "--epochs", "1", "--golden-iter", "2", "-o", str(tmp_path / "ens"), "--device", "cpu",
                            "--quiet", "--ensemble", "2"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "rapid", "--model", str(tmp_path / "ens"), "--trust",
                            "-o", str(tmp_path / "r.h5")])
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "r.h5") as f:
        assert set(f) == {"volume", "uncertainty", "data_residual", "null_space"}
        assert f["uncertainty"][()].max() > 0  # two seeds never agree everywhere


def test_data_residual_norms_per_slice_against_fbp_follow_the_slabs():
    """Issue 16, item 2: the output's data-residual norm, and over FBP's, one value per slice through slabs."""
    from tomolearn.result import Result
    from tomolearn.scan import Scan
    from tomolearn.workflow import reconstruct

    g = ParallelGeometry(uniform_angles(60), N, volume_shape=(N, N), n_rows=3)
    x = np.stack([make_phantom("ellipses_polygons", N, s) for s in range(3)]).astype(np.float32) * 0.02
    proj = np.moveaxis(_op(g.angles).forward_batch(x), 0, 1)
    res = reconstruct(Scan(proj, g), "sirt", n_iter=300, chunk_slices=2, trust=True)
    rel, ratio = res.info["data_residual_relative"], res.info["data_residual_vs_fbp"]
    assert len(rel) == len(ratio) == 3  # slabs of 2 + 1 rows joined, one value per slice
    assert all(r < 1 for r in ratio)  # 300 SIRT iterations fit exact data closer than FBP does
    halves = Result.concatenate([Result(x[:2], info={"data_residual_vs_fbp": [1.0, 2.0]}),
                                 Result(x[2:], info={"data_residual_vs_fbp": [3.0]})])
    assert halves.info["data_residual_vs_fbp"] == [1.0, 2.0, 3.0]


def test_reconstruct_trust_writes_the_per_slice_residual_norms_beside_the_maps(tmp_path):
    scan = tmp_path / "s.h5"
    r = runner.invoke(app, ["simulate", "-o", str(scan), "--size", "48", "--n-slices", "3", "--angles", "40",
                            "--range-deg", "90"])
    assert r.exit_code == 0, r.output
    for out in (tmp_path / "r.h5", tmp_path / "r.zarr"):
        r = runner.invoke(app, ["reconstruct", str(scan), "--method", "sirt", "--trust", "--chunk-slices", "2",
                                "-o", str(out)])
        assert r.exit_code == 0, r.output
        if out.suffix == ".h5":
            with h5py.File(out) as f:
                rel, ratio = f["data_residual_relative"][()], f["data_residual_vs_fbp"][()]
        else:
            import zarr

            g = zarr.open_group(str(out), mode="r")
            rel, ratio = g["data_residual_relative"][...], g["data_residual_vs_fbp"][...]
        assert rel.shape == ratio.shape == (3,) and np.isfinite(rel).all() and np.isfinite(ratio).all()
        assert (rel > 0).all() and (rel < 1).all()
