"""Lightning module of RAPID: NPCC loss, Adam, the seed's polynomial learning-rate decay."""
from __future__ import annotations

import lightning as L
import torch

from .losses import npcc_loss, polynomial_decay


class RAPIDModule(L.LightningModule):
    """Trains :class:`~tomolearn.models.rapid.RAPIDNet` to map approximant patches to the golden standard.

    Parameters
    ----------
    card : dict
        The :class:`~tomolearn.models.card.ModelCard` (as a dict); its ``architecture`` builds the
        network, and it is saved with every checkpoint.
    lr_start, lr_end, power : float
        Polynomial decay of the learning rate (seed 001: 2e-4 -> 5e-5, p = 0.5).
    total_steps : int
        Optimiser steps over which the rate decays (seed: 3e4).

    References
    ----------
    Z. Guo et al., eLight 3, 7 (2023), section 4.4.
    """

    def __init__(self, card: dict, lr_start: float = 2e-4, lr_end: float = 5e-5, power: float = 0.5,
                 total_steps: int = 30000) -> None:
        super().__init__()
        self.save_hyperparameters()
        from ..models.card import ModelCard

        self.net = ModelCard.model_validate(card).architecture.build()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, _):
        x, y = batch
        loss = npcc_loss(self(x), y)
        self.log("train_npcc", loss, prog_bar=True, on_epoch=True, on_step=False, batch_size=x.shape[0])
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_npcc", npcc_loss(self(x), y), prog_bar=True, on_epoch=True, batch_size=x.shape[0])

    def configure_optimizers(self):
        hp = self.hparams
        opt = torch.optim.Adam(self.parameters(), lr=1.0)  # LambdaLR multiplies 1.0 by the schedule
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: polynomial_decay(step, hp.total_steps, hp.lr_start, hp.lr_end, hp.power))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
