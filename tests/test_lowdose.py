"""Low-dose recipe (seed 002): network shape, 1/PSNR loss, thinning, pairing, simulate -> train -> reconstruct."""
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn.models.encdec import DECODER, ENCODER, EncoderDecoder
from tomolearn.physics.noise import thin_counts
from tomolearn.recipes.lowdose import (angle_neighbours, match_row_sums, minmax_normalise, minmax_restore, pad_to,
                                       pair_by_angle, split_angles, sub_reconstructions)
from tomolearn.train.losses import inverse_psnr_loss
from tomolearn.train.lowdose import (Noise2InversePatches, Noise2InverseValidation, PairedProjectionPatches,
                                    held_out_tiles)
from tomolearn.train.noise_model import PairNoiseModel

runner = CliRunner()


def test_encoder_decoder_has_the_seeds_layers_and_strides():
    net = EncoderDecoder(patch=32)
    convs = [m for m in net.encoder if isinstance(m, torch.nn.Conv2d)]
    tconvs = [m for m in net.decoder if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(convs) == 8 and len(tconvs) == 9
    assert [c.kernel_size for c in convs + tconvs] == [(3, 3)] * 17
    assert sum(c.stride == (2, 2) for c in convs) == 3 and sum(c.stride == (2, 2) for c in tconvs) == 3
    assert convs[0].out_channels == 16 and convs[-1].out_channels == 64  # 16 -> 64 kernels
    assert tconvs[0].out_channels == 64 and tconvs[-1].out_channels == 1  # 64 -> 1
    assert [c.out_channels for c in convs] == [c for c, _ in ENCODER]
    assert [c.out_channels for c in tconvs] == [c for c, _ in DECODER]
    assert isinstance(net.fc, torch.nn.Linear) and net.fc.in_features == 64 * 4 * 4 and net.fc.out_features == 16
    # merges: decoder inputs wider than the previous layer's output by the encoder features of that scale
    assert tconvs[0].in_channels == 1 + 64 and tconvs[7].in_channels == 16 + 16
    x = torch.randn(3, 1, 32, 32)
    assert net(x).shape == (3, 1, 32, 32)
    with pytest.raises(ValueError, match="patch"):
        EncoderDecoder(patch=20)
    with pytest.raises(ValueError, match="32×32"):
        net(torch.randn(1, 1, 16, 16))


def test_inverse_psnr_loss_matches_hand_computed_values():
    target = torch.zeros(1, 1, 4, 4)
    pred = torch.full_like(target, 0.1)  # MSE 0.01 -> 20 dB -> 0.05
    assert float(inverse_psnr_loss(pred, target)) == pytest.approx(0.05, rel=1e-5)
    pred = torch.full_like(target, 10 ** -1.5)  # MSE 1e-3 -> 30 dB
    assert float(inverse_psnr_loss(pred, target)) == pytest.approx(1 / 30, rel=1e-5)
    # an untrained network (MSE >= I_max^2) still gets a gradient, and the loss keeps rising
    far = torch.full_like(target, 2.0, requires_grad=True)
    loss = inverse_psnr_loss(far, target)
    loss.backward()
    assert float(loss.detach()) > 1.0 and float(far.grad.abs().sum()) > 0
    m1 = 10 ** -0.1  # the join at 1 dB is continuous
    below = inverse_psnr_loss(torch.full_like(target, np.sqrt(m1 * 0.999)), target)
    above = inverse_psnr_loss(torch.full_like(target, np.sqrt(m1 * 1.001)), target)
    assert float(below) == pytest.approx(1.0, abs=0.01) and float(above) == pytest.approx(1.0, abs=0.01)


def test_binomial_thinning_keeps_the_mean_at_p_times_counts():
    counts = np.full((200, 200), 1000.0) + 100.0  # 1000 photons over a dark level of 100
    thinned = thin_counts(counts, 0.1, seed=0, offset=100.0)
    assert thinned.mean() - 100 == pytest.approx(100.0, rel=0.01)
    assert thinned.var() == pytest.approx(1000 * 0.1 * 0.9, rel=0.05)  # binomial variance n p (1 - p)
    assert np.array_equal(thin_counts(counts, 1.0, 0, offset=100.0), counts.astype(np.float32))
    assert (np.mod(thinned - 100, 1) == 0).all()
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="fraction"):
            thin_counts(counts, bad, 0)


def test_pairing_by_angle_and_its_errors():
    scan = np.deg2rad(np.arange(0, 180, 0.5))
    assert pair_by_angle(scan, np.deg2rad([0.0, 45.0])).tolist() == [0, 90]
    assert pair_by_angle(scan, np.deg2rad([360.0])).tolist() == [0]  # 360 deg is 0 deg
    with pytest.raises(ValueError, match="no partner"):
        pair_by_angle(scan, np.deg2rad([45.25]))
    with pytest.raises(ValueError, match="one high-dose"):
        pair_by_angle(scan, np.deg2rad([10.0, 10.0]))
    with pytest.raises(ValueError, match="none"):
        pair_by_angle(scan, [])


def test_normalisation_round_trip_and_padding():
    x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    rng = (float(x.min()), float(x.max()))
    n = minmax_normalise(x, rng)
    assert n.min() == pytest.approx(0) and n.max() == pytest.approx(1)
    # standardise-then-min-max (the seed's two steps) is this one min-max
    z = (x - x.mean()) / x.std()
    assert np.allclose((z - z.min()) / (z.max() - z.min()), n, atol=1e-6)
    assert np.allclose(minmax_restore(n, rng), x, atol=1e-6)
    assert pad_to(x, 8).shape == (8, 8) and pad_to(np.ones((2, 2, 40)), 32).shape == (2, 32, 40)


def test_training_datasets():
    low = np.random.default_rng(0).random((2, 40, 48)).astype(np.float32)
    ds = PairedProjectionPatches(low, low * 2, patch=32, stride=8)
    assert len(ds) == 8 * 2 * 2 * 3  # 8 orientations x 2 projections x 2 rows x 3 columns of patches
    x, y = ds[13]
    assert x.shape == (1, 32, 32) and torch.allclose(y, 2 * x)
    with pytest.raises(ValueError, match="shape"):
        PairedProjectionPatches(low, low[:1], 32, 8)
    subs = np.stack([np.full((3, 20, 20), k, np.float32) for k in range(4)])
    n2i = Noise2InversePatches(subs, patch=16, samples=10, seed=1)
    x, y = n2i[0]
    k = int(y[0, 0, 0])
    assert x.shape == (1, 16, 16) and float(x[0, 0, 0]) == pytest.approx((6 - k) / 3)  # mean of the other splits


def test_held_out_tiles_never_reach_a_training_patch_and_form_the_validation_set():
    mask = held_out_tiles((2, 80, 96), tile=16, share=0.2, seed=3)
    n_tiles = 2 * (80 // 16) * (96 // 16)
    assert mask.sum() == round(0.2 * n_tiles) * 16 * 16
    tiles = mask[:, :80, :96].reshape(2, 5, 16, 6, 16)
    assert np.all(tiles.all(axis=(2, 4)) == tiles.any(axis=(2, 4)))  # whole, grid-aligned tiles
    assert not held_out_tiles((1, 32, 32), 16, 0.5).any()  # 4 tiles in all: none spared
    with pytest.raises(ValueError, match="validation"):
        held_out_tiles((2, 80, 96), 16, 0.8)
    # every pixel knows whether it is held out: training patches must carry no held-out pixel
    subs = np.stack([np.where(mask, 100.0, 0.0).astype(np.float32) + k for k in range(3)])
    ds = Noise2InversePatches(subs, patch=24, samples=300, seed=0, exclude=mask)
    for i in range(len(ds)):
        _, y = ds[i]
        assert float(y.max()) < 100.0
    val = Noise2InverseValidation(subs, mask, tile=16, context=8)
    assert len(val) == 3 * round(0.2 * n_tiles)
    x, y = val[4]
    assert x.shape == (1, 32, 32) and y.shape == (2, 32, 32)
    weight = y[1].numpy()
    assert weight.sum() == 16 * 16 and np.all(y[0].numpy()[weight > 0] >= 100.0)  # the tile, and only it, is scored
    j = val.items[4][0]
    assert np.allclose(y[0].numpy()[weight > 0], 100.0 + j)


def test_weighted_targets_score_only_their_weighted_pixels():
    from tomolearn.models.card import Architecture, ModelCard
    from tomolearn.train.module import CardModule

    card = ModelCard(method="lowdose", architecture=Architecture(name="unet", base_channels=2, depth=1))
    module = CardModule(card.model_dump(mode="json"), "mse")
    pred = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 2.0], [3.0, 40.0]], [[1.0, 1.0], [1.0, 0.0]]]])  # value, weight
    assert float(module._loss(pred, target)) == pytest.approx((1 + 4 + 9) / 3)


def test_interleaved_splits_and_sub_reconstructions():
    from tomolearn.geometry import ParallelGeometry

    parts = split_angles(10, 3)
    assert [p.tolist() for p in parts] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(ValueError, match="splits"):
        split_angles(5, 3)
    g = ParallelGeometry(np.linspace(0, np.pi, 40, endpoint=False), 32, n_rows=1, volume_shape=(32, 32))
    yy, xx = np.mgrid[:32, :32]
    disc = ((yy - 15.5) ** 2 + (xx - 15.5) ** 2 < 100).astype(np.float32)
    from tomolearn.physics.projector import make_operator

    op = make_operator(g)
    proj = op.forward(disc)[:, None]
    subs = sub_reconstructions(proj, op, 4)
    assert subs.shape == (4, 1, 32, 32)
    for s in subs:  # each subset reconstructs the disc on the same scale
        assert np.corrcoef(s.ravel(), disc.ravel())[0, 1] > 0.9
        assert s[0][disc > 0].mean() == pytest.approx(1.0, abs=0.15)


def test_simulate_pairs_are_the_noise_free_projections_at_those_angles(tmp_path):
    low, high = tmp_path / "low.h5", tmp_path / "high.h5"
    r = runner.invoke(app, ["simulate", "-o", str(low), "--phantom", "spheres_in_cube", "--size", "32", "--angles",
                            "36", "--noise-percent", "10", "--pairs-deg", "0,45", "--pairs-out", str(high)])
    assert r.exit_code == 0, r.output
    clean = tmp_path / "clean.h5"
    assert runner.invoke(app, ["simulate", "-o", str(clean), "--phantom", "spheres_in_cube", "--size", "32",
                               "--angles", "36"]).exit_code == 0
    with h5py.File(high) as fh, h5py.File(clean) as fc, h5py.File(low) as fl:
        assert fh["exchange/theta"][()].tolist() == pytest.approx([0.0, 45.0])  # degrees, as Data Exchange
        assert np.allclose(fh["exchange/data"][()], fc["exchange/data"][()][[0, 9]], atol=1e-6)
        noise = fl["exchange/data"][()] - fc["exchange/data"][()]
        peak = float(fc["exchange/data"][()].max())
        # 10 % of the WHOLE scan's maximum in every slab, also in the rows outside the cube
        assert noise[:, :3].std() == pytest.approx(0.1 * peak, rel=0.1)
        assert noise[:, 16:].std() == pytest.approx(0.1 * peak, rel=0.1)
    r = runner.invoke(app, ["simulate", "-o", str(tmp_path / "x.h5"), "--phantom", "spheres_in_cube", "--size", "32",
                            "--angles", "36", "--pairs-deg", "7", "--pairs-out", str(tmp_path / "y.h5")])
    assert r.exit_code == 2 and "--pairs-deg" in r.output and "nearest scan angle is 5" in r.output
    r = runner.invoke(app, ["simulate", "-o", str(tmp_path / "x.h5"), "--size", "32", "--pairs-deg", "0"])
    assert r.exit_code == 2 and "--pairs-out" in r.output
    assert not (tmp_path / "x.h5").exists()


def test_noise_model_measures_signal_dependent_correlated_noise_and_draws_it_again():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    high = np.tile(np.linspace(0, 1, 128, dtype=np.float32), (3, 128, 1))
    field = ndimage.gaussian_filter(rng.standard_normal(high.shape), (0, 1.0, 0))  # blurred along V only
    field /= field.std()
    std_true = lambda h: 0.02 + 0.06 * h  # noqa: E731  (grows with the signal, as counts do)
    low = high + 0.01 + std_true(high) * field
    model = PairNoiseModel.fit(low, high, patch=32)
    assert model.std_at(np.float32(0.1)) == pytest.approx(std_true(0.1), rel=0.1)
    assert model.std_at(np.float32(0.9)) == pytest.approx(std_true(0.9), rel=0.1)
    assert model.mean_at(np.float32(0.5)) == pytest.approx(0.01, abs=0.003)
    corr = model.describe()["neighbour_correlation"]
    assert corr[0] == pytest.approx(np.exp(-0.25), abs=0.06) and abs(corr[1]) < 0.05  # exp(-d²/4σ²) along V
    draws = np.stack([model.sample(high[0, :32, 96:], rng) - high[0, :32, 96:] for _ in range(200)])
    assert draws.std() == pytest.approx(std_true(high[0, :32, 96:]).mean(), rel=0.1)
    v_corr = np.mean(draws[:, 1:] * draws[:, :-1]) / np.mean(draws ** 2)
    u_corr = np.mean(draws[:, :, 1:] * draws[:, :, :-1]) / np.mean(draws ** 2)
    assert v_corr > 0.6 and abs(u_corr) < 0.1
    with pytest.raises(ValueError, match="patch"):
        model.sample(high[0, :16, :16], rng)
    with pytest.raises(ValueError, match="patch"):
        PairNoiseModel.fit(low[:, :16], high[:, :16], patch=32)


def test_paired_patches_resample_the_noise_on_the_high_dose_patch():
    rng = np.random.default_rng(1)
    high = rng.random((2, 40, 48)).astype(np.float32)
    low = high + 0.1 * rng.standard_normal(high.shape).astype(np.float32)
    model = PairNoiseModel.fit(low, high, patch=32)
    ds = PairedProjectionPatches(low, high, 32, 8, samples=64, noise_model=model, resample=1.0)
    x, y = ds[0]
    assert not any(torch.allclose(x[0], torch.from_numpy(t)) for t in low[:, :32, :32])  # a fresh draw...
    assert float((x - y).std()) == pytest.approx(0.1, rel=0.15)  # ...of the measured noise
    assert torch.equal(ds[0][0], x)  # reproducible for one (seed, epoch, item)
    ds.set_epoch(1)
    assert not torch.equal(ds[0][0], x)
    measured = PairedProjectionPatches(low, high, 32, 8, noise_model=model, resample=0.0)
    assert torch.equal(measured[0][0][0], torch.from_numpy(low[0, :32, :32]))  # the seed's training: as measured
    with pytest.raises(ValueError, match="noise_model"):
        PairedProjectionPatches(low, high, 32, 8, resample=0.5)
    with pytest.raises(ValueError, match="resample"):
        PairedProjectionPatches(low, high, 32, 8, noise_model=model, resample=1.5)


def test_row_sums_match_the_slice_mass_of_all_low_dose_projections():
    from tomolearn.geometry import ParallelGeometry, uniform_angles
    from tomolearn.physics import RayTransform

    g = ParallelGeometry(uniform_angles(90, np.pi), 48, volume_shape=(32, 32))
    obj = np.zeros((32, 32), np.float32)
    obj[8:20, 10:26] = 1.0
    clean = np.asarray(RayTransform(g).forward(obj))[:, None]  # (A, 1, U): one detector row
    rng = np.random.default_rng(0)
    low = clean + 0.3 * rng.standard_normal(clean.shape).astype(np.float32)
    mass = float(clean.sum(2).mean())
    assert np.ptp(clean.sum(2)) < 1e-2 * mass  # the invariance itself, for a detector that sees the object
    offset = clean + 0.05  # a network's offset, the same in every projection
    fixed = match_row_sums(offset, low)
    assert np.allclose(fixed.sum(2), low.sum(2).mean(0), rtol=1e-5)
    assert abs(float(fixed.sum(2).mean()) - mass) < 0.05 * 0.3 * np.sqrt(48 * 90)  # noise / sqrt(A) left
    assert np.abs(fixed - clean).mean() < np.abs(offset - clean).mean() / 3
    biased = match_row_sums(clean, clean + 0.02, bias=0.02)  # a known low-dose bias is taken off the target
    assert np.allclose(biased, match_row_sums(clean, clean), atol=1e-5)
    with pytest.raises(ValueError, match="enhanced"):
        match_row_sums(clean[:, :, :10], low)


def test_angle_neighbours_follow_angle_order_and_reflect_at_the_ends():
    angles = np.deg2rad([0.0, 90.0, 30.0, 60.0, 120.0])  # interlaced order
    table = angle_neighbours(angles, 1)
    assert table.shape == (5, 3) and (table[:, 1] == np.arange(5)).all()
    assert table[3].tolist() == [2, 3, 1]  # 60°: 30° before, 90° after
    assert table[0].tolist() == [2, 0, 2]  # the first angle: reflected, 30° on both sides
    assert table[4].tolist() == [1, 4, 1]
    assert (angle_neighbours(angles, 0) == np.arange(5)[:, None]).all()
    with pytest.raises(ValueError, match="neighbours"):
        angle_neighbours(angles, 5)
    net = EncoderDecoder(patch=16, in_channels=5, residual=True)
    x = torch.randn(2, 5, 16, 16)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        assert torch.equal(net(x), x[:, 2:3])  # the residual is the middle channel's
    with pytest.raises(ValueError, match="in_channels"):
        EncoderDecoder(patch=16, in_channels=2)


@pytest.fixture(scope="module")
def lowdose_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lowdose")
    r = runner.invoke(app, ["simulate", "-o", str(d / "low.h5"), "--phantom", "spheres_in_cube", "--size", "48",
                            "--angles", "60", "--noise-percent", "20", "--pairs-deg", "0,45,90",
                            "--pairs-out", str(d / "high.h5")])
    assert r.exit_code == 0, r.output
    return d


def test_paired_training_enhances_held_out_projections_and_reconstructs(lowdose_files):
    d = lowdose_files
    run = d / "run"
    r = runner.invoke(app, ["train", "lowdose", str(d / "low.h5"), "--pairs", str(d / "high.h5"), "--pair-angles",
                            "0,45", "-o", str(run), "--epochs", "3", "--patch", "16", "--stride", "4", "--quiet"])
    assert r.exit_code == 0, r.output
    split = json.loads((run / "split.json").read_text())
    assert split["trained_deg"] == [0.0, 45.0] and split["held_out_pairs_deg"] == [90.0]
    scores = json.loads((run / "training.json").read_text())["scores"]
    held_low = scores["projections vs high dose, held-out angles | low dose"]
    held_cnn = scores["projections vs high dose, held-out angles | CNN"]
    assert held_cnn["psnr"] > held_low["psnr"] + 3  # the 90-degree projection was never seen in training
    out = d / "rec.h5"
    r = runner.invoke(app, ["reconstruct", str(d / "low.h5"), "--method", "lowdose", "--model", str(run), "-o",
                            str(out), "--chunk-slices", "20"])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f, h5py.File(d / "low.h5") as s:
        vol, truth = f["volume"][()], s["simulation/ground_truth"][()]
    assert vol.shape == (48, 48, 48) and np.isfinite(vol).all()
    assert np.corrcoef(vol.ravel(), truth.ravel())[0, 1] > 0.5


def test_paired_training_with_neighbouring_angles_as_channels(lowdose_files, tmp_path):
    d = lowdose_files
    run = tmp_path / "run_nb"
    r = runner.invoke(app, ["train", "lowdose", str(d / "low.h5"), "--pairs", str(d / "high.h5"), "--pair-angles",
                            "0,45", "-o", str(run), "--epochs", "3", "--patch", "16", "--neighbours", "2",
                            "--resample-noise", "0.5", "--quiet"])
    assert r.exit_code == 0, r.output
    rec = json.loads((run / "training.json").read_text())
    assert rec["training"]["architecture"]["in_channels"] == 5
    assert rec["data"]["noise_model"]["std"][0] > 0 and rec["data"]["resample_noise"] == 0.5
    held = {m: rec["scores"][f"projections vs high dose, held-out angles | {m}"]["psnr"] for m in ("low dose", "CNN")}
    assert held["CNN"] > held["low dose"] + 3
    out = tmp_path / "rec.h5"  # slabs of rows: every slab still has every angle's neighbours
    r = runner.invoke(app, ["reconstruct", str(d / "low.h5"), "--method", "lowdose", "--model", str(run), "-o",
                            str(out), "--chunk-slices", "20"])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f, h5py.File(d / "low.h5") as s:
        vol, truth = f["volume"][()], s["simulation/ground_truth"][()]
    assert np.corrcoef(vol.ravel(), truth.ravel())[0, 1] > 0.5


def test_self_supervised_training_and_bad_input(lowdose_files, tmp_path):
    d = lowdose_files
    run = d / "n2i"
    r = runner.invoke(app, ["train", "lowdose", str(d / "low.h5"), "--self-supervised", "-o", str(run), "--epochs",
                            "2", "--samples", "64", "--window", "32", "--base-channels", "4", "--depth", "2",
                            "--rows", "12", "--quiet"])
    assert r.exit_code == 0, r.output
    rec = json.loads((run / "training.json").read_text())
    assert rec["mode"] == "noise2inverse" and rec["data"]["rows"] == 12
    # one 32-pixel tile of the 12 slices is held out; its loss chose the epoch that was kept
    split = json.loads((run / "split.json").read_text())
    assert split["validation_tiles"]["tiles"] == 1
    import csv

    rows = [r for r in csv.DictReader(open(next(run.glob("logs/version_*/metrics.csv")))) if r.get("val_mse")]
    val = {int(r["epoch"]) + 1: float(r["val_mse"]) for r in rows}
    assert len(val) == 2 and rec["training"]["chosen_epoch"] == min(val, key=val.get)
    assert "slices vs reference | Noise2Inverse" in rec["scores"]
    out = tmp_path / "n2i.h5"
    r = runner.invoke(app, ["reconstruct", str(d / "low.h5"), "--method", "lowdose", "--model",
                            str(run / "lowdose.safetensors"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    cases = [
        (["--pairs", str(d / "high.h5"), "--self-supervised"], "exactly one"),
        ([], "neither"),
        (["--pairs", str(d / "high.h5"), "--pair-angles", "10"], "no partner"),
        (["--pairs", str(d / "nothing.h5")], "no such file"),
    ]
    for extra, msg in cases:
        r = runner.invoke(app, ["train", "lowdose", str(d / "low.h5"), *extra, "-o", str(tmp_path / "bad")])
        assert r.exit_code == 2 and msg in r.output, (extra, r.output)
    other = tmp_path / "other.h5"  # a pairs file of another sample size
    assert runner.invoke(app, ["simulate", "-o", str(other), "--size", "32", "--angles", "60"]).exit_code == 0
    r = runner.invoke(app, ["train", "lowdose", str(d / "low.h5"), "--pairs", str(other), "-o", str(tmp_path / "b2")])
    assert r.exit_code == 2 and "scan's size" in r.output
    r = runner.invoke(app, ["reconstruct", str(d / "low.h5"), "--method", "lowdose", "--model", str(tmp_path),
                            "-o", str(tmp_path / "x.h5")])
    assert r.exit_code == 2 and "holds no lowdose.safetensors" in r.output


def test_noise2inverse_splits_comparison_trains_one_run_per_k(lowdose_files, tmp_path):
    from tomolearn import load_scan
    from tomolearn.methods.lowdose import LowDoseTraining
    from tomolearn.workflow.lowdose_study import compare_n2i
    from tomolearn.workflow.reconstruct import reconstruct

    scan = load_scan(lowdose_files / "low.h5").load()
    reference = np.asarray(scan.reference, np.float32)
    cfg = LowDoseTraining(scan=Path("scan"), self_supervised=True, epochs=1, samples=16, window=32,
                          base_channels=4, depth=2, rows=6)
    r = compare_n2i(scan, reference, tmp_path, self_supervised=cfg, splits=(2, 3), score_rows=6, log=lambda m: None)
    assert set(r["scores"]) == {"FBP (noisy)", "Noise2Inverse K=2", "Noise2Inverse K=3"}
    for k in (2, 3):
        split = json.loads((tmp_path / f"noise2inverse_K{k}" / "split.json").read_text())
        assert [len(s) for s in split["splits"]] == [60 // k] * k
    fbp = reconstruct(scan, "fbp", filter="parzen").volume[r["rows"]]
    assert np.allclose(r["volumes"]["FBP (noisy)"], fbp, atol=1e-5)


def test_projection_denoisers_of_the_baselines():
    from tomolearn.workflow.lowdose_study import denoise_projections, noise_sigma, tune_denoiser

    rng = np.random.default_rng(0)
    assert noise_sigma(rng.normal(0, 0.3, (64, 64))) == pytest.approx(0.3, rel=0.1)
    yy, xx = np.mgrid[:32, :48]
    clean = np.stack([((yy - 16) ** 2 + (xx - 24) ** 2 < 100).astype(np.float32)] * 2)
    noisy = (clean + rng.normal(0, 0.3, clean.shape)).astype(np.float32)
    for kind in ("median", "tv", "nlm"):
        strength, score = tune_denoiser(kind, noisy, clean)
        den = denoise_projections(noisy, kind, strength)
        assert den.shape == noisy.shape
        assert np.abs(den - clean).mean() < 0.6 * np.abs(noisy - clean).mean(), kind
    with pytest.raises(ValueError, match="kind"):
        denoise_projections(noisy, "wiener", 1)


def test_self_supervised_mode_on_a_real_fan_beam_lab_scan(tmp_path):
    """Noise2Inverse needs no pairs: the HTC2022 `.mat` (fan beam, 721 angles over 360 deg) trains and reconstructs."""
    from conftest import data_file

    from tomolearn import load_scan

    path = data_file("htc2022", "htc2022_tb_full.mat")
    run = tmp_path / "n2i"
    r = runner.invoke(app, ["train", "lowdose", str(path), "--self-supervised", "-o", str(run), "--epochs", "1",
                            "--samples", "16", "--window", "32", "--base-channels", "4", "--depth", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    split = json.loads((run / "split.json").read_text())
    assert [len(s) for s in split["splits"]] == [361, 360]  # 721 angles, interleaved (default K = 2)
    out = tmp_path / "tb.h5"
    r = runner.invoke(app, ["reconstruct", str(path), "--method", "lowdose", "--model", str(run), "-o", str(out)])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        vol = f["volume"][()]
    scan = load_scan(path)
    assert vol.shape == scan.geometry.volume_shape_3d and np.isfinite(vol).all()
    assert np.corrcoef(vol.ravel(), np.asarray(scan.reference).ravel())[0, 1] > 0.5


def test_count_split_parts_are_independent_halves_that_add_up():
    from tomolearn.physics.noise import split_counts

    rng = np.random.default_rng(1)
    lam = np.full(200_000, 40.0)
    n = rng.poisson(lam).astype(np.float32)
    a, b = split_counts(n, seed=2)
    assert np.array_equal(a + b, n)
    assert a.mean() == pytest.approx(20.0, rel=0.01) and b.var() == pytest.approx(20.0, rel=0.03)  # Poisson(λ/2)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01  # split Poisson counts are independent (thinned: they are not)
    a2, _ = split_counts(n, seed=2)
    assert np.array_equal(a, a2)
    for bad in (0.0, 1.0, float("nan")):
        with pytest.raises(ValueError, match="fraction"):
            split_counts(n, 0, fraction=bad)


def test_raw_count_scans_carry_their_open_beam_and_line_integral_scans_do_not(lowdose_files, tmp_path):
    from tomolearn import load_scan
    from tomolearn.io._raw import scan_from_counts

    flats = np.full((3, 2, 8), 110.0, np.float32)
    darks = np.full((2, 2, 8), 10.0, np.float32)
    data = np.full((4, 2, 8), 60.0, np.float32)
    scan = scan_from_counts(data, flats, darks, [0, 45, 90, 135], {}, cor_offset=0.0)
    assert scan.open_beam_frames == 3 and np.allclose(scan.open_beam, 100.0)
    assert np.allclose(scan.open_beam * np.exp(-scan.projections), data - 10.0)  # the counts come back
    assert scan.subset([0, 2]).open_beam is scan.open_beam
    sim = tmp_path / "counts.h5"
    r = runner.invoke(app, ["simulate", "-o", str(sim), "--size", "16", "--angles", "12", "--i0", "500"])
    assert r.exit_code == 0, r.output
    s = load_scan(sim)  # lazy Data Exchange: the averaged flat minus dark of the file's 10 flat frames
    assert s.lazy and s.open_beam.shape == (1, 16) and s.open_beam_frames == 10
    assert s.open_beam.mean() == pytest.approx(500, rel=0.05)
    assert load_scan(lowdose_files / "low.h5").open_beam is None  # Gaussian noise on line integrals: no counts
    with pytest.raises(ValueError, match="open_beam"):
        type(scan)(scan.projections, scan.geometry, open_beam=np.ones((3, 8)))


def _disc_projections(size: int, n_angles: int, radius2: float, value: float):
    """Operator, disc phantom ``(size, size)`` and its noise-free projections ``(A, 1, U)`` of one slice."""
    from tomolearn.geometry import ParallelGeometry
    from tomolearn.physics.projector import make_operator

    g = ParallelGeometry(np.linspace(0, np.pi, n_angles, endpoint=False), size, n_rows=1, volume_shape=(size, size))
    op = make_operator(g)
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2
    disc = value * ((yy - c) ** 2 + (xx - c) ** 2 < radius2).astype(np.float32)
    return op, disc, op.forward(disc)[:, None]


def test_count_split_halves_see_every_angle_with_independent_noise():
    from tomolearn.recipes.lowdose import count_split_reconstructions
    from tomolearn.recon import fbp

    op, disc, clean = _disc_projections(48, 60, 300, 0.05)
    beam = np.full((1, 48), 2000.0, np.float32)
    rng = np.random.default_rng(0)
    counts = rng.poisson(beam * np.exp(-clean)).astype(np.float32)
    proj = -np.log(counts / beam)
    halves = count_split_reconstructions(proj, beam, op, seed=3)
    assert halves.shape == (2, 1, 48, 48)
    ref = fbp(clean, op)
    err = halves - ref
    assert np.corrcoef(err[0].ravel(), err[1].ravel())[0, 1] < 0.1  # independent noise: a Noise2Noise pair
    full_err = fbp(proj, op) - ref
    assert err.std() == pytest.approx(np.sqrt(2) * full_err.std(), rel=0.15)  # each half has half the photons
    for h in halves:  # unbiased: the same disc on the same scale as the full data
        assert h[0][disc > 0].mean() == pytest.approx(0.05, rel=0.05)
    with pytest.raises(ValueError, match="open_beam"):
        count_split_reconstructions(proj, beam[:, :40], op, seed=0)


def test_count_split_training_end_to_end_and_bad_input(lowdose_files, tmp_path):
    sim = tmp_path / "counts.h5"
    r = runner.invoke(app, ["simulate", "-o", str(sim), "--phantom", "spheres_in_cube", "--size", "32", "--angles",
                            "40", "--i0", "300"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "cs"
    r = runner.invoke(app, ["train", "lowdose", str(sim), "--self-supervised", "--split", "counts", "-o", str(run),
                            "--epochs", "2", "--samples", "32", "--window", "16", "--base-channels", "4", "--depth",
                            "2", "--quiet"])
    assert r.exit_code == 0, r.output
    rec = json.loads((run / "training.json").read_text())
    split = json.loads((run / "split.json").read_text())
    assert rec["mode"] == "count_split" and split["count_split"]["flat_frames"] == 10 and "splits" not in split
    assert "slices vs reference | count split" in rec["scores"]
    out = tmp_path / "cs.h5"
    r = runner.invoke(app, ["reconstruct", str(sim), "--method", "lowdose", "--model", str(run), "-o", str(out),
                            "--chunk-slices", "12"])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f, h5py.File(sim) as s:
        vol, truth = f["volume"][()], s["simulation/ground_truth"][()]
    assert vol.shape == truth.shape and np.corrcoef(vol.ravel(), truth.ravel())[0, 1] > 0.5
    r = runner.invoke(app, ["train", "lowdose", str(lowdose_files / "low.h5"), "--self-supervised", "--split",
                            "counts", "-o", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "--split" in r.output and "line integrals only" in r.output, r.output


def test_read_out_noise_is_shared_by_the_halves_unless_recorrupted():
    from tomolearn.recipes.lowdose import count_split_reconstructions
    from tomolearn.recon import fbp

    op, _, clean = _disc_projections(64, 90, 600, 0.02)
    beam = np.full((1, 64), 2000.0, np.float32)
    rng = np.random.default_rng(4)
    sigma = 40.0  # read-out noise of the detector, in counts, on top of the photons
    counts = rng.poisson(beam * np.exp(-clean)) + rng.normal(0, sigma, clean.shape)
    flat = (rng.poisson(beam) + rng.normal(0, sigma, beam.shape)).astype(np.float32)  # one flat frame, read out too
    proj = (-np.log(counts / flat)).astype(np.float32)
    ref = fbp(clean, op)

    def shared(read_noise):
        h = count_split_reconstructions(proj, flat, op, seed=5, read_noise=read_noise) - ref
        return np.corrcoef(h[0].ravel(), h[1].ravel())[0, 1]

    assert shared(0.0) > 0.15  # both halves got about half of the same read-out noise
    assert abs(shared(sigma)) < 0.06  # opposite recorruptions cancel it
    with pytest.raises(ValueError, match="read_noise"):
        count_split_reconstructions(proj, beam, op, seed=0, read_noise=-1.0)
