"""A noise model fitted to high/low-dose projection pairs, to draw fresh low-dose training inputs.

Two or three paired angles hold one noise realisation each: a network trained on them alone
learns those few realisations as much as the noise. The residual ``low − high`` of the pairs is
a sample of the scan's noise, so its statistics can be measured and new realisations drawn on
the high-dose projections — any number of pairs of the same noise kind. The model is the one
the residual supports with so little data: Gaussian, with a mean and a standard deviation
that depend on the high-dose value (Poisson-like noise grows with the signal in counts and
shrinks with it in line integrals; Gaussian noise is flat), and a spatial power spectrum (the
detector's blur correlates neighbouring pixels).
"""
from __future__ import annotations

import numpy as np

from .._checks import fail


class PairNoiseModel:
    """Signal-dependent, spatially correlated Gaussian noise measured on ``low − high`` residuals.

    ``low ≈ high + μ(high) + σ(high) · c`` with ``c`` a unit-variance Gaussian field whose power
    spectrum is that of the whitened residual, estimated by Welch averaging over ``patch``-sized
    tiles (so it is known exactly at the training patch size).

    Parameters
    ----------
    levels : ndarray, shape (B,)
        High-dose values at which ``mean``/``std`` are known (increasing; linear in between,
        constant beyond).
    mean, std : ndarray, shape (B,)
        Mean and standard deviation of the residual at ``levels``.
    spectrum : ndarray, shape (patch, patch)
        Power spectrum of the whitened residual on ``patch × patch`` tiles, mean 1.

    References
    ----------
    P. D. Welch, IEEE Trans. Audio Electroacoust. 15, 70 (1967) (averaged periodograms);
    X. Yang et al., Sci. Rep. 8, 2575 (2018) (the pairs the residual comes from).
    """

    def __init__(self, levels: np.ndarray, mean: np.ndarray, std: np.ndarray, spectrum: np.ndarray) -> None:
        self.levels = np.asarray(levels, np.float64)
        self.mean = np.asarray(mean, np.float64)
        self.std = np.asarray(std, np.float64)
        self.amplitude = np.sqrt(np.asarray(spectrum, np.float64)).astype(np.float32)

    @property
    def patch(self) -> int:
        return int(self.amplitude.shape[0])

    @classmethod
    def fit(cls, low: np.ndarray, high: np.ndarray, patch: int, bins: int = 16) -> "PairNoiseModel":
        """Measure the noise of ``low`` around ``high`` (same normalisation, same angles).

        Parameters
        ----------
        low, high : ndarray, shape (P, V, U)
            Low- and high-dose projections of the same angles, ``V, U >= patch``.
        patch : int
            Side of the fields :meth:`sample` draws.
        bins : int
            Quantile bins of the high-dose value in which mean and spread are measured.

        Returns
        -------
        PairNoiseModel

        Raises
        ------
        ValueError
            If the stacks differ in shape or are smaller than ``patch``.
        """
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        if low.shape != high.shape or low.ndim != 3:
            raise fail("pairs", "low- and high-dose stacks of one shape (P, V, U)", f"{low.shape} and {high.shape}")
        if min(low.shape[1:]) < patch:
            raise fail("patch", f"at most the projections' size {low.shape[1:]}", patch, "pad the projections")
        residual = low - high
        edges = np.unique(np.quantile(high, np.linspace(0, 1, bins + 1)))
        which = np.clip(np.searchsorted(edges, high, side="right") - 1, 0, max(len(edges) - 2, 0))
        levels, mean, std = [], [], []
        for b in range(max(len(edges) - 1, 1)):
            sel = which == b
            if sel.sum() < 16:  # too few pixels for a spread: the neighbours' interpolation serves
                continue
            levels.append(high[sel].mean())
            mean.append(residual[sel].mean())
            std.append(residual[sel].std())
        if not levels:  # a constant projection: one bin
            levels, mean, std = [high.mean()], [residual.mean()], [residual.std()]
        model = cls(np.array(levels), np.array(mean), np.array(std), np.ones((patch, patch)))
        white = (residual - model.mean_at(high)) / np.maximum(model.std_at(high), 1e-12)
        model.amplitude = np.sqrt(welch_spectrum(white, patch)).astype(np.float32)
        return model

    def mean_at(self, high: np.ndarray) -> np.ndarray:
        return np.interp(high, self.levels, self.mean)

    def std_at(self, high: np.ndarray) -> np.ndarray:
        return np.maximum(np.interp(high, self.levels, self.std), 0.0)

    def sample(self, high: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A new low-dose patch: ``high`` plus one draw of the noise.

        Parameters
        ----------
        high : ndarray, shape (patch, patch)
        rng : numpy.random.Generator

        Returns
        -------
        ndarray, shape (patch, patch), float32

        Raises
        ------
        ValueError
            If ``high`` is not ``patch × patch``.
        """
        high = np.asarray(high, np.float32)
        if high.shape != self.amplitude.shape:
            raise fail("high", f"a patch of shape {self.amplitude.shape}", f"shape {high.shape}")
        field = np.fft.ifft2(np.fft.fft2(rng.standard_normal(high.shape)) * self.amplitude).real
        return (high + self.mean_at(high) + self.std_at(high) * field).astype(np.float32)

    def describe(self) -> dict:
        """JSON-able summary for the training record: std at the lowest/highest level, correlation."""
        s = self.amplitude.astype(np.float64) ** 2
        autocorrelation = np.fft.ifft2(s).real
        corr = autocorrelation / max(autocorrelation[0, 0], 1e-12)
        return {"levels": [round(float(self.levels[0]), 5), round(float(self.levels[-1]), 5)],
                "std": [round(float(self.std[0]), 5), round(float(self.std[-1]), 5)],
                "mean": [round(float(self.mean[0]), 5), round(float(self.mean[-1]), 5)],
                "neighbour_correlation": [round(float(corr[1, 0]), 4), round(float(corr[0, 1]), 4)]}


def welch_spectrum(field: np.ndarray, patch: int) -> np.ndarray:
    """Power spectrum of ``field`` (shape (P, V, U)) averaged over half-overlapping ``patch`` tiles, mean 1.

    A white field gives ≈ 1 everywhere; the zero frequency is set to its neighbours' mean so a
    residual offset that the mean model left does not become a random per-patch offset.
    """
    from .lowdose import patch_starts

    acc, n = np.zeros((patch, patch)), 0
    for img in np.asarray(field, np.float64):
        for r in patch_starts(img.shape[0], patch, max(patch // 2, 1)):
            for c in patch_starts(img.shape[1], patch, max(patch // 2, 1)):
                tile = img[r:r + patch, c:c + patch]
                acc += np.abs(np.fft.fft2(tile - tile.mean())) ** 2
                n += 1
    spectrum = acc / max(n, 1)
    spectrum[0, 0] = np.mean([spectrum[0, 1], spectrum[1, 0], spectrum[0, -1], spectrum[-1, 0]])
    return spectrum / max(spectrum.mean(), 1e-30)


__all__ = ["PairNoiseModel", "welch_spectrum"]
