"""Counting noise on line integrals."""
from __future__ import annotations

import numpy as np

from .._checks import fail, finite_array


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def poisson_noise(line_integrals, i0: float, seed) -> np.ndarray:
    """Poisson counting noise at ``i0`` photons per detector pixel, returned as line integrals.

    Counts ``N ~ Poisson(i0 exp(-p))``; zero counts are set to 0.5 photon before ``-log`` so
    the result stays finite (a common, documented floor).

    Parameters
    ----------
    line_integrals : ndarray
        Noise-free line integrals, any shape.
    i0 : float
        Photons per detector pixel of the unattenuated beam (> 0).
    seed : int or numpy.random.Generator

    Returns
    -------
    ndarray, same shape, float32

    Raises
    ------
    ValueError
        If ``i0 <= 0`` or the data hold NaN/inf.
    """
    if not np.isfinite(i0) or i0 <= 0:
        raise fail("i0", "photons per detector pixel > 0", i0)
    p = finite_array(line_integrals, "line_integrals")
    counts = _rng(seed).poisson(i0 * np.exp(-p.astype(np.float64))).astype(np.float64)
    return (-np.log(np.maximum(counts, 0.5) / i0)).astype(np.float32)


def gaussian_noise(line_integrals, percent: float, seed) -> np.ndarray:
    """Additive Gaussian noise with standard deviation ``percent`` % of the projections' maximum.

    The noise convention of Yang et al. (seed 002), who simulated low-dose projections with
    "5% to 30%" Gaussian noise.

    Parameters
    ----------
    line_integrals : ndarray
        Noise-free projections, any shape.
    percent : float
        Standard deviation as a percentage (>= 0) of ``max(line_integrals)``.
    seed : int or numpy.random.Generator

    Returns
    -------
    ndarray, same shape, float32

    Raises
    ------
    ValueError
        If ``percent`` is negative or the data hold NaN/inf.

    References
    ----------
    X. Yang et al., "Low-dose x-ray tomography through a deep convolutional neural network",
    Sci. Rep. 8 (2018) 2575.
    """
    if not np.isfinite(percent) or percent < 0:
        raise fail("percent", "a noise level >= 0 (% of the maximum)", percent)
    p = finite_array(line_integrals, "line_integrals")
    sigma = percent / 100.0 * float(np.abs(p).max())
    return (p + _rng(seed).normal(0.0, sigma, p.shape)).astype(np.float32)


def poisson_counts(intensity, photons: float, seed) -> np.ndarray:
    """Photon counts ``Poisson(photons * intensity)`` of diffraction patterns.

    Parameters
    ----------
    intensity : ndarray
        Noise-free intensities per unit incident power (e.g. of
        :class:`~tomolearn.physics.multislice.MultisliceOperator`: a pattern sums to ~1).
    photons : float
        Incident photons per pattern (> 0).
    seed : int or numpy.random.Generator

    Returns
    -------
    ndarray, same shape, float32 (whole counts)

    Raises
    ------
    ValueError
        If ``photons <= 0`` or the intensities are negative, NaN or inf.
    """
    if not np.isfinite(photons) or photons <= 0:
        raise fail("photons", "incident photons per pattern > 0", photons)
    inten = finite_array(intensity, "intensity")
    if (inten < 0).any():
        raise fail("intensity", "non-negative intensities", f"minimum {float(inten.min())}")
    return _rng(seed).poisson(photons * inten.astype(np.float64)).astype(np.float32)
