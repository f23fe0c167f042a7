"""Acquisition scenarios (sparse view, limited angle, low dose, fly scan), combinable with ``+``.

A :class:`Scenario` says how limited data arise from a full parallel scan; :func:`simulate`
applies it to a phantom. Presets::

    sparse_view(60) + low_dose(i0=1e3)
    limited_angle(60, start_deg=30) + flyscan(speed_deg_per_s=30, exposure_s=0.05)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ._checks import fail, positive, positive_int, start_angle_deg
from .geometry import ParallelGeometry, uniform_angles
from .physics.flyscan import FlyScanTransform
from .physics.noise import gaussian_noise


@dataclass(frozen=True)
class Scenario:
    """How a scan is limited. ``None`` fields are not limited.

    Attributes
    ----------
    n_angles : int
        Projections over the angular range (default 180 over 180 degrees).
    range_deg, start_deg : float
        Contiguous arc (limited angle), degrees.
    i0 : float
        Photons per detector pixel (Poisson counting noise, flat and dark fields simulated).
    noise_percent : float
        Gaussian noise, % of the projections' maximum (seed 002 convention).
    exposure_arc_deg : float
        Rotation during one exposure (fly scan), degrees.
    """

    n_angles: int | None = None
    range_deg: float | None = None
    start_deg: float = 0.0
    i0: float | None = None
    noise_percent: float | None = None
    exposure_arc_deg: float | None = None

    def __add__(self, other: "Scenario") -> "Scenario":
        merged = {}
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            default = f.default
            if a != default and b != default and a != b:
                raise fail("scenario", f"one value of {f.name} when combining scenarios", f"{a} and {b}")
            merged[f.name] = b if b != default else a
        return Scenario(**merged).validated()

    def validated(self) -> "Scenario":
        if self.n_angles is not None:
            positive_int(self.n_angles, "n_angles")
        if self.range_deg is not None and not 0 < self.range_deg <= 180:
            raise fail("range_deg", "an arc in (0, 180] degrees for parallel beam", self.range_deg)
        start_angle_deg(self.start_deg)
        if self.i0 is not None:
            positive(self.i0, "i0")
        if self.noise_percent is not None and not (np.isfinite(self.noise_percent) and self.noise_percent >= 0):
            raise fail("noise_percent", "a percentage >= 0", self.noise_percent)
        if self.i0 is not None and self.noise_percent is not None:
            raise fail("scenario", "either counting noise (i0) or Gaussian noise (noise_percent)", "both")
        if self.exposure_arc_deg is not None:
            if not np.isfinite(self.exposure_arc_deg) or self.exposure_arc_deg < 0:
                raise fail("exposure_arc_deg", "an arc >= 0 degrees", self.exposure_arc_deg)
            step = (self.range_deg or 180.0) / (self.n_angles or 180)
            if self.exposure_arc_deg > step + 1e-9:
                raise fail("exposure_arc_deg", f"at most the angular step {step:.4g} deg", self.exposure_arc_deg,
                           "slow the rotation, shorten the exposure or take fewer projections")
        return self

    def geometry(self, size: int, n_rows: int = 1) -> ParallelGeometry:
        """Parallel geometry of the scenario on a ``size`` x ``size`` grid, ``n_rows`` slices."""
        rng = np.deg2rad(self.range_deg or 180.0)
        n = self.n_angles or 180
        angles = np.deg2rad(self.start_deg) + (uniform_angles(n, rng) if self.range_deg is None
                                               else np.linspace(0, rng, n))
        return ParallelGeometry(angles, size, n_rows=n_rows, volume_shape=(size, size),
                                exposure_arc=np.deg2rad(self.exposure_arc_deg or 0.0))


def sparse_view(n_angles: int) -> Scenario:
    """``n_angles`` projections over 180 degrees."""
    return Scenario(n_angles=n_angles).validated()


def limited_angle(range_deg: float, start_deg: float = 0.0, n_angles: int | None = None) -> Scenario:
    """A contiguous arc of ``range_deg`` from ``start_deg`` (1 projection per degree by default)."""
    n = n_angles or max(2, int(round(range_deg)) + 1)
    return Scenario(n_angles=n, range_deg=range_deg, start_deg=start_deg).validated()


def low_dose(i0: float | None = None, noise_percent: float | None = None) -> Scenario:
    """Poisson noise at ``i0`` photons per pixel, or Gaussian noise of ``noise_percent`` %."""
    if (i0 is None) == (noise_percent is None):
        raise fail("low_dose", "exactly one of i0 or noise_percent", f"i0={i0}, noise_percent={noise_percent}")
    return Scenario(i0=i0, noise_percent=noise_percent).validated()


def flyscan(speed_deg_per_s: float, exposure_s: float, n_projections: int) -> Scenario:
    """Continuous rotation: exposure arc = speed x exposure time, ``n_projections`` over 180 degrees."""
    positive(speed_deg_per_s, "speed_deg_per_s")
    positive(exposure_s, "exposure_s")
    return Scenario(n_angles=n_projections, exposure_arc_deg=speed_deg_per_s * exposure_s).validated()


def bin_detector(projections: np.ndarray, factor: int) -> np.ndarray:
    """Average groups of ``factor`` neighbouring detector columns: ``(..., U * factor)`` -> ``(..., U)``.

    Raises
    ------
    ValueError
        If the detector width is not a multiple of ``factor``.
    """
    p = np.asarray(projections)
    k = positive_int(factor, "factor")
    if p.shape[-1] % k:
        raise fail("projections", f"a detector width divisible by {k}", f"{p.shape[-1]} columns")
    return p.reshape(*p.shape[:-1], p.shape[-1] // k, k).mean(-1)


def binned_projections(image: np.ndarray, op, factor: int) -> np.ndarray:
    """Projections of an image on a ``factor`` x finer grid and detector, binned to the coarse detector.

    The way every simulation here avoids the inverse crime: ``op`` is the fine-grid operator
    (voxels and detector pixels ``factor`` times smaller), the result has the coarse
    detector's columns.

    Parameters
    ----------
    image : ndarray, shape (Y, X) or (Z, Y, X)
        On the fine grid, attenuation per unit.
    op : LinearOperator
        Fine-grid forward model (e.g. :class:`~tomolearn.physics.RayTransform`).
    factor : int

    Returns
    -------
    ndarray, shape (A, U) or (A, Z, U)
    """
    return bin_detector(op.forward(image), factor)


def simulate(phantom: np.ndarray, scenario: Scenario, seed, oversample: int = 2, n_flats: int = 10,
             angles=None, noise_maximum: float | None = None):
    """Simulate a limited scan of a phantom stack.

    Projections are computed from the phantom upsampled ``oversample`` times on a detector as
    many times finer, then binned (avoids the inverse crime); fly-scan blur and noise follow
    the scenario.

    Parameters
    ----------
    phantom : ndarray, shape (Y, X) or (Z, Y, X), square slices
        Attenuation per pixel.
    scenario : Scenario
    seed : int or numpy.random.Generator
    oversample : int
        1 disables the finer simulation grid.
    n_flats : int
        Flat and dark frames simulated when ``i0`` is set.
    angles : array_like, optional
        Projection angles in radians instead of the scenario's (e.g. the high-dose pairs of a
        low-dose scan at a few of its angles).
    noise_maximum : float, optional
        The whole scan's maximum projection for ``noise_percent`` (when ``phantom`` is one
        slab of a larger volume); default this slab's maximum.

    Returns
    -------
    dict
        ``geometry``, ``projections`` (line integrals ``(A, Z, U)``, or raw counts when ``i0``
        is set), ``flats``/``darks`` (or None), ``theta_deg``, ``ground_truth`` ``(Z, Y, X)``.

    Raises
    ------
    ValueError
        On non-square slices or an invalid scenario.
    """
    vol = np.asarray(phantom, dtype=np.float32)
    vol = vol[None] if vol.ndim == 2 else vol
    if vol.ndim != 3 or vol.shape[1] != vol.shape[2]:
        raise fail("phantom", "square slices (Y == X)", f"shape {np.shape(phantom)}")
    scenario = scenario.validated()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k = positive_int(oversample, "oversample")
    n = vol.shape[1]
    geometry = scenario.geometry(n, vol.shape[0])
    if angles is not None:
        geometry = geometry.replace(angles=np.asarray(angles, dtype=np.float64).ravel())
    fine = geometry.replace(n_detector=n * k, detector_spacing=1.0 / k, voxel_size=1.0 / k,
                            volume_shape=(n * k, n * k), n_rows=1)
    fly = FlyScanTransform(fine, np.deg2rad(scenario.exposure_arc_deg or 0.0))
    sinos = []
    for sl in vol:
        up = np.repeat(np.repeat(sl, k, axis=0), k, axis=1)
        sub = fly.sub_angle_projections(up[None])[0]  # (A, n_sub, U * k)
        sub = bin_detector(sub, k)
        sinos.append(sub)
    sub = np.stack(sinos, axis=1)  # (A, Z, n_sub, U)
    flats = darks = None
    if scenario.i0 is not None:
        i0 = scenario.i0
        counts = rng.poisson(i0 / sub.shape[2] * np.exp(-sub.astype(np.float64))).sum(axis=2)
        dark_level = 100.0
        projections = (counts + rng.poisson(dark_level, counts.shape)).astype(np.float32)
        flats = (rng.poisson(i0, (n_flats, *counts.shape[1:])) + rng.poisson(dark_level, (n_flats, *counts.shape[1:]))).astype(np.float32)
        darks = rng.poisson(dark_level, (n_flats, *counts.shape[1:])).astype(np.float32)
    else:
        projections = sub.mean(axis=2).astype(np.float32)
        if scenario.noise_percent:
            projections = gaussian_noise(projections, scenario.noise_percent, rng, noise_maximum)
    return {"geometry": geometry, "projections": projections, "flats": flats, "darks": darks,
            "theta_deg": np.degrees(geometry.angles), "ground_truth": vol,
            "exposure_arc_deg": scenario.exposure_arc_deg or 0.0}


__all__ = ["Scenario", "sparse_view", "limited_angle", "low_dose", "flyscan", "simulate", "bin_detector",
           "binned_projections"]
