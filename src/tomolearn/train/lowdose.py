"""Training data and Lightning module of the low-dose recipe (seed 002 + Noise2Inverse)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import fail
from .augment import dihedral


def patch_starts(length: int, patch: int, stride: int) -> list[int]:
    """Starts of overlapping windows of ``patch`` along ``length`` with ``stride`` (the last one flush)."""
    if length <= patch:
        return [0]
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


class PairedProjectionPatches(Dataset):
    """Overlapping patches of low-dose / high-dose projection pairs, each in its 8 orientations.

    Parameters
    ----------
    low : ndarray, shape (P, V, U) or (P, C, V, U)
        Normalised low-dose projections of the ``P`` paired angles (pad them to at least
        ``patch`` first); with ``C`` channels, each with its neighbours in angle, itself in the
        middle channel (:func:`tomolearn.recipes.lowdose.network_inputs`).
    high : ndarray, shape (P, V, U)
        The high-dose projections of the same angles.
    patch : int
        Patch side (the network's fixed input).
    stride : int
        Step between patches (seed: overlapping patches, "10^5 small images" from a few projections).
    samples : int, optional
        Patches per epoch, drawn at random (position on the stride grid and orientation; new
        ones each epoch): the cost of an epoch no longer grows with the projection size. None:
        every patch in every orientation.
    seed : int
    noise_model : PairNoiseModel, optional
        Noise measured on the pairs (:class:`tomolearn.train.noise_model.PairNoiseModel`), of
        this patch size.
    resample : float
        Share of patches whose input (its middle channel) is the high-dose patch plus a fresh
        draw of ``noise_model`` instead of the measured low-dose patch (0: the seed's training).

    Raises
    ------
    ValueError
        If the stacks differ in shape or are smaller than a patch, or ``resample`` is outside
        [0, 1] or set without a noise model of the patch size.

    References
    ----------
    X. Yang et al., Sci. Rep. 8, 2575 (2018), "Normalization and patch extraction".
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, patch: int, stride: int, samples: int | None = None,
                 seed: int = 0, noise_model=None, resample: float = 0.0) -> None:
        low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
        given = low.shape
        low = low[:, None] if low.ndim == 3 else low
        if low.ndim != 4 or high.ndim != 3 or low.shape[:1] + low.shape[2:] != high.shape or low.shape[1] % 2 == 0:
            raise fail("pairs", "low-dose (P, V, U) or (P, odd C, V, U) and high-dose (P, V, U) stacks of the same "
                                "angles and size", f"shapes {given} and {high.shape}")
        if min(low.shape[2:]) < patch:
            raise fail("patch", f"at most the projections' size {low.shape[1:]}", patch, "pad the projections")
        self.low, self.high, self.patch = low, high, int(patch)
        self.index = [(p, r, c) for p in range(low.shape[0]) for r in patch_starts(low.shape[2], patch, stride)
                      for c in patch_starts(low.shape[3], patch, stride)]
        self.samples, self.seed, self.epoch = samples, int(seed), 0
        if not 0.0 <= resample <= 1.0:
            raise fail("resample", "a share in [0, 1]", resample)
        if resample and (noise_model is None or noise_model.patch != self.patch):
            raise fail("noise_model", f"a noise model of patch {self.patch} when resample > 0",
                       "none" if noise_model is None else f"patch {noise_model.patch}")
        self.noise_model, self.resample = noise_model, float(resample)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return 8 * len(self.index) if self.samples is None else int(self.samples)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        if self.samples is None:
            j, k = divmod(i, 8)
        else:
            j, k = int(rng.integers(len(self.index))), int(rng.integers(8))
        p, r, c = self.index[j]
        rows, cols = slice(r, r + self.patch), slice(c, c + self.patch)
        high = self.high[p, rows, cols]
        low = self.low[p, :, rows, cols]
        if self.resample and rng.random() < self.resample:
            low = low.copy()
            low[low.shape[0] // 2] = self.noise_model.sample(high, rng)
        return torch.from_numpy(dihedral(low, k)), torch.from_numpy(dihedral(high, k)[None])


def held_out_tiles(shape: tuple[int, int, int], tile: int, share: float, seed: int = 0) -> np.ndarray:
    """Square tiles of a slice stack held out of self-supervised training, as a boolean mask.

    The slices are cut into a grid of ``tile`` × ``tile`` squares and a share of them, chosen
    at random over the whole stack, is held out: the training patches never overlap them, and the
    Noise2Inverse loss on them is a validation loss (see :class:`Noise2InverseValidation`).

    Parameters
    ----------
    shape : tuple of int
        ``(Z, Y, X)`` of the slice stack.
    tile : int
        Tile side in pixels (the training patch side).
    share : float
        Share of the tiles held out, in [0, 0.5].
    seed : int

    Returns
    -------
    ndarray of bool, shape (Z, Y, X)
        True on held-out pixels; all False when the slices hold fewer than 8 tiles in all
        (too small to spare any).

    Raises
    ------
    ValueError
        If ``share`` is outside [0, 0.5] or ``tile < 1``.
    """
    if not 0.0 <= float(share) <= 0.5:
        raise fail("validation", "a share of tiles in [0, 0.5]", share)
    if int(tile) < 1:
        raise fail("tile", "a positive tile side in pixels", tile)
    Z, Y, X = (int(n) for n in shape)
    ny, nx = Y // tile, X // tile
    mask = np.zeros((Z, Y, X), bool)
    n_hold = int(round(share * Z * ny * nx))
    if Z * ny * nx < 8 or n_hold < 1:
        return mask
    rng = np.random.default_rng([seed, 7])
    for t in rng.choice(Z * ny * nx, n_hold, replace=False):
        z, rc = divmod(int(t), ny * nx)
        r, c = divmod(rc, nx)
        mask[z, r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = True
    return mask


def _free_corners(mask: np.ndarray, patch: tuple[int, int]) -> list[np.ndarray]:
    """Per slice, the top-left corners ``(r, c)`` whose patch does not touch a True pixel of ``mask``."""
    py, px = patch
    out = []
    for m in mask:
        s = np.pad(np.cumsum(np.cumsum(m.astype(np.int64), 0), 1), ((1, 0), (1, 0)))
        hits = s[py:, px:] - s[:-py, px:] - s[py:, :-px] + s[:-py, :-px]
        out.append(np.argwhere(hits == 0))
    return out


class Noise2InversePatches(Dataset):
    """Random patches of Noise2Inverse training pairs drawn from sub-reconstructions of one scan.

    Item: input = the mean of ``K − 1`` sub-reconstructions, target = the remaining one, over a
    random patch, slice, held-out split and orientation. Noise in different angle subsets is
    independent, so the network that predicts one subset's reconstruction from the others
    learns the noise-free image (the "X:1" strategy).

    Parameters
    ----------
    subs : ndarray, shape (K, Z, Y, X)
        Reconstructions of ``K`` disjoint angle subsets, scaled.
    patch : int
        Patch side (clipped to the slice).
    samples : int
        Patches per epoch.
    seed : int
    exclude : ndarray of bool, shape (Z, Y, X), optional
        Pixels no training patch may touch (the validation tiles of :func:`held_out_tiles`).

    References
    ----------
    A. A. Hendriksen, D. M. Pelt, K. J. Batenburg, "Noise2Inverse: self-supervised deep
    convolutional denoising for tomography", IEEE Trans. Comput. Imaging 6, 1320 (2020).
    """

    def __init__(self, subs: np.ndarray, patch: int, samples: int, seed: int = 0,
                 exclude: np.ndarray | None = None) -> None:
        subs = np.asarray(subs, np.float32)
        if subs.ndim != 4 or subs.shape[0] < 2:
            raise fail("subs", "sub-reconstructions (K >= 2, Z, Y, X)", f"shape {subs.shape}")
        self.subs = subs
        self.total = subs.sum(0)
        self.patch = (min(patch, subs.shape[2]), min(patch, subs.shape[3]))
        self.samples, self.seed, self.epoch = int(samples), int(seed), 0
        self.corners = None
        if exclude is not None and np.any(exclude):
            if exclude.shape != subs.shape[1:]:
                raise fail("exclude", f"a mask of shape {subs.shape[1:]}", f"shape {exclude.shape}")
            self.corners = _free_corners(exclude, self.patch)
            self.slices = [z for z, c in enumerate(self.corners) if len(c)]
            if not self.slices:
                raise fail("exclude", "held-out tiles that leave room for a training patch", "no free patch")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        K, Z, Y, X = self.subs.shape
        if self.corners is None:
            j, z = int(rng.integers(K)), int(rng.integers(Z))
            r, c = int(rng.integers(Y - self.patch[0] + 1)), int(rng.integers(X - self.patch[1] + 1))
        else:
            j, z = int(rng.integers(K)), self.slices[int(rng.integers(len(self.slices)))]
            r, c = (int(v) for v in self.corners[z][int(rng.integers(len(self.corners[z])))])
        s = (slice(r, r + self.patch[0]), slice(c, c + self.patch[1]))
        target = self.subs[j, z][s]
        source = (self.total[z][s] - target) / (K - 1)
        k = int(rng.integers(8)) if self.patch[0] == self.patch[1] else int(rng.integers(2)) * 2
        return torch.from_numpy(dihedral(source, k)[None]), torch.from_numpy(dihedral(target, k)[None])


class Noise2InverseValidation(Dataset):
    """The held-out tiles as Noise2Inverse pairs: a self-supervised validation set.

    Item: input = the mean of ``K − 1`` sub-reconstructions over one held-out tile (with
    ``context`` pixels of its surroundings), target = the remaining one, for every tile and
    split. The target's noise is independent of the input's, so the expected loss is the
    network's error against the noise-free image plus a constant (the target's noise
    variance): its minimum over epochs picks the weights that denoise best, before the
    network starts to reproduce the noise of the few slices it trains on.

    Parameters
    ----------
    subs : ndarray, shape (K, Z, Y, X)
    mask : ndarray of bool, shape (Z, Y, X)
        Held-out tiles (:func:`held_out_tiles`).
    tile : int
        Their side.
    context : int
        Pixels of input around each tile (the target is scored on the tile only).

    References
    ----------
    A. A. Hendriksen et al., IEEE Trans. Comput. Imaging 6, 1320 (2020).
    """

    def __init__(self, subs: np.ndarray, mask: np.ndarray, tile: int, context: int = 16) -> None:
        self.subs = np.asarray(subs, np.float32)
        self.total = self.subs.sum(0)
        K, Z, Y, X = self.subs.shape
        self.tile = int(tile)
        # the window must keep the tile's size class (a U-Net needs multiples of 2**depth)
        self.context = int(context) if min(Y, X) >= self.tile + 2 * int(context) else 0
        self.items = []
        for z in range(Z):
            for r in range(0, Y - self.tile + 1, self.tile):
                for c in range(0, X - self.tile + 1, self.tile):
                    if mask[z, r, c]:
                        self.items += [(j, z, r, c) for j in range(K)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        j, z, r, c = self.items[i]
        K, _, Y, X = self.subs.shape
        t, m = self.tile, self.context
        r0, c0 = min(max(r - m, 0), max(Y - t - 2 * m, 0)), min(max(c - m, 0), max(X - t - 2 * m, 0))
        win = (slice(r0, r0 + t + 2 * m), slice(c0, c0 + t + 2 * m))
        source = (self.total[z][win] - self.subs[j, z][win]) / (K - 1)
        weight = np.zeros_like(source)
        weight[r - r0:r - r0 + t, c - c0:c - c0 + t] = 1.0
        target = np.where(weight > 0, self.subs[j, z][win], 0.0).astype(np.float32)
        return torch.from_numpy(source[None]), torch.from_numpy(np.stack([target, weight]))


__all__ = ["Noise2InversePatches", "Noise2InverseValidation", "PairedProjectionPatches", "held_out_tiles",
           "patch_starts"]
