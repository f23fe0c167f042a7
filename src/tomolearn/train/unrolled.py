"""Lightning module for unrolled reconstruction networks (Learned Primal-Dual)."""
from __future__ import annotations

import lightning as L
import torch

from ..geometry import FanGeometry, ParallelGeometry
from .losses import mean_log_mse_loss


def geometry_from_record(record: dict, angles):
    """A slice geometry from the template a model card records (``training["geometry"]``) and angles."""
    rec = dict(record)
    kind = rec.pop("kind")
    cls = FanGeometry if kind == "fan" else ParallelGeometry
    rec["volume_shape"] = tuple(rec["volume_shape"])
    return cls(angles=angles, **rec)


def geometry_record(geometry) -> dict:
    """The template of a slice geometry as plain values (angles left out), for a model card."""
    rec = {"kind": "fan" if isinstance(geometry, FanGeometry) else "parallel",
           "n_detector": int(geometry.n_detector), "detector_spacing": float(geometry.detector_spacing),
           "volume_shape": [int(s) for s in geometry.volume_shape], "voxel_size": float(geometry.voxel_size),
           "unit": geometry.unit, "cor_offset": float(geometry.cor_offset)}
    if isinstance(geometry, FanGeometry):
        rec.update(source_origin=float(geometry.source_origin), origin_detector=float(geometry.origin_detector))
    return rec


class UnrolledModule(L.LightningModule):
    """Trains the unrolled network a model card describes on :class:`~tomolearn.train.unrolled_library.UnrolledLibrary` items.

    Parameters
    ----------
    card : dict
        A :class:`~tomolearn.models.card.ModelCard` as a dict; ``training["geometry"]`` is the
        acquisition template the items' angles complete.
    lr : float
        Adam learning rate (Adler & Öktem: 1e-3, beta2 = 0.99), cosine-annealed over ``max_epochs``.
    max_epochs : int
    checkpointing : bool
        Gradient checkpointing of the unrolled iterations (less memory, one more forward pass).
    clip : float
        Gradient-norm clipping (the paper clips at 1).
    loss : {"mse", "psnr"}
        ``mse``: the pixel mean of the squared error over the minibatch (the paper). ``psnr``:
        :func:`~tomolearn.train.losses.mean_log_mse_loss`, so a library drawing arcs from 30°
        to 150° trains the wide arcs (errors ~20x smaller) as much as the narrow ones; with
        ``mse`` the network learns the narrow arcs and may degrade the wide ones.

    Notes
    -----
    The loader hands one item per step (``batch_size=1``): each item is a minibatch sharing one
    acquisition, since the network applies that acquisition's ray transform.
    """

    LOSSES = ("mse", "psnr")

    def __init__(self, card: dict, lr: float = 1e-3, max_epochs: int = 10, checkpointing: bool = False,
                 clip: float = 1.0, loss: str = "mse") -> None:
        super().__init__()
        if loss not in self.LOSSES:
            raise ValueError(f"loss: expected one of {', '.join(self.LOSSES)}, got {loss!r}")
        self.save_hyperparameters()
        from ..models.card import ModelCard

        self.net = ModelCard.model_validate(card).architecture.build()
        self.net.checkpointing = bool(checkpointing)
        self._template = card["training"]["geometry"]

    def operator(self, angles: torch.Tensor):
        from ..physics.projector import RayTransform

        return RayTransform(geometry_from_record(self._template, angles.detach().cpu().numpy()))

    def forward(self, data, op, init=None):
        return self.net(data, op, init)

    def _loss(self, batch):
        data, init, target, angles = (t[0] for t in batch)  # the loader's leading item axis
        pred = self(data, self.operator(angles), init)
        if self.hparams.loss == "psnr":
            return mean_log_mse_loss(pred, target), data.shape[0]
        return torch.mean((pred - target) ** 2), data.shape[0]

    def training_step(self, batch, _):
        loss, n = self._loss(batch)
        self.log(f"train_{self.hparams.loss}", loss, prog_bar=True, on_epoch=True, on_step=False, batch_size=n)
        return loss

    def validation_step(self, batch, _):
        loss, n = self._loss(batch)
        self.log(f"val_{self.hparams.loss}", loss, prog_bar=True, on_epoch=True, batch_size=n)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self.clip_gradients(optimizer, gradient_clip_val=self.hparams.clip, gradient_clip_algorithm="norm")

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, betas=(0.9, 0.99))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(self.hparams.max_epochs), 1))
        return {"optimizer": opt, "lr_scheduler": sched}


__all__ = ["UnrolledModule", "geometry_from_record", "geometry_record"]
