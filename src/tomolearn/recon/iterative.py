"""Iterative reconstruction on the ASTRA ray transform: SIRT, SART, CGLS and TV (PDHG).

All methods work on a stack of slices at once (the operator is applied slice by slice),
accept ``x0`` for warm starts, report progress, and call ``callback(iteration, x)`` after
each iteration; a callback that returns ``True`` stops the iterations early.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .._checks import fail, finite_array, positive_int
from ..geometry import _Geometry
from ..physics.projector import RayTransform
from ..progress import progress

Callback = Callable[[int, np.ndarray], "bool | None"]


def _prepare(projections, geometry, op):
    proj = finite_array(projections, "projections", ndim=(2, 3))
    single = proj.ndim == 2
    stack = proj[:, None] if single else proj
    if stack.shape[0] != geometry.n_angles or stack.shape[2] != geometry.n_detector:
        raise fail("projections", f"shape (A={geometry.n_angles}, [V,] U={geometry.n_detector})",
                   f"shape {proj.shape}", "the angles or detector size do not match the data")
    op = op or RayTransform(geometry)
    return np.ascontiguousarray(np.moveaxis(stack, 1, 0)), single, op  # (V, A, U)


def _start(x0, op: RayTransform, n: int, name: str = "x0") -> np.ndarray:
    shape = (n, *op.slice_shape)
    if x0 is None:
        return np.zeros(shape, np.float32)
    if np.size(x0) != np.prod(shape):
        raise fail(name, f"a volume of shape {shape}", f"shape {np.shape(x0)}")
    return finite_array(x0, name).reshape(shape).copy()


def _finish(x: np.ndarray, single: bool) -> np.ndarray:
    return x[0] if single else x


def _safe_inverse(a: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    np.divide(1.0, a, out=out, where=a > 1e-8)
    return out


def sirt(projections, geometry: _Geometry, n_iter: int = 100, nonneg: bool = True, x0=None,
         op: RayTransform | None = None, callback: Callback | None = None,
         show_progress: bool = False) -> np.ndarray:
    """Simultaneous iterative reconstruction technique (SIRT).

    ``x <- x + C A^T R (b - A x)`` with ``R``, ``C`` the inverse row and column sums of ``A``.

    Parameters
    ----------
    projections : ndarray, shape (A, U) or (A, V, U)
        Line integrals.
    geometry : ParallelGeometry or FanGeometry
    n_iter : int
    nonneg : bool
        Project onto ``x >= 0`` after each update.
    x0 : ndarray, optional
        Start, shape ``(Y, X)`` or ``(Z, Y, X)``.
    op : RayTransform, optional
    callback : callable, optional
        ``callback(iteration, x)``; return True to stop.
    show_progress : bool

    Returns
    -------
    ndarray, shape (Y, X) or (Z, Y, X)

    Raises
    ------
    ValueError
        On mismatching shapes, NaN/inf or a bad iteration count.

    References
    ----------
    P. Gilbert, "Iterative methods for the three-dimensional reconstruction of an object from
    projections", J. Theor. Biol. 36 (1972) 105-117.
    """
    n_iter = positive_int(n_iter, "n_iter")
    b, single, op = _prepare(projections, geometry, op)
    x = _start(x0, op, b.shape[0])
    R = _safe_inverse(op.forward_slices(np.ones((1, *op.slice_shape), np.float32)))
    C = _safe_inverse(op.adjoint_slices(np.ones((1, *op.sinogram_shape), np.float32)))
    for k in progress(range(n_iter), "SIRT", show_progress):
        x += C * op.adjoint_slices(R * (b - op.forward_slices(x)))
        if nonneg:
            np.maximum(x, 0, out=x)
        if callback is not None and callback(k, _finish(x, single)):
            break
    return _finish(x, single)


def sart(projections, geometry: _Geometry, n_iter: int = 10, n_subsets: int | None = None,
         relaxation: float = 1.0, nonneg: bool = True, x0=None, op=None,
         callback: Callback | None = None, show_progress: bool = False) -> np.ndarray:
    """Simultaneous algebraic reconstruction technique (SART) with ordered angle subsets.

    Each sub-iteration is a SIRT step restricted to one subset of projections; subsets are
    interleaved (angles ``k, k + S, k + 2S, ...``) so consecutive updates see different views.
    With one projection per subset this is Andersen & Kak's SART.

    Parameters
    ----------
    n_iter : int
        Full passes over all projections.
    n_subsets : int, optional
        Default: ``min(A, 20)``.
    relaxation : float
        Step factor in (0, 2).
    Other parameters and returns as :func:`sirt`.

    Raises
    ------
    ValueError
        On mismatching shapes, NaN/inf, or a relaxation outside (0, 2).

    References
    ----------
    A. H. Andersen and A. C. Kak, "Simultaneous algebraic reconstruction technique (SART)",
    Ultrasonic Imaging 6 (1984) 81-94.
    """
    n_iter = positive_int(n_iter, "n_iter")
    if not 0 < relaxation < 2:
        raise fail("relaxation", "a value in (0, 2)", relaxation)
    b, single, op = _prepare(projections, geometry, op)
    n_sub = min(positive_int(n_subsets, "n_subsets") if n_subsets else 20, geometry.n_angles)
    x = _start(x0, op, b.shape[0])
    subsets = []
    for s in range(n_sub):
        idx = np.arange(s, geometry.n_angles, n_sub)
        sub_op = RayTransform(geometry.subset(idx), op.model)
        R = _safe_inverse(sub_op.forward_slices(np.ones((1, *op.slice_shape), np.float32)))
        C = _safe_inverse(sub_op.adjoint_slices(np.ones((1, len(idx), geometry.n_detector), np.float32)))
        subsets.append((idx, sub_op, R, C))
    for k in progress(range(n_iter), "SART", show_progress):
        for idx, sub_op, R, C in subsets:
            r = b[:, idx] - sub_op.forward_slices(x)
            x += relaxation * C * sub_op.adjoint_slices(R * r)
            if nonneg:
                np.maximum(x, 0, out=x)
        if callback is not None and callback(k, _finish(x, single)):
            break
    return _finish(x, single)


def cgls(projections, geometry: _Geometry, n_iter: int = 30, nonneg: bool = True, x0=None,
         op=None, callback: Callback | None = None, show_progress: bool = False) -> np.ndarray:
    """Conjugate gradient least squares (CGLS) on ``min ||A x - b||^2``.

    Conjugate gradients cannot carry a constraint; with ``nonneg=True`` the result is clipped
    at zero at the end (the iterates stay unconstrained so the Krylov recursion holds).

    Parameters and returns as :func:`sirt`.

    References
    ----------
    M. R. Hestenes and E. Stiefel, "Methods of conjugate gradients for solving linear systems",
    J. Res. Natl. Bur. Stand. 49 (1952) 409-436.
    """
    n_iter = positive_int(n_iter, "n_iter")
    b, single, op = _prepare(projections, geometry, op)
    x = _start(x0, op, b.shape[0])
    r = b - op.forward_slices(x)
    s = op.adjoint_slices(r)
    p = s.copy()
    gamma = np.sum(s * s, axis=(1, 2), keepdims=True)
    for k in progress(range(n_iter), "CGLS", show_progress):
        q = op.forward_slices(p)
        alpha = gamma / np.maximum(np.sum(q * q, axis=(1, 2), keepdims=True), 1e-30)
        x += alpha * p
        r -= alpha * q
        s = op.adjoint_slices(r)
        gamma_new = np.sum(s * s, axis=(1, 2), keepdims=True)
        p = s + gamma_new / np.maximum(gamma, 1e-30) * p
        gamma = gamma_new
        if callback is not None and callback(k, _finish(np.maximum(x, 0) if nonneg else x, single)):
            break
    return _finish(np.maximum(x, 0) if nonneg else x, single)


def _grad(x: np.ndarray) -> np.ndarray:
    g = np.zeros((2, *x.shape), x.dtype)
    g[0, :, :-1] = x[:, 1:] - x[:, :-1]
    g[1, :, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    return g


def _div(p: np.ndarray) -> np.ndarray:
    """Negative adjoint of :func:`_grad`."""
    d = np.zeros(p.shape[1:], p.dtype)
    d[:, :-1] += p[0, :, :-1]
    d[:, 1:] -= p[0, :, :-1]
    d[:, :, :-1] += p[1, :, :, :-1]
    d[:, :, 1:] -= p[1, :, :, :-1]
    return d


def tv_pdhg(projections, geometry: _Geometry, weight: float = 0.01, n_iter: int = 200,
            nonneg: bool = True, x0=None, op=None, callback: Callback | None = None,
            show_progress: bool = False, prior=None, prior_weight: float = 0.0) -> np.ndarray:
    """Total-variation-regularised least squares by the primal-dual hybrid gradient method.

    Solves ``min_x 1/2 ||A x - b||^2 + weight * TV(x) + prior_weight / 2 * ||x - prior||^2``
    (isotropic 2D TV per slice, plus ``x >= 0`` if ``nonneg``; the last term only with a
    ``prior`` image, e.g. a network's output) with the Chambolle-Pock algorithm and its diagonal
    preconditioning (steps from the row and column sums of ``[A; grad]``), which converges
    about as fast as SIRT and needs no operator norm.

    Parameters
    ----------
    weight : float
        TV weight; the data term is in line integrals, so it scales with the attenuation
        values times the number of angles (try ``0.01 * A * mean(x)`` first).
    prior : ndarray, shape (Y, X) or (Z, Y, X), optional
        Image the solution is drawn towards where the data do not decide (e.g. in the
        missing wedge).
    prior_weight : float
        Its weight; comparable to the data term at about ``A * voxel_size**2``.
    Other parameters and returns as :func:`sirt`.

    Raises
    ------
    ValueError
        On mismatching shapes, NaN/inf, or a negative weight.

    References
    ----------
    A. Chambolle and T. Pock, "A first-order primal-dual algorithm for convex problems with
    applications to imaging", J. Math. Imaging Vis. 40 (2011) 120-145; T. Pock and
    A. Chambolle, "Diagonal preconditioning for first order primal-dual algorithms in convex
    optimization", ICCV 2011; E. Y. Sidky, J. H. Jorgensen, X. Pan, Phys. Med. Biol. 57 (2012).
    """
    n_iter = positive_int(n_iter, "n_iter")
    if not np.isfinite(weight) or weight < 0:
        raise fail("weight", "a finite TV weight >= 0", weight)
    if not np.isfinite(prior_weight) or prior_weight < 0:
        raise fail("prior_weight", "a finite weight >= 0", prior_weight)
    b, single, op = _prepare(projections, geometry, op)
    x = _start(x0, op, b.shape[0])
    p = None if prior is None or prior_weight == 0 else _start(prior, op, b.shape[0], "prior")
    xbar = x.copy()
    sigma_a = _safe_inverse(op.forward_slices(np.ones((1, *op.slice_shape), np.float32)))
    sigma_g = np.float32(0.5)  # each gradient row has two entries of magnitude 1
    tau = 1.0 / (op.adjoint_slices(np.ones((1, *op.sinogram_shape), np.float32)) + 4.0)
    y = np.zeros_like(b)
    z = np.zeros((2, *x.shape), np.float32)
    for k in progress(range(n_iter), "TV", show_progress):
        y = (y + sigma_a * (op.forward_slices(xbar) - b)) / (1 + sigma_a)
        z += sigma_g * _grad(xbar)
        z /= np.maximum(1.0, np.sqrt(z[0] ** 2 + z[1] ** 2) / max(weight, 1e-30))
        x_old = x
        x = x - tau * (op.adjoint_slices(y) - _div(z))
        if p is not None:  # prox of the quadratic prior term
            x = (x + tau * prior_weight * p) / (1 + tau * prior_weight)
        if nonneg:
            np.maximum(x, 0, out=x)
        xbar = 2 * x - x_old
        if callback is not None and callback(k, _finish(x, single)):
            break
    return _finish(x, single)


def poisson_log_likelihood(projections, estimate) -> float:
    """``sum(b log(A x) - A x)``: the objective MLEM increases at every iteration."""
    b = np.maximum(np.asarray(projections, dtype=np.float64), 0)
    ax = np.maximum(np.asarray(estimate, dtype=np.float64), 1e-12)
    return float(np.sum(b * np.log(ax) - ax))


def mlem(projections, geometry: _Geometry, n_iter: int = 50, n_subsets: int = 1, x0=None, op=None,
         callback: Callback | None = None, show_progress: bool = False) -> np.ndarray:
    """Maximum-likelihood expectation maximisation (MLEM), or OSEM with ``n_subsets > 1``.

    ``x <- x / A^T 1 * A^T (b / A x)`` on any linear operator with non-negative entries.
    Passing ``op=FlyScanTransform(geometry, exposure_arc)`` gives the fly-scan-aware
    ("modified") MLEM of seed 003, which models the blur of continuous rotation; the default
    plain ray transform is the naive MLEM that treats a fly scan as a step scan.

    Parameters
    ----------
    projections : ndarray, shape (A, U) or (A, V, U)
        Non-negative data (line integrals; negative noise excursions are clipped to 0).
    geometry : ParallelGeometry or FanGeometry
    n_iter : int
        Full passes over the data.
    n_subsets : int
        Ordered subsets of interleaved angles (1 = MLEM).
    x0 : ndarray, optional
        Positive start; default a constant of the right mean.
    op : RayTransform or FlyScanTransform, optional
        Operator with ``forward_slices``/``adjoint_slices``/``subset``.
    callback, show_progress
        As :func:`sirt`.

    Returns
    -------
    ndarray, shape (Y, X) or (Z, Y, X), non-negative.

    Raises
    ------
    ValueError
        On mismatching shapes, NaN/inf, or a bad iteration or subset count.

    References
    ----------
    L. A. Shepp and Y. Vardi, IEEE Trans. Med. Imaging 1 (1982) 113-122; H. M. Hudson and
    R. S. Larkin, IEEE Trans. Med. Imaging 13 (1994) 601-609 (OSEM); seed 003 (modified MLEM).
    """
    n_iter = positive_int(n_iter, "n_iter")
    n_sub = min(positive_int(n_subsets, "n_subsets"), geometry.n_angles)
    b, single, op = _prepare(projections, geometry, op)
    b = np.maximum(b, 0)
    if x0 is None:
        ones = np.ones((1, *op.slice_shape), np.float32)
        level = b.sum(axis=(1, 2), keepdims=True) / max(float(op.forward_slices(ones).sum()), 1e-12)
        x = np.broadcast_to(np.maximum(level, 1e-6), (b.shape[0], *op.slice_shape)).astype(np.float32)
    else:
        x = np.maximum(_start(x0, op, b.shape[0]), 1e-6)
    subsets = []
    for s in range(n_sub):
        idx = np.arange(s, geometry.n_angles, n_sub)
        sub_op = op if n_sub == 1 else op.subset(idx)
        sens = sub_op.adjoint_slices(np.ones((1, len(idx), geometry.n_detector), np.float32))
        subsets.append((idx, sub_op, _safe_inverse(sens)))
    for k in progress(range(n_iter), "MLEM", show_progress):
        for idx, sub_op, inv_sens in subsets:
            ratio = b[:, idx] / np.maximum(sub_op.forward_slices(x), 1e-12)
            x = x * inv_sens * sub_op.adjoint_slices(ratio)
        if callback is not None and callback(k, _finish(x, single)):
            break
    return _finish(x, single)
