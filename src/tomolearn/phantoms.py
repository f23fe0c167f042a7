"""Seeded 2D phantom families.

* :func:`ellipses_polygons` - random ellipses and polygons of different intensities on a
  disc-shaped support ("phantom faces" of Wang et al., seed 004);
* :func:`holed_disc` - a homogeneous disc with random holes, like the HTC2022 acrylic targets;
* :func:`shepp_logan`.

All return float32 ``(Y, X)`` arrays; intensities are attenuation per voxel unless scaled.
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


FAMILIES = {"ellipses_polygons": ellipses_polygons, "holed_disc": holed_disc}


def make_phantom(family: str, size: int, seed) -> np.ndarray:
    """Phantom of a named family (``ellipses_polygons``, ``holed_disc``, ``shepp_logan``)."""
    if family == "shepp_logan":
        return shepp_logan(size)
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {', '.join([*FAMILIES, 'shepp_logan'])}, got {family!r}")
    return FAMILIES[family](size, seed)
