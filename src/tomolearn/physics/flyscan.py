"""Fly-scan (continuous rotation) forward model: the blurred Radon transform.

While the detector integrates, the sample keeps rotating through the exposure arc
``[theta, theta + delta]``. Each recorded projection is modelled as the mean of ``n`` standard
projections at the centres of ``n`` equal sub-arcs (seed 003, Eq. 3), and the counts as a sum
of independent Poisson processes, one per sub-angle (Eq. 4-5).
"""
from __future__ import annotations

import numpy as np

from .._checks import fail, positive_int
from ..geometry import FanGeometry, ParallelGeometry, uniform_angles
from .base import SliceOperator, register_operator
from .noise import _rng
from .projector import RayTransform


def default_sub_angles(geometry, exposure_arc: float) -> int:
    """Smallest ``n`` for which one sub-arc moves the edge of the field of view by < 1 pixel.

    The edge is at half the larger slice dimension from the axis (the rule of seed 003, where
    512 pixels and 1.5 degrees give about 6.7 pixels of blur, hence 6-7 sub-angles).
    """
    radius_px = max(geometry.volume_shape) / 2
    return max(1, int(np.ceil(radius_px * float(exposure_arc) - 1e-9)))


@register_operator
class FlyScanTransform(SliceOperator):
    """Blurred ray transform ``A_fly = 1/n sum_i A(theta + (i + 1/2) delta / n)``.

    Parameters
    ----------
    geometry : ParallelGeometry or FanGeometry
        ``angles`` are the START of each exposure arc (radians).
    exposure_arc : float
        ``delta`` = rotation speed x exposure time, in radians (>= 0). It may not exceed the
        angular step between projections (the sample cannot be in two exposures at once).
    n_sub : int, optional
        Sub-angles per projection; default :func:`default_sub_angles`.

    Notes
    -----
    A :class:`~tomolearn.physics.base.LinearOperator` with the item shapes and volume /
    projection conventions of :class:`RayTransform`; ``adjoint`` is the exact transpose. With
    ``exposure_arc = 0`` it equals the plain ray transform.

    Raises
    ------
    ValueError
        If the exposure arc is negative or wider than the angular step.

    References
    ----------
    Seed 003: machine-learning reconstruction for ultrafast fly-scan nano-tomography in a
    transmission X-ray microscope, Eq. 2-5.
    """

    def __init__(self, geometry, exposure_arc: float, n_sub: int | None = None, model: str = "linear") -> None:
        delta = float(exposure_arc)
        if not np.isfinite(delta) or delta < 0:
            raise fail("exposure_arc", "an arc >= 0 in radians", delta)
        if geometry.n_angles > 1:
            step = float(np.min(np.diff(np.sort(geometry.angles))))
            if delta > step + 1e-9:
                raise fail("exposure_arc", f"at most the angular step {np.degrees(step):.3f} deg",
                           f"{np.degrees(delta):.3f} deg", "lower the rotation speed or the exposure time")
        self.geometry, self.exposure_arc, self.model = geometry, delta, model
        self.n_sub = positive_int(n_sub, "n_sub") if n_sub else default_sub_angles(geometry, delta)
        offsets = (np.arange(self.n_sub) + 0.5) * delta / self.n_sub
        sub_angles = (geometry.angles[:, None] + offsets[None, :]).ravel()  # (A * n,)
        self._op = RayTransform(geometry.replace(angles=sub_angles), model)

    name = "flyscan"

    @classmethod
    def examples(cls) -> list["FlyScanTransform"]:
        """Small parallel and fan-beam fly scans for the contract tests."""
        return [cls(ParallelGeometry(uniform_angles(20), 36, volume_shape=(28, 32)), np.deg2rad(6.0), n_sub=3),
                cls(FanGeometry(uniform_angles(24, 2 * np.pi), 44, detector_spacing=1.4, source_origin=120,
                                origin_detector=50, volume_shape=(30, 30)), np.deg2rad(10.0))]

    def subset(self, indices) -> "FlyScanTransform":
        """The fly scan restricted to the exposures at ``indices`` (same arc and sub-angles)."""
        return FlyScanTransform(self.geometry.subset(indices), self.exposure_arc, self.n_sub, self.model)

    def sub_angle_projections(self, volume: np.ndarray) -> np.ndarray:
        """Projections at every sub-angle: ``(N, Y, X)`` -> ``(N, A, n, U)``."""
        sino = self._op.forward_batch(volume)
        return sino.reshape(sino.shape[0], self.geometry.n_angles, self.n_sub, -1)

    def forward_batch(self, x: np.ndarray, cuda: bool = False) -> np.ndarray:
        """Blurred sinograms of a stack of slices: ``(N, Y, X)`` -> ``(N, A, U)``."""
        sino = self._op.forward_batch(x, cuda)
        return sino.reshape(sino.shape[0], self.geometry.n_angles, self.n_sub, -1).mean(axis=2)

    def adjoint_batch(self, y: np.ndarray, cuda: bool = False) -> np.ndarray:
        """Transpose of :meth:`forward_batch`: ``(N, A, U)`` -> ``(N, Y, X)``."""
        s = np.asarray(y, dtype=np.float32)
        s = s[None] if s.ndim == 2 else s
        self.check_batch(s, "sinograms", self.range_shape)
        expanded = np.repeat(s[:, :, None, :] / np.float32(self.n_sub), self.n_sub, axis=2)
        return self._op.adjoint_batch(expanded.reshape(s.shape[0], -1, s.shape[2]), cuda)


def simulate_flyscan(volume: np.ndarray, op: FlyScanTransform, i0: float | None, seed) -> np.ndarray:
    """Fly-scan line integrals of a slice stack, with Poisson noise per sub-angle (Eq. 4-5).

    Each sub-angle receives ``i0 / n`` photons per pixel; the counts of the ``n`` sub-angles are
    summed and normalised by ``i0`` before ``-log`` (zero totals floored at 0.5 photon).

    Parameters
    ----------
    volume : ndarray, shape (Y, X) or (N, Y, X)
        Attenuation per ``op.geometry.unit``.
    op : FlyScanTransform
    i0 : float or None
        Photons per detector pixel per projection; None gives the noise-free blurred data.
    seed : int or numpy.random.Generator

    Returns
    -------
    ndarray, shape (A, U) or (N, A, U), float32 line integrals.

    Raises
    ------
    ValueError
        If ``i0 <= 0``.
    """
    arr = np.asarray(volume, dtype=np.float32)
    stack = arr[None] if arr.ndim == 2 else arr
    if i0 is None:
        out = op.forward_batch(stack)
    else:
        if not np.isfinite(i0) or i0 <= 0:
            raise fail("i0", "photons per detector pixel > 0", i0)
        sub = op.sub_angle_projections(stack).astype(np.float64)
        counts = _rng(seed).poisson(i0 / op.n_sub * np.exp(-sub)).sum(axis=2)
        out = (-np.log(np.maximum(counts, 0.5) / i0)).astype(np.float32)
    return out[0] if arr.ndim == 2 else out
