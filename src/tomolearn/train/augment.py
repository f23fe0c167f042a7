"""Augmentations shared by the training datasets."""
from __future__ import annotations

import numpy as np


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/quarter turns of a square image ``(..., N, N)`` (``k`` in 0..7), contiguous.

    Valid wherever the data have no preferred orientation: detector noise, and slices of a
    parallel-beam scan over 180° (a turned or mirrored object is scanned by shifted or reversed
    angles).
    """
    out = np.rot90(image, k % 4, axes=(-2, -1))
    return np.ascontiguousarray(out[..., ::-1] if k % 8 >= 4 else out)


__all__ = ["dihedral"]
