"""Missing-wedge recipe (IRDM, seed 004): library, augmentation, export, shipped weights, CLI."""
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn.geometry import ParallelGeometry
from tomolearn.metrics import psnr
from tomolearn.phantoms import ellipses_polygons
from tomolearn.recipes.missing_wedge import (DEFAULT_WEIGHTS, check_wedge, irdm_slice, load_default,
                                             missing_wedge_deg)
from tomolearn.scan import Scan
from tomolearn.scenario import Scenario, simulate
from tomolearn.train.augment import random_affine
from tomolearn.models.weights import load_weights, save_weights
from tomolearn.workflow.train_missing_wedge import irdm_card
from tomolearn.methods.missing_wedge import MissingWedgeTraining
from tomolearn.train.gan import IRDMModule
from tomolearn.models.card import input_scale
from tomolearn.train.library import MissingWedgeLibrary, wedge_geometry, wedge_sinogram, wedge_wbp
from tomolearn.workflow import reconstruct


def _wedge_sinogram(obj, wedge, seed=0):
    return wedge_sinogram(obj, wedge, seed=seed)


def test_wedge_geometry_and_measured_wedge():
    g = wedge_geometry(64, 50.0, 1.0)
    assert np.degrees(g.angles[[0, -1]]) == pytest.approx([-65.0, 65.0])
    assert missing_wedge_deg(g) == pytest.approx(50.0, abs=1.0)
    assert missing_wedge_deg(ParallelGeometry(np.linspace(0, np.pi, 180, endpoint=False), 64)) == 0.0
    with pytest.raises(ValueError, match="wedge_deg"):
        wedge_geometry(64, 180.0)
    from tomolearn.geometry import FanGeometry

    # fan beam: a 60 deg arc plus a 2 * atan(32 / 150) = 24.1 deg fan covers 84.1 deg
    fan = FanGeometry(np.deg2rad(np.arange(0, 60.5, 0.5)), 64, source_origin=100, origin_detector=50)
    assert missing_wedge_deg(fan) == pytest.approx(180 - 60 - 24.08, abs=0.6)


def test_random_affine_shrinks_and_is_seeded():
    img = np.zeros((64, 64), np.float32)
    img[8:56, 8:56] = 1
    a = random_affine(img, np.random.default_rng(3), shrink=(0.5, 0.5))
    b = random_affine(img, np.random.default_rng(3), shrink=(0.5, 0.5))
    np.testing.assert_array_equal(a, b)
    assert a.shape == img.shape and 0.15 < a.sum() / img.sum() < 0.35  # area ~ 0.5^2
    with pytest.raises(ValueError, match="image"):
        random_affine(np.zeros((2, 4, 4)), np.random.default_rng(0))


def test_wbp_input_degrades_with_the_wedge():
    obj = ellipses_polygons(64, 1)
    scores = [psnr(obj, wedge_wbp(obj, w, 1.0, 0.0, 0)) for w in (0, 40, 80)]
    assert scores[0] > scores[1] > scores[2]


def test_library_items_are_seeded_fresh_per_epoch_and_fixed_for_validation():
    lib = MissingWedgeLibrary(4, 32, (40, 60), seed=5)
    x, y = lib[1]
    assert x.shape == y.shape == (1, 32, 32) and x.dtype == torch.float32
    assert float(y.min()) >= 0
    torch.testing.assert_close(lib[1][0], x)
    lib.set_epoch(1)
    assert not torch.equal(lib[1][0], x)
    val = MissingWedgeLibrary(4, 32, (40, 60), seed=5, fixed=True)
    first = val[0][0]
    val.set_epoch(3)
    torch.testing.assert_close(val[0][0], first)
    assert 40 <= val.sample(0)["wedge_deg"] <= 60


def test_library_uses_real_images():
    slices = np.zeros((2, 48, 48), np.float32)
    slices[:, 10:30, 10:30] = 5.0
    lib = MissingWedgeLibrary(2, 32, (40, 60), images=slices, image_fraction=1.0, augment=False)
    target = lib.sample(0)["target"]
    assert target.shape == (32, 32) and target.max() == pytest.approx(1.0) and target[0, 0] == 0


@pytest.mark.parametrize("kwargs, name", [({"families": ["nope"]}, "families"),
                                          ({"wedge_range_deg": (60, 40)}, "wedge_range_deg"),
                                          ({"images": np.zeros((4, 4))}, "images")])
def test_library_rejects_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MissingWedgeLibrary(2, 32, **kwargs)


def test_export_round_trip_and_checkpoint_loading(tmp_path):
    card = irdm_card(MissingWedgeTraining(size=32, wedge_range=(40, 60), base_channels=4, depth=2), 0)
    module = IRDMModule(2, base_channels=4, depth=2, card=card.model_dump(mode="json")).eval()
    x = torch.rand(1, 1, 32, 32)
    path = save_weights(module.generator, card.model_copy(update={"training": {"command": "test"}}),
                        tmp_path / "w.safetensors")
    with pytest.raises(FileExistsError):
        save_weights(module.generator, card, path)
    gen, got = load_default(path)
    assert got.pipeline.working_size == 32 and got.training["command"] == "test"
    with torch.no_grad():
        torch.testing.assert_close(gen(x), module.generator(x), atol=2e-2, rtol=2e-2)  # float16 weights
    ckpt = tmp_path / "m.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, ckpt)
    gen2, card2 = load_default(ckpt)
    assert card2 == card
    with torch.no_grad():
        torch.testing.assert_close(gen2(x), module.generator(x))
    (tmp_path / "junk.pt").write_text("not a model")
    with pytest.raises(ValueError, match="weights"):
        load_default(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        load_default(tmp_path / "missing.safetensors")


def test_weights_that_would_run_code_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))
    path = tmp_path / "evil.pt"
    torch.save({"format": "tomolearn-generator-1", "payload": Evil()}, path)
    with pytest.raises(ValueError, match="weights"):
        load_weights(path)


def test_shipped_weights_load_with_their_training_record():
    assert DEFAULT_WEIGHTS.exists(), "the package ships default missing-wedge weights"
    assert DEFAULT_WEIGHTS.stat().st_size < 5e6
    assert DEFAULT_WEIGHTS.suffix == ".safetensors" and DEFAULT_WEIGHTS.with_suffix(".json").exists()
    gen, card = load_default()
    assert card.training["command"].startswith("tomolearn train missing_wedge")
    assert card.training["training"]["seconds"] > 0 and "per_wedge_deg" in card.metrics
    assert card.geometry.wedge_range_deg[0] <= 60 <= card.geometry.wedge_range_deg[1]


def test_shipped_weights_beat_wbp_on_an_unseen_phantom():
    gen, meta = load_default()
    obj = ellipses_polygons(meta.pipeline.working_size, 987654)  # a seed the library never draws from
    sino, g = _wedge_sinogram(obj, 60.0)
    from tomolearn.recon import fbp

    assert psnr(obj, irdm_slice(gen, meta, sino, g)) > psnr(obj, fbp(sino, g)) + 2.0


def test_irdm_slice_works_on_larger_grids_and_arbitrary_arc_positions():
    gen, meta = load_default()
    obj = ellipses_polygons(2 * meta.pipeline.working_size, 3)
    g = wedge_geometry(obj.shape[0], 50.0, 2.0)
    g = g.replace(angles=g.angles + 0.6)  # arc not centred on 0
    sim = simulate(obj, Scenario(n_angles=g.n_angles, range_deg=130, start_deg=np.degrees(g.angles[0])), 0)
    out = irdm_slice(gen, meta, sim["projections"][:, 0], sim["geometry"].replace(n_rows=1))
    assert out.shape == obj.shape and np.isfinite(out).all()
    from tomolearn.recon import fbp

    assert psnr(obj, out) > psnr(obj, fbp(sim["projections"][:, 0], sim["geometry"].replace(n_rows=1)))


def test_reconstruct_method_and_wedge_warning():
    obj = ellipses_polygons(64, 11)
    sino, g = _wedge_sinogram(obj, 60.0)
    scan = Scan(sino[:, None], g.replace(n_rows=1))
    vol = reconstruct(scan, "missing_wedge").volume
    assert vol.shape == (1, 64, 64)
    refined = reconstruct(scan, "missing_wedge", refine=True, n_iter=100).volume
    assert psnr(obj, refined[0]) > psnr(obj, vol[0])  # the data fix what the network got wrong
    _, meta = load_default()
    with pytest.warns(UserWarning, match="outside the training range"):
        check_wedge(wedge_geometry(64, 150.0), meta)


def test_cli_train_tiny_run_records_and_exports(tmp_path):
    r = CliRunner().invoke(app, ["train", "missing_wedge", "-o", str(tmp_path / "run"), "--size", "32",
                                 "--samples-per-epoch", "8", "--epochs", "1", "--base-channels", "4",
                                 "--export", str(tmp_path / "w.safetensors"), "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    record = json.loads((tmp_path / "run" / "training.json").read_text())
    assert record["data"]["wedge_range_deg"] == [25.0, 85.0]
    assert set(record["validation"]["per_wedge_deg"]["60"]) == {"WBP", "IRDM"}
    assert load_default(tmp_path / "w.safetensors")[1].pipeline.working_size == 32
    assert (tmp_path / "run" / "missing_wedge_2d.json").exists()
    bad = CliRunner().invoke(app, ["train", "low_dose", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "low_dose" in bad.output
    bad = CliRunner().invoke(app, ["train", "missing_wedge", "-o", str(tmp_path / "y"), "--wedge-range", "40"])
    assert bad.exit_code == 2 and "--wedge-range" in bad.output


def test_input_scale_is_positive_for_empty_images():
    assert input_scale(np.zeros((8, 8))) > 0


def test_missing_wedge_mask_matches_where_wbp_is_empty():
    from tomolearn.trust import missing_wedge_mask, wedge_error

    obj = ellipses_polygons(64, 2)
    g = wedge_geometry(64, 60.0)
    wbp = wedge_wbp(obj, 60.0, 1.0, 0.0, 0)
    mask = missing_wedge_mask(obj.shape, g.angles)
    assert 0.2 < mask.mean() < 0.45 and not mask[32, 32]
    right, rotated = wedge_error(obj, wbp, g.angles), wedge_error(obj, wbp, g.angles + np.pi / 2)
    assert right["wedge_energy_ratio"] < 0.1 < 0.5 < rotated["wedge_energy_ratio"]
    assert wedge_error(obj, obj, g.angles)["wedge_relative_error"] == pytest.approx(0.0, abs=1e-9)


def test_held_out_wedge_check_rewards_filling_the_wedge():
    from tomolearn.recon import fbp
    from tomolearn.trust import held_out_wedge_check

    obj = ellipses_polygons(64, 4)
    sino, g = _wedge_sinogram(obj, 30.0)
    proj = sino[:, None]
    g = g.replace(n_rows=1)
    truth = held_out_wedge_check(proj, g, lambda p, gg: obj[None], widen_deg=20)
    wbp = held_out_wedge_check(proj, g, lambda p, gg: fbp(p, gg), widen_deg=20)
    assert len(truth["held_out_indices"]) == 20 and truth["nrmse"] < 0.05 < wbp["nrmse"]
    with pytest.raises(ValueError, match="widen_deg"):
        held_out_wedge_check(proj, g, lambda p, gg: obj[None], widen_deg=0)


def test_tv_prior_term_draws_towards_the_prior():
    from tomolearn.recon import tv_pdhg

    obj = ellipses_polygons(64, 6)
    sino, g = _wedge_sinogram(obj, 80.0)
    plain = tv_pdhg(sino, g, weight=0.1, n_iter=50)
    np.testing.assert_allclose(tv_pdhg(sino, g, weight=0.1, n_iter=50, prior=obj, prior_weight=0.0), plain)
    anchored = tv_pdhg(sino, g, weight=0.1, n_iter=50, prior=obj, prior_weight=1e4)
    assert psnr(obj, anchored) > 40 > psnr(obj, plain)
    with pytest.raises(ValueError, match="prior"):
        tv_pdhg(sino, g, prior=np.zeros((3, 3)), prior_weight=1.0)
