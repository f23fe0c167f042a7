"""How far to trust a reconstruction: data consistency at measurements it never saw, and what
lies in the unmeasured Fourier wedge."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._checks import fail, positive_int
from .geometry import covered_arc
from .metrics import nrmse, pcc, power_spectrum
from .physics.projector import RayTransform


def _predict_held_out(proj: np.ndarray, geometry, reconstruct: Callable, held: np.ndarray, kept: np.ndarray) -> dict:
    """Reconstruct from ``kept``, re-project at ``held``, compare with the measured projections."""
    volume = reconstruct(proj[kept], geometry.subset(kept))
    predicted = RayTransform(geometry.subset(held).replace(n_rows=1)).forward_slices(np.asarray(volume))
    predicted = np.moveaxis(predicted, 0, 1)  # (A_held, V, U)
    scores_n = [nrmse(m, p) for m, p in zip(proj[held], predicted)]
    scores_p = [pcc(m, p) for m, p in zip(proj[held], predicted)]
    return {"nrmse": float(np.mean(scores_n)), "pcc": float(np.mean(scores_p)), "held_out_indices": held.tolist(),
            "per_projection": {"nrmse": scores_n, "pcc": scores_p}}


def held_out_projection_check(projections, geometry, reconstruct: Callable, every: int = 4,
                              first: int = 1) -> dict:
    """Held-out-tilt (projection) validation for data without ground truth.

    Every ``every``-th projection (from ``first``) is left out, the volume is reconstructed
    from the rest with ``reconstruct(projections, geometry)``, re-projected at the held-out
    angles and compared with the measured projections. Scores a method by how well it
    predicts measurements it never saw (a cross-validation of the reconstruction).

    Parameters
    ----------
    projections : ndarray, shape (A, V, U)
    geometry : ParallelGeometry or FanGeometry
        With ``n_rows = V``.
    reconstruct : callable
        ``reconstruct(projections (A', V, U), geometry) -> volume (V, Y, X)``.
    every, first : int
        Leave out indices ``first, first + every, ...``.

    Returns
    -------
    dict
        ``nrmse`` and ``pcc`` (mean over held-out projections), ``per_projection`` lists and the
        ``held_out_indices``.

    Raises
    ------
    ValueError
        If fewer than two projections would remain, or shapes disagree.
    """
    proj = np.asarray(projections, dtype=np.float32)
    if proj.ndim != 3 or proj.shape != geometry.projection_shape:
        raise fail("projections", f"shape (A, V, U) = {geometry.projection_shape}", f"shape {proj.shape}")
    every = positive_int(every, "every")
    held = np.arange(first, proj.shape[0], every)
    kept = np.setdiff1d(np.arange(proj.shape[0]), held)
    if held.size == 0 or kept.size < 2:
        raise fail("every", "a step that leaves out some projections and keeps at least two", every)
    return _predict_held_out(proj, geometry, reconstruct, held, kept)


def held_out_wedge_check(projections, geometry, reconstruct: Callable, widen_deg: float = 20.0) -> dict:
    """Predict the outermost tilts from a narrower arc: a real-data test of missing-wedge filling.

    The projections within ``widen_deg / 2`` degrees of each end of the measured arc are left
    out, so the reconstruction sees a wedge wider by ``widen_deg``; re-projected at the
    left-out angles, which lie inside that wider wedge, it is compared with the measured
    images. A method that fills the wedge correctly predicts them better; one that leaves it
    empty (WBP) or smooths it (TV) does worse. Unlike :func:`held_out_projection_check`, whose
    held-out tilts lie inside the measured arc, this scores what lies in the wedge.

    Parameters
    ----------
    projections : ndarray, shape (A, V, U)
    geometry : ParallelGeometry
        A contiguous arc, ``n_rows = V``.
    reconstruct : callable
        ``reconstruct(projections (A', V, U), geometry) -> volume (V, Y, X)``.
    widen_deg : float
        How much wider the wedge becomes, degrees (half at each end).

    Returns
    -------
    dict
        As :func:`held_out_projection_check`.

    Raises
    ------
    ValueError
        If nothing would be left out or fewer than two projections would remain.
    """
    proj = np.asarray(projections, dtype=np.float32)
    if proj.ndim != 3 or proj.shape != geometry.projection_shape:
        raise fail("projections", f"shape (A, V, U) = {geometry.projection_shape}", f"shape {proj.shape}")
    a = np.asarray(geometry.angles, dtype=np.float64)
    lo, hi = a.min(), a.max()
    half = np.deg2rad(widen_deg) / 2
    held = np.flatnonzero((a < lo + half) | (a > hi - half))
    kept = np.setdiff1d(np.arange(a.size), held)
    if held.size == 0 or kept.size < 2:
        raise fail("widen_deg", "a widening that leaves out some end tilts and keeps at least two", widen_deg)
    return _predict_held_out(proj, geometry, reconstruct, held, kept)


def missing_wedge_mask(shape: tuple[int, int], angles) -> np.ndarray:
    """Fourier-space pixels of a slice that a parallel-beam scan over ``angles`` never measured.

    By the Fourier slice theorem the projection at angle theta (rays along Y at theta = 0, the
    convention of :class:`~tomolearn.physics.projector.RayTransform`) samples the central line
    at theta from the k_X axis. A frequency is measured when its direction lies within the
    covered arc (modulo pi); the rest is the missing wedge.

    Parameters
    ----------
    shape : (int, int)
        Slice shape ``(Y, X)``; the mask is in the centred (``fftshift``) layout.
    angles : array_like
        Projection angles, radians; a contiguous arc (sparse sampling is not a wedge).

    Returns
    -------
    ndarray of bool, shape (Y, X)
        True inside the missing wedge (the zero frequency is measured).
    """
    if np.size(angles) < 2:
        raise fail("angles", "at least two projection angles", np.size(angles))
    start, width, _ = covered_arc(angles, np.pi)
    ky = np.fft.fftshift(np.fft.fftfreq(shape[0]))[:, None]
    kx = np.fft.fftshift(np.fft.fftfreq(shape[1]))[None, :]
    # direction of (kx, ky) as a projection angle; -ky because image rows run downwards
    direction = np.mod(np.arctan2(-ky, kx), np.pi)
    inside = np.mod(direction - start, np.pi) <= width + 1e-9
    mask = ~inside
    mask[shape[0] // 2, shape[1] // 2] = False
    return mask


def wedge_error(reference, image, angles) -> dict:
    """How well ``image`` recovers the Fourier content that the scan never measured.

    Returns
    -------
    dict
        ``wedge_relative_error``: ``||F(image) - F(reference)|| / ||F(reference)||`` over the
        missing wedge (1 for an image that is empty there, as WBP, 0 for perfect recovery);
        ``wedge_energy_ratio``: energy of ``image`` over energy of ``reference`` in the wedge.
    """
    ref = np.asarray(reference, dtype=np.float64)
    img = np.asarray(image, dtype=np.float64)
    if ref.shape != img.shape or ref.ndim != 2:
        raise fail("image", f"a 2D image of the reference's shape {ref.shape}", f"shape {img.shape}")
    mask = missing_wedge_mask(ref.shape, angles)
    fr, fi = np.fft.fftshift(np.fft.fft2(ref))[mask], np.fft.fftshift(np.fft.fft2(img))[mask]
    ref_energy = float(np.sum(np.abs(fr) ** 2))
    return {"wedge_relative_error": float(np.sqrt(np.sum(np.abs(fi - fr) ** 2) / max(ref_energy, 1e-30))),
            "wedge_energy_ratio": float(power_spectrum(img)[mask].sum() / max(ref_energy, 1e-30))}


def data_residual_map(volume, projections, op) -> tuple[np.ndarray, np.ndarray]:
    """Where a reconstruction disagrees with its measured projections, per voxel.

    The residual ``A x - y`` of every slice, back-projected with SIRT's row and column
    normalisation, ``C A^T R (A x - y)`` (``R = 1 / A 1``, ``C = 1 / A^T 1``): the correction
    the data ask for at each voxel, in the volume's unit (attenuation per unit). Zero where the
    output explains the data; large where it contradicts them.

    Parameters
    ----------
    volume : ndarray, shape (Z, Y, X)
    projections : ndarray, shape (A, Z, U)
        The measured line integrals the volume was reconstructed from.
    op : LinearOperator
        Slice-wise operator (items ``(Y, X) -> (A, U)``), e.g. the scan's ray transform.

    Returns
    -------
    map : ndarray, shape (Z, Y, X), float32
    relative : ndarray, shape (Z,)
        ``||A x - y|| / ||y||`` per slice.

    Raises
    ------
    ValueError
        If the shapes do not match the operator.
    """
    x = np.asarray(volume, dtype=np.float32)
    y = np.moveaxis(np.asarray(projections, dtype=np.float32), 1, 0)
    if x.ndim != 3 or y.shape[0] != x.shape[0]:
        raise fail("projections", f"(A, Z, U) with Z = {x.shape[0] if x.ndim == 3 else '?'} slices of the volume",
                   f"shape {np.shape(projections)}")
    r = op.forward_batch(x) - y
    rows = op.forward_batch(np.ones((1, *op.domain_shape), np.float32))
    cols = op.adjoint_batch(np.ones((1, *op.range_shape), np.float32))
    back = op.adjoint_batch(r / np.maximum(rows, 1e-6)) / np.maximum(cols, 1e-6)
    relative = np.linalg.norm(r.reshape(len(r), -1), axis=1) / np.maximum(np.linalg.norm(y.reshape(len(y), -1), axis=1), 1e-30)
    return back.astype(np.float32), relative.astype(np.float32)


def null_space_map(volume, op, n_iter: int = 30) -> np.ndarray:
    """The part of a reconstruction that the measured angles do not determine, per voxel.

    ``x - x_measured``, where ``x_measured`` is the least-squares fit (CGLS from zero, which
    stays in the row space of ``A``) of the output's own projections ``A x``: what the
    reconstruction holds beyond anything the data could have told it. For a learned method,
    where it guessed; for a limited arc, mostly the missing-wedge content.

    Parameters
    ----------
    volume : ndarray, shape (Z, Y, X)
    op : LinearOperator
        Slice-wise operator of the measured geometry.
    n_iter : int
        CGLS iterations (30 resolve the row space of a 128² limited-angle transform to ~1 %).

    Returns
    -------
    ndarray, shape (Z, Y, X), float32
    """
    from .recon.iterative import cgls

    x = np.asarray(volume, dtype=np.float32)
    own = op.forward_batch(x)
    fitted = cgls(np.moveaxis(own, 0, 1), op, positive_int(n_iter, "n_iter"), nonneg=False)
    return (x - np.asarray(fitted, np.float32).reshape(x.shape)).astype(np.float32)


def ptycho_data_residual_map(volume, scan, n_slabs: int = 5, n_modes: int | None = None, angle_batch: int = 4,
                             max_phase_step: float = 0.05, device: str = "cpu") -> tuple[np.ndarray, float]:
    """Where a δ volume disagrees with its measured diffraction patterns, per voxel (ptycho-tomography).

    The nonlinear counterpart of :func:`data_residual_map`: the multislice data term
    ``L(δ) = 1/2 · mean_θ,j ||Σ_m |u|² − g||²`` (seed 001's Eq. 3, on the scan's full grid, its
    patterns and ``n_slabs`` slabs) is evaluated at the output, and the map is the step
    ``s ∇L`` that a quadratic line fit along the gradient takes (the step of the approximant's
    gradient descent): the correction the patterns ask for at each voxel, in δ, positive where
    the output holds more δ than the data support. Zero where the output explains the patterns.

    Parameters
    ----------
    volume : ndarray, shape (Z, Y, X)
        δ (dimensionless) on ``scan.geometry.volume_shape``.
    scan : PtychoScan
        The measured patterns ``(A, J, Q, Q)``, probe modes and geometry.
    n_slabs : int
        Slabs of the multislice model (use those of the model the method fits).
    n_modes : int, optional
        Probe modes used (default all in the file).
    angle_batch : int
        Angles per forward/backward batch (memory).
    max_phase_step : float
        Radians; the trial step changes the largest slab phase by this much.
    device : str
        Torch device.

    Returns
    -------
    map : ndarray, shape (Z, Y, X), float32
    relative : float
        ``||I(δ) − g|| / ||g||`` over all patterns.

    Raises
    ------
    ValueError
        If ``volume`` does not have the scan's grid shape.

    References
    ----------
    Z. Guo et al., "Three-dimensional nanoscale reduced-angle ptycho-tomographic imaging with deep
    learning (RAPID)", eLight 3, 7 (2023), Eq. 3.
    """
    import torch

    from .physics.multislice import MultisliceOperator
    from .recon.ptycho import intensity_loss, quadratic_step

    g = scan.geometry
    x = np.asarray(volume, dtype=np.float32)
    if x.shape != tuple(g.volume_shape):
        raise fail("volume", f"δ on the scan's grid {tuple(g.volume_shape)}", f"shape {x.shape}")
    op = MultisliceOperator(g, scan.modes(n_modes), n_slabs=n_slabs, angle_batch=angle_batch)
    data = torch.as_tensor(scan.intensities(), device=device)
    delta = torch.tensor(x, device=device, requires_grad=True)

    def loss_at(values, backward=False) -> float:
        return intensity_loss(op, lambda: values, data, angle_batch, backward)

    l0 = loss_at(delta, backward=True)
    grad = delta.grad.detach()
    relative = float(np.sqrt(2 * l0 * g.n_angles * g.n_positions) / max(float(data.norm()), 1e-30))
    gmax = float(grad.abs().max())
    if gmax == 0 or not np.isfinite(gmax):
        return np.zeros_like(x), relative
    phase_per_delta = 2 * np.pi / g.wavelength_m * g.voxel_size_m * float(max(op.slab_sizes))
    with torch.no_grad():
        step = quadratic_step(loss_at, delta.detach(), grad, l0, max_phase_step / (phase_per_delta * gmax))
    return (step * grad).cpu().numpy().astype(np.float32), relative


def _flat_pair(a, b, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size < 2:
        raise fail(name, f"an array of the other map's size ({y.size} values, >= 2)", f"{x.size} values")
    return x, y


def spearman(trust_map, abs_error) -> float:
    """Spearman rank correlation between a trust map and the absolute error (1: perfect ranking).

    Raises
    ------
    ValueError
        If the arrays differ in size.
    """
    from scipy.stats import spearmanr

    u, e = _flat_pair(trust_map, abs_error, "trust_map")
    rho = spearmanr(u, e).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def sparsification(trust_map, abs_error, steps: int = 20) -> dict:
    """Sparsification curve and AUSE of a trust map against the absolute error.

    Voxels are removed in order of decreasing trust-map value; the curve is the mean error of
    those left, relative to the mean error of all. The oracle removes them by decreasing error.
    AUSE, the area between the two curves, is 0 for a map that ranks errors perfectly.

    Returns
    -------
    dict
        ``fractions`` removed, ``curve``, ``oracle`` (both relative mean errors) and ``ause``.

    References
    ----------
    E. Ilg et al., "Uncertainty estimates and multi-hypotheses networks for optical flow",
    ECCV 2018 (sparsification and AUSE).
    """
    u, e = _flat_pair(trust_map, abs_error, "trust_map")
    steps = positive_int(steps, "steps")
    fractions = np.linspace(0, 0.95, steps)
    total = max(float(e.mean()), 1e-30)

    def curve(order):
        ranked = e[order]
        return np.array([ranked[int(round(f * e.size)):].mean() / total for f in fractions])

    by_map, by_error = curve(np.argsort(-u, kind="stable")), curve(np.argsort(-e, kind="stable"))
    gap = by_map - by_error
    ause = float(np.sum((gap[1:] + gap[:-1]) / 2 * np.diff(fractions)))
    return {"fractions": fractions.round(4).tolist(), "curve": by_map.round(4).tolist(),
            "oracle": by_error.round(4).tolist(), "ause": round(ause, 5)}


def sigma_scale(uncertainty, abs_error, level: float = 0.95) -> float:
    """Recalibration factor ``s`` for which ``|error| <= 2 s σ`` holds on a fraction ``level`` of voxels.

    Fit it on validation data; apply it to test data with :func:`coverage`.
    """
    u, e = _flat_pair(uncertainty, abs_error, "uncertainty")
    ratio = e / np.maximum(2 * u, 1e-12)
    return float(np.quantile(ratio, level))


def coverage(uncertainty, abs_error, scale: float = 1.0) -> float:
    """Fraction of voxels whose absolute error lies within ``±2 · scale · σ``."""
    u, e = _flat_pair(uncertainty, abs_error, "uncertainty")
    return float(np.mean(e <= 2 * scale * u))


def feature_auc(trust_map, feature_mask) -> float:
    """Area under the ROC curve of a trust map as a detector of the pixels of a feature (1: perfect)."""
    from sklearn.metrics import roc_auc_score

    u, m = _flat_pair(trust_map, feature_mask, "trust_map")
    labels = m > 0
    if labels.all() or not labels.any():
        raise fail("feature_mask", "some feature pixels and some background", f"{int(labels.sum())} of {labels.size}")
    return float(roc_auc_score(labels, np.abs(u)))
