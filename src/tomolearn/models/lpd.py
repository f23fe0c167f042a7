"""Learned Primal-Dual (Adler & Öktem 2018): an unrolled reconstruction network with the physics inside.

Every one of the ``n_iter`` iterations applies the ray transform ``A`` and its adjoint ``A^T``
(through :func:`~tomolearn.physics.base.ray_transform`, so gradients flow through ASTRA) and a
small CNN in the data domain (dual) and one in the image domain (primal), each keeping a
memory of ``memory`` channels of its history. Unlike a post-processing network the output is
fitted to the measured data at every layer, not only guessed from an approximant.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .._checks import fail, positive_int
from ..physics.base import LinearOperator, ray_transform


def operator_norm(op: LinearOperator, n_iter: int = 12) -> float:
    """``||A||_2`` by power iteration from a uniform image, cached on the operator.

    The uniform start lies close to the top singular vector of a ray transform, so a dozen
    iterations agree with a converged estimate to ~0.1 %; training and inference call the same
    function, so the network always sees the operator scaled alike.
    """
    cached = getattr(op, "_lpd_norm", None)
    if cached is not None:
        return cached
    x = np.ones((1, *op.domain_shape), dtype=np.float32)
    s = 0.0
    for _ in range(int(n_iter)):
        x /= max(float(np.linalg.norm(x)), 1e-30)
        x = op.adjoint_batch(op.forward_batch(x))
        s = float(np.linalg.norm(x))
    norm = float(np.sqrt(max(s, 1e-30)))
    try:
        op._lpd_norm = norm
    except AttributeError:  # an operator with __slots__: recompute next time
        pass
    return norm


def _block(in_channels: int, features: int, out_channels: int) -> nn.Sequential:
    """Three 3x3 convolutions with PReLU (Adler & Öktem's primal and dual blocks); last layer starts at zero."""
    last = nn.Conv2d(features, out_channels, 3, padding=1)
    nn.init.zeros_(last.weight)  # the first update is 0: training starts from the initial image
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv2d(in_channels, features, 3, padding=1), nn.PReLU(features),
                         nn.Conv2d(features, features, 3, padding=1), nn.PReLU(features), last)


class LearnedPrimalDual(nn.Module):
    """Learned Primal-Dual reconstruction of sinograms ``(B, 1, A, U)`` to slices ``(B, 1, Y, X)``.

    Parameters
    ----------
    n_iter : int
        Unrolled iterations (Adler & Öktem: 10); each applies ``A`` once and ``A^T`` once.
    features : int
        Channels of the hidden layers of every block (paper: 32).
    memory : int
        Channels of the primal and dual memories (paper: 5).
    checkpointing : bool
        Recompute each iteration's activations in the backward pass (gradient checkpointing):
        memory of one iteration instead of ``n_iter``, at the cost of a second forward pass
        (projections included). For large slices on a CPU.

    Notes
    -----
    Iteration ``k``: ``h <- h + Γ_k(h, A f[1] / ||A||, g / ||A||)``,
    ``f <- f + Λ_k(f, A^T h[0] / ||A||)``; the output is ``f[0]``. The operator is divided by
    its norm (:func:`operator_norm`) so the blocks see the same scale on any geometry. The
    primal memory starts from ``init`` (e.g. FBP of the data) when given, else from zero (the
    paper); the dual memory from zero.

    References
    ----------
    J. Adler and O. Öktem, "Learned Primal-Dual Reconstruction", IEEE Trans. Med. Imaging 37(6),
    1322-1332 (2018).
    """

    def __init__(self, n_iter: int = 10, features: int = 32, memory: int = 5, checkpointing: bool = False) -> None:
        super().__init__()
        self.n_iter = positive_int(n_iter, "n_iter")
        self.memory = positive_int(memory, "memory")
        features = positive_int(features, "features")
        self.checkpointing = bool(checkpointing)
        self.dual = nn.ModuleList(_block(memory + 2, features, memory) for _ in range(self.n_iter))
        self.primal = nn.ModuleList(_block(memory + 1, features, memory) for _ in range(self.n_iter))

    def _iteration(self, k: int, f: torch.Tensor, h: torch.Tensor, g: torch.Tensor, op, norm: float):
        af = ray_transform(f[:, 1:2] if self.memory > 1 else f, op) / norm
        h = h + self.dual[k](torch.cat([h, af, g], dim=1))
        ath = ray_transform(h[:, 0:1], op, adjoint=True) / norm
        f = f + self.primal[k](torch.cat([f, ath], dim=1))
        return f, h

    def forward(self, data: torch.Tensor, op: LinearOperator, init: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruct a batch of sinograms measured by ``op`` (all with the same geometry).

        Parameters
        ----------
        data : Tensor, shape (B, 1, A, U)
            Sinograms (line integrals; any scale, the output has the same).
        op : LinearOperator
            Slice operator ``(Y, X) -> (A, U)`` of the data (e.g. a
            :class:`~tomolearn.physics.projector.RayTransform`); runs on ``data``'s device.
        init : Tensor, shape (B, 1, Y, X), optional
            Initial image (e.g. FBP of ``data``); zero when None.

        Returns
        -------
        Tensor, shape (B, 1, Y, X)

        Raises
        ------
        ValueError
            If ``data`` or ``init`` do not match the operator's shapes.
        """
        if data.ndim != 4 or data.shape[1] != 1 or tuple(data.shape[2:]) != tuple(op.range_shape):
            raise fail("data", f"sinograms of shape (B, 1, {', '.join(map(str, op.range_shape))})",
                       f"shape {tuple(data.shape)}")
        b = data.shape[0]
        vol = tuple(op.domain_shape)
        if init is not None and tuple(init.shape) != (b, 1, *vol):
            raise fail("init", f"images of shape ({b}, 1, {', '.join(map(str, vol))})", f"shape {tuple(init.shape)}")
        norm = operator_norm(op)
        g = data / norm
        f = init.repeat(1, self.memory, 1, 1) if init is not None else data.new_zeros((b, self.memory, *vol))
        h = data.new_zeros((b, self.memory, *op.range_shape))
        for k in range(self.n_iter):
            if self.checkpointing and torch.is_grad_enabled():
                f, h = checkpoint(self._iteration, k, f, h, g, op, norm, use_reentrant=False)
            else:
                f, h = self._iteration(k, f, h, g, op, norm)
        return f[:, 0:1]


__all__ = ["LearnedPrimalDual", "operator_norm"]
