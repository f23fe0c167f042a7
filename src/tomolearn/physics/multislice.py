"""Multislice ptycho-tomography: the project's nonlinear, complex-valued forward model.

An object of refractive-index decrement δ on a grid ``(Z, Y, X)`` is rotated by ``θ`` about
the Z axis (the rotation axis), cut into ``L`` slabs along the beam (Y at ``θ = 0``, the
project's convention), and crossed by a probe of ``M`` mutually incoherent modes at ``J``
scan positions on the (Z, X) plane. Each slab multiplies the wave by its transmission
``exp(i k Σ(−δ + iβ) Δy)``; the wave travels to the next slab by the angular-spectrum
(Fresnel) propagator ``h = exp(−i Δz (k − sqrt(k² − q_x² − q_z²)))``; the exit wave goes to the
far-field detector by a Fourier transform, and the detector records
``H_{θ,j} = Σ_m |F ψ^{(m)}_{θ,j}|²`` (patterns of ``Q × Q`` pixels, zero frequency in the
centre).

Everything is torch (autograd, CPU or CUDA: the device follows the input), float32 /
complex64. Lengths are in metres inside, in the geometry's ``unit`` at the boundary.

References
----------
Z. Guo, J. K. Song, G. Barbastathis et al., "Three-dimensional nanoscale reduced-angle
ptycho-tomographic imaging with deep learning (RAPID)", eLight 3, 7 (2023), section 4.2.
J. M. Cowley and A. F. Moodie, "The scattering of electrons by atoms and crystals",
Acta Cryst. 10, 609 (1957) (the multislice method).
"""
from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np

from .._checks import fail, positive_int
from ..geometry import HC_KEV_NM, PtychoGeometry, scan_positions, unit_metres, wavelength  # noqa: F401 (re-exported)
from .base import Operator, is_tensor, register_operator

def make_probe(size: int, n_modes: int = 3, diameter: float | None = None, seed=0,
               mode_decay: float = 0.35) -> np.ndarray:
    """A focused-beam probe with ``n_modes`` mutually incoherent, orthogonal modes.

    The first mode is the defocused image of a circular pupil (a zone plate's focus seen a
    little out of focus: a disc of about ``diameter`` pixels with Fresnel rings); the other
    modes are that pupil weighted by low-order aberration polynomials with random
    coefficients, made orthogonal (Gram–Schmidt), with mode powers decaying as
    ``mode_decay ** m`` (partial coherence). The total intensity of all modes is 1, so a
    pattern of a weak object holds about one unit; photon counts scale it.

    Parameters
    ----------
    size : int
        Window (and pattern) size ``Q`` in pixels.
    n_modes : int
        Number of probe modes ``M`` (>= 1).
    diameter : float, optional
        Probe diameter in pixels (default ``size / 2``); must be smaller than the window.
    seed : int or numpy.random.Generator
    mode_decay : float
        Power ratio of neighbouring modes, in (0, 1].

    Returns
    -------
    ndarray, shape (M, Q, Q), complex64

    Raises
    ------
    ValueError
        On a window smaller than 8 pixels, a diameter not in (2, size) or a bad mode count.
    """
    q = positive_int(size, "probe size")
    if q < 8:
        raise fail("probe size", "a window of at least 8 pixels", q)
    m = positive_int(n_modes, "n_modes")
    d = float(q / 2 if diameter is None else diameter)
    if not 2 < d < q:
        raise fail("probe diameter", f"a diameter in pixels between 2 and the window size {q}", d)
    if not 0 < mode_decay <= 1:
        raise fail("mode_decay", "a power ratio in (0, 1]", mode_decay)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    f = np.fft.fftfreq(q)  # cycles per pixel
    fz, fx = np.meshgrid(f, f, indexing="ij")
    rho = np.hypot(fz, fx)
    cutoff = 0.25  # pupil radius: half of Nyquist
    pupil = (rho < cutoff).astype(np.float64)
    # defocus so that the geometric cone is ``d`` pixels wide: d = 2 * defocus * cutoff / pitch,
    # with the Fresnel phase pi * lambda * z * f^2 written in pixel units as pi * a * rho^2
    a = d / (2 * cutoff)
    defocus = np.exp(1j * np.pi * a * rho ** 2)
    r = rho / cutoff
    polys = [np.ones_like(r), fz / cutoff, fx / cutoff, 2 * r ** 2 - 1, (fz ** 2 - fx ** 2) / cutoff ** 2,
             2 * fz * fx / cutoff ** 2]
    modes = []
    for k in range(m):
        if k < len(polys):
            poly = polys[k] * (1.0 + 0.2 * rng.standard_normal())
        else:
            poly = rng.standard_normal(6) @ np.array(polys)
        field = np.fft.ifft2(pupil * defocus * poly)
        for prev in modes:  # Gram–Schmidt
            field = field - np.vdot(prev, field) * prev
        field /= max(np.linalg.norm(field), 1e-30)
        modes.append(field)
    weights = mode_decay ** np.arange(m)
    weights /= weights.sum()
    probe = np.stack([np.fft.fftshift(md) * np.sqrt(w) for md, w in zip(modes, weights)])
    return probe.astype(np.complex64)


def probe_diameter(probe, fraction: float = 0.9) -> float:
    """Diameter in pixels of the disc (about the intensity centroid) holding ``fraction`` of the probe's power."""
    inten = (np.abs(np.asarray(probe)) ** 2).reshape(-1, *np.shape(probe)[-2:]).sum(0)
    z, x = np.indices(inten.shape)
    tot = inten.sum()
    cz, cx = (inten * z).sum() / tot, (inten * x).sum() / tot
    r = np.hypot(z - cz, x - cx).ravel()
    order = np.argsort(r)
    cum = np.cumsum(inten.ravel()[order]) / tot
    return float(2 * r[order][min(np.searchsorted(cum, fraction), r.size - 1)])


def _torch():
    import torch

    return torch


def rotate_volume(volume, theta: float):
    """Rotate a volume ``(Z, Y, X)`` (torch) by ``theta`` radians about the Z axis.

    Trilinear resampling (``grid_sample``, differentiable, zeros outside); the rotation
    sense matches the project's ray transform, so the sum over Y of the rotated volume is
    the parallel-beam projection at ``theta`` (see ``tests/test_multislice.py``).
    ``theta = 0`` returns the input itself.
    """
    torch = _torch()
    if float(theta) == 0.0:
        return volume
    z, y, x = volume.shape[-3:]
    c, s = np.cos(theta), np.sin(theta)
    # output voxel (y', x') samples the input at R(-theta) (y', x'); normalised coordinates
    theta_m = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]],
                           dtype=volume.dtype, device=volume.device)
    # grid_sample's last grid axis is (x, y, z); rotate (x, y) by -theta in the X-Y plane
    theta_m[0, 0, 0], theta_m[0, 0, 1] = c, s
    theta_m[0, 1, 0], theta_m[0, 1, 1] = -s, c
    grid = torch.nn.functional.affine_grid(theta_m, (1, 1, z, y, x), align_corners=False)
    out = torch.nn.functional.grid_sample(volume.reshape(1, 1, z, y, x), grid, mode="bilinear",
                                          padding_mode="zeros", align_corners=False)
    return out.reshape(z, y, x)


def propagator(shape: tuple[int, int], distance_m: float, pixel_m: float, wavelength_m: float, device=None):
    """Angular-spectrum kernel ``exp(−i Δz (k − sqrt(k² − q_z² − q_x²)))`` on an FFT grid (torch, complex64).

    Evanescent frequencies (``q > k``) decay; for X-rays at nanometre pixels there are none,
    and the kernel has modulus 1 (the propagator conserves energy).
    """
    torch = _torch()
    k = 2 * np.pi / wavelength_m
    qz = 2 * np.pi * np.fft.fftfreq(shape[0], d=pixel_m)
    qx = 2 * np.pi * np.fft.fftfreq(shape[1], d=pixel_m)
    q2 = qz[:, None] ** 2 + qx[None, :] ** 2
    kz = np.sqrt((k * k - q2).astype(np.complex128))
    h = np.exp(-1j * distance_m * (k - kz))
    return torch.as_tensor(h.astype(np.complex64), device=device)


def propagate(wave, kernel):
    """Fresnel-propagate waves ``(..., Q, Q)`` (torch complex) by an angular-spectrum ``kernel``."""
    torch = _torch()
    return torch.fft.ifft2(torch.fft.fft2(wave) * kernel)


@register_operator
class MultisliceOperator(Operator):
    """Far-field diffraction intensities of a rotated multislice object: ``δ (Z, Y, X) -> H (A, J, Q, Q)``.

    Parameters
    ----------
    geometry : PtychoGeometry
    probe : array_like, shape (M, Q, Q), complex
        Probe modes at the object's entrance plane (mutually incoherent).
    n_slabs : int
        ``L``: slabs along the beam (``1`` is the projection approximation).
    beta_ratio : float
        ``β / δ`` of the material (0: the seed's pure-phase object).
    angle_batch : int
        Angles computed at a time (bounds memory).

    Notes
    -----
    Input δ is dimensionless; output intensities are per unit incident power (the probe's
    modes hold a total power of 1, so a pattern sums to about 1 for a weak absorber); photon
    counts are ``photons_per_pattern`` times this. Patterns are ``fftshift``-ed (zero
    frequency at ``(Q // 2, Q // 2)``).

    References
    ----------
    Z. Guo et al., eLight 3, 7 (2023), Eq. for ``H_{θ,j}``.
    """

    name: ClassVar[str] = "multislice"
    linear: ClassVar[bool] = False

    def __init__(self, geometry: PtychoGeometry, probe, n_slabs: int = 5, beta_ratio: float = 0.0,
                 angle_batch: int = 4) -> None:
        if not isinstance(geometry, PtychoGeometry):
            raise TypeError(f"geometry: expected a PtychoGeometry, got {type(geometry).__name__}")
        probe = np.asarray(probe)
        q = geometry.pattern_size
        if probe.ndim == 2:
            probe = probe[None]
        if probe.ndim != 3 or probe.shape[1:] != (q, q):
            raise fail("probe", f"modes of shape (M, {q}, {q}) matching the pattern size", f"shape {probe.shape}")
        if not np.isfinite(probe).all() or not np.abs(probe).any():
            raise fail("probe", "finite, non-zero modes", "NaN/inf or all zeros")
        y = geometry.volume_shape[1]
        self.geometry = geometry
        self.probe = probe.astype(np.complex64)
        self.n_slabs = positive_int(n_slabs, "n_slabs")
        if self.n_slabs > y:
            raise fail("n_slabs", f"at most the {y} voxels along the beam", self.n_slabs)
        if not np.isfinite(beta_ratio) or beta_ratio < 0:
            raise fail("beta_ratio", "beta / delta >= 0", beta_ratio)
        self.beta_ratio = float(beta_ratio)
        self.angle_batch = positive_int(angle_batch, "angle_batch")

    @property
    def domain_shape(self) -> tuple[int, int, int]:
        return tuple(self.geometry.volume_shape)

    @property
    def range_shape(self) -> tuple[int, int, int, int]:
        return tuple(self.geometry.data_shape)

    @property
    def n_modes(self) -> int:
        return int(self.probe.shape[0])

    @cached_property
    def slab_sizes(self) -> list[int]:
        """Voxels along the beam in each slab (as equal as the grid allows)."""
        y = self.geometry.volume_shape[1]
        return [len(a) for a in np.array_split(np.arange(y), self.n_slabs)]

    @classmethod
    def from_scan(cls, scan, n_slabs: int = 5, n_modes: int | None = None) -> "MultisliceOperator":
        """The multislice model of a :class:`~tomolearn.scan.PtychoScan` with ``n_slabs`` slabs and its first
        ``n_modes`` probe modes (default all)."""
        return cls(scan.geometry, scan.modes(n_modes), n_slabs=n_slabs)

    def with_geometry(self, geometry: PtychoGeometry, **changes) -> "MultisliceOperator":
        """The same physics on another geometry (e.g. a subset of angles)."""
        kw = {"probe": self.probe, "n_slabs": self.n_slabs, "beta_ratio": self.beta_ratio,
              "angle_batch": self.angle_batch, **changes}
        return type(self)(geometry, **kw)

    def subset(self, indices) -> "MultisliceOperator":
        """The operator restricted to the angles at ``indices``."""
        return self.with_geometry(self.geometry.subset(indices))

    def _constants(self, device):
        """Probe, window indices and slab-to-slab propagators on ``device`` (cached per device)."""
        cache = self.__dict__.setdefault("_cache", {})
        key = str(device)
        if key not in cache:
            torch = _torch()
            g = self.geometry
            q = g.pattern_size
            sizes = self.slab_sizes
            dists = [(a + b) / 2 * g.voxel_size_m for a, b in zip(sizes[:-1], sizes[1:])]
            kernels = {d: propagator((q, q), d, g.voxel_size_m, g.wavelength_m, device) for d in set(dists)}
            # window j covers plane rows z_j .. z_j + Q - 1 (the pad puts its centre on position z_j)
            iz = torch.as_tensor(g.positions[:, 0, None] + np.arange(q)[None], device=device)
            ix = torch.as_tensor(g.positions[:, 1, None] + np.arange(q)[None], device=device)
            cache[key] = {"probe": torch.as_tensor(self.probe, device=device), "iz": iz, "ix": ix,
                          "kernels": [kernels[d] for d in dists]}
        return cache[key]

    def slab_phases(self, delta, theta: float):
        """Projected ``k δ Δy`` of each slab of the object rotated by ``theta``: ``(L, Z, X)`` (torch).

        The phase delay (radians) a plane wave picks up in each slab; at ``L = 1`` it is
        ``k`` times the parallel-beam projection of δ (in metres).
        """
        g = self.geometry
        k = 2 * np.pi / g.wavelength_m
        rot = rotate_volume(delta, theta)
        parts = rot.split(self.slab_sizes, dim=1)
        return (k * g.voxel_size_m) * _torch().stack([p.sum(dim=1) for p in parts])

    def transmission(self, delta, theta: float):
        """Complex transmission of each slab on the padded plane: ``(L, Z + 2p, X + 2p)`` (torch complex64)."""
        torch = _torch()
        phase = self.slab_phases(delta, theta)
        p = self.geometry.pad
        phase = torch.nn.functional.pad(phase, (p, p, p, p))
        return torch.exp(torch.complex(-self.beta_ratio * phase, -phase))

    def exit_waves(self, delta, theta: float):
        """Exit waves ``(J, M, Q, Q)`` of every position and mode at one angle (torch complex64)."""
        return self.slab_exit_waves(self.transmission(delta, theta))

    def slab_exit_waves(self, transmission):
        """Exit waves ``(..., J, M, Q, Q)`` of slab transmissions ``(..., L, Z + 2p, X + 2p)`` on the padded plane.

        The multislice recursion without the rotation: what per-angle multislice
        ptychography fits.
        """
        c = self._constants(transmission.device)
        windows = transmission[..., c["iz"][:, :, None], c["ix"][:, None, :]]  # (..., L, J, Q, Q)
        u = c["probe"]
        for ell in range(self.n_slabs):
            u = u * windows[..., ell, :, None, :, :]
            if ell < self.n_slabs - 1:
                u = propagate(u, c["kernels"][ell])
        return u

    def patterns(self, delta, theta: float):
        """Diffraction intensities ``(J, Q, Q)`` at one angle, zero frequency centred (torch float32)."""
        torch = _torch()
        far = torch.fft.fft2(self.exit_waves(delta, theta), norm="ortho")
        inten = (far.real ** 2 + far.imag ** 2).sum(dim=1)
        return torch.fft.fftshift(inten, dim=(-2, -1))

    def intensities(self, delta, angle_indices=None):
        """Patterns ``(A', J, Q, Q)`` of one object ``(Z, Y, X)`` (torch) at the angles chosen."""
        torch = _torch()
        idx = range(self.geometry.n_angles) if angle_indices is None else angle_indices
        return torch.stack([self.patterns(delta, float(self.geometry.angles[i])) for i in idx])

    def apply(self, x):
        self.check_batch(x, "delta", self.domain_shape)
        if is_tensor(x):
            return _torch().stack([self.intensities(item) for item in x])
        torch = _torch()
        with torch.no_grad():
            t = torch.as_tensor(np.asarray(x, dtype=np.float32))
            return np.stack([self.intensities(item).numpy() for item in t]).astype(np.float32)

    @classmethod
    def examples(cls) -> list["MultisliceOperator"]:
        g = PtychoGeometry(np.radians([-30.0, 0.0, 45.0]), (6, 8, 8), scan_positions(6, 8, 3), 8, 5.0, "nm", 8.8)
        probe = make_probe(8, n_modes=2, diameter=4, seed=0)
        return [cls(g, probe, n_slabs=3), cls(g.replace(volume_shape=(4, 6, 6), positions=scan_positions(4, 6, 4)),
                                                probe[:1], n_slabs=1, beta_ratio=0.1)]


__all__ = ["HC_KEV_NM", "MultisliceOperator", "PtychoGeometry", "make_probe", "probe_diameter", "propagate",
           "propagator", "rotate_volume", "scan_positions", "unit_metres", "wavelength"]
