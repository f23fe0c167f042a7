"""Fly-scan recipe, learned part (seed 003): RRDB blocks, library, exposure arc from files, train -> reconstruct."""
import json

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn.models.rrdb import RRDB, DenseBlock, RRDBNet
from tomolearn.physics.flyscan import FlyScanTransform
from tomolearn.train.flyscan_library import FlyScanLibrary

runner = CliRunner()


def _zero(module):
    for p in module.parameters():
        torch.nn.init.zeros_(p)


def test_dense_block_and_rrdb_scale_their_residuals():
    x = torch.randn(2, 8, 10, 12)
    block = DenseBlock(features=8, growth=4, res_scale=0.2)
    assert len(block.convs) == 5 and block.convs[3].in_channels == 8 + 3 * 4 and block.convs[4].out_channels == 8
    _zero(block)
    torch.nn.init.constant_(block.convs[4].bias, 1.0)  # the block's branch outputs 1 everywhere
    assert torch.allclose(block(x), x + 0.2)  # residual scaled by 0.2 (ESRGAN)
    rrdb = RRDB(features=8, growth=4, res_scale=0.5)
    _zero(rrdb)
    # zero dense branches make each dense block the identity, so (ESRGAN) x + 0.5 * x
    assert torch.allclose(rrdb(x), 1.5 * x)
    assert len(rrdb.blocks) == 3


def test_rrdb_network_shapes_and_global_residual():
    net = RRDBNet(features=8, growth=4, n_blocks=3)
    assert len(net.trunk) == 3
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())  # no BN
    x = torch.randn(2, 1, 17, 23)
    assert net(x).shape == (2, 1, 17, 23)
    _zero(net.last)
    assert torch.allclose(net(x), x)  # the approximant passes through: the trunk learns its correction
    with pytest.raises(ValueError, match="res_scale"):
        RRDBNet(res_scale=0)


def test_library_draws_fly_scans_within_the_ranges():
    lib = FlyScanLibrary(3, 32, angles=(30, 40), speed_deg_s=(100.0, 200.0), exposure_s=(0.05, 0.1), seed=1,
                         fixed=True)
    for i in range(3):
        s = lib.sample(i)
        assert 30 <= s["n_angles"] <= 40
        assert s["exposure_arc_deg"] <= 180.0 / s["n_angles"] + 1e-9  # capped at the angular step
        assert s["input"].shape == s["target"].shape == (32, 32)
    assert np.array_equal(lib.sample(0)["input"], lib.sample(0)["input"])  # fixed: reproducible
    x, y = lib[0]
    assert x.shape == y.shape == (1, 32, 32)
    with pytest.raises(ValueError, match="families"):
        FlyScanLibrary(1, 32, families=("shepp",))
    with pytest.raises(ValueError, match="patch"):
        FlyScanLibrary(1, 32, patch=48)


def test_library_reuses_kept_scans_with_fresh_crops_and_whole_image_scale():
    lib = FlyScanLibrary(6, 32, angles=(30, 30), seed=2, patch=16, n_scans=2)
    whole = lib._scaled(lib.sample(0))  # epoch 0 draw of scan 0, scaled as inference scales a slice
    x0, y0 = lib[0]
    assert x0.shape == y0.shape == (1, 16, 16)
    assert set(lib._cache) == {0}
    lib[2]  # index 2 is scan 0 again: nothing new simulated
    assert set(lib._cache) == {0}
    lib.set_epoch(3)
    x1, _ = lib[0]
    assert set(lib._cache) == {0} and not torch.equal(x0, x1)  # same scan, a fresh crop / flip
    # every crop is a flip/turn of a window of the whole scaled image, not rescaled on its own
    found = False
    for k in range(8):
        img = np.rot90(whole["input"], k % 4)
        img = img[:, ::-1] if k >= 4 else img
        for y in range(17):
            for x in range(17):
                found |= np.allclose(img[y:y + 16, x:x + 16], x1[0].numpy())
    assert found
    with pytest.raises(ValueError, match="approximant"):
        FlyScanLibrary(1, 32, approximant="sart")


def test_exposure_arc_is_read_from_simulated_and_nxtomo_files(tmp_path):
    from conftest import data_file

    from tomolearn import load_scan
    from tomolearn.workflow.reconstruct import scan_operator

    fly = tmp_path / "fly.h5"
    r = runner.invoke(app, ["simulate", "-o", str(fly), "--size", "32", "--angles", "60", "--speed-deg-s", "30",
                            "--exposure-s", "0.05", "--i0", "1e4"])
    assert r.exit_code == 0, r.output
    scan = load_scan(fly)
    assert np.degrees(scan.geometry.exposure_arc) == pytest.approx(1.5)
    op = scan_operator(scan)
    assert isinstance(op, FlyScanTransform) and np.degrees(op.exposure_arc) == pytest.approx(1.5)
    info = json.loads(runner.invoke(app, ["info", str(fly)]).output)
    assert info["geometry"]["exposure_arc_deg"] == pytest.approx(1.5)
    step = tmp_path / "step.h5"
    assert runner.invoke(app, ["simulate", "-o", str(step), "--size", "32", "--angles", "60"]).exit_code == 0
    assert load_scan(step).geometry.exposure_arc == 0.0
    k11 = load_scan(data_file("k11_flyscan", "k11-18014.nxs"), find_center=False)
    # 0.02 s exposures every 30.9 ms (98.907 s over 3201 frames), 0.06 deg per frame
    assert k11.metadata["count_time_s"] == pytest.approx(0.02)
    assert np.degrees(k11.geometry.exposure_arc) == pytest.approx(0.06 * 0.02 / 0.0309, rel=0.05)


def test_reconstruct_reads_or_overrides_the_exposure_arc(tmp_path):
    fly = tmp_path / "fly.h5"
    assert runner.invoke(app, ["simulate", "-o", str(fly), "--size", "48", "--angles", "60", "--speed-deg-s", "60",
                               "--exposure-s", "0.05", "--i0", "1e5"]).exit_code == 0
    outs = {}
    for name, extra in (("modified", []), ("naive", ["--speed-deg-s", "0", "--exposure-s", "0.05"])):
        out = tmp_path / f"{name}.h5"
        r = runner.invoke(app, ["reconstruct", str(fly), "--method", "mlem", "--n-iter", "20", "-o", str(out), *extra])
        assert r.exit_code == 0, r.output
        outs[name] = h5py.File(out)["volume"][()]
    truth = h5py.File(fly)["simulation/ground_truth"][()]
    err = {k: float(np.abs(v - truth).mean()) for k, v in outs.items()}
    assert err["modified"] < err["naive"]  # the file's 3 deg blur is modelled without any option
    r = runner.invoke(app, ["reconstruct", str(fly), "--method", "mlem", "-o", str(tmp_path / "x.h5"),
                            "--speed-deg-s", "30"])
    assert r.exit_code == 2 and "expected both" in r.output
    r = runner.invoke(app, ["reconstruct", str(fly), "--method", "mlem", "-o", str(tmp_path / "x.h5"),
                            "--speed-deg-s", "1000", "--exposure-s", "1"])
    assert r.exit_code == 2 and "angular step" in r.output


def test_tiny_train_then_reconstruct(tmp_path):
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", "flyscan", "-o", str(run), "--size", "32", "--patch", "64"])
    assert r.exit_code == 2 and "--patch: expected a crop side <= --size 32" in r.output
    r = runner.invoke(app, ["train", "flyscan", "-o", str(run), "--size", "32", "--patch", "16", "--n-scans", "2",
                            "--samples-per-epoch", "4", "--n-val", "2", "--epochs", "1", "--features", "4", "--growth", "2", "--n-blocks", "1",
                            "--batch-size", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    rec = json.loads((run / "training.json").read_text())
    assert set(rec["validation"]["scores"]) == {"FBP", "modified MLEM", "RRDB"}
    card = json.loads((run / "flyscan.json").read_text())
    assert card["architecture"]["name"] == "rrdb" and card["training"]["exposure_arc_deg_range"][1] == pytest.approx(3.0)
    fly = tmp_path / "fly.h5"
    assert runner.invoke(app, ["simulate", "-o", str(fly), "--size", "32", "--angles", "60", "--speed-deg-s", "30",
                               "--exposure-s", "0.05", "--i0", "1e4"]).exit_code == 0
    out = tmp_path / "out.h5"
    r = runner.invoke(app, ["reconstruct", str(fly), "--method", "flyscan", "--model", str(run), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert h5py.File(out)["volume"].shape == (1, 32, 32)


def test_deterministic_training_repeats_bit_for_bit(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    monkeypatch.delenv("TOMOLEARN_DETERMINISTIC", raising=False)
    weights = []
    for k in range(2):
        run = tmp_path / f"run{k}"
        r = runner.invoke(app, ["train", "flyscan", "-o", str(run), "--size", "32", "--patch", "16", "--n-scans", "2",
                                "--samples-per-epoch", "4", "--n-val", "1", "--epochs", "2", "--features", "4",
                                "--growth", "2", "--n-blocks", "1", "--batch-size", "2", "--quiet", "--deterministic"])
        assert r.exit_code == 0, r.output
        weights.append(load_file(run / "flyscan.safetensors"))  # tensors only: the card holds times
    monkeypatch.delenv("TOMOLEARN_DETERMINISTIC", raising=False)
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_training_killed_mid_epoch_resumes_losing_at_most_one_epoch(tmp_path):
    """SIGKILL (no chance to clean up) during epoch 3 of 4, then --resume: epochs 1-2 are kept."""
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    args = ["train", "flyscan", "-o", str(run), "--size", "32", "--patch", "16", "--n-scans", "4",
            "--samples-per-epoch", "64", "--n-val", "2", "--epochs", "4", "--features", "4", "--growth", "2",
            "--n-blocks", "1", "--batch-size", "4", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "tomolearn.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    metrics = run / "logs" / "version_0" / "metrics.csv"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().strip().splitlines()) >= 3:  # header + 2 epochs logged
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] >= 1  # at most the epoch in progress was lost
    r = subprocess.run([sys.executable, "-m", "tomolearn.cli", *args, "--resume"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    done = ckpt["epoch"] + 1
    assert f"resuming: epochs 1-{done} of 4 are done; continuing with epoch {done + 1}" in r.stderr
    rec = json.loads((run / "training.json").read_text())
    assert rec["training"]["epochs"] == 4
    assert torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["epoch"] == 3  # 0-based
    whole = tmp_path / "whole"  # the same training, never interrupted
    r = runner.invoke(app, [*args[:2], "-o", str(whole), *args[4:]])
    assert r.exit_code == 0, r.output
    uninterrupted = json.loads((whole / "training.json").read_text())["validation"]["scores"]["RRDB"]["psnr"]
    assert abs(rec["validation"]["scores"]["RRDB"]["psnr"] - uninterrupted) < 0.5


def test_shipped_weights_load_with_their_record_and_beat_fbp_and_modified_mlem():
    from tomolearn.methods import base as registry
    from tomolearn.metrics import psnr
    from tomolearn.phantoms import make_phantom
    from tomolearn.recipes.flyscan import DEFAULT_WEIGHTS, flyscan_slice, load_default
    from tomolearn.train.flyscan_library import fly_sinogram

    net, card = load_default()
    assert DEFAULT_WEIGHTS.with_suffix(".json").exists()
    assert card.training["command"].startswith("tomolearn train flyscan") and card.metrics["validation"]["RRDB"]
    for family in ("heterogeneous", "ellipses_polygons"):
        rng = np.random.default_rng([777, 1])  # an object and a scan the training never drew
        obj = np.clip(make_phantom(family, 256, rng), 0, None)  # the scale it was trained at
        obj = (obj / obj.max() * 2.5 / 256).astype(np.float32)
        sino, g = fly_sinogram(obj, 120, 1.5, 1e4, rng)
        dr = float(obj.max())
        rrdb = psnr(obj, flyscan_slice(net, card, sino, g), dr)
        if family == "heterogeneous":  # the mean over 8 turned/mirrored inputs is no worse than one
            assert psnr(obj, flyscan_slice(net, card, sino, g, self_ensemble=True), dr) > rrdb - 0.1
        fbp = psnr(obj, registry.build("fbp").image(sino, g.replace(exposure_arc=0.0)), dr)
        mlem = psnr(obj, registry.build("mlem", {"n_iter": 20, "n_subsets": 10}).image(sino, g), dr)
        assert rrdb > fbp + 2 and rrdb > mlem, (family, rrdb, fbp, mlem)


def test_both_shipped_weights_load_and_network_input_is_checked_against_a_model(tmp_path):
    from tomolearn.recipes.flyscan import SHIPPED, load_default

    for name in ("mlem", "fbp"):
        _, card = load_default(network_input=name)
        assert card.pipeline.approximant == name and SHIPPED[name].with_suffix(".json").exists()
        assert card.training["command"].startswith("tomolearn train flyscan")
    assert load_default()[1].pipeline.approximant == "mlem"  # the better variant is the default
    with pytest.raises(ValueError, match="--network-input"):
        load_default(SHIPPED["fbp"], network_input="mlem")
    with pytest.raises(ValueError, match="--network-input"):
        load_default(network_input="sirt")
