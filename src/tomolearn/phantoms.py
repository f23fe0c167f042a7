"""Seeded 2D phantom families.

* :func:`ellipses_polygons` - random ellipses and polygons of different intensities on a
  disc-shaped support ("phantom faces" of Wang et al., seed 004);
* :func:`holed_disc` - a homogeneous disc with random holes, like the HTC2022 acrylic targets;
* :func:`shepp_logan`;
* the four fly-scan families of seed 003: :func:`heterogeneous`, :func:`cracked_particles`,
  :func:`crack_network`, :func:`radial_cracks`;
* 3D: :func:`spheres_in_cube` (seed 002) and :func:`layered_ic` (seed 001).

2D families return float32 ``(Y, X)``, 3D ones ``(Z, Y, X)`` (Z along the rotation axis); values
are in [0, 1] (attenuation per voxel once scaled).
"""
from __future__ import annotations

import numpy as np
from skimage.draw import disk, ellipse, polygon

from ._checks import positive, positive_int


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _random_polygon(rng, cy, cx, radius, n_vertices):
    angles = np.sort(rng.uniform(0, 2 * np.pi, n_vertices))
    radii = radius * rng.uniform(0.5, 1.0, n_vertices)
    return cy + radii * np.sin(angles), cx + radii * np.cos(angles)


def ellipses_polygons(size: int, seed, n_shapes: tuple[int, int] = (4, 10),
                      support: float = 0.85) -> np.ndarray:
    """Random ellipses and polygons of random intensity inside a disc, values in [0, 1].

    Parameters
    ----------
    size : int
        Output is ``(size, size)`` pixels.
    seed : int or numpy.random.Generator
    n_shapes : (int, int)
        Inclusive range of the number of inner shapes.
    support : float
        Radius of the object's disc as a fraction of half the image.

    Returns
    -------
    ndarray, shape (size, size), float32

    References
    ----------
    C. Wang et al., "0.71-A resolution electron tomography enabled by deep learning aided
    information recovery" (IRDM): training library of random ellipses and polygons.
    """
    n = positive_int(size, "size")
    rng = _rng(seed)
    img = np.zeros((n, n), np.float32)
    c = (n - 1) / 2
    R = support * n / 2
    # an outer body (ellipse) so the object does not fill the field of view
    rr, cc = ellipse(c, c, R * rng.uniform(0.75, 1.0), R * rng.uniform(0.75, 1.0), shape=img.shape,
                     rotation=rng.uniform(0, np.pi))
    img[rr, cc] = rng.uniform(0.2, 0.5)
    for _ in range(rng.integers(n_shapes[0], n_shapes[1] + 1)):
        rad = R * rng.uniform(0.08, 0.35)
        r0 = rng.uniform(0, R * 0.7)
        phi = rng.uniform(0, 2 * np.pi)
        cy, cx = c + r0 * np.sin(phi), c + r0 * np.cos(phi)
        value = rng.uniform(0.0, 1.0)
        if rng.random() < 0.5:
            rr, cc = ellipse(cy, cx, rad, rad * rng.uniform(0.3, 1.0), shape=img.shape,
                             rotation=rng.uniform(0, np.pi))
        else:
            rr, cc = polygon(*_random_polygon(rng, cy, cx, rad, int(rng.integers(3, 8))), shape=img.shape)
        img[rr, cc] = value
    return img


def _voronoi_holes(rng, n: int, cy: float, cx: float, R: float) -> np.ndarray:
    """Mask of cell-shaped holes: Voronoi cells of random seeds, shrunk by a random wall."""
    from scipy.spatial import cKDTree

    n_seeds = int(rng.integers(6, 30))
    r = R * np.sqrt(rng.uniform(0, 1, n_seeds))
    phi = rng.uniform(0, 2 * np.pi, n_seeds)
    seeds = np.c_[cy + r * np.sin(phi), cx + r * np.cos(phi)]
    yy, xx = np.mgrid[:n, :n]
    d, _ = cKDTree(seeds).query(np.c_[yy.ravel(), xx.ravel()], k=2)
    idx = cKDTree(seeds).query(np.c_[yy.ravel(), xx.ravel()], k=1)[1].reshape(n, n)
    wall = R * rng.uniform(0.03, 0.09)
    inside = ((d[:, 1] - d[:, 0]) / 2 > wall / 2).reshape(n, n)
    carved = rng.random(n_seeds) < rng.uniform(0.5, 1.0)
    rim = np.hypot(yy - cy, xx - cx) < R - wall  # a solid rim, as in the real targets
    return inside & carved[idx] & rim


def holed_disc(size: int, seed, radius_fraction: float = 0.92, value: float = 1.0,
               n_holes: tuple[int, int] = (1, 25), max_offset: float = 0.03,
               solid_fraction: float = 0.0) -> np.ndarray:
    """A homogeneous disc with random holes, like the HTC2022 acrylic targets.

    Half of the discs get independent holes (discs, polygons, thin slots, ``n_holes``), the
    other half cell-shaped holes separated by thin walls (Voronoi cells of random seeds), the
    two patterns of the HTC2022 targets. The disc centre is offset by up to ``max_offset`` of
    the image width, since real samples are never exactly on the axis.

    Parameters
    ----------
    size : int
        Output ``(size, size)``.
    seed : int or numpy.random.Generator
    radius_fraction : float
        Disc radius as a fraction of half the image width.
    value : float
        Attenuation of the material.
    n_holes : (int, int)
        Inclusive range of the number of independent holes.
    max_offset : float
        Largest centre offset as a fraction of the image width.
    solid_fraction : float
        Probability of a disc without holes (so a learned prior does not insist on holes).

    Returns
    -------
    ndarray, shape (size, size), float32

    References
    ----------
    A. Meaney, Z. Purisha, S. Siltanen, "Helsinki Tomography Challenge 2022 open tomographic
    dataset", arXiv:2209.12723 (2022).
    """
    n = positive_int(size, "size")
    positive(value, "value")
    rng = _rng(seed)
    img = np.zeros((n, n), np.float32)
    R = radius_fraction * n / 2
    offset = rng.uniform(0, max_offset * n)
    theta = rng.uniform(0, 2 * np.pi)
    c = (n - 1) / 2
    cy, cx = c + offset * np.sin(theta), c + offset * np.cos(theta)
    R = min(R, n / 2 - offset - 1)
    img[disk((cy, cx), R, shape=img.shape)] = value
    if solid_fraction > 0 and rng.random() < solid_fraction:
        return img
    if rng.random() < 0.5:
        img[_voronoi_holes(rng, n, cy, cx, R * rng.uniform(0.75, 0.92))] = 0.0
        return img
    for _ in range(rng.integers(n_holes[0], n_holes[1] + 1)):
        rad = R * rng.uniform(0.03, 0.25)
        r0 = rng.uniform(0, R - rad * 1.2)
        phi = rng.uniform(0, 2 * np.pi)
        hy, hx = cy + r0 * np.sin(phi), cx + r0 * np.cos(phi)
        kind = rng.integers(3)
        if kind == 0:
            rr, cc = disk((hy, hx), rad, shape=img.shape)
        elif kind == 1:
            rr, cc = polygon(*_random_polygon(rng, hy, hx, rad, int(rng.integers(3, 9))), shape=img.shape)
        else:  # a thin slot
            rr, cc = ellipse(hy, hx, rad * 1.5, max(rad * rng.uniform(0.08, 0.3), 1.0), shape=img.shape,
                             rotation=rng.uniform(0, np.pi))
        img[rr, cc] = 0.0
    return img


def shepp_logan(size: int) -> np.ndarray:
    """The modified Shepp-Logan phantom (scikit-image), resized to ``(size, size)``."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    n = positive_int(size, "size")
    return resize(shepp_logan_phantom(), (n, n), anti_aliasing=True).astype(np.float32)


def _smooth_field(rng, n: int, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal((n, n)), sigma)
    return (f - f.mean()) / (f.std() + 1e-12)


def _random_crack(rng, img: np.ndarray, y: float, x: float, length: float, width: float, angle: float,
                  wander: float = 0.35) -> None:
    """Carve a jagged crack (a random walk of short segments) into ``img`` in place."""
    from skimage.draw import line

    n = img.shape[0]
    steps = max(int(length / 3), 2)
    for _ in range(steps):
        angle += rng.normal(0, wander)
        y2, x2 = y + 3 * np.sin(angle), x + 3 * np.cos(angle)
        for w in np.arange(-width / 2, width / 2 + 1e-9, 0.7):
            rr, cc = line(int(round(y + w * np.cos(angle))), int(round(x - w * np.sin(angle))),
                          int(round(y2 + w * np.cos(angle))), int(round(x2 - w * np.sin(angle))))
            ok = (rr >= 0) & (rr < n) & (cc >= 0) & (cc < n)
            img[rr[ok], cc[ok]] = 0.0
        y, x = y2, x2


def heterogeneous(size: int, seed) -> np.ndarray:
    """Heterogeneous sample (seed 003, Fig. 2b): three phases of a smooth random field in a disc.

    References
    ----------
    Seed 003 (fly-scan nano-tomography), synthetic training family 1.
    """
    n = positive_int(size, "size")
    rng = _rng(seed)
    field = _smooth_field(rng, n, n / rng.uniform(20, 50))
    img = np.where(field > 0.6, 1.0, np.where(field > -0.4, 0.55, 0.25)).astype(np.float32)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    img[np.hypot(yy, xx) > 0.45 * n * rng.uniform(0.85, 1.0)] = 0.0
    return img


def cracked_particles(size: int, seed, n_particles: tuple[int, int] = (3, 12)) -> np.ndarray:
    """Particles (discs/ellipses) with random cracks (seed 003, Fig. 2c)."""
    n = positive_int(size, "size")
    rng = _rng(seed)
    img = np.zeros((n, n), np.float32)
    for _ in range(rng.integers(n_particles[0], n_particles[1] + 1)):
        r = n * rng.uniform(0.06, 0.18)
        cy, cx = rng.uniform(r, n - r, 2)
        rr, cc = ellipse(cy, cx, r, r * rng.uniform(0.7, 1.0), shape=img.shape, rotation=rng.uniform(0, np.pi))
        img[rr, cc] = rng.uniform(0.6, 1.0)
        for _ in range(rng.integers(0, 4)):
            _random_crack(rng, img, cy + rng.uniform(-r, r) / 2, cx + rng.uniform(-r, r) / 2, rng.uniform(r, 2 * r),
                          rng.uniform(0.5, 2.0), rng.uniform(0, 2 * np.pi))
    return img


def crack_network(size: int, seed) -> np.ndarray:
    """A connected network structure (level band of a random field) with random cracks (Fig. 2d)."""
    n = positive_int(size, "size")
    rng = _rng(seed)
    field = _smooth_field(rng, n, n / rng.uniform(15, 35))
    img = (np.abs(field) < rng.uniform(0.25, 0.5)).astype(np.float32) * rng.uniform(0.7, 1.0)
    for _ in range(rng.integers(3, 10)):
        _random_crack(rng, img, *rng.uniform(0, n, 2), rng.uniform(0.1, 0.3) * n, rng.uniform(0.5, 1.5),
                      rng.uniform(0, 2 * np.pi))
    return img


def radial_cracks(size: int, seed) -> np.ndarray:
    """A particle with cracks radiating from near its centre (seed 003, Fig. 2e)."""
    n = positive_int(size, "size")
    rng = _rng(seed)
    img = np.zeros((n, n), np.float32)
    c = (n - 1) / 2 + rng.uniform(-0.05, 0.05, 2) * n
    R = n * rng.uniform(0.3, 0.45)
    img[disk(tuple(c), R, shape=img.shape)] = rng.uniform(0.6, 1.0)
    for _ in range(rng.integers(4, 14)):
        phi = rng.uniform(0, 2 * np.pi)
        r0 = rng.uniform(0.05, 0.4) * R
        _random_crack(rng, img, c[0] + r0 * np.sin(phi), c[1] + r0 * np.cos(phi), rng.uniform(0.4, 0.9) * R,
                      rng.uniform(0.5, 2.0), phi, wander=0.08)
    return img


def spheres_in_cube(size: int, seed, n_spheres: int | None = None) -> np.ndarray:
    """A cube (0.3) holding random spheres (1) in empty space (0): the phantom of seed 002.

    At 512^3 the cube holds 1000 spheres of 4-20 voxel diameter; the diameters scale with
    ``size / 512`` and the count with the volume.

    Parameters
    ----------
    size : int
        Volume ``(size, size, size)``.
    seed : int or numpy.random.Generator
    n_spheres : int, optional
        Override the scaled count.

    Returns
    -------
    ndarray, shape (size, size, size), float32

    Raises
    ------
    ValueError
        If the volume would need more than 4 GiB.

    References
    ----------
    X. Yang et al., "Low-dose x-ray tomography through a deep convolutional neural network",
    Sci. Rep. 8 (2018) 2575, Fig. 1.
    """
    n = positive_int(size, "size")
    if n**3 * 4 > 4 * 2**30:
        raise ValueError(f"size: expected a volume under 4 GiB (size <= 1024), got {n}^3 float32")
    rng = _rng(seed)
    vol = np.zeros((n, n, n), np.float32)
    lo, hi = int(0.1 * n), int(np.ceil(0.9 * n))
    vol[lo:hi, lo:hi, lo:hi] = 0.3
    scale = n / 512
    count = n_spheres if n_spheres is not None else max(1, int(round(1000 * scale**3)))
    for _ in range(count):
        r = rng.uniform(2, 10) * scale
        r = max(r, 0.75)
        c = rng.uniform(lo + r, hi - r, 3)
        b0 = np.maximum(np.floor(c - r).astype(int), 0)
        b1 = np.minimum(np.ceil(c + r).astype(int) + 1, n)
        z, y, x = np.ogrid[b0[0]:b1[0], b0[1]:b1[1], b0[2]:b1[2]]
        inside = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r
        vol[b0[0]:b1[0], b0[1]:b1[1], b0[2]:b1[2]][inside] = 1.0
    return vol


def layered_ic(size: int, seed, n_layers: int = 13, plate_fraction: float = 0.3, n_rows: int | None = None,
               density: float = 0.55) -> np.ndarray:
    """An integrated-circuit plate: ``n_layers`` of Manhattan wiring and vias (seed 001).

    The plate is thin along Y (perpendicular to the rotation axis Z), as in ptycho-tomography
    of a chip; each layer has its own thickness and carries wires running along X or along Z
    (alternating), with vias (short pillars along Y) joining neighbouring layers.

    Parameters
    ----------
    size : int
        Edge of the slice ``(Y, X)`` in voxels.
    seed : int or numpy.random.Generator
    n_layers : int
    plate_fraction : float
        Plate thickness along Y as a fraction of ``size``.
    n_rows : int, optional
        Voxels along Z (default ``size``): a taller sample, e.g. to train on one region and
        test on another.
    density : float
        Fraction of wiring tracks present in a layer (wiring density).

    Returns
    -------
    ndarray, shape (n_rows, size, size), float32; dielectric 0.15, metal 1.

    References
    ----------
    Z. Guo et al., "Three-dimensional nanoscale reduced-angle ptycho-tomographic imaging with
    deep learning (RAPID)", eLight 3, 7 (2023).
    """
    n = positive_int(size, "size")
    nz = n if n_rows is None else positive_int(n_rows, "n_rows")
    if not 0 < density <= 1:
        raise ValueError(f"density: expected a fraction of tracks in (0, 1], got {density}")
    rng = _rng(seed)
    vol = np.zeros((nz, n, n), np.float32)
    t = max(int(plate_fraction * n), n_layers)
    y0 = (n - t) // 2
    vol[:, y0:y0 + t, :] = 0.15
    bounds = np.linspace(0, t, n_layers + 1)
    jitter = rng.uniform(-0.3, 0.3, n_layers - 1) * (t / n_layers)
    bounds[1:-1] += jitter
    bounds = y0 + np.round(bounds).astype(int)
    pitch = max(n // 24, 3)
    for k in range(n_layers):
        a, b = bounds[k], max(bounds[k + 1], bounds[k] + 1)
        across, along = (nz, n) if k % 2 == 0 else (n, nz)  # tracks at positions across, running along
        for pos in range(rng.integers(0, pitch), across, pitch):
            if rng.random() < 1 - density:  # (kept as "skip below 0.45" at the default density)
                continue
            w = int(rng.integers(1, max(2, pitch // 2)))
            start, stop = sorted(rng.integers(0, along, 2))
            if k % 2 == 0:  # wire along X
                vol[pos:pos + w, a:b, start:stop + w] = 1.0
            else:  # wire along Z
                vol[start:stop + w, a:b, pos:pos + w] = 1.0
        if k + 1 < n_layers:  # vias down to the next layer
            for _ in range(rng.integers(nz // 16 + 1, nz // 6 + 2) if nz != n else rng.integers(n // 16 + 1, n // 6 + 2)):
                z = rng.integers(0, nz - 2) if nz != n else None
                if z is None:
                    z, x = rng.integers(0, n - 2, 2)
                else:
                    x = rng.integers(0, n - 2)
                vol[z:z + 2, a:bounds[min(k + 2, n_layers)], x:x + 2] = 1.0
    return vol


FAMILIES = {"ellipses_polygons": ellipses_polygons, "holed_disc": holed_disc, "heterogeneous": heterogeneous,
            "cracked_particles": cracked_particles, "crack_network": crack_network, "radial_cracks": radial_cracks}
FAMILIES_3D = {"spheres_in_cube": spheres_in_cube, "layered_ic": layered_ic}
#: seed 003's four fly-scan families plus ellipses and polygons
FLYSCAN_FAMILIES = ("heterogeneous", "cracked_particles", "crack_network", "radial_cracks", "ellipses_polygons")


def make_phantom(family: str, size: int, seed) -> np.ndarray:
    """Phantom of a named family: a 2D slice ``(size, size)`` or, for 3D families, ``(size,) * 3``."""
    if family == "shepp_logan":
        return shepp_logan(size)
    if family in FAMILIES_3D:
        return FAMILIES_3D[family](size, seed)
    if family not in FAMILIES:
        names = [*FAMILIES, *FAMILIES_3D, "shepp_logan"]
        raise ValueError(f"family: expected one of {', '.join(names)}, got {family!r}")
    return FAMILIES[family](size, seed)
