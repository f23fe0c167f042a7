"""Building blocks of the missing-wedge recipe (IRDM, seed 004)."""
import pytest
import torch

from tomolearn.models import ConditionalDiscriminator, UNetPlusPlus
from tomolearn.train.losses import ralsgan_discriminator_loss, ralsgan_generator_loss


@pytest.mark.parametrize("dims, shape", [(2, (2, 1, 32, 32)), (3, (1, 1, 16, 16, 16))])
def test_unetpp_shapes(dims, shape):
    net = UNetPlusPlus(dims, 1, 1, base_channels=4, depth=4 if dims == 2 else 3)
    assert net(torch.zeros(shape)).shape == shape


def test_unetpp_nodes_and_size_check():
    net = UNetPlusPlus(2, 1, 1, base_channels=4, depth=4)
    assert len(net.nodes) == 15  # 5 + 4 + 3 + 2 + 1 nested nodes
    with pytest.raises(ValueError, match="divisible by 16"):
        net(torch.zeros(1, 1, 40, 40))


@pytest.mark.parametrize("dims, shape", [(2, (3, 1, 64, 64)), (3, (1, 1, 32, 32, 32))])
def test_discriminator_scores_map(dims, shape):
    d = ConditionalDiscriminator(dims, base_channels=4)
    out = d(torch.zeros(shape), torch.zeros(shape))
    assert out.shape == (shape[0], 1, *[s // 32 for s in shape[2:]])


def test_ralsgan_losses_on_hand_computed_values():
    d_real = torch.tensor([1.0, 3.0])  # mean 2
    d_fake = torch.tensor([0.0, 2.0])  # mean 1
    # Eq. 1: mean((d_real - 1 - 1)^2) + mean((d_fake - 2 + 1)^2) = 1 + 1
    assert ralsgan_discriminator_loss(d_real, d_fake).item() == pytest.approx(2.0)
    # Eq. 2: mean((d_real - 1 + 1)^2) + mean((d_fake - 2 - 1)^2) = (1 + 9) / 2 + (9 + 1) / 2
    assert ralsgan_generator_loss(d_real, d_fake).item() == pytest.approx(10.0)
    # a discriminator that separates by the margin has zero loss
    assert ralsgan_discriminator_loss(torch.tensor([1.0]), torch.tensor([0.0])).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("adversarial", [True, False])
def test_gan_training_lowers_the_generator_loss(tmp_path, adversarial):
    import numpy as np

    from tomolearn.train import PairedImages, fit
    from tomolearn.train.gan import IRDMModule

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = rng.random((8, 1, 32, 32), dtype=np.float32)
    x = (y + 0.3 * rng.standard_normal(y.shape)).astype(np.float32)  # a degraded input
    module = IRDMModule(2, base_channels=4, depth=2, adversarial=adversarial, lr=3e-3, max_epochs=8)

    def g_loss(m):
        with torch.no_grad():
            m.train()
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            return m.generator_loss(xt, yt, m(xt)).item()

    before = g_loss(module)
    fit(module, PairedImages(x, y, augment=False), None, tmp_path, max_epochs=8, batch_size=4, show_progress=False)
    assert g_loss(module) < before
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert len(ckpt["optimizer_states"]) == (2 if adversarial else 1)
