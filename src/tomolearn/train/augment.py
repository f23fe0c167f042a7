"""Geometric augmentation of training data: one random affine map of an object; the 8 flips/quarter turns."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .._checks import fail


def random_affine(image: np.ndarray, rng: np.random.Generator, shrink: tuple[float, float] = (0.6, 1.0),
                  max_shear: float = 0.15, max_aspect: float = 0.15, flip: bool = True) -> np.ndarray:
    """Apply one random affine map about the image centre (zeros outside).

    Combines the augmentations of seed 004 (Supplementary Table 2): *pad-resize* (the object
    shrinks by a factor drawn from ``shrink``, as if the image were zero-padded and resized back),
    rotation by any angle, a random flip, and an affine shear / aspect change.

    Parameters
    ----------
    image : ndarray, shape (Y, X)
    rng : numpy.random.Generator
    shrink : (float, float)
        Range of the isotropic scale factor (<= 1 shrinks the object).
    max_shear, max_aspect : float
        Largest shear coefficient and relative change of aspect ratio.
    flip : bool

    Returns
    -------
    ndarray, shape (Y, X), float32

    Raises
    ------
    ValueError
        If ``image`` is not 2D or ``shrink`` is not an increasing pair of positive numbers.

    References
    ----------
    C. Wang et al., "0.71-A resolution electron tomography enabled by deep learning aided
    information recovery" (IRDM), seed 004, Supplementary Table 2.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise fail("image", "a 2D array (Y, X)", f"shape {img.shape}")
    if not 0 < shrink[0] <= shrink[1]:
        raise fail("shrink", "0 < low <= high", shrink)
    s = rng.uniform(*shrink)
    aspect = 1 + rng.uniform(-max_aspect, max_aspect)
    shear = rng.uniform(-max_shear, max_shear)
    t = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    forward = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([s * aspect, s / aspect])
    if flip and rng.random() < 0.5:
        forward = forward @ np.diag([1.0, -1.0])
    # ndimage maps output coordinates to input coordinates: use the inverse
    inverse = np.linalg.inv(forward)
    centre = (np.array(img.shape) - 1) / 2
    offset = centre - inverse @ centre
    return ndimage.affine_transform(img, inverse, offset=offset, order=1, mode="constant", cval=0.0)


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/quarter turns of a square image ``(..., N, N)`` (``k`` in 0..7), contiguous.

    Valid wherever the data have no preferred orientation: detector noise, and slices of a
    parallel-beam scan over 180° (a turned or mirrored object is scanned by shifted or reversed
    angles).
    """
    out = np.rot90(image, k % 4, axes=(-2, -1))
    return np.ascontiguousarray(out[..., ::-1] if k % 8 >= 4 else out)
