"""Lightning module for the IRDM conditional GAN (seed 004), with a supervised-only mode."""
from __future__ import annotations

import lightning as L
import torch
from torch import nn

from ..models import ConditionalDiscriminator, UNetPlusPlus
from .losses import ralsgan_discriminator_loss, ralsgan_generator_loss


class IRDMModule(L.LightningModule):
    """U-Net++ generator + conditional discriminator trained with RaLSGAN and a pixel loss.

    One discriminator update per generator update (1:1). Generator: Adam (lr 1e-4, weight
    decay 1e-4, betas 0.9/0.99); discriminator: RMSprop (lr 1e-4, alpha 0.99); both learning
    rates drop x0.1 at 75 % and 92 % of ``max_epochs`` (seed 004: epochs 45 and 55 of 60).
    With ``adversarial=False`` only the pixel loss trains the generator (supervised baseline).

    Parameters
    ----------
    spatial_dims : {2, 3}
    base_channels, depth : int
        Generator shape; the discriminator uses ``base_channels`` too.
    adversarial : bool
    adversarial_weight : float
        Weight of the RaLSGAN generator term next to the L1 pixel loss.
    lr : float
    max_epochs : int
        Length of the step schedule.
    card : dict, optional
        The generator's :class:`~tomolearn.models.card.ModelCard` (as a dict), saved with the
        checkpoint so a ``.ckpt`` is usable for inference as it is.

    References
    ----------
    C. Wang et al., "0.71-A resolution electron tomography enabled by deep learning aided
    information recovery" (IRDM), seed 004, Eq. 1-3 and Supplementary Table 3.
    """

    def __init__(self, spatial_dims: int = 2, base_channels: int = 32, depth: int = 4, adversarial: bool = True,
                 adversarial_weight: float = 0.01, lr: float = 1e-4, max_epochs: int = 60,
                 card: dict | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.ddp_unused_parameters = True  # generator and discriminator steps each leave the other's parameters unused
        self.generator = UNetPlusPlus(spatial_dims, 1, 1, base_channels, depth, residual=True)
        self.discriminator = ConditionalDiscriminator(spatial_dims, 1, 1, base_channels) if adversarial else None
        self.pixel_loss = nn.L1Loss()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)

    def generator_loss(self, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        loss = self.pixel_loss(fake, y)
        if self.discriminator is not None:
            loss = loss + self.hparams.adversarial_weight * ralsgan_generator_loss(
                self.discriminator(x, y), self.discriminator(x, fake))
        return loss

    def training_step(self, batch, _):
        x, y = batch
        opts = self.optimizers()
        opt_g, opt_d = (opts, None) if self.discriminator is None else opts
        fake = self.generator(x)
        if opt_d is not None:  # discriminator step on a detached fake
            d_loss = ralsgan_discriminator_loss(self.discriminator(x, y), self.discriminator(x, fake.detach()))
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            opt_d.step()
            self.log("d_loss", d_loss, prog_bar=True, on_epoch=True, on_step=False, batch_size=x.shape[0])
        g_loss = self.generator_loss(x, y, fake)
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.log("g_loss", g_loss, prog_bar=True, on_epoch=True, on_step=False, batch_size=x.shape[0])
        return g_loss

    def on_train_epoch_end(self) -> None:
        scheds = self.lr_schedulers()
        for s in scheds if isinstance(scheds, list) else [scheds]:
            s.step()

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_l1", self.pixel_loss(self.generator(x), y), prog_bar=True, batch_size=x.shape[0])

    def configure_optimizers(self):
        e = self.hparams.max_epochs
        milestones = sorted({max(1, round(0.75 * e)), max(1, round(0.92 * e))})
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr, betas=(0.9, 0.99), weight_decay=1e-4)
        sched_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones, gamma=0.1)
        if self.discriminator is None:
            return [opt_g], [sched_g]
        opt_d = torch.optim.RMSprop(self.discriminator.parameters(), lr=self.hparams.lr, alpha=0.99)
        sched_d = torch.optim.lr_scheduler.MultiStepLR(opt_d, milestones, gamma=0.1)
        return [opt_g, opt_d], [sched_g, sched_d]
