"""Losses of the learned recipes."""
from __future__ import annotations

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
