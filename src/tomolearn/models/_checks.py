"""Argument and input checks shared by the encoder-decoder networks."""
from __future__ import annotations

import torch

from .._checks import fail


def check_architecture(spatial_dims: int, depth: int) -> None:
    if spatial_dims not in (2, 3):
        raise fail("spatial_dims", "2 or 3", spatial_dims)
    if depth < 1:
        raise fail("depth", "an integer >= 1", depth)


def check_input(x: torch.Tensor, spatial_dims: int, depth: int) -> None:
    """Inputs must be ``(B, C, ...)`` with spatial sizes divisible by ``2**depth``."""
    m = 2**depth
    if x.ndim != spatial_dims + 2 or any(s % m for s in x.shape[2:]):
        raise fail("x", f"(B, C, ...) with {spatial_dims} spatial sizes divisible by {m}",
                   f"shape {tuple(x.shape)}", "pad the input or use sliding-window inference")
