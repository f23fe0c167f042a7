"""Filtered back projection for parallel and flat-detector fan beam.

The filter is applied here (one implementation for both geometries); the back projection is
the adjoint of the operator passed in (by default ASTRA's ray transform of the geometry).
Fan beam follows Kak & Slaney
(ch. 3.4.2): cosine pre-weighting, ramp filtering on the detector scaled to the rotation axis,
and back projection with the 1/U^2 distance weight. ASTRA's back projection is the transpose of
its ray-driven projector, which already carries one factor 1/U; the remaining factor is applied
per block of nearby angles (it varies slowly with the angle).
"""
from __future__ import annotations

import numpy as np

from .._checks import fail
from ..geometry import FanGeometry
from ..physics.base import LinearOperator
from ..physics.projector import source_detector_vectors
from .iterative import prepare

FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann", "parzen")


def _window(name: str, freq: np.ndarray) -> np.ndarray:
    """Apodisation window on normalised frequency ``freq`` in [0, 0.5] (Nyquist = 0.5)."""
    w = freq / 0.5  # 0..1
    if name == "ramp":
        return np.ones_like(w)
    if name == "shepp-logan":
        return np.sinc(w / 2)
    if name == "cosine":
        return np.cos(np.pi * w / 2)
    if name == "hamming":
        return 0.54 + 0.46 * np.cos(np.pi * w)
    if name == "hann":
        return 0.5 + 0.5 * np.cos(np.pi * w)
    if name == "parzen":
        a = np.abs(w)
        return np.where(a <= 0.5, 1 - 6 * a**2 + 6 * a**3, 2 * (1 - a) ** 3)
    raise fail("filter", f"one of {', '.join(FILTERS)}", repr(name))


def ramp_filter(sinograms: np.ndarray, spacing: float, filter: str = "ramp") -> np.ndarray:
    """Filter detector rows with a band-limited ramp times a window.

    Uses the spatial-domain band-limited ramp (Kak & Slaney Eq. 61) to avoid the DC offset of
    a sampled frequency ramp, zero-padded to twice the width.

    Parameters
    ----------
    sinograms : ndarray, shape (..., U)
    spacing : float
        Detector pitch in the units the reconstruction is expressed in.
    filter : str
        One of :data:`FILTERS`.

    Returns
    -------
    ndarray, same shape, float32
    """
    n = sinograms.shape[-1]
    size = int(2 ** np.ceil(np.log2(2 * n)))
    k = np.arange(-(size // 2), size // 2)
    h = np.zeros(size)
    h[size // 2] = 1 / (4 * spacing**2)
    odd = k % 2 == 1
    h[odd] = -1 / (np.pi * k[odd] * spacing) ** 2
    H = np.abs(np.fft.rfft(np.fft.ifftshift(h))) * spacing
    H *= _window(filter, np.fft.rfftfreq(size))
    padded = np.fft.rfft(sinograms, n=size, axis=-1)
    return np.fft.irfft(padded * H, n=size, axis=-1)[..., :n].astype(np.float32)


def _angle_weights(angles: np.ndarray) -> np.ndarray:
    """Quadrature weight of each angle: half the gap to its neighbours on the sorted arc."""
    if angles.size == 1:
        return np.array([np.pi])
    order = np.argsort(angles)
    a = angles[order]
    gaps = np.diff(a)
    step = np.median(gaps)
    gaps = np.minimum(gaps, 4 * step)  # a gap across a missing wedge is not quadrature
    w = np.empty_like(a)
    w[1:-1] = (gaps[:-1] + gaps[1:]) / 2
    w[0], w[-1] = gaps[0], gaps[-1]
    out = np.empty_like(w)
    out[order] = w
    return out


def fbp(projections, op, filter: str = "ramp", angle_block_deg: float = 5.0) -> np.ndarray:
    """Filtered back projection (FBP) for parallel or fan-beam geometry.

    Parameters
    ----------
    projections : ndarray, shape (A, U), (A, V, U)
        Line integrals (after -log).
    op : LinearOperator, ParallelGeometry or FanGeometry
        The back projection is ``op``'s adjoint (and, for fan beam, its ``subset``'s); the
        geometry (angles, detector pitch, fan distances) is ``op.geometry``. A geometry gives
        its ASTRA ray transform.
    filter : str
        ``ramp`` (Ram-Lak), ``shepp-logan``, ``cosine``, ``hamming``, ``hann`` or ``parzen``.
    angle_block_deg : float
        Fan beam only: angular block over which the residual distance weight is held fixed.

    Returns
    -------
    ndarray, shape (Y, X) or (Z, Y, X), float32
        Attenuation per ``geometry.unit``.

    Raises
    ------
    ValueError
        On a shape that does not match the operator, NaN/inf or an unknown filter.
    TypeError
        If ``op`` carries no ``geometry`` (FBP needs angles and detector pitch).

    References
    ----------
    A. C. Kak and M. Slaney, *Principles of Computerized Tomographic Imaging*, IEEE Press,
    1988, ch. 3.
    """
    sinos, single, op = prepare(projections, op)  # (V, A, U)
    geometry = getattr(op, "geometry", None)
    if geometry is None:
        raise TypeError(f"op: FBP needs an operator with a .geometry (angles, detector), got {type(op).__name__}")
    _window(filter, np.zeros(1))  # an unknown filter fails before any work
    weights = _angle_weights(geometry.angles)
    if isinstance(geometry, FanGeometry):
        rec = _fbp_fan(sinos, op, filter, weights, angle_block_deg)
    else:
        q = ramp_filter(sinos, geometry.detector_spacing, filter) * weights[None, :, None].astype(np.float32)
        # ASTRA's BP of the Joseph model equals interpolation times (voxel / detector pitch)
        rec = op.adjoint_batch(q) * np.float32(geometry.detector_spacing / geometry.voxel_size**2)
    return rec[0] if single else rec


def _fbp_fan(sinos: np.ndarray, op: LinearOperator, filter: str, weights: np.ndarray,
             block_deg: float) -> np.ndarray:
    g: FanGeometry = op.geometry
    vs = g.voxel_size
    sod = g.source_origin
    # detector coordinates scaled to the rotation axis (virtual detector)
    pitch = g.detector_spacing / g.magnification
    s = (np.arange(g.n_detector) - (g.n_detector - 1) / 2 - g.cor_offset) * pitch
    cosine = sod / np.sqrt(sod**2 + s**2)
    q = ramp_filter(sinos * cosine.astype(np.float32), pitch, filter)
    # a full 2 pi scan measures every line twice
    redundancy = 0.5 if g.angular_range > 2 * np.pi - 1e-6 else 1.0
    q *= (weights * redundancy)[None, :, None].astype(np.float32)
    # positions of voxel centres in ASTRA's frame, for the distance weight
    ny, nx = g.volume_shape
    xs = (np.arange(nx) - (nx - 1) / 2) * vs
    ys = ((ny - 1) / 2 - np.arange(ny)) * vs
    X, Y = np.meshgrid(xs, ys)
    vec = source_detector_vectors(g)
    out = np.zeros((sinos.shape[0], ny, nx), np.float32)
    order = np.argsort(g.angles)
    a_sorted = g.angles[order]
    block = np.deg2rad(block_deg)
    start = 0
    while start < order.size:
        stop = start + 1
        while stop < order.size and a_sorted[stop] - a_sorted[start] < block:
            stop += 1
        idx = order[start:stop]
        mid = idx[len(idx) // 2]
        src, det = vec[mid, 0:2], vec[mid, 2:4]
        axis = (det - src) / np.linalg.norm(det - src)
        U = ((X - src[0]) * axis[0] + (Y - src[1]) * axis[1]) / sod
        bp = op.subset(idx).adjoint_batch(np.ascontiguousarray(q[:, idx]))
        # transposed ray-driven BP ~ interpolation * voxel^2 / (U * pitch): correct to 1/U^2
        out += bp * (pitch / vs**2 / U).astype(np.float32)
        start = stop
    return out
