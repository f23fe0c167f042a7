"""Paired (approximant, target) image datasets with random patches and dihedral augmentation."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import fail


class PairedImages(Dataset):
    """Pairs of 2D images ``(N, C, H, W)`` inputs and ``(N, 1, H, W)`` targets.

    Parameters
    ----------
    inputs : ndarray, shape (N, C, H, W)
    targets : ndarray, shape (N, 1, H, W)
    patch : int, optional
        Random square crops of this size (None: whole images).
    augment : bool
        Random flips (an up-down flip keeps a canonical missing wedge's symmetry axis; see
        ``flips``).
    flips : tuple of int
        Axes (-2 rows, -1 columns) that may be flipped without changing the data's meaning.
    seed : int
        Seeds the crops and flips (with the worker id and epoch mixed in).
    """

    def __init__(self, inputs, targets, patch: int | None = None, augment: bool = True,
                 flips: tuple[int, ...] = (-2, -1), seed: int = 0) -> None:
        x = np.asarray(inputs, dtype=np.float32)
        y = np.asarray(targets, dtype=np.float32)
        if x.ndim != 4 or y.ndim != 4 or x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
            raise fail("inputs/targets", "(N, C, H, W) arrays with equal N, H, W",
                       f"shapes {x.shape} and {y.shape}")
        if patch is not None and (patch > x.shape[-1] or patch > x.shape[-2]):
            raise fail("patch", f"a crop size <= the image size {x.shape[-2:]}", patch)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.patch, self.augment, self.flips = patch, augment, flips
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int):
        x, y = self.x[i], self.y[i]
        if self.patch:
            h, w = x.shape[-2:]
            r = int(self.rng.integers(0, h - self.patch + 1))
            c = int(self.rng.integers(0, w - self.patch + 1))
            x = x[..., r:r + self.patch, c:c + self.patch]
            y = y[..., r:r + self.patch, c:c + self.patch]
        if self.augment:
            for ax in self.flips:
                if self.rng.random() < 0.5:
                    x, y = x.flip(ax), y.flip(ax)
        return x.contiguous(), y.contiguous()
