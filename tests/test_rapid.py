"""RAPID part 2: network blocks, NPCC, learning-rate schedule, region split, tiled inference, train -> reconstruct."""
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn.infer import sliding_window_3d
from tomolearn.models.aspp import AnisotropicAtrousModule, PlanarASPP, receptive_extent
from tomolearn.models.rapid import RAPIDNet, count_parameters
from tomolearn.train.losses import npcc_loss, polynomial_decay
from tomolearn.train.regions import PatchPairs, parse_region, region_split

runner = CliRunner()


@pytest.mark.parametrize("plane", ["zx", "zy", "yx"])
def test_planar_aspp_keeps_the_shape(plane):
    m = PlanarASPP(2, 4, plane, rates=(2, 3), depth_rates=(4,))
    assert m(torch.randn(1, 2, 6, 10, 8)).shape == (1, 4, 6, 10, 8)
    # the depth-axis branch exists only in planes that contain the depth axis (Y)
    assert len(m.branches) == 1 + 2 + (1 if "y" in plane else 0)


def test_anisotropic_module_and_network_shapes():
    m = AnisotropicAtrousModule(1, 4, rates=(2, 3), depth_rates=(5, 6))
    assert m(torch.randn(2, 1, 7, 9, 11)).shape == (2, 4, 7, 9, 11)
    net = RAPIDNet(base_channels=2, depth=2, rates=(2,), depth_rates=(3,))
    assert net(torch.randn(1, 1, 6, 10, 7)).shape == (1, 1, 6, 10, 7)  # padded inside, cropped back
    up = RAPIDNet(base_channels=2, depth=1, rates=(2,), depth_rates=(), upsample=(2, 1, 2))
    assert up(torch.randn(1, 1, 4, 6, 4)).shape == (1, 1, 8, 6, 8)
    plain = RAPIDNet(base_channels=2, depth=1, atrous=False)
    assert plain(torch.randn(1, 1, 4, 4, 4)).shape == (1, 1, 4, 4, 4)


def test_receptive_field_grows_with_the_rates_and_most_along_depth():
    small = receptive_extent(AnisotropicAtrousModule(1, 2, rates=(2,), depth_rates=()))
    large = receptive_extent(AnisotropicAtrousModule(1, 2, rates=(6, 12, 18), depth_rates=()))
    aniso = receptive_extent(AnisotropicAtrousModule(1, 2, rates=(6, 12, 18), depth_rates=(24, 30)))
    assert small == (5, 5, 5) and large == (37, 37, 37)
    assert aniso == (37, 61, 37)  # Y (the beam) reaches 2·30 + 1
    assert count_parameters(RAPIDNet(base_channels=2, depth=1)) > count_parameters(RAPIDNet(base_channels=2, depth=1,
                                                                                             atrous=False))


def test_npcc_matches_hand_computed_values():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert float(npcc_loss(a, 2 * a + 1)) == pytest.approx(-1.0, abs=1e-6)
    assert float(npcc_loss(a, -a)) == pytest.approx(1.0, abs=1e-6)
    b = torch.tensor([[1.0, 3.0, 2.0, 4.0]])  # PCC = 0.8 by hand: Σ(a-ā)(b-b̄) = 4, Σ(a-ā)² = Σ(b-b̄)² = 5
    assert float(npcc_loss(a, b)) == pytest.approx(-0.8, abs=1e-6)
    pair = torch.stack([a[0], a[0]]), torch.stack([2 * a[0], b[0]])
    assert float(npcc_loss(*pair)) == pytest.approx(-0.9, abs=1e-6)  # batch mean


def test_polynomial_decay_runs_from_start_to_end():
    assert polynomial_decay(0, 100) == pytest.approx(2e-4)
    assert polynomial_decay(100, 100) == pytest.approx(5e-5)
    assert polynomial_decay(500, 100) == pytest.approx(5e-5)
    assert polynomial_decay(75, 100) == pytest.approx(1.5e-4 * 0.5 + 5e-5)


def test_region_split_never_overlaps():
    for region in ("z<0.8", "z>0.3", "x<0.5", "y>0.6"):
        s = region_split((40, 32, 36), (8, 8, 8), region)
        axis = s.axis
        lo, hi = s.test_range
        for o in s.train:  # no training patch reaches into the test side
            assert not (o[axis] < hi and o[axis] + s.patch[axis] > lo)
        for o in s.test:
            assert lo <= o[axis] and o[axis] + s.patch[axis] <= hi
        assert s.train and (s.train_range[1] == s.test_range[0] or s.train_range[0] == s.test_range[1])
        starts = sorted({o[0] for o in s.train})
        if axis != 0 and len(starts) > 1:
            assert starts[1] - starts[0] == 4  # 50 % overlap
    with pytest.raises(ValueError, match="--train-region"):
        parse_region("depth<0.8")
    with pytest.raises(ValueError, match="--train-region"):
        region_split((10, 32, 32), (8, 8, 8), "z<0.5")  # 5 rows cannot hold an 8-row patch


def test_patch_pairs_flip_input_and_target_together():
    src = np.arange(4 * 6 * 6, dtype=np.float32).reshape(4, 6, 6)
    ds = PatchPairs(src, 2 * src, [(0, 0, 0), (0, 2, 2)], (4, 4, 4), seed=1)
    for i in range(len(ds)):
        a, b = ds[i]
        assert a.shape == (1, 4, 4, 4) and torch.equal(b, 2 * a)


def test_patch_pairs_flip_every_input_channel_with_the_target():
    src = np.arange(4 * 6 * 6, dtype=np.float32).reshape(4, 6, 6)
    ds = PatchPairs(np.stack([src, -src]), 2 * src, [(0, 0, 0), (0, 2, 2)], (4, 4, 4), seed=1)
    for i in range(len(ds)):
        a, b = ds[i]
        assert a.shape == (2, 4, 4, 4) and torch.equal(b[0], 2 * a[0]) and torch.equal(a[1], -a[0])
    with pytest.raises(ValueError, match="target"):
        PatchPairs(np.stack([src, src]), src[:, :5], [(0, 0, 0)], (4, 4, 4))


def test_residual_channel_is_added_to_the_output_and_checked():
    net = RAPIDNet(in_channels=2, base_channels=2, depth=1, rates=(2,), depth_rates=(3,), residual_channel=1)
    for p in net.head[-1].parameters():  # the last 1x1 convolution silent: the output is the residual channel
        torch.nn.init.zeros_(p)
    x = torch.randn(1, 2, 6, 10, 7)
    torch.testing.assert_close(net(x), x[:, 1:2])
    with pytest.raises(ValueError, match="residual_channel"):
        RAPIDNet(in_channels=1, residual_channel=1)
    with pytest.raises(ValueError, match="residual_channel"):
        RAPIDNet(in_channels=2, residual_channel=1, upsample=(1, 2, 2))


def test_sliding_window_3d_takes_input_channels():
    net = torch.nn.Conv3d(2, 1, 1)
    with torch.no_grad():
        net.weight[:] = torch.tensor([2.0, -1.0]).view(1, 2, 1, 1, 1)
        net.bias.fill_(0.5)
    vol = np.random.default_rng(1).random((2, 9, 11, 8)).astype(np.float32)
    np.testing.assert_allclose(sliding_window_3d(net, vol, (4, 5, 4), 0.5), 2 * vol[0] - vol[1] + 0.5, rtol=1e-5)


def test_sliding_window_3d_reproduces_a_local_network():
    net = torch.nn.Conv3d(1, 1, 1)
    with torch.no_grad():
        net.weight.fill_(2.0)
        net.bias.fill_(1.0)
    vol = np.random.default_rng(0).random((10, 12, 9)).astype(np.float32)
    np.testing.assert_allclose(sliding_window_3d(net, vol, (4, 5, 4), 0.5), 2 * vol + 1, rtol=1e-5)


def test_train_then_reconstruct_end_to_end(tmp_path):
    scan = tmp_path / "ic.h5"
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(scan), "--size", "24", "--angles", "7",
                            "--pattern-size", "16", "--step", "4", "--modes", "1"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "run"
    args = ["train", "rapid", str(scan), "--train-region", "z<0.6", "--reduced-angles", "4", "--patch", "8,24,16",
            "--base-channels", "2", "--depth", "1", "--rates", "2", "--depth-rates", "3", "--epochs", "1",
            "--golden-iter", "2", "--two-step-input", "none", "-o", str(run), "--device", "cpu", "--quiet"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    split = json.loads((run / "split.json").read_text())
    assert split["region"] == "z<0.6" and split["test_range"] == [14, 24]
    record = json.loads((run / "training.json").read_text())
    assert set(record["test_vs_golden"]) == {"approximant", "RAPID"} and record["test_vs_truth"]  # the seed's input
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "rapid", "--model", str(run / "rapid.safetensors"),
                            "-o", str(tmp_path / "out.h5"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, args)  # the run folder is not silently reused
    assert r.exit_code == 2 and ("--resume" in r.output or "--overwrite" in r.output)
    bad = [a if a != "z<0.6" else "w<2" for a in args]
    r = runner.invoke(app, [a if a != str(run) else str(tmp_path / "r2") for a in bad])
    assert r.exit_code == 2 and "--train-region" in r.output and r.output.count("\n") == 1
    assert not (tmp_path / "r2").exists()  # refused before any work


def test_two_step_input_trains_and_reconstructs_with_a_second_channel(tmp_path):
    """--two-step-input sart: the card asks for the two-step SART, and reconstruct computes it itself."""
    scan = tmp_path / "ic.h5"
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(scan), "--size", "24", "--angles", "7",
                            "--pattern-size", "16", "--step", "4", "--modes", "1"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", "rapid", str(scan), "--train-region", "z<0.6", "--reduced-angles", "4",
                            "--patch", "8,24,16", "--base-channels", "2", "--depth", "1", "--rates", "2",
                            "--depth-rates", "3", "--epochs", "1", "--golden-iter", "2",  # sart is the default
                            "-o", str(run), "--device", "cpu", "--quiet"])
    assert r.exit_code == 0, r.output
    record = json.loads((run / "training.json").read_text())
    assert set(record["test_vs_golden"]) == {"approximant", "two-step SART", "RAPID"}
    card = json.loads((run / "rapid.json").read_text())
    assert card["pipeline"]["two_step_input"] == "sart" and len(card["pipeline"]["two_step_stats"]) == 2
    assert card["architecture"]["in_channels"] == 2 and card["architecture"]["residual_channel"] == 1
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "rapid", "--model", str(run / "rapid.safetensors"),
                            "-o", str(tmp_path / "out.h5"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    from tomolearn.io import load_scan
    from tomolearn.models.weights import load_weights
    from tomolearn.recipes.rapid import apply_network

    net, c = load_weights(run / "rapid.safetensors")
    with pytest.raises(ValueError, match="two_step"):  # weights with a second channel refuse to run without it
        apply_network(net, c, np.zeros(load_scan(scan).geometry.volume_shape, np.float32))


def test_train_takes_a_separate_reduced_scan_of_the_same_sample(tmp_path):
    """Seed Fig. 2c, d: the approximant from a narrower-range scan, the golden standard from the full one."""
    common = ["--modality", "ptycho", "--size", "24", "--pattern-size", "16", "--step", "4", "--modes", "1"]
    full, narrow, other = tmp_path / "full.h5", tmp_path / "narrow.h5", tmp_path / "other.h5"
    for path, extra in ((full, ["--angles", "7"]), (narrow, ["--angles", "3", "--range-deg", "16"]),
                        (other, ["--angles", "3", "--seed", "5"])):
        r = runner.invoke(app, ["simulate", "-o", str(path), *common, *extra])
        assert r.exit_code == 0, r.output
    args = ["train", "rapid", str(full), "--train-region", "z<0.6", "--patch", "8,24,16", "--base-channels", "2",
            "--depth", "1", "--rates", "2", "--depth-rates", "3", "--epochs", "1", "--golden-iter", "2",
            "--device", "cpu", "--quiet"]
    r = runner.invoke(app, [*args, "--reduced-scan", str(narrow), "-o", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    record = json.loads((tmp_path / "run" / "training.json").read_text())
    assert record["data"]["reduced_angles"] == 3  # all of the reduced scan's angles by default
    assert record["data"]["reduced_range_deg"] == pytest.approx(16.0)
    assert record["data"]["reduced_scan"] == str(narrow)
    r = runner.invoke(app, [*args, "--reduced-scan", str(other), "-o", str(tmp_path / "r2")])
    assert r.exit_code == 2 and "--reduced-scan" in r.output and r.output.count("\n") == 1
    r = runner.invoke(app, [*args, "--reduced-scan", str(narrow), "--reduced-angles", "5", "-o", str(tmp_path / "r3")])
    assert r.exit_code == 2 and "--reduced-angles" in r.output
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()  # refused before any work


def test_rapid_study_runs_end_to_end(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text("name: tiny_rapid\ndata: {source: rapid_ic}\n"
                     "ptycho: {size: 24, rows: 40, angles: 7, reduced_angles: 4, train_region: 'z<0.7', "
                     "patch: [8, 24, 16], rates: [2], depth_rates: [3]}\n"
                     "model: {base_channels: 4, depth: 1}\ntrain: {epochs: 1, batch_size: 2}\n")
    r = runner.invoke(app, ["run", str(study), "-o", str(tmp_path / "run"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["test_region_vs_golden"]) == {"approximant", "RAPID", "two-step FBP", "two-step SART"}
    assert metrics["split"]["test_rows"] == [28, 40] and metrics["unseen_ic_vs_truth"]
    trust = metrics["trust"]["vs_golden"]
    assert set(trust) == {"uncertainty", "data_residual", "null_space"}
    assert all(-1 <= v["spearman"] <= 1 and 0 <= v["coverage"] <= 1 for v in trust.values())
    for name in ("report.html", "layers_test_region.png", "psd_test_region.png", "metrics_vs_golden.png",
                 "trust_test_region.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0


def test_shipped_weights_reconstruct_a_default_scan(tmp_path):
    """`reconstruct --method rapid` needs no --model: the package ships weights (benchmarks/rapid_ic.py)."""
    scan = tmp_path / "ic.h5"
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(scan), "--size", "32", "--seed", "11"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "rapid", "-o", str(tmp_path / "r.h5"),
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    import h5py

    with h5py.File(tmp_path / "r.h5") as f:
        vol = f["volume"][()]
        truth = h5py.File(scan)["simulation/ground_truth"][()]
    assert vol.shape == truth.shape and np.isfinite(vol).all()
    assert np.corrcoef(vol.ravel(), truth.ravel())[0, 1] > 0.2  # a trained network, not noise


def test_a_grid_thinner_than_the_cards_slabs_gets_one_slab_per_coarse_voxel_with_a_warning(tmp_path):
    from tomolearn.io.ptycho import load_ptycho
    from tomolearn.recipes.rapid import approximant_of, load_default

    scan = tmp_path / "thin.h5"
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(scan), "--size", "16", "--rows", "16",
                            "--angles", "3", "--pattern-size", "16", "--step", "4", "--modes", "1"])
    assert r.exit_code == 0, r.output
    _, card = load_default()
    assert card.pipeline.approximant_params["n_slabs"] > 8  # the shipped card asks for more slabs than 16 / 2
    with pytest.warns(UserWarning, match="8 voxels along the beam"):
        approx = approximant_of(load_ptycho(scan), card)
    assert approx.shape == (16, 16, 16) and np.isfinite(approx).all()


def test_delta_scale_follows_lambda_squared_and_the_network_is_applied_scale_equivariantly():
    """Weights trained at one energy serve another: δ ∝ λ², divided out before the network, restored after."""
    from types import SimpleNamespace

    from tomolearn.models.card import Architecture, ModelCard, Pipeline
    from tomolearn.recipes.rapid import apply_network, delta_scale

    card = ModelCard(method="rapid", architecture=Architecture(name="rapid", spatial_dims=3),
                     pipeline=Pipeline(input_mean=1e-5, input_std=2e-5, output_affine=(3e-5, 1e-5),
                                       window_3d=(8, 8, 8), overlap=0.5), training={"energy_kev": 1.5})
    assert delta_scale(card, SimpleNamespace(energy_kev=3.0)) == pytest.approx(0.25)
    assert delta_scale(card, SimpleNamespace(energy_kev=1.5)) == pytest.approx(1.0)
    assert delta_scale(card.model_copy(update={"training": {}}), SimpleNamespace(energy_kev=3.0)) == 1.0
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, 1, 3, padding=1))
    approx = (np.random.default_rng(0).random((8, 10, 12)) * 4e-5).astype(np.float32)
    base = apply_network(net, card, approx)
    np.testing.assert_allclose(apply_network(net, card, 0.25 * approx, scale=0.25), 0.25 * base, rtol=1e-4, atol=1e-12)
    with pytest.raises(ValueError, match="scale"):
        apply_network(net, card, approx, scale=0.0)


def test_shipped_weights_give_delta_at_the_scan_energy(tmp_path):
    """The same pillar at 1.5 and 3 keV: RAPID's δ shrinks about four-fold, as the truth's does."""
    import h5py

    out = {}
    for e in ("1.5", "3.0"):
        scan = tmp_path / f"ic_{e}.h5"
        r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(scan), "--size", "32", "--seed", "11",
                                "--energy-kev", e])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["reconstruct", str(scan), "--method", "rapid", "-o", str(tmp_path / f"r_{e}.h5")])
        assert r.exit_code == 0, r.output
        with h5py.File(tmp_path / f"r_{e}.h5") as f, h5py.File(scan) as s:
            out[e] = (float(f["volume"][()].std()), float(s["simulation/ground_truth"][()].std()))
    ratio = out["3.0"][0] / out["1.5"][0]
    truth_ratio = out["3.0"][1] / out["1.5"][1]
    assert truth_ratio == pytest.approx(0.25, rel=0.05)
    assert 0.75 * truth_ratio < ratio < 1.33 * truth_ratio


def test_patch_pairs_random_crops_stay_inside_bounds_and_change_per_epoch():
    src = np.arange(20 * 8 * 12, dtype=np.float32).reshape(20, 8, 12)
    bounds = [(0, 12), (0, 8), (0, 12)]  # the training side: rows 0-11
    origins = [(z, 0, x) for z in (0, 4, 8) for x in (0, 4, 8)]
    ds = PatchPairs(src, 2 * src, origins, (4, 8, 4), flips=False, seed=3, bounds=bounds, jitter=(3, 3, 3))
    seen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            z, y, x = ds.origin(i)
            assert 0 <= z and z + 4 <= 12 and y == 0 and 0 <= x and x + 4 <= 12
            seen.add((i, z, x))
            a, b = ds[i]
            assert torch.equal(a[0], torch.from_numpy(src[z:z + 4, :, x:x + 4])) and torch.equal(b, 2 * a)
    assert len(seen) > 2 * len(origins)  # the crops move between epochs
    ds.set_epoch(2)
    assert [ds.origin(i) for i in range(len(ds))] == [ds.origin(i) for i in range(len(ds))]  # reproducible
    with pytest.raises(ValueError, match="origins"):
        PatchPairs(src, src, [(10, 0, 0)], (4, 8, 4), bounds=bounds)  # reaches past row 12
