"""Counting noise on line integrals."""
from __future__ import annotations

import numpy as np

from .._checks import fail, finite_array


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
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    counts = rng.poisson(i0 * np.exp(-p.astype(np.float64))).astype(np.float64)
    return (-np.log(np.maximum(counts, 0.5) / i0)).astype(np.float32)
