"""Flat/dark normalisation and -log: what a reader applies to raw counts.

Centre-of-rotation search and tilt-series alignment reconstruct, so they live a layer higher,
in :mod:`tomolearn.alignment` (readers never import reconstruction code).
"""
from __future__ import annotations

import numpy as np

from ._checks import fail


def normalize(data, flats, darks, min_transmission: float = 1e-6) -> np.ndarray:
    """Flat/dark-field normalisation: ``(data - dark) / (flat - dark)`` clipped to (0, inf).

    Parameters
    ----------
    data : ndarray, shape (A, V, U)
        Raw counts.
    flats, darks : ndarray, shape (F, V, U) or (V, U)
        Flat (open-beam) and dark fields; several frames are averaged (median for flats,
        which removes zingers).
    min_transmission : float
        Floor for the transmission so that -log stays finite where data <= dark. Pixels whose
        flat is not above the dark are dead and get transmission 1 (line integral 0).

    Returns
    -------
    ndarray, shape (A, V, U), float32 transmission.

    Raises
    ------
    ValueError
        If the flat or dark field does not match the detector shape.
    """
    data = np.asarray(data, dtype=np.float32)
    flat, dark = averaged_fields(flats, darks, data.shape[1:])
    denom = flat - dark
    dead = denom <= 0  # a dead or saturated flat pixel carries no attenuation information
    t = (data - dark) / np.where(dead, 1.0, denom)
    t[:, dead] = 1.0
    return np.clip(t, min_transmission, None).astype(np.float32)


def averaged_fields(flats, darks, shape) -> tuple[np.ndarray, np.ndarray]:
    """The flat and dark field a reader divides by: the median of the flat frames (it removes
    zingers) and the mean of the dark frames, each ``(V, U)`` float32.

    Raises
    ------
    ValueError
        If a field does not have the detector shape ``shape`` = ``(V, U)``.
    """
    flat = np.asarray(flats, dtype=np.float32)
    dark = np.asarray(darks, dtype=np.float32)
    flat = np.median(flat, axis=0) if flat.ndim == 3 else flat
    dark = dark.mean(axis=0) if dark.ndim == 3 else dark
    for name, f in (("flats", flat), ("darks", dark)):
        if f.shape != tuple(shape):
            raise fail(name, f"frames of shape (V, U) = {tuple(shape)}", f"shape {f.shape}")
    return flat, dark


def open_beam_counts(flats, darks, shape) -> np.ndarray:
    """Detected open-beam counts per detector pixel, ``flat - dark`` ``(V, U)`` (0 where the
    pixel is dead): with them the measured counts above the dark level are
    ``open_beam · exp(-line integral)``, which count-splitting self-supervision needs.
    """
    flat, dark = averaged_fields(flats, darks, shape)
    return np.clip(flat - dark, 0.0, None).astype(np.float32)


def minus_log(transmission) -> np.ndarray:
    """Line integrals ``-log(I / I0)`` from a transmission (Beer-Lambert)."""
    t = np.asarray(transmission, dtype=np.float32)
    if (t <= 0).any():
        raise fail("transmission", "values > 0", f"min {t.min()}", "normalise with a floor first")
    return -np.log(t)
