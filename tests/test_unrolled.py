"""Learned Primal-Dual (issue 11): the network, the recipe's exact canonical orientation, training, shipped weights."""
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn.geometry import FanGeometry, ParallelGeometry, uniform_angles
from tomolearn.metrics import psnr
from tomolearn.models.card import Architecture, ModelCard
from tomolearn.models.lpd import LearnedPrimalDual, operator_norm
from tomolearn.phantoms import make_phantom
from tomolearn.physics.projector import RayTransform
from tomolearn.recipes import unrolled
from tomolearn.train.losses import mean_log_mse_loss
from tomolearn.train.unrolled import UnrolledModule, geometry_record
from tomolearn.train.unrolled_library import UnrolledLibrary, arc_angles

runner = CliRunner()


def _parallel(n=32, angles=None, **kw):
    return ParallelGeometry(uniform_angles(24) if angles is None else angles, n, volume_shape=(n, n), **kw)


def _fan(n=32, angles=None):
    return FanGeometry(uniform_angles(30, 2 * np.pi) if angles is None else angles, 48, detector_spacing=1.4,
                       source_origin=120, origin_detector=50, volume_shape=(n, n))


@pytest.mark.parametrize("make", [lambda a: _parallel(40, a, cor_offset=1.5), lambda a: _fan(40, a)])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_quarter_turns_of_the_object_are_shifts_of_the_angles(make, k):
    # the identity the recipe's exact canonical orientation rests on: A_th(rot90(x, k)) = A_{th - k 90deg}(x)
    x = make_phantom("ellipses_polygons", 40, 3)
    th = np.deg2rad(np.arange(0, 50, 2.0)) + 0.3
    lhs = RayTransform(make(th)).forward(np.ascontiguousarray(np.rot90(x, k)))
    rhs = RayTransform(make(th - k * np.pi / 2)).forward(x)
    assert np.abs(lhs - rhs).max() < 1e-3 * np.abs(lhs).max()


def _wrapped(deg_lo, deg_hi, step=2.0):
    return np.deg2rad(np.arange(deg_lo, deg_hi, step))


@pytest.mark.parametrize("geometry", [
    _parallel(40, np.deg2rad(np.arange(0, 60, 2.0)) + np.deg2rad(70)),               # centre 99 deg: one turn
    _parallel(40, np.concatenate([_wrapped(150, 180), _wrapped(0, 30)])),            # wraps past 180 deg
    _parallel(40, np.random.default_rng(0).permutation(_wrapped(200, 290))),         # unsorted, beyond 180 deg
    _parallel(40, _wrapped(100, 160), cor_offset=1.5),                              # off-centre axis: no reversal
    _fan(40, np.concatenate([_wrapped(330, 360), _wrapped(0, 40)])),                 # fan beam wrapping past 360
    _fan(40, _wrapped(-250, -170)),
])
def test_canonical_scan_is_the_same_measurement_in_a_turned_frame(geometry):
    x = make_phantom("ellipses_polygons", 40, 3)
    y = RayTransform(geometry).forward(x)
    s, gc, k = unrolled.canonical_scan(y[None], geometry)
    a = gc.angles
    assert np.all(np.diff(a) > 0)  # one contiguous, sorted arc
    assert -np.pi / 4 - 1e-9 <= (a[0] + a[-1]) / 2 < np.pi / 4 + np.deg2rad(2)
    # the canonical sinogram is what the canonical geometry measures of the object turned back
    expected = RayTransform(gc).forward(np.ascontiguousarray(np.rot90(x, -k)))
    assert np.abs(s[0] - expected).max() < 1e-3 * np.abs(expected).max()


def test_canonical_scan_keeps_a_non_square_grid_unturned():
    g = ParallelGeometry(_wrapped(80, 140), 40, volume_shape=(32, 40))
    assert unrolled.canonical_scan(np.zeros((1, g.n_angles, 40)), g)[2] == 0
    card = ModelCard.model_validate(_card(g))
    with pytest.warns(UserWarning, match="non-square"):
        unrolled.check_geometry(card, g)


@pytest.mark.parametrize("geometry", [_parallel(), _fan()])
def test_lpd_output_shape_on_parallel_and_fan_geometries(geometry):
    op = RayTransform(geometry)
    net = LearnedPrimalDual(n_iter=2, features=4, memory=3)
    y = torch.randn(3, 1, *op.range_shape)
    assert net(y, op).shape == (3, 1, *geometry.volume_shape)
    assert net(y, op, torch.zeros(3, 1, *geometry.volume_shape)).shape == (3, 1, *geometry.volume_shape)
    with pytest.raises(ValueError, match="data"):
        net(torch.randn(3, 1, 5, 7), op)
    with pytest.raises(ValueError, match="init"):
        net(y, op, torch.zeros(3, 1, 5, 5))


def test_operator_norm_matches_the_power_iteration_of_the_operator():
    op = RayTransform(_parallel(40))
    assert operator_norm(op) == pytest.approx(op.norm(60), rel=0.01)
    assert op._lpd_norm == operator_norm(op)  # cached: training and inference scale alike


def _card(geometry, features=4, n_iter=2, memory=3):
    return ModelCard(method="lpd", architecture=Architecture(name="lpd", base_channels=features, n_blocks=n_iter,
                                                             memory=memory),
                     training={"geometry": geometry_record(geometry)}).model_dump(mode="json")


def test_training_steps_lower_the_loss_and_gradients_reach_the_first_block():
    g = _parallel(32)
    lib = UnrolledLibrary(2, 3, g, arc_range_deg=(40, 80), step_deg=(2, 2), seed=0, fixed=True)
    batch = tuple(t[None] for t in lib[0])
    torch.manual_seed(0)
    module = UnrolledModule(_card(g, features=8, n_iter=3))
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss, _ = module._loss(batch)
        loss.backward()
        losses.append(float(loss.detach()))
        opt.step()
    assert losses[1] < losses[0] and losses[-1] < losses[0]
    # the last layers start at zero (the first update is 0); within a few steps every layer learns,
    # the first dual block's first convolution included
    first = module.net.dual[0][0].weight.grad
    assert first is not None and float(first.abs().sum()) > 0


def test_psnr_loss_is_the_mean_log_mse_over_objects_and_weighs_each_by_its_inverse_error():
    target = torch.zeros(2, 1, 2, 2)
    pred = torch.stack([torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 1.0)]).requires_grad_(True)
    # MSE 0.01 and 1.0: pixel mean 0.505; mean of 10 log10 MSE = (-20 + 0) / 2 = -10 dB
    assert float(torch.mean((pred - target) ** 2)) == pytest.approx(0.505)
    loss = mean_log_mse_loss(pred, target)
    assert float(loss) == pytest.approx(-10.0)
    loss.backward()
    # d/dp of 10 log10(mean p^2) / 2 = 10 / ln10 * (2 p / 4) / MSE / 2: the small error pulls 10x harder
    g = pred.grad.flatten(1)[:, 0]
    assert float(g[0]) == pytest.approx(10 / np.log(10) * 0.05 / 0.01 / 2, rel=1e-5)
    assert float(g[0] / g[1]) == pytest.approx(10.0, rel=1e-5)
    with pytest.raises(ValueError, match="loss"):
        UnrolledModule(_card(_parallel(16), features=4, n_iter=1), loss="l1")


def test_checkpointing_gives_the_same_gradients():
    g = _parallel(24)
    op = RayTransform(g)
    torch.manual_seed(1)
    net = LearnedPrimalDual(n_iter=2, features=4, memory=2)
    for p in net.parameters():  # non-zero last layers so every parameter has a gradient
        torch.nn.init.normal_(p, std=0.1)
    y = torch.rand(2, 1, *op.range_shape)
    grads = []
    for ckpt in (False, True):
        net.checkpointing = ckpt
        net.zero_grad()
        net(y, op).square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_library_batches_share_one_acquisition_within_the_ranges():
    g = _parallel(32)
    lib = UnrolledLibrary(3, 2, g, arc_range_deg=(30, 60), step_deg=(1.5, 3), i0=(1e3, 1e4), seed=2, fixed=True)
    for i in range(3):
        s = lib.sample(i)
        assert 30 <= s["arc_deg"] <= 60 and 1.5 <= s["step_deg"] <= 3 and 1e3 <= s["i0"] <= 1e4
        assert s["sinograms"].shape == (2, s["geometry"].n_angles, 32) and s["targets"].shape == (2, 32, 32)
        centre = np.degrees(unrolled.arc_centre(s["geometry"].angles, np.pi))
        assert -45 <= ((centre + 90) % 180) - 90 <= 45
    data, init, target, angles = lib[0]
    assert data.shape[:2] == (2, 1) and init.shape == target.shape == (2, 1, 32, 32) and angles.ndim == 1
    assert np.array_equal(lib.sample(1)["sinograms"], lib.sample(1)["sinograms"])  # fixed: reproducible
    with pytest.raises(ValueError, match="arc-range"):
        UnrolledLibrary(1, 1, g, arc_range_deg=(60, 200))
    with pytest.raises(ValueError, match="families"):
        UnrolledLibrary(1, 1, g, families=("cats",))


def test_reconstruction_is_equivariant_to_scale_and_quarter_turns(tmp_path):
    torch.manual_seed(0)
    net = LearnedPrimalDual(n_iter=2, features=4, memory=2)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x = make_phantom("ellipses_polygons", 32, 5) * 0.05
    g = _parallel(32, arc_angles(np.deg2rad(100), np.deg2rad(70), np.deg2rad(2)))
    y = RayTransform(g).forward(x)
    r = unrolled.lpd_slices(net, y, g)
    assert np.allclose(unrolled.lpd_slices(net, 7.0 * y, g), 7.0 * r, rtol=1e-4, atol=1e-5 * np.abs(r).max())
    # the same measurement described with angles shifted by 90 deg (object turned) or by 180 deg with the
    # detector reversed gives the same reconstruction, turned alike
    g90 = g.replace(angles=g.angles - np.pi / 2)
    assert np.allclose(np.rot90(unrolled.lpd_slices(net, y, g90), 1), r, atol=1e-5 * np.abs(r).max())
    g180 = g.replace(angles=g.angles + np.pi)
    assert np.allclose(unrolled.lpd_slices(net, y[:, ::-1], g180), r, atol=1e-5 * np.abs(r).max())


def test_method_reconstructs_a_scan_file_and_refuses_foreign_weights(tmp_path):
    scan = tmp_path / "s.h5"
    r = runner.invoke(app, ["simulate", "-o", str(scan), "--size", "32", "--n-slices", "2", "--angles", "30",
                            "--range-deg", "90"])
    assert r.exit_code == 0, r.output
    model = tmp_path / "w.safetensors"
    from tomolearn.models.weights import save_weights

    g = _parallel(32)
    card = ModelCard.model_validate(_card(g))
    save_weights(card.architecture.build(), card, model)
    out = tmp_path / "r.h5"
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "lpd", "--model", str(model), "-o", str(out)])
    assert r.exit_code == 0, r.output
    import h5py

    with h5py.File(out) as f:
        assert f["volume"].shape == (2, 32, 32) and np.isfinite(f["volume"][...]).all()
    flyscan_card = ModelCard(method="flyscan", architecture=Architecture(name="rrdb", base_channels=4, growth=2,
                                                                          n_blocks=1))
    other = tmp_path / "rrdb.safetensors"
    save_weights(flyscan_card.architecture.build(), flyscan_card, other)
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "lpd", "--model", str(other), "-o",
                            str(tmp_path / "x.h5")])
    assert r.exit_code == 2 and "--model" in r.output and "Learned Primal-Dual" in r.output


def test_train_lpd_command_writes_weights_card_and_validation_per_arc(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "lpd", "-o", str(out), "--size", "32", "--epochs", "1", "--samples-per-epoch",
                            "4", "--batch-size", "2", "--n-iter", "2", "--features", "4", "--n-val", "2",
                            "--arc-range", "40,90", "--step-deg", "3,3", "--val-arcs", "45,90,120"])
    assert r.exit_code == 0, r.output
    record = json.loads((out / "training.json").read_text())
    assert set(record["validation"]["scores_per_arc_deg"]) == {"45", "90"}  # 120 lies outside the trained arcs
    card = json.loads((out / "lpd.json").read_text())
    assert card["method"] == "lpd" and card["geometry"]["arc_range_deg"] == [40.0, 90.0]
    net, card = unrolled.load_default(out)
    assert card.architecture.n_blocks == 2
    tuned = tmp_path / "tuned"  # fine-tuning keeps the starting architecture and records where it came from
    r = runner.invoke(app, ["train", "lpd", "-o", str(tuned), "--init-from", str(out), "--size", "32", "--epochs",
                            "1", "--samples-per-epoch", "2", "--batch-size", "2", "--n-val", "1", "--val-arcs", "60",
                            "--step-deg", "3,3", "--features", "16", "--loss", "psnr"])
    assert r.exit_code == 0, r.output
    tuned_card = json.loads((tuned / "lpd.json").read_text())
    assert tuned_card["training"]["loss"] == "psnr"
    assert json.loads((tuned / "training.json").read_text())["training"]["loss"] == "psnr"
    assert tuned_card["architecture"]["base_channels"] == 4
    assert tuned_card["training"]["init_from"]["command"] == card.training["command"]
    r = runner.invoke(app, ["train", "lpd", "-o", str(tmp_path / "bad"), "--arc-range", "90,40"])
    assert r.exit_code == 2 and "--arc-range" in r.output


def test_shipped_weights_load_with_their_record_and_beat_fbp_on_an_unseen_phantom():
    if not unrolled.DEFAULT_WEIGHTS.exists():
        pytest.fail("the shipped Learned Primal-Dual weights are missing from the package")
    net, card = unrolled.load_default()
    assert card.training["command"].startswith("tomolearn train lpd") and card.metrics["validation_per_arc_deg"]
    n = card.training["geometry"]["volume_shape"][0]
    # an object no library draw produced (integer seed; the library draws from seeded Generators), 70 deg arc
    x = make_phantom("ellipses_polygons", n, 123_456) * (2.5 / n)
    g = ParallelGeometry(arc_angles(np.deg2rad(130), np.deg2rad(70), np.deg2rad(1)), n, volume_shape=(n, n))
    from tomolearn.physics.noise import poisson_noise
    from tomolearn.recon import fbp

    y = poisson_noise(RayTransform(g).forward(x), 1e4, 0)
    dr = float(x.max())
    assert psnr(x, unrolled.lpd_slices(net, y, g, card=card), dr) > psnr(x, fbp(y, g), dr) + 5


def test_fan_beam_training_takes_the_geometry_of_an_htc2022_scan():
    from tests.conftest import data_file
    from tomolearn.methods.lpd import LPDTraining
    from tomolearn.workflow.train_lpd import library, template_geometry

    c = LPDTraining(geometry_from=data_file("htc2022", "htc2022_ta_full.mat"), arc_range=(30, 40), step_deg=(5, 5),
                    families=["holed_disc"])
    template = template_geometry(c)
    assert isinstance(template, FanGeometry) and template.n_rows == 1
    data, init, target, angles = library(c, template, 1, 0, fixed=True)[0]
    assert data.shape == (1, 1, angles.numel(), template.n_detector) and target.shape[-2:] == template.volume_shape
    from tomolearn.train.unrolled import geometry_from_record

    op = RayTransform(geometry_from_record(geometry_record(template), angles.numpy()))
    assert LearnedPrimalDual(n_iter=1, features=2, memory=2)(data, op, init).shape == target.shape


def test_init_iter_changes_the_tv_start_and_is_refused_for_weights_that_start_from_fbp(tmp_path):
    from tomolearn.methods import base as registry
    from tomolearn.models.weights import save_weights

    g = _parallel(32, uniform_angles(30, np.deg2rad(60)))
    sino = RayTransform(g).forward(make_phantom("ellipses_polygons", 32, 5).astype(np.float32) * 0.05)
    card = ModelCard.model_validate(_card(g))
    fbp_start = save_weights(card.architecture.build(), card, tmp_path / "fbp.safetensors")
    with pytest.raises(ValueError, match="--init-iter"):
        registry.build("lpd", {"model": str(fbp_start), "init_iter": 5}).image(sino, g)
    tv_card = card.model_copy(update={"pipeline": card.pipeline.model_copy(
        update={"approximant": "tv", "approximant_params": {"n_iter": 3, "tv_relative": 0.03}})})
    tv_start = save_weights(card.architecture.build(), tv_card, tmp_path / "tv.safetensors")
    # zero-initialised last layers: the untrained network returns its start, so the start's iterations show
    short = registry.build("lpd", {"model": str(tv_start)}).image(sino, g)
    longer = registry.build("lpd", {"model": str(tv_start), "init_iter": 30}).image(sino, g)
    tv30 = registry.build("tv", {"n_iter": 30, "tv_relative": 0.03}).image(sino, g)
    assert np.abs(short - longer).max() > 1e-3
    np.testing.assert_allclose(longer, tv30, atol=1e-4 * float(np.abs(tv30).max()))
