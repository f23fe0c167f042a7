"""Losses of the learned recipes."""
from __future__ import annotations

import math

import torch


def ralsgan_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Relativistic average least-squares discriminator loss (seed 004, Eq. 1).

    ``mean[(D(x_real) - E[D(x_fake)] - 1)^2] + mean[(D(x_fake) - E[D(x_real)] + 1)^2]``, the
    expectations taken over the minibatch (and score map).

    References
    ----------
    A. Jolicoeur-Martineau, "The relativistic discriminator: a key element missing from
    standard GAN", ICLR 2019; X. Mao et al., LSGAN, ICCV 2017.
    """
    return ((d_real - d_fake.mean() - 1) ** 2).mean() + ((d_fake - d_real.mean() + 1) ** 2).mean()


def ralsgan_generator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Relativistic average least-squares generator loss (seed 004, Eq. 2): the roles swapped."""
    return ((d_real - d_fake.mean() + 1) ** 2).mean() + ((d_fake - d_real.mean() - 1) ** 2).mean()


def npcc_loss(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Negative Pearson correlation coefficient, averaged over the batch (seed 001's training loss).

    ``NPCC = −Σ(a−ā)(b−b̄) / sqrt(Σ(a−ā)² Σ(b−b̄)²)`` per item of shape ``(B, ...)``; in [−1, 1],
    −1 for a perfect positive linear match. Blind to the scale and offset of the prediction (a
    calibration restores them, see :func:`tomolearn.workflow.train_rapid.affine_calibration`).

    References
    ----------
    Z. Guo et al., eLight 3, 7 (2023), Eq. 12 (PCC); the NPCC loss of the RAPID training.
    """
    a = prediction.reshape(prediction.shape[0], -1)
    b = target.reshape(target.shape[0], -1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    pcc = (a * b).sum(1) / torch.sqrt((a * a).sum(1) * (b * b).sum(1) + eps)
    return -pcc.mean()


def inverse_psnr_loss(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
                      eps: float = 1e-10) -> torch.Tensor:
    """``1 / PSNR`` of a batch (seed 002's objective), with ``PSNR = 10 log10(I_max² / MSE)``.

    The MSE is taken over the whole batch (floored at ``eps``). 1/PSNR has a pole at PSNR = 0
    (MSE = I_max², easily reached by an untrained network), so below 1 dB the loss continues
    as the tangent line at 1 dB: continuous, increasing in the MSE and with a gradient
    everywhere. With data min–max normalised to [0, 1] (``I_max = 1``) an MSE of 0.01 gives
    20 dB and a loss of 0.05.

    References
    ----------
    X. Yang et al., "Low-dose x-ray tomography through a deep convolutional neural network",
    Sci. Rep. 8, 2575 (2018), "CNN architecture" (the seed prints ``I_max`` for ``I_max²``; with
    ``I_max = 1`` they agree).
    """
    peak = float(data_range) ** 2
    mse = torch.mean((prediction - target) ** 2).clamp_min(eps)
    m1 = peak * 10 ** -0.1  # the MSE of a 1 dB PSNR
    psnr = 10.0 * torch.log10(peak / torch.minimum(mse, torch.as_tensor(m1, dtype=mse.dtype)))
    slope = 10.0 / (math.log(10.0) * m1)  # d(1/PSNR)/dMSE at 1 dB
    return torch.where(mse <= m1, 1.0 / psnr, 1.0 + slope * (mse - m1))


def mean_log_mse_loss(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """``mean_b 10 log10 MSE_b`` over the objects ``b`` of a batch ``(B, ...)``: minus their mean PSNR, up to a constant.

    Its gradient weighs every object by ``1 / MSE_b``, so objects with small errors (e.g. wide
    arcs of a library drawing arcs from 30° to 150°) train as much as those with large ones;
    with the pixel MSE the large errors dominate. Each MSE is floored at ``eps`` (a perfect
    object has no finite log).
    """
    mse = ((prediction - target) ** 2).flatten(1).mean(1).clamp_min(eps)
    return 10.0 * torch.log10(mse).mean()


def polynomial_decay(step: int, total_steps: int, lr_start: float = 2e-4, lr_end: float = 5e-5,
                     power: float = 0.5) -> float:
    """Seed 001's learning rate: ``(lr0 − lr_end)(1 − step/T)^p + lr_end``, held at ``lr_end`` after ``T``.

    (The seed prints ``(lr(0) − lr(end)) (1 − step/T)^p``; ``lr_end`` is added back so the rate
    actually ends at ``lr_end``, as polynomial-decay schedules do.)
    """
    frac = min(max(step, 0), total_steps) / max(total_steps, 1)
    return (lr_start - lr_end) * (1 - frac) ** power + lr_end
