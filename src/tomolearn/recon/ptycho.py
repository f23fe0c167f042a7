"""Ptycho-tomography reconstruction: the one-step approximant and the conventional two-step route.

* :func:`approximant` — seed 001's one-step reduced-angle reconstruction: a few gradient-descent
  steps on the multislice data term (Eq. 3) from all angles at once, ``L`` slabs, ``M``
  probe modes, patterns cropped ×2 (a ×2 coarser object), then the slabs dilated to the
  output grid (section 4.3).
* :func:`ptychography` — per-angle ptychographic phase retrieval of a 2D transmission
  (projection approximation, known probe modes; a regularised parallel PIE / least-squares
  update, batched over positions and angles), then :func:`phase_projections`: phase
  unwrapping and phase-ramp removal on the free-space margin, as line integrals of δ.
* :func:`two_step` — those projections reconstructed by the project's ray transform
  (SART with 10 iterations, or FBP): the golden standard on the full angle set, the seed's
  baselines on the reduced one.

References
----------
Z. Guo et al., "Three-dimensional nanoscale reduced-angle ptycho-tomographic imaging with deep
learning (RAPID)", eLight 3, 7 (2023), sections 4.2, 4.3 and 4.5.
A. M. Maiden, D. Johnson, P. Li, "Further improvements to the ptychographical iterative engine",
Optica 4, 736 (2017) (rPIE).
M. Odstrčil, A. Menzel, M. Guizar-Sicairos, "Iterative least-squares solver for generalized
maximum-likelihood ptychography", Opt. Express 26, 3108 (2018).
"""
from __future__ import annotations

import numpy as np

from .._checks import fail, positive_int
from ..progress import progress


def _torch():
    import torch

    return torch


def crop_patterns(patterns, factor: int) -> np.ndarray:
    """Central ``Q / factor`` pixels of centred patterns ``(..., Q, Q)`` (the low frequencies)."""
    q = np.shape(patterns)[-1]
    c = q // factor
    s = (q - c) // 2
    return np.asarray(patterns)[..., s:s + c, s:s + c]


def crop_probe(probe, factor: int) -> np.ndarray:
    """Probe modes ``(M, Q, Q)`` on a ``factor`` times coarser grid (Fourier cropping).

    The coarse probe reproduces the central ``Q / factor`` pixels of the patterns of any
    object smooth on the coarse grid, with the same scale (no renormalisation of the data).
    """
    spec = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(probe, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    spec = crop_patterns(spec, factor)
    out = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(spec, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    return out.astype(np.complex64)


def intensity_loss(op, make_delta, data, angle_batch: int, backward: bool) -> float:
    """Seed 001's Eq. 3, ``1/2 · mean_θ,j ||Σ_m |u|² − g||²``, accumulated (with gradients) over angle batches.

    ``make_delta()`` builds the object for each batch, so each batch's graph is freed after
    its backward pass (memory stays that of one batch).
    """
    torch = _torch()
    n_a, n_j = op.geometry.n_angles, op.geometry.n_positions
    total = 0.0
    for idx in angle_batches(n_a, angle_batch):
        with torch.set_grad_enabled(backward):
            pred = op.intensities(make_delta(), idx)
            loss = 0.5 * ((pred - data[idx]) ** 2).sum() / (n_a * n_j)
            if backward:
                loss.backward()
        total += float(loss.detach())
    return total


def quadratic_step(loss_at, f, grad, l0: float, trial: float) -> float:
    """The step ``s`` along ``−grad`` that minimises a parabola through the loss at ``f`` and ``f − trial·grad``.

    The parabola has the loss ``l0`` and slope ``−||grad||²`` at ``s = 0`` and passes through
    ``loss_at(f − trial·grad)``; where it is not convex, ``2 · trial``.
    """
    l1 = loss_at(f - trial * grad)
    slope = -float((grad ** 2).sum())
    curv = 2 * (l1 - l0 - slope * trial) / trial ** 2
    return -slope / curv if curv > 0 else 2 * trial


def approximant(scan, n_iter: int = 2, n_slabs: int = 5, n_modes: int | None = None, downsample: int = 2,
                max_phase_step: float = 0.05, angle_batch: int = 4, device: str = "cpu",
                show_progress: bool = False, callback=None) -> np.ndarray:
    """Seed 001's approximant: gradient descent on the multislice data term, then slab dilation.

    The unknown is δ on ``L`` slabs along Y (the beam at ``θ = 0``) of a grid ``downsample``
    times coarser in Z and X; the forward model dilates the slabs to the coarse grid,
    rotates it to each angle and runs the multislice model with ``L`` slabs on patterns
    cropped to their central ``Q / downsample`` pixels. Each step ``f ← f − s ∇L`` takes ``s``
    from a one-dimensional quadratic fit of the loss along ``−∇L`` (the trial step changes the
    largest slab phase by ``max_phase_step`` radians), halved while the loss does not drop.

    Parameters
    ----------
    scan : PtychoScan
        Patterns ``(A, J, Q, Q)`` (counts with ``photons``, or intensities), probe, geometry.
    n_iter : int
        Gradient steps ``k`` (seed: 2).
    n_slabs : int
        ``L`` (seed: 5).
    n_modes : int, optional
        Probe modes used (default all in the file; seed: 12).
    downsample : int
        Pattern cropping / object coarsening factor (seed: 2).
    max_phase_step : float
        Radians; sets the trial step of the line search.
    angle_batch : int
        Angles per batch of the forward/backward pass (memory).
    device : str
    show_progress : bool
    callback : callable, optional
        ``callback(k, loss)`` after each step; returning True stops early with the current
        estimate. Ctrl-C (``KeyboardInterrupt``) is not caught: an interrupted run writes
        nothing.

    Returns
    -------
    ndarray, shape (Z, Y, X), float32
        δ on the scan's grid (``scan.geometry.volume_shape``).

    Raises
    ------
    ValueError
        On bad counts of iterations, slabs, modes or a factor not dividing ``Q``.
    """
    torch = _torch()
    k_steps = int(n_iter)
    if k_steps < 0:
        raise fail("n_iter", "a number of gradient steps >= 0", n_iter)
    d = positive_int(downsample, "downsample")
    g = scan.geometry
    coarse = g.downsampled(d)
    if positive_int(n_slabs, "n_slabs") > coarse.volume_shape[1]:
        raise fail("n_slabs", f"at most {coarse.volume_shape[1]} slabs on the coarse grid", n_slabs)
    from ..physics.multislice import MultisliceOperator

    op = MultisliceOperator(coarse, crop_probe(scan.modes(n_modes), d), n_slabs=n_slabs, angle_batch=angle_batch)
    data = torch.as_tensor(crop_patterns(scan.intensities(), d), device=device)
    zc, yc, xc = coarse.volume_shape
    sizes = torch.as_tensor(op.slab_sizes, device=device)
    f = torch.zeros((zc, n_slabs, xc), device=device, requires_grad=True)
    dilate = lambda s: s.repeat_interleave(sizes, dim=1)  # noqa: E731  (slabs -> coarse grid)
    phase_per_delta = 2 * np.pi / coarse.wavelength_m * coarse.voxel_size_m * float(max(op.slab_sizes))

    def loss_at(values, backward=False) -> float:
        return intensity_loss(op, lambda: dilate(values), data, angle_batch, backward)

    for k in progress(range(k_steps), "approximant", show_progress):
        f.grad = None
        l0 = loss_at(f, backward=True)
        grad = f.grad.detach().clone()
        gmax = float(grad.abs().max())
        if gmax == 0:
            break
        with torch.no_grad():
            trial = max_phase_step / (phase_per_delta * gmax)
            step = quadratic_step(loss_at, f, grad, l0, trial)
            lk = loss_at(f - step * grad)
            while lk >= l0 and step > 1e-3 * trial:
                step /= 2
                lk = loss_at(f - step * grad)
            if lk < l0:
                f -= step * grad
        if callback is not None and callback(k, min(lk, l0)):
            break  # the caller asked to stop: the current estimate is the result
    with torch.no_grad():
        return dilate_to_grid(f.detach(), g.volume_shape).cpu().numpy()


def dilate_to_grid(slabs, shape) -> "object":
    """Slabs ``(Zc, L, Xc)`` (torch) onto a grid ``(Z, Y, X)``: each slab repeated over its share of Y
    (dilation, seed 001 section 4.3), Z and X interpolated linearly."""
    torch = _torch()
    z, y, x = (int(s) for s in shape)
    n_slabs = slabs.shape[1]
    share = torch.as_tensor([len(a) for a in np.array_split(np.arange(y), n_slabs)], device=slabs.device)
    full = slabs.repeat_interleave(share, dim=1)  # (Zc, Y, Xc)
    full = torch.nn.functional.interpolate(full[None, None], size=(z, y, x), mode="trilinear", align_corners=False)
    return full[0, 0]


def measured_moduli(scan, indices) -> np.ndarray:
    """``sqrt`` of the intensities of the angles at ``indices``, in FFT order ``(B, J, Q, Q)`` (read per batch)."""
    return np.sqrt(np.fft.ifftshift(np.maximum(scan.intensities(indices), 0), axes=(-2, -1)))


def angle_batches(n_angles: int, size: int) -> list[list[int]]:
    """Consecutive angle indices in batches of ``size`` (the last one shorter)."""
    size = positive_int(size, "angle_batch")
    return [list(range(a, min(a + size, n_angles))) for a in range(0, n_angles, size)]


def ptychography(scan, n_iter: int = 200, n_modes: int | None = None, alpha: float = 0.1, beta: float = 1.9,
                 angle_batch: int = 8, device: str = "cpu", show_progress: bool = False) -> np.ndarray:
    """Per-angle ptychographic phase retrieval of a 2D transmission (known probe modes).

    Every angle is independent: its object ``O`` on the padded projection plane is updated
    in parallel over all positions by the modulus constraint and the regularised PIE step
    ``O ← O + β Σ_{j,m} P_m^* (ψ'_{jm} − ψ_{jm}) / ((1 − α) Σ_{j,m}|P_m|² + α max Σ|P|²)``,
    where ``ψ'`` keeps the phase of ``F ψ`` and takes the measured modulus (mixed states:
    ``|F ψ_m| · sqrt(g / Σ_m |F ψ_m|²)``). Angles are processed in batches.

    Parameters
    ----------
    scan : PtychoScan
    n_iter : int
        Iterations per angle.
    n_modes : int, optional
        Probe modes used (default all).
    alpha, beta : float
        rPIE regularisation in (0, 1] and step in (0, 2).
    angle_batch : int
    device : str
    show_progress : bool

    Returns
    -------
    ndarray, shape (A, Z + 2p, X + 2p), complex64
        Transmission per angle on the padded plane (``p = Q // 2``).

    Raises
    ------
    ValueError
        On non-positive iterations or ``alpha``/``beta`` out of range.
    """
    torch = _torch()
    n_iter = positive_int(n_iter, "n_iter")
    if not 0 < alpha <= 1:
        raise fail("alpha", "a regularisation in (0, 1]", alpha)
    if not 0 < beta < 2:
        raise fail("beta", "a step in (0, 2)", beta)
    g = scan.geometry
    q = g.pattern_size
    zp, xp = g.plane_shape
    probe = torch.as_tensor(scan.modes(n_modes), device=device)
    flat = torch.as_tensor(((g.positions[:, 0, None, None] + np.arange(q)[None, :, None]) * xp
                            + g.positions[:, 1, None, None] + np.arange(q)[None, None, :]).reshape(-1), device=device)
    illum = torch.zeros(zp * xp, device=device).index_add_(
        0, flat, (probe.abs() ** 2).sum(0).expand(g.n_positions, q, q).reshape(-1))
    denom = (1 - alpha) * illum + alpha * illum.max()
    out = np.empty((g.n_angles, zp, xp), np.complex64)
    for idx in progress(angle_batches(g.n_angles, angle_batch), "ptychography", show_progress):
        nb = len(idx)
        amp = torch.as_tensor(measured_moduli(scan, idx), device=device)[:, :, None]  # (B, J, 1, Q, Q)
        obj = torch.ones((nb, zp * xp), dtype=torch.complex64, device=device)
        for _ in range(n_iter):
            win = obj[:, flat].reshape(nb, g.n_positions, 1, q, q)
            psi = probe[None, None] * win  # (B, J, M, Q, Q)
            far = torch.fft.fft2(psi, norm="ortho")
            model = torch.sqrt((far.real ** 2 + far.imag ** 2).sum(2, keepdim=True)).clamp_min(1e-12)
            diff = torch.fft.ifft2(far * (amp / model - 1), norm="ortho")  # ψ' − ψ
            upd = (probe.conj()[None, None] * diff).sum(2).reshape(nb, -1)
            num = torch.zeros((nb, zp * xp), dtype=torch.complex64, device=device).index_add_(1, flat, upd)
            obj = obj + beta * num / denom
        out[idx] = obj.reshape(nb, zp, xp).cpu().numpy()
    return out


def refine_multislice(scan, transmission, n_slabs: int = 3, n_iter: int = 50, lr: float = 0.02,
                      n_modes: int | None = None, angle_batch: int = 4, device: str = "cpu",
                      show_progress: bool = False) -> np.ndarray:
    """Refine per-angle transmissions with a multislice model of ``n_slabs`` pure-phase slabs.

    Thick samples break the projection approximation of :func:`ptychography` (the
    reconstructed phase of a plate thicker than the depth of field is too weak and blurred);
    as the seed's golden standard (multislice least squares), each angle's phase is split
    equally over ``n_slabs`` slabs spaced over the thickness along the beam and refined by
    Adam on the amplitude loss ``Σ (sqrt(Σ_m |F ψ_m|²) − sqrt(g))²``; the projected phase is
    the sum over slabs.

    Parameters
    ----------
    scan : PtychoScan
    transmission : ndarray, shape (A, Z + 2p, X + 2p), complex
        Starting point (from :func:`ptychography`).
    n_slabs : int
    n_iter : int
        Adam iterations per angle batch (0 returns the input).
    lr : float
        Adam step in radians.
    n_modes : int, optional
    angle_batch : int
    device : str
    show_progress : bool

    Returns
    -------
    ndarray, shape (A, Z + 2p, X + 2p), complex64
        ``exp(i Σ_l φ_l)`` of the refined slab phases (the projected transmission).
    """
    torch = _torch()
    if int(n_iter) <= 0:
        return np.asarray(transmission, np.complex64)
    from ..physics.multislice import MultisliceOperator

    g = scan.geometry
    op = MultisliceOperator(g, scan.modes(n_modes), n_slabs=positive_int(n_slabs, "n_slabs"))
    out = np.empty(np.shape(transmission), np.complex64)
    for idx in progress(angle_batches(g.n_angles, angle_batch), "multislice refinement", show_progress):
        amp = torch.as_tensor(measured_moduli(scan, idx), device=device)
        start = torch.as_tensor(np.angle(np.asarray(transmission)[idx]), device=device)
        phase = (start[:, None] / op.n_slabs).repeat(1, op.n_slabs, 1, 1).contiguous().requires_grad_(True)
        opt = torch.optim.Adam([phase], lr=lr)
        for _ in range(int(n_iter)):
            opt.zero_grad()
            far = torch.fft.fft2(op.slab_exit_waves(torch.exp(1j * phase)), norm="ortho")
            model = torch.sqrt((far.real ** 2 + far.imag ** 2).sum(-3) + 1e-12)
            loss = ((model - amp) ** 2).mean()
            loss.backward()
            opt.step()
        out[idx] = torch.exp(1j * phase.detach().sum(1)).cpu().numpy()
    return out


def phase_projections(transmission, geometry, margin_weight: float = 0.1) -> np.ndarray:
    """Line integrals of δ ``(A, Z, X)`` from per-angle transmissions (phase unwrapping + ramp removal).

    The phase of each transmission is unwrapped (``skimage.restoration.unwrap_phase``); a
    plane ``a + b z + c x`` fitted on the free-space margin of the padded plane (weighted by
    how well the probe lit it) is removed, which fixes the global phase offset and any phase
    ramp; then ``−φ / k`` is the line integral of δ (in the geometry's ``unit``), cropped to
    ``(Z, X)`` — the quantity the project's ray transform of δ predicts.

    Parameters
    ----------
    transmission : ndarray, shape (A, Z + 2p, X + 2p), complex
    geometry : PtychoGeometry
    margin_weight : float
        Margin pixels lit by less than this fraction of the best-lit pixel are not used.

    Returns
    -------
    ndarray, shape (A, Z, X), float32
        ``∫ δ dy`` in ``geometry.unit``.
    """
    from skimage.restoration import unwrap_phase

    g = geometry
    p = g.pad
    zp, xp = g.plane_shape
    z, _, x = g.volume_shape
    lit = np.zeros((zp, xp))
    for zc, xc in g.positions:  # probe-window coverage (the probe's own intensity is not needed here)
        lit[zc:zc + g.pattern_size, xc:xc + g.pattern_size] += 1
    margin = np.ones((zp, xp), bool)
    margin[p:p + z, p:p + x] = False
    use = margin & (lit >= margin_weight * lit.max()) & (lit > 0)
    zz, xx = np.mgrid[:zp, :xp]
    basis = np.stack([np.ones(use.sum()), zz[use], xx[use]], 1)
    k = 2 * np.pi / g.wavelength_m
    unit_m = g.voxel_size_m / g.voxel_size
    out = np.empty((len(transmission), z, x), np.float32)
    for a, t in enumerate(transmission):
        phi = unwrap_phase(np.angle(t).astype(np.float64))
        coef, *_ = np.linalg.lstsq(basis, phi[use], rcond=None)
        phi = phi - (coef[0] + coef[1] * zz + coef[2] * xx)
        out[a] = (-phi[p:p + z, p:p + x] / (k * unit_m)).astype(np.float32)
    return out


def projection_geometry(geometry):
    """The parallel-beam geometry of δ line integrals ``(A, Z, X)`` on a ptycho scan's grid."""
    from ..geometry import ParallelGeometry

    z, y, x = geometry.volume_shape
    return ParallelGeometry(geometry.angles, n_detector=x, n_rows=z, volume_shape=(y, x),
                            voxel_size=geometry.voxel_size, detector_spacing=geometry.voxel_size, unit=geometry.unit)


def tomography(projections, geometry, algorithm: str = "sart", n_iter: int = 10, filter: str = "ramp",
               show_progress: bool = False) -> np.ndarray:
    """Step two: δ ``(Z, Y, X)`` from phase projections ``(A, Z, X)`` by SART (``n_iter``) or FBP (``filter``).

    Raises
    ------
    ValueError
        On an unknown algorithm (or bad parameters of the solver).
    """
    from ..physics.projector import make_operator
    from .analytic import fbp
    from .iterative import sart

    op = make_operator(projection_geometry(geometry).replace(n_rows=1))
    if algorithm == "sart":
        return sart(projections, op, n_iter=positive_int(n_iter, "n_iter"), show_progress=show_progress)
    if algorithm == "fbp":
        return fbp(projections, op, filter=filter)
    raise fail("algorithm", "'sart' or 'fbp'", repr(algorithm))


def two_step(scan, algorithm: str = "sart", n_iter: int = 10, filter: str = "ramp", ptycho_iter: int = 200,
             refine_slabs: int = 3, refine_iter: int = 50, n_modes: int | None = None, device: str = "cpu",
             show_progress: bool = False,
             projections: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The conventional two-step reconstruction: per-angle ptychography, then tomography.

    Parameters
    ----------
    scan : PtychoScan
    algorithm : {"sart", "fbp"}
        Step two (seed 001: SART with 10 iterations for the golden standard; FBP and SART
        as the reduced-angle baselines).
    n_iter : int
        SART iterations.
    filter : str
        FBP filter.
    ptycho_iter : int
        Iterations of :func:`ptychography` per angle.
    refine_slabs, refine_iter : int
        :func:`refine_multislice` (``refine_iter=0``: projection approximation only).
    n_modes : int, optional
    device : str
    show_progress : bool
    projections : ndarray, shape (A, Z, X), optional
        Phase projections already computed (skips step one).

    Returns
    -------
    volume : ndarray, shape (Z, Y, X), float32
        δ.
    projections : ndarray, shape (A, Z, X), float32
        The phase projections (``∫ δ dy`` in the geometry's unit).
    """
    g = scan.geometry
    if projections is None:
        obj = ptychography(scan, ptycho_iter, n_modes, device=device, show_progress=show_progress)
        obj = refine_multislice(scan, obj, refine_slabs, refine_iter, n_modes=n_modes, device=device,
                                show_progress=show_progress)
        projections = phase_projections(obj, g)
    vol = tomography(projections, g, algorithm, n_iter, filter, show_progress)
    return np.asarray(vol, np.float32), projections


__all__ = ["approximant", "crop_patterns", "crop_probe", "dilate_to_grid", "intensity_loss", "phase_projections",
           "projection_geometry", "ptychography", "quadratic_step", "refine_multislice", "tomography", "two_step"]
