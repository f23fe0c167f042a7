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


def gaussian_noise(line_integrals, percent: float, seed, maximum: float | None = None) -> np.ndarray:
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
    maximum : float, optional
        The projections' maximum when ``line_integrals`` is only a part of them (a slab of
        rows simulated at a time); default ``max(|line_integrals|)``.

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
    sigma = percent / 100.0 * float(np.abs(p).max() if maximum is None else maximum)
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


def split_counts(counts, seed, fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Binomial count splitting: two independent measurements whose photons add up to ``counts``.

    Each detected photon goes to the first part with probability ``fraction`` and to the
    second otherwise. If ``N ~ Poisson(λ)``, the parts are independent, ``Poisson(fraction·λ)``
    and ``Poisson((1 − fraction)·λ)``: two scans of the same sample with independent noise,
    from one measurement, which a Noise2Noise network can learn from.

    Parameters
    ----------
    counts : ndarray
        Detected photons (above the dark level), any shape; rounded, negative values count 0.
    seed : int or numpy.random.Generator
    fraction : float
        Share of the photons in the first part, in (0, 1).

    Returns
    -------
    (ndarray, ndarray)
        The two parts, float32, same shape; they sum to ``round(counts)``.

    Raises
    ------
    ValueError
        If ``fraction`` is outside (0, 1) or the counts hold NaN/inf.

    References
    ----------
    The binomial thinning of a Poisson process (Daley & Vere-Jones 2003, §11.3); count splitting
    for Noise2Noise training: J. Lehtinen et al., ICML 2018 (Noise2Noise); photon-counting CT
    training pairs by binomial selection, Proc. SPIE 12463, 1246304 (2023).
    """
    if not (np.isfinite(fraction) and 0 < fraction < 1):
        raise fail("fraction", "a share of the photons in (0, 1)", fraction)
    n = np.clip(np.rint(finite_array(counts, "counts").astype(np.float64)), 0, None).astype(np.int64)
    first = _rng(seed).binomial(n, fraction)
    return first.astype(np.float32), (n - first).astype(np.float32)


def thin_counts(counts, fraction: float, seed, offset=0.0) -> np.ndarray:
    """Binomial thinning: each detected photon kept with probability ``fraction``.

    An exact lower-dose version of a real measurement: if ``N ~ Poisson(λ)`` then
    ``Binomial(N, p) ~ Poisson(p λ)``, so thinning turns a scan at dose ``λ`` into one at ``p λ``
    with the same detector, sample and geometry. Counts are ``round(counts − offset)`` (the
    ``offset``, e.g. the mean dark field, is removed first and added back after), clipped at 0.

    Parameters
    ----------
    counts : ndarray
        Raw detector values (projections or flat fields), any shape; taken as photons (gain 1).
    fraction : float
        Probability ``p`` in (0, 1] of keeping each photon (1/10 for a tenth of the dose).
    seed : int or numpy.random.Generator
    offset : float or ndarray
        Detector offset broadcast against ``counts`` (dark level), not thinned.

    Returns
    -------
    ndarray, same shape, float32
        Thinned counts plus ``offset``; their mean is ``p · (counts − offset) + offset``.

    Raises
    ------
    ValueError
        If ``fraction`` is outside (0, 1] or the counts hold NaN/inf.

    References
    ----------
    The binomial thinning of a Poisson process (e.g. D. J. Daley, D. Vere-Jones, *An
    Introduction to the Theory of Point Processes*, 2003, §11.3); used to make low-dose test data
    from a real scan in the low-dose study of seed 002's recipe.
    """
    if not (np.isfinite(fraction) and 0 < fraction <= 1):
        raise fail("fraction", "a photon-keeping probability in (0, 1]", fraction)
    c = finite_array(counts, "counts").astype(np.float64)
    off = np.asarray(offset, dtype=np.float64)
    n = np.clip(np.rint(c - off), 0, None).astype(np.int64)
    kept = n if fraction == 1 else _rng(seed).binomial(n, fraction)
    return (kept + off).astype(np.float32)
