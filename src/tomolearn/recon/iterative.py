"""Iterative reconstruction on the ASTRA ray transform: SIRT, SART, CGLS and TV (PDHG).

Every solver takes the data and ONE operator ``op``: any slice-wise
:class:`~tomolearn.physics.base.LinearOperator` with items ``(Y, X) -> (A, U)`` (the ray
transform, the fly-scan transform, a third-party model), or a geometry, which
:func:`~tomolearn.physics.make_operator` turns into the ASTRA ray transform. All methods work
on a stack of slices at once, accept ``x0`` for warm starts, report progress, and call
``callback(iteration, x)`` after each iteration; a callback that returns ``True`` stops the
iterations early.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .._checks import fail, finite_array, positive_int
from ..physics.base import LinearOperator
from ..physics.projector import make_operator
from ..progress import progress

Callback = Callable[[int, np.ndarray], "bool | None"]


def prepare(projections, op) -> tuple[np.ndarray, bool, LinearOperator]:
    """Check data against an operator: ``(A, U)`` or ``(A, V, U)`` -> sinograms ``(V, A, U)``.

    Returns the sinogram stack, whether a single sinogram came in, and the operator
    (:func:`~tomolearn.physics.make_operator` of ``op``).

    Raises
    ------
    ValueError
        On NaN/inf or a shape that does not match the operator's ``range_shape``.
    TypeError
        If ``op`` is neither an operator nor a geometry.
    """
    op = make_operator(op)
    if len(op.range_shape) != 2:
        raise fail("op", "a slice-wise operator with sinograms (A, U) as items", f"range_shape {op.range_shape}")
    proj = finite_array(projections, "projections", ndim=(2, 3))
    single = proj.ndim == 2
    stack = proj[:, None] if single else proj
    n_angles, n_det = op.range_shape
    if stack.shape[0] != n_angles or stack.shape[2] != n_det:
        raise fail("projections", f"shape (A={n_angles}, [V,] U={n_det})",
                   f"shape {proj.shape}", "the angles or detector size do not match the data")
    return np.ascontiguousarray(np.moveaxis(stack, 1, 0)), single, op  # (V, A, U)


def _start(x0, op: LinearOperator, n: int, name: str = "x0") -> np.ndarray:
    shape = (n, *op.domain_shape)
    if x0 is None:
        return np.zeros(shape, np.float32)
    if np.size(x0) != np.prod(shape):
        raise fail(name, f"a volume of shape {shape}", f"shape {np.shape(x0)}")
    return finite_array(x0, name).reshape(shape).copy()


def ordered_subsets(op: LinearOperator, n_subsets: int) -> list[tuple[np.ndarray, LinearOperator]]:
    """Interleaved view subsets ``k, k + S, k + 2S, ...`` of ``op`` and the restricted operators.

    One subset returns ``op`` itself (no restriction needed).
    """
    if n_subsets == 1:
        return [(np.arange(op.n_views), op)]
    return [(idx, op.subset(idx)) for idx in (np.arange(k, op.n_views, n_subsets) for k in range(n_subsets))]


def _finish(x: np.ndarray, single: bool) -> np.ndarray:
    return x[0] if single else x


def _safe_inverse(a: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    np.divide(1.0, a, out=out, where=a > 1e-8)
    return out


def sirt(projections, op, n_iter: int = 100, nonneg: bool = True, x0=None,
         callback: Callback | None = None, show_progress: bool = False) -> np.ndarray:
    """Simultaneous iterative reconstruction technique (SIRT).

    ``x <- x + C A^T R (b - A x)`` with ``R``, ``C`` the inverse row and column sums of ``A``.

    Parameters
    ----------
    projections : ndarray, shape (A, U) or (A, V, U)
        Line integrals.
    op : LinearOperator, ParallelGeometry or FanGeometry
        The forward model (a geometry gives its ASTRA ray transform).
    n_iter : int
    nonneg : bool
        Project onto ``x >= 0`` after each update.
    x0 : ndarray, optional
        Start, shape ``(Y, X)`` or ``(Z, Y, X)``.
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
    b, single, op = prepare(projections, op)
    x = _start(x0, op, b.shape[0])
    R = _safe_inverse(op.forward_batch(np.ones((1, *op.domain_shape), np.float32)))
    C = _safe_inverse(op.adjoint_batch(np.ones((1, *op.range_shape), np.float32)))
    for k in progress(range(n_iter), "SIRT", show_progress):
        x += C * op.adjoint_batch(R * (b - op.forward_batch(x)))
        if nonneg:
            np.maximum(x, 0, out=x)
        if callback is not None and callback(k, _finish(x, single)):
            break
    return _finish(x, single)


def sart(projections, op, n_iter: int = 10, n_subsets: int | None = None,
         relaxation: float = 1.0, nonneg: bool = True, x0=None,
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
    b, single, op = prepare(projections, op)
    n_sub = min(positive_int(n_subsets, "n_subsets") if n_subsets else 20, op.n_views)
    x = _start(x0, op, b.shape[0])
    subsets = []
    for idx, sub_op in ordered_subsets(op, n_sub):  # the caller's operator, restricted: never a stand-in
        R = _safe_inverse(sub_op.forward_batch(np.ones((1, *op.domain_shape), np.float32)))
        C = _safe_inverse(sub_op.adjoint_batch(np.ones((1, *sub_op.range_shape), np.float32)))
        subsets.append((idx, sub_op, R, C))
    for k in progress(range(n_iter), "SART", show_progress):
        for idx, sub_op, R, C in subsets:
            r = b[:, idx] - sub_op.forward_batch(x)
            x += relaxation * C * sub_op.adjoint_batch(R * r)
            if nonneg:
                np.maximum(x, 0, out=x)
        if callback is not None and callback(k, _finish(x, single)):
            break
    return _finish(x, single)


def cgls(projections, op, n_iter: int = 30, nonneg: bool = True, x0=None,
         callback: Callback | None = None, show_progress: bool = False) -> np.ndarray:
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
    b, single, op = prepare(projections, op)
    x = _start(x0, op, b.shape[0])
    r = b - op.forward_batch(x)
    s = op.adjoint_batch(r)
    p = s.copy()
    gamma = np.sum(s * s, axis=(1, 2), keepdims=True)
    for k in progress(range(n_iter), "CGLS", show_progress):
        q = op.forward_batch(p)
        alpha = gamma / np.maximum(np.sum(q * q, axis=(1, 2), keepdims=True), 1e-30)
        x += alpha * p
        r -= alpha * q
        s = op.adjoint_batch(r)
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


def tv_pdhg(projections, op, weight: float = 0.01, n_iter: int = 200,
            nonneg: bool = True, x0=None, callback: Callback | None = None,
            show_progress: bool = False, prior=None, prior_weight: float = 0.0,
            balanced: bool = True) -> np.ndarray:
    """Total-variation-regularised least squares by the primal-dual hybrid gradient method.

    Solves ``min_x 1/2 ||A x - b||^2 + weight * TV(x) + prior_weight / 2 * ||x - prior||^2``
    (isotropic 2D TV per slice, plus ``x >= 0`` if ``nonneg``; the last term only with a
    ``prior`` image, e.g. a network's output) with the Chambolle-Pock algorithm and its diagonal
    preconditioning (steps from the row and column sums of ``[A; grad]``), which needs no
    operator norm. Those steps can be badly out of balance (many angles and heavy noise: the
    iterate then barely moves in hundreds of iterations); with ``balanced`` the primal steps
    are scaled by ``g`` and the dual ones by ``1/g``, where ``g`` moves by ``1/(1-a)`` or
    ``1-a`` whenever the primal residual exceeds the dual one three-fold or vice versa, and
    ``a`` (from 0.5) shrinks by 0.95 at each move, so the steps settle and convergence is kept
    (Goldstein et al. 2015). Where the steps are balanced nothing moves and the iterates are
    those of the fixed steps.

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
    balanced : bool
        Rebalance the primal and dual steps by their residuals (default); False: the fixed
        preconditioned steps throughout.
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
    optimization", ICCV 2011; E. Y. Sidky, J. H. Jorgensen, X. Pan, Phys. Med. Biol. 57 (2012);
    T. Goldstein, M. Li and X. Yuan, "Adaptive primal-dual splitting methods for statistical
    learning and image processing", NeurIPS 2015.
    """
    n_iter = positive_int(n_iter, "n_iter")
    if not np.isfinite(weight) or weight < 0:
        raise fail("weight", "a finite TV weight >= 0", weight)
    if not np.isfinite(prior_weight) or prior_weight < 0:
        raise fail("prior_weight", "a finite weight >= 0", prior_weight)
    b, single, op = prepare(projections, op)
    x = _start(x0, op, b.shape[0])
    p = None if prior is None or prior_weight == 0 else _start(prior, op, b.shape[0], "prior")
    xbar = x.copy()
    sigma_a0 = _safe_inverse(op.forward_batch(np.ones((1, *op.domain_shape), np.float32)))
    sigma_g0 = np.float32(0.5)  # each gradient row has two entries of magnitude 1
    tau0 = 1.0 / (op.adjoint_batch(np.ones((1, *op.range_shape), np.float32)) + 4.0)
    sigma_a, sigma_g, tau = sigma_a0, sigma_g0, tau0
    balance = _StepBalance(b.shape[0]) if balanced else None
    y = np.zeros_like(b)
    z = np.zeros((2, *x.shape), np.float32)
    kty = ax = gx = None  # K^T y and K x of the last iterates (balanced steps only)
    ax_bar = None
    for k in progress(range(n_iter), "TV", show_progress):
        y_old, z_old = y, z
        if ax_bar is None:  # the balanced steps have A x̄ = 2 A x - A x_old already: one projection per iteration
            ax_bar = op.forward_batch(xbar)
        if ax is None:
            ax = ax_bar  # the first x̄ is the start x itself
        y = (y + sigma_a * (ax_bar - b)) / (1 + sigma_a)
        ax_bar = None
        z = z + sigma_g * _grad(xbar)
        z /= np.maximum(1.0, np.sqrt(z[0] ** 2 + z[1] ** 2) / max(weight, 1e-30))
        x_old = x
        aty = op.adjoint_batch(y)
        x = x - tau * (aty - _div(z))
        if p is not None:  # prox of the quadratic prior term
            x = (x + tau * prior_weight * p) / (1 + tau * prior_weight)
        if nonneg:
            np.maximum(x, 0, out=x)
        xbar = 2 * x - x_old
        if balance is not None:
            kty_new, ax_new, gx_new = aty - _div(z), op.forward_batch(x), _grad(x)
            ax_bar = 2 * ax_new - ax
            if kty is not None and balance.update(x_old, x, y_old, y, z_old, z, kty, kty_new, ax, ax_new, gx, gx_new,
                                                  tau, sigma_a, sigma_g):
                g = balance.gamma
                sigma_a, sigma_g, tau = sigma_a0 / g, sigma_g0 / g, tau0 * g
            kty, ax, gx = kty_new, ax_new, gx_new
        if callback is not None and callback(k, _finish(x, single)):
            break
    return _finish(x, single)


class _StepBalance:
    """Residual balancing of :func:`tv_pdhg`'s steps, one factor ``gamma`` per slice (Goldstein et al. 2015).

    The test uses the residuals of the primal-first form of the iteration,
    ``p = (x - x')/tau - K^T (y - y')`` and ``d = (y - y')/sigma - K (x - x')``, measured in the
    metrics of the steps, on :func:`tv_pdhg`'s dual-first iterates: a balance test only (any
    test keeps convergence, as the step changes shrink geometrically), chosen because it leaves
    problems whose fixed steps are balanced untouched (benchmarks/tv_balance_impact.py).
    """

    def __init__(self, n: int, alpha: float = 0.5, eta: float = 0.95, delta: float = 3.0) -> None:
        self.gamma = np.ones((n, 1, 1), np.float32)
        self.alpha = np.full((n, 1, 1), alpha, np.float32)
        self.eta, self.delta = eta, delta

    def update(self, x, x_new, y, y_new, z, z_new, kty, kty_new, ax, ax_new, gx, gx_new, tau, s_a, s_g) -> bool:
        """Move ``gamma`` where one residual dominates; True if any slice's moved."""
        primal = np.sum(tau * ((x - x_new) / tau - (kty - kty_new)) ** 2, axis=(1, 2))
        # rays that miss the grid have no step (sigma 0) and no dual update: they add nothing
        dy = np.divide(y - y_new, s_a, out=np.zeros_like(y), where=np.broadcast_to(s_a > 0, y.shape))
        dual = (np.sum(s_a * (dy - (ax - ax_new)) ** 2, axis=(1, 2))
                + np.sum(s_g * ((z - z_new) / s_g - (gx - gx_new)) ** 2, axis=(0, 2, 3)))
        up = (primal > self.delta ** 2 * dual)[:, None, None]  # squared norms: the primal lags, larger primal steps
        down = (primal < dual / self.delta ** 2)[:, None, None]
        if not (up.any() or down.any()):
            return False
        self.gamma = np.where(up, self.gamma / (1 - self.alpha),
                              np.where(down, self.gamma * (1 - self.alpha), self.gamma)).astype(np.float32)
        self.alpha = np.where(up | down, self.alpha * self.eta, self.alpha).astype(np.float32)
        return True


def tv_weight(relative: float, geometry, level: float) -> float:
    """Absolute TV weight from a relative one: ``relative * A * voxel^2 * level``.

    The data term grows with the number of angles ``A`` and the squared voxel size, and the
    TV term with the attenuation ``level``; this keeps one relative weight meaningful across
    scans. The one rule of the project (TV baselines, the TV method, the missing-wedge
    refinement); ``level`` defaults, where unknown, to :func:`intensity_level`.
    """
    return float(relative) * geometry.n_angles * geometry.voxel_size**2 * float(level)


def intensity_level(image) -> float:
    """The attenuation level of an image for :func:`tv_weight`: its 99th percentile (floored at 1e-12)."""
    return max(float(np.percentile(image, 99)), 1e-12)


def poisson_log_likelihood(projections, estimate) -> float:
    """``sum(b log(A x) - A x)``: the objective MLEM increases at every iteration."""
    b = np.maximum(np.asarray(projections, dtype=np.float64), 0)
    ax = np.maximum(np.asarray(estimate, dtype=np.float64), 1e-12)
    return float(np.sum(b * np.log(ax) - ax))


def mlem(projections, op, n_iter: int = 50, n_subsets: int = 1, x0=None,
         callback: Callback | None = None, show_progress: bool = False) -> np.ndarray:
    """Maximum-likelihood expectation maximisation (MLEM), or OSEM with ``n_subsets > 1``.

    ``x <- x / A^T 1 * A^T (b / A x)`` on any linear operator with non-negative entries.
    Passing ``FlyScanTransform(geometry, exposure_arc)`` as ``op`` gives the fly-scan-aware
    ("modified") MLEM of seed 003, which models the blur of continuous rotation; the default
    plain ray transform is the naive MLEM that treats a fly scan as a step scan.

    Parameters
    ----------
    projections : ndarray, shape (A, U) or (A, V, U)
        Non-negative data (line integrals; negative noise excursions are clipped to 0).
    op : LinearOperator (non-negative entries), ParallelGeometry or FanGeometry
        E.g. :class:`~tomolearn.physics.RayTransform` or
        :class:`~tomolearn.physics.FlyScanTransform`; ``subset`` is needed for OSEM.
    n_iter : int
        Full passes over the data.
    n_subsets : int
        Ordered subsets of interleaved angles (1 = MLEM).
    x0 : ndarray, optional
        Positive start; default a constant of the right mean.
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
    b, single, op = prepare(projections, op)
    n_sub = min(positive_int(n_subsets, "n_subsets"), op.n_views)
    b = np.maximum(b, 0)
    if x0 is None:
        ones = np.ones((1, *op.domain_shape), np.float32)
        level = b.sum(axis=(1, 2), keepdims=True) / max(float(op.forward_batch(ones).sum()), 1e-12)
        x = np.broadcast_to(np.maximum(level, 1e-6), (b.shape[0], *op.domain_shape)).astype(np.float32)
    else:
        x = np.maximum(_start(x0, op, b.shape[0]), 1e-6)
    subsets = []
    for idx, sub_op in ordered_subsets(op, n_sub):
        sens = sub_op.adjoint_batch(np.ones((1, *sub_op.range_shape), np.float32))
        subsets.append((idx, sub_op, _safe_inverse(sens)))
    for k in progress(range(n_iter), "MLEM", show_progress):
        for idx, sub_op, inv_sens in subsets:
            ratio = b[:, idx] / np.maximum(sub_op.forward_batch(x), 1e-12)
            x = x * inv_sens * sub_op.adjoint_batch(ratio)
        if callback is not None and callback(k, _finish(x, single)):
            break
    return _finish(x, single)
