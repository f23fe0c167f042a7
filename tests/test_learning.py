import numpy as np
import pytest
import torch

from tomolearn.geometry import ParallelGeometry, uniform_angles
from tomolearn.infer import SelfEnsemble, sliding_window
from tomolearn.models import UNet
from tomolearn.phantoms import ellipses_polygons, holed_disc
from tomolearn.physics import RayTransform
from tomolearn.models.card import Architecture, ModelCard, Pipeline
from tomolearn.models.weights import load_weights, save_weights
from tomolearn.recipes.limited_angle import arc_centre, approximant, rotate_back
from tomolearn.recipes.postprocess import postprocess_slice
from tomolearn.recon import fbp
from tomolearn.train import PairedImages, PostProcessor, fit

CARD = ModelCard(method="learned", architecture=Architecture(name="unet", base_channels=4, depth=2),
                 pipeline=Pipeline(approximant="fbp", voxel_size=1.0, grid_shape=(32, 32), scale=1.0, window=32))


@pytest.mark.parametrize("dims, shape", [(2, (2, 1, 32, 32)), (3, (1, 1, 16, 16, 16))])
def test_unet_shapes(dims, shape):
    net = UNet(dims, 1, 1, base_channels=4, depth=2)
    assert net(torch.zeros(shape)).shape == shape


def test_unet_rejects_indivisible_sizes():
    with pytest.raises(ValueError, match="divisible"):
        UNet(2, 1, 1, 4, depth=3)(torch.zeros(1, 1, 20, 20))


def test_phantoms_reproducible_by_seed():
    assert np.array_equal(ellipses_polygons(64, 3), ellipses_polygons(64, 3))
    assert not np.array_equal(holed_disc(64, 3), holed_disc(64, 4))


def test_rotate_back_undoes_canonical_rotation():
    x = np.zeros((96, 96), np.float32)
    x[20:30, 60:80] = 1
    x[50:70, 30:35] = 0.5
    g = ParallelGeometry(uniform_angles(180), 96)
    b = RayTransform(g).forward(x)
    ref = fbp(b, g)
    back = rotate_back(fbp(b, g.replace(angles=g.angles - 0.6)), 0.6)
    assert np.corrcoef(ref[10:-10, 10:-10].ravel(), back[10:-10, 10:-10].ravel())[0, 1] > 0.99


def test_arc_centre_wraps():
    g = ParallelGeometry(uniform_angles(180), 8)
    idx = g.arc_indices(np.deg2rad(60), np.deg2rad(150))
    assert np.degrees(arc_centre(g.angles[idx], np.pi)) == pytest.approx(0.0, abs=0.6) or \
        np.degrees(arc_centre(g.angles[idx], np.pi)) == pytest.approx(180.0, abs=0.6)


def _tiny_pairs(n=12, size=32):
    g = ParallelGeometry(uniform_angles(60), size)
    arc = g.arc(np.pi / 3, -np.pi / 6)
    op = RayTransform(arc)
    ph = np.stack([ellipses_polygons(size, s) for s in range(n)])
    x = np.stack([approximant(op.forward(p), arc)[0] for p in ph])
    return x[:, None], ph[:, None], arc


def test_training_lowers_loss_resumes_and_infers(tmp_path):
    x, y, arc = _tiny_pairs()
    module = PostProcessor(2, 1, base_channels=4, depth=2, lr=3e-3, max_epochs=2, card=CARD.model_dump(mode="json"))
    train = PairedImages(x, y, flips=(-2,))
    def loss(m):  # batch statistics in both cases: running BN stats need more steps to settle
        with torch.no_grad():
            return torch.nn.functional.mse_loss(m.train()(torch.from_numpy(x)), torch.from_numpy(y)).item()

    before = loss(module)
    ckpt = fit(module, train, PairedImages(x[:4], y[:4], augment=False), tmp_path, max_epochs=2, batch_size=4,
               show_progress=False)
    net, card = load_weights(ckpt)  # a checkpoint is usable for inference as it is (card inside)
    assert card == CARD
    assert loss(net) < before
    steps_2 = torch.load(ckpt, weights_only=False)["global_step"]  # after 2 epochs
    # resume: a longer run continues from last.ckpt instead of starting over
    module2 = PostProcessor(2, 1, base_channels=4, depth=2, lr=3e-3, max_epochs=3, card=CARD.model_dump(mode="json"))
    fit(module2, train, None, tmp_path, max_epochs=3, batch_size=4, show_progress=False)
    assert torch.load(ckpt, weights_only=False)["global_step"] == steps_2 * 3 // 2
    # learned reconstruction of a scan with an arbitrary arc start
    g = ParallelGeometry(uniform_angles(60), 32).arc(np.pi / 3, 1.0)
    net, card = load_weights(ckpt)
    out = postprocess_slice(net, card, RayTransform(g).forward(y[0, 0]), g)
    assert out.shape == (32, 32) and np.isfinite(out).all()
    # exported as safetensors + card, the same network gives the same output
    path = save_weights(net, card, tmp_path / "model.safetensors", half=False)
    assert (tmp_path / "model.json").exists()
    net2, card2 = load_weights(path)
    assert card2 == card
    assert np.allclose(postprocess_slice(net2, card2, RayTransform(g).forward(y[0, 0]), g), out)


def test_sliding_window_matches_whole_image():
    torch.manual_seed(0)
    net = UNet(2, 1, 1, 4, depth=2).eval()
    img = np.random.default_rng(0).random((1, 64, 64), dtype=np.float32)
    whole = net(torch.from_numpy(img[None]))[0, 0].detach().numpy()
    tiled = sliding_window(net, img, window=48, overlap=0.5, multiple=4)
    inner = slice(12, -12)
    assert np.abs(tiled[inner, inner] - whole[inner, inner]).mean() < 0.05 * np.abs(whole).mean()


def test_self_ensemble_is_the_mean_over_the_eight_flips_and_turns():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 1, 3, padding=1)  # not equivariant: its kernel has a direction
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ens = SelfEnsemble(net)(x)
        by_hand = sum(torch.rot90(net(torch.rot90(x, k, dims=(-2, -1))), -k, dims=(-2, -1))
                      + torch.rot90(net(torch.rot90(x, k, dims=(-2, -1)).flip(-1)).flip(-1), -k, dims=(-2, -1))
                      for k in range(4)) / 8
        assert ens.shape == (2, 1, 8, 8) and torch.allclose(ens, by_hand, atol=1e-6)
        assert not torch.allclose(ens, net(x), atol=1e-3)
        sym = torch.nn.Conv2d(3, 1, 1)  # pointwise: every flip gives the same answer
        assert torch.allclose(SelfEnsemble(sym)(x), sym(x), atol=1e-6)


def test_load_weights_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights"):
        load_weights(tmp_path / "none.ckpt")
    bad = tmp_path / "bad.ckpt"
    bad.write_text("nope")
    with pytest.raises(ValueError, match="tomolearn weights"):
        load_weights(bad)
    net = CARD.architecture.build()
    path = save_weights(net, CARD, tmp_path / "w.safetensors")
    with pytest.raises(FileExistsError, match="exists"):
        save_weights(net, CARD, path)
    (tmp_path / "w.json").unlink()
    with pytest.raises(FileNotFoundError, match="model card"):
        load_weights(path)
    with pytest.raises(ValueError, match="safetensors"):
        save_weights(net, CARD, tmp_path / "w.pt")
    assert not list(tmp_path.glob(".*part"))  # atomic writes leave nothing behind


class _InterruptedAtSecondEpoch(PairedImages):
    def set_epoch(self, epoch):
        if epoch == 1:
            raise RuntimeError("interrupted")


def test_interrupted_training_leaves_a_checkpoint_to_resume(tmp_path):
    x, y, _ = _tiny_pairs()
    module = PostProcessor(2, 1, base_channels=4, depth=2, max_epochs=3)
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(module, _InterruptedAtSecondEpoch(x, y), PairedImages(x[:4], y[:4], augment=False), tmp_path,
            max_epochs=3, batch_size=4, show_progress=False)
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert ckpt.exists(), "a checkpoint is written after every epoch, not only at the end"
    step = torch.load(ckpt, weights_only=False)["global_step"]
    assert step > 0
    fit(PostProcessor(2, 1, base_channels=4, depth=2, max_epochs=3), PairedImages(x, y), None, tmp_path,
        max_epochs=3, batch_size=4, show_progress=False)
    assert torch.load(ckpt, weights_only=False)["global_step"] == 3 * step
