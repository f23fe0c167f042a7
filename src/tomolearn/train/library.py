"""On-the-fly missing-wedge training library (IRDM, seed 004): (WBP, ground truth) pairs.

Each sample is drawn fresh: an object (a phantom family or a real reconstructed slice),
randomly augmented and normalised to [0, 1]; a missing wedge drawn from a configurable range;
the wedge-limited sinogram simulated on a 2x finer grid (no inverse crime) with optional
Gaussian noise; the network input is its weighted back projection (WBP). The measured arc is
centred at angle 0 (the canonical orientation of :mod:`tomolearn.recipes.limited_angle`), so
the wedge always points the same way.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from .._checks import fail, positive_int
from ..geometry import ParallelGeometry
from ..models.card import input_scale
from ..phantoms import FAMILIES, make_phantom
from ..recon import fbp
from ..scenario import Scenario, simulate
from .augment import random_affine

DEFAULT_FAMILIES = (*FAMILIES, "shepp_logan")


def wedge_geometry(size: int, wedge_deg: float, step_deg: float = 1.0) -> ParallelGeometry:
    """Parallel geometry measuring ``[-(180 - wedge)/2, +(180 - wedge)/2]`` degrees in steps.

    At angle 0 the rays run along Y, so the unmeasured Fourier wedge of ``wedge_deg`` degrees
    lies about the k_Y axis and WBP elongates objects along Y (as in seed 004, Fig. 2).

    Raises
    ------
    ValueError
        If the wedge is not in [0, 180) degrees or the step is not positive.
    """
    if not 0 <= wedge_deg < 180:
        raise fail("wedge_deg", "a missing wedge in [0, 180) degrees", wedge_deg)
    if not step_deg > 0:
        raise fail("step_deg", "a positive angular step in degrees", step_deg)
    half = (180.0 - wedge_deg) / 2
    n = max(2, int(round(2 * half / step_deg)) + 1)
    return ParallelGeometry(np.deg2rad(np.linspace(-half, half, n)), size, volume_shape=(size, size))


def normalise_object(image: np.ndarray) -> np.ndarray:
    """Clip negatives and scale to [0, 1] by the 99.9th percentile (real slices have outliers)."""
    img = np.clip(np.asarray(image, dtype=np.float32), 0, None)
    top = float(np.percentile(img, 99.9))
    return np.clip(img / top, 0, 1) if top > 0 else img


def wedge_sinogram(target: np.ndarray, wedge_deg: float, step_deg: float = 1.0, noise_percent: float = 0.0,
                   seed=0) -> tuple[np.ndarray, ParallelGeometry]:
    """Sinogram of an object seen over ``180 - wedge_deg`` degrees, simulated on a 2x finer grid.

    Parameters
    ----------
    target : ndarray, shape (N, N)
    wedge_deg, step_deg : float
        Missing wedge and angular step, degrees (arc centred at 0, see :func:`wedge_geometry`).
    noise_percent : float
        Gaussian noise on the sinogram, % of its maximum.
    seed : int or numpy.random.Generator

    Returns
    -------
    sinogram : ndarray, shape (A, N), float32
    geometry : ParallelGeometry
        2D geometry of the sinogram.
    """
    g = wedge_geometry(target.shape[-1], wedge_deg, step_deg)
    scenario = Scenario(n_angles=g.n_angles, range_deg=180.0 - wedge_deg, start_deg=-(180.0 - wedge_deg) / 2,
                        noise_percent=noise_percent or None)
    sim = simulate(target, scenario, seed)
    return sim["projections"][:, 0], sim["geometry"].replace(n_rows=1)


def wedge_wbp(target: np.ndarray, wedge_deg: float, step_deg: float = 1.0, noise_percent: float = 0.0,
              seed=0) -> np.ndarray:
    """WBP ``(N, N)`` of :func:`wedge_sinogram` (same parameters): the network's input."""
    return fbp(*wedge_sinogram(target, wedge_deg, step_deg, noise_percent, seed))


class MissingWedgeLibrary(Dataset):
    """Fresh (WBP, object) pairs every epoch, with the missing wedge drawn from a range.

    Parameters
    ----------
    n_samples : int
        Samples per epoch.
    size : int
        Image side in pixels (IRDM: 256).
    wedge_range_deg : (float, float)
        Missing wedges drawn uniformly from this range (seed 004: 40-60, 45-55, 47.5-52.5, 35-65).
    families : sequence of str
        Phantom families (see :data:`tomolearn.phantoms.FAMILIES`, plus "shepp_logan").
    images : ndarray, shape (M, Y, X), optional
        Real reconstructed slices (e.g. HTC2022 full-data reconstructions), drawn with
        probability ``image_fraction``; resized to ``size``.
    image_fraction : float
    step_deg : (float, float)
        Range of the angular step, degrees.
    noise_percent : (float, float)
        Range of the Gaussian sinogram noise, % of the maximum.
    augment : bool
        Pad-resize, rotation, flip and shear (:func:`~tomolearn.train.augment.random_affine`).
    seed : int
    fixed : bool
        The same samples every epoch (for validation).

    Items are ``(input, target)`` float32 tensors of shape ``(1, size, size)``, both divided by
    :func:`input_scale` of the input.

    References
    ----------
    C. Wang et al., "0.71-A resolution electron tomography enabled by deep learning aided
    information recovery" (IRDM), seed 004: training library and Supplementary Tables 1-2.
    """

    def __init__(self, n_samples: int, size: int = 128, wedge_range_deg: tuple[float, float] = (40.0, 60.0),
                 families=DEFAULT_FAMILIES, images: np.ndarray | None = None, image_fraction: float = 0.3,
                 step_deg: tuple[float, float] = (1.0, 2.0), noise_percent: tuple[float, float] = (0.0, 1.0),
                 augment: bool = True, seed: int = 0, fixed: bool = False) -> None:
        self.n_samples = positive_int(n_samples, "n_samples")
        self.size = positive_int(size, "size")
        lo, hi = map(float, wedge_range_deg)
        if not 0 <= lo <= hi < 180:
            raise fail("wedge_range_deg", "0 <= low <= high < 180 degrees", wedge_range_deg)
        unknown = [f for f in families if f not in DEFAULT_FAMILIES]
        if unknown or not families:
            raise fail("families", f"names from {', '.join(DEFAULT_FAMILIES)}", list(families))
        if images is not None and np.ndim(images) != 3:
            raise fail("images", "real slices (M, Y, X)", f"shape {np.shape(images)}")
        self.wedge_range = (lo, hi)
        self.families, self.images, self.image_fraction = tuple(families), images, float(image_fraction)
        self.step_range, self.noise_range = tuple(step_deg), tuple(noise_percent)
        self.augment, self.seed, self.fixed, self.epoch = augment, int(seed), fixed, 0

    def __len__(self) -> int:
        return self.n_samples

    def set_epoch(self, epoch: int) -> None:
        """Draw new samples for ``epoch`` (ignored when ``fixed``)."""
        self.epoch = int(epoch)

    def draw_object(self, rng: np.random.Generator) -> np.ndarray:
        """One augmented object ``(size, size)`` in [0, 1] (a phantom or a real slice)."""
        if self.images is not None and rng.random() < self.image_fraction:
            img = self.images[rng.integers(len(self.images))]
            img = ndimage.zoom(np.asarray(img, np.float32), (self.size / img.shape[0], self.size / img.shape[1]), order=1)
        else:
            img = make_phantom(self.families[rng.integers(len(self.families))], self.size, rng)
        if self.augment:
            img = random_affine(img, rng)
        return normalise_object(img)

    def sample(self, index: int) -> dict:
        """One sample as NumPy arrays: ``wbp``, ``target`` (in [0, 1]), ``wedge_deg``, ``step_deg``."""
        rng = np.random.default_rng([self.seed, int(index), 0 if self.fixed else self.epoch])
        target = self.draw_object(rng)
        wedge = rng.uniform(*self.wedge_range)
        step = rng.uniform(*self.step_range)
        wbp = wedge_wbp(target, wedge, step, rng.uniform(*self.noise_range), rng)
        return {"wbp": wbp, "target": target, "wedge_deg": wedge, "step_deg": step}

    def __getitem__(self, index: int):
        s = self.sample(index)
        scale = input_scale(s["wbp"])
        return (torch.from_numpy(s["wbp"] / scale)[None].float(), torch.from_numpy(s["target"] / scale)[None].float())
