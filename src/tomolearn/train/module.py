"""Lightning module for supervised post-processing of a classical approximant."""
from __future__ import annotations

import lightning as L
import torch
from torch import nn

from ..models import UNet


class PostProcessor(L.LightningModule):
    """Residual U-Net trained to map an approximant to the reference (FBPConvNet style).

    Parameters
    ----------
    spatial_dims, in_channels, base_channels, depth : int
        Network shape (see :class:`~tomolearn.models.UNet`).
    lr : float
        Adam learning rate, annealed by a cosine schedule over ``max_epochs``.
    loss : {"mse", "l1"}
    max_epochs : int
        Length of the cosine schedule.
    card : dict, optional
        The network's :class:`~tomolearn.models.card.ModelCard` (as a dict): approximant, grid,
        normalisation (``pipeline.scale`` divides inputs and targets), training data; saved
        with the checkpoint so inference applies the same pipeline.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, base_channels: int = 32,
                 depth: int = 4, lr: float = 1e-3, loss: str = "mse", max_epochs: int = 20,
                 card: dict | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = UNet(spatial_dims, in_channels, 1, base_channels, depth, residual=True)
        self.loss_fn = nn.MSELoss() if loss == "mse" else nn.L1Loss()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch, stage: str):
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log(f"{stage}_loss", loss, prog_bar=True, on_epoch=True, on_step=False, batch_size=x.shape[0])
        return loss

    def training_step(self, batch, _):
        return self._step(batch, "train")

    def validation_step(self, batch, _):
        return self._step(batch, "val")

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(self.hparams.max_epochs, 1))
        return {"optimizer": opt, "lr_scheduler": sched}
