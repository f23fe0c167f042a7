"""Region splits and 3D patch pairs: train on one part of a sample, test on the rest (seed 001).

A split is a plane across one axis of the volume (``z<0.8``: training patches lie wholly in the
first 80 % of Z); the test region is the other side. No training patch reaches across the
plane, so no golden-standard voxel of the test region is ever seen in training; test patches
(listed where the test side holds whole ones) start at the plane.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import fail

AXES = {"z": 0, "y": 1, "x": 2}


def parse_region(text: str) -> tuple[str, str, float]:
    """``"z<0.8"`` -> ``("z", "<", 0.8)``: the training side of a plane at a fraction of an axis.

    Raises
    ------
    ValueError
        Unless ``text`` is ``AXIS<F`` or ``AXIS>F`` with AXIS in z, y, x and 0 < F < 1.
    """
    m = re.fullmatch(r"\s*([zyx])\s*([<>])\s*([0-9]*\.?[0-9]+)\s*", str(text))
    if not m or not 0 < float(m.group(3)) < 1:
        raise fail("--train-region", "AXIS<FRACTION or AXIS>FRACTION, e.g. z<0.8 (axis z, y or x; 0 < fraction < 1)",
                   repr(text))
    return m.group(1), m.group(2), float(m.group(3))


def patch_starts(length: int, patch: int, overlap: float = 0.5, lo: int = 0, hi: int | None = None) -> list[int]:
    """Starts of windows of ``patch`` voxels with ``overlap`` inside ``[lo, hi)`` (the last one flush with ``hi``)."""
    hi = length if hi is None else hi
    if hi - lo < patch:
        return []
    step = max(1, int(round(patch * (1 - overlap))))
    starts = list(range(lo, hi - patch + 1, step))
    if starts[-1] != hi - patch:
        starts.append(hi - patch)
    return starts


@dataclass(frozen=True)
class RegionSplit:
    """Where training and test patches of a volume lie (written to the run folder as ``split.json``)."""

    region: str
    axis: int
    shape: tuple[int, int, int]
    patch: tuple[int, int, int]
    overlap: float
    train: list[tuple[int, int, int]]
    test: list[tuple[int, int, int]]
    train_range: tuple[int, int]
    test_range: tuple[int, int]

    def as_dict(self) -> dict:
        return asdict(self)


def region_split(shape, patch, region: str = "z<0.8", overlap: float = 0.5) -> RegionSplit:
    """Patch origins on each side of a plane, with a gap so no training patch overlaps a test patch.

    Parameters
    ----------
    shape : tuple of 3 int
        Volume ``(Z, Y, X)``.
    patch : tuple of 3 int
        Patch size (clipped to the volume).
    region : str
        The training side, ``AXIS<F`` or ``AXIS>F`` (:func:`parse_region`).
    overlap : float
        Overlap of neighbouring patches (seed: 0.5).

    Returns
    -------
    RegionSplit

    Raises
    ------
    ValueError
        If a side holds no whole patch.
    """
    name, side, frac = parse_region(region)
    axis = AXES[name]
    shape = tuple(int(s) for s in shape)
    patch = tuple(min(int(p), s) for p, s in zip(patch, shape))
    cut = int(round(frac * shape[axis]))
    # training patches end at the plane; test patches start at the plane: disjoint by construction
    first, second = (0, cut), (cut, shape[axis])
    train_rng, test_rng = (first, second) if side == "<" else (second, first)
    per_axis = []
    for role_rng in (train_rng, test_rng):
        starts = [patch_starts(shape[a], patch[a], overlap, *(role_rng if a == axis else (0, shape[a])))
                  for a in range(3)]
        per_axis.append([(z, y, x) for z in starts[0] for y in starts[1] for x in starts[2]])
    if not per_axis[0] or test_rng[1] <= test_rng[0]:
        raise fail("--train-region", f"a plane leaving at least one {patch[axis]}-voxel training patch and some test "
                   f"voxels along axis {name} ({shape[axis]} voxels)", repr(region),
                   "move the plane or use a smaller --patch")
    return RegionSplit(region, axis, shape, patch, overlap, per_axis[0], per_axis[1], train_rng, test_rng)


class PatchPairs(Dataset):
    """Pairs of 3D patches ``(input, target)`` at given origins, with random flips (seeded per epoch).

    ``input`` and ``target`` are volumes on the same grid ``(Z, Y, X)``, normalised by the
    caller (``input`` may hold C channels, ``(C, Z, Y, X)``); items are ``(C, pz, py, px)`` and
    ``(1, pz, py, px)`` float32 tensors, every channel flipped alike.

    With ``bounds`` (a ``(lo, hi)`` voxel range per axis, e.g. the training side of a
    :class:`RegionSplit`), every epoch shifts each origin by a random offset of up to ``jitter``
    voxels per axis, kept so that the whole patch stays inside ``bounds``: the network sees new
    crops of the same region every epoch instead of the same few patches, and never a voxel
    outside the region.
    """

    def __init__(self, source: np.ndarray, target: np.ndarray, origins, patch, flips: bool = True,
                 seed: int = 0, bounds=None, jitter=None) -> None:
        if np.ndim(source) not in (3, 4) or np.shape(source)[-3:] != np.shape(target):
            raise fail("target", f"a volume of the input's grid {np.shape(source)[-3:]}", f"shape {np.shape(target)}")
        source = np.asarray(source, np.float32)
        self.source = source if source.ndim == 4 else source[None]
        self.target = np.asarray(target, np.float32)
        self.origins = [tuple(o) for o in origins]
        self.patch = tuple(patch)
        self.flips = flips
        self.seed = seed
        self.epoch = 0
        self.bounds = None if bounds is None else [tuple(int(v) for v in b) for b in bounds]
        if self.bounds is not None:
            if len(self.bounds) != 3:
                raise fail("bounds", "a (lo, hi) range for each of the 3 axes", f"{len(self.bounds)} ranges")
            for o in self.origins:
                for a, ((lo, hi), p) in enumerate(zip(self.bounds, self.patch)):
                    if not (lo <= o[a] and o[a] + p <= hi):
                        raise fail("origins", f"patches inside bounds {self.bounds}", f"origin {o}")
        default = tuple(max(0, p // 4) for p in self.patch)  # half the stride of 50 %-overlapping patches
        self.jitter = default if jitter is None else tuple(int(j) for j in jitter)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.origins)

    def origin(self, i: int, rng: np.random.Generator | None = None) -> tuple[int, int, int]:
        """Origin of item ``i`` this epoch: the listed one, shifted at random inside ``bounds`` when given."""
        o = self.origins[i]
        if self.bounds is None:
            return o
        rng = np.random.default_rng([self.seed, self.epoch, i]) if rng is None else rng
        shifted = []
        for a in range(3):
            lo, hi = self.bounds[a][0], self.bounds[a][1] - self.patch[a]
            shifted.append(int(np.clip(o[a] + rng.integers(-self.jitter[a], self.jitter[a] + 1), lo, hi)))
        return tuple(shifted)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        z, y, x = self.origin(i, rng)
        pz, py, px = self.patch
        a = self.source[:, z:z + pz, y:y + py, x:x + px]
        b = self.target[z:z + pz, y:y + py, x:x + px]
        if self.flips:
            for axis in range(3):
                if rng.random() < 0.5:
                    a, b = np.flip(a, axis + 1), np.flip(b, axis)
        return (torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(np.ascontiguousarray(b))[None])


__all__ = ["PatchPairs", "RegionSplit", "parse_region", "patch_starts", "region_split"]
