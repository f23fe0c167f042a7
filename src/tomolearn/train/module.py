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
    dropout : float
        The U-Net's channel dropout (Monte-Carlo dropout at inference; 0: none).
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, base_channels: int = 32,
                 depth: int = 4, lr: float = 1e-3, loss: str = "mse", max_epochs: int = 20,
                 card: dict | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = UNet(spatial_dims, in_channels, 1, base_channels, depth, residual=True, dropout=dropout)
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


class CardModule(L.LightningModule):
    """Trains the network a model card describes, image to image, with Adam.

    The card (saved with every checkpoint) is all inference needs to rebuild the network.

    Parameters
    ----------
    card : dict
        A :class:`~tomolearn.models.card.ModelCard` as a dict; its architecture builds the network.
    loss : {"l1", "mse", "inverse_psnr"}
        L1 (seed 003's RRDB pixel loss), MSE (Noise2Inverse) or 1/PSNR (seed 002).
    lr : float
        Adam learning rate.
    max_epochs : int, optional
        Cosine annealing of the rate over this many epochs; None keeps it constant.
    """

    LOSSES = ("l1", "mse", "inverse_psnr")

    def __init__(self, card: dict, loss: str = "l1", lr: float = 1e-3, max_epochs: int | None = None) -> None:
        super().__init__()
        if loss not in self.LOSSES:
            raise ValueError(f"loss: expected one of {', '.join(self.LOSSES)}, got {loss!r}")
        self.save_hyperparameters()
        from ..models.card import ModelCard

        self.net = ModelCard.model_validate(card).architecture.build()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from .losses import inverse_psnr_loss

        if target.shape[1] == pred.shape[1] + 1:
            # the last channel weighs the pixels (e.g. Noise2Inverse validation tiles in their context)
            target, weight = target[:, :-1], target[:, -1:]
            err = (pred - target) ** 2 if self.hparams.loss == "mse" else torch.abs(pred - target)
            return torch.sum(err * weight) / torch.clamp(torch.sum(weight) * pred.shape[1], min=1.0)
        if self.hparams.loss == "inverse_psnr":
            return inverse_psnr_loss(pred, target)
        if self.hparams.loss == "mse":
            return torch.mean((pred - target) ** 2)
        return torch.mean(torch.abs(pred - target))

    def training_step(self, batch, _):
        x, y = batch
        loss = self._loss(self(x), y)
        self.log(f"train_{self.hparams.loss}", loss, prog_bar=True, on_epoch=True, on_step=False,
                 batch_size=x.shape[0])
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log(f"val_{self.hparams.loss}", self._loss(self(x), y), prog_bar=True, on_epoch=True,
                 batch_size=x.shape[0])

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        if not self.hparams.max_epochs:
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(self.hparams.max_epochs), 1))
        return {"optimizer": opt, "lr_scheduler": sched}
