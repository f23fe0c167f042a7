"""Learned limited-angle / sparse-view reconstruction: approximant + residual U-Net.

The approximant (FBP or SIRT) is reconstructed in a *canonical orientation*: all angles are
shifted so that the middle of the measured arc lies at angle 0. The missing wedge then
always points the same way in the network's input, whatever the arc's start angle, so the
network learns one artefact pattern instead of all rotations of it; the output is rotated
back. (The same trick was used by several HTC2022 entries.)
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ..geometry import covered_arc
from ..infer import sliding_window
from ..physics.projector import RayTransform
from ..recon import fbp, sirt


def arc_centre(angles: np.ndarray, period: float) -> float:
    """Middle of the arc covered by ``angles`` (radians), robust to wrap-around."""
    start, span, _ = covered_arc(angles, period)
    return start + span / 2


def canonical(geometry, fixed_centre: bool = True):
    """Geometry with angles shifted so the arc centre is at 0, and the shift ``phi`` (rad)."""
    phi = arc_centre(geometry.angles, geometry.period) if fixed_centre else 0.0
    return geometry.replace(angles=geometry.angles - phi), phi


def rotate_back(image: np.ndarray, phi: float) -> np.ndarray:
    """Undo the canonical rotation: image reconstructed with angles ``theta - phi`` -> frame of ``theta``.

    Reconstructing with all angles reduced by ``phi`` turns the object by ``phi`` in the
    slice; this turns it back (``tests/test_recipes.py`` checks the sign on an asymmetric
    phantom).
    """
    return ndimage.rotate(image, np.degrees(phi), axes=(-1, -2), reshape=False, order=1, mode="constant")


def approximant(sinogram: np.ndarray, geometry, kind: str = "fbp", sirt_iter: int = 50,
                canonical_orientation: bool = True, filter: str = "ramp") -> tuple[np.ndarray, float]:
    """Classical reconstruction of one sinogram ``(A, U)`` in canonical orientation.

    ``kind`` is ``"fbp"`` (with ``filter``) or ``"sirt"`` (``sirt_iter`` iterations).

    Returns
    -------
    image : ndarray, shape (Y, X)
    phi : float
        The rotation to undo with :func:`rotate_back`.
    """
    g, phi = canonical(geometry, canonical_orientation)
    if kind == "fbp":
        img = fbp(sinogram, g, filter=filter)
    elif kind == "sirt":
        img = sirt(sinogram, g, n_iter=sirt_iter, op=RayTransform(g))
    else:
        raise ValueError(f"approximant: expected 'fbp' or 'sirt', got {kind!r}")
    return img, phi


def model_grid(geometry, meta: dict):
    """The geometry on the grid a model was trained on (voxel size and slice shape)."""
    if "voxel_size" not in meta:
        return geometry
    return geometry.replace(voxel_size=float(meta["voxel_size"]), volume_shape=tuple(meta["grid_shape"]))


@torch.no_grad()
def apply_learned(module, sinogram: np.ndarray, geometry) -> np.ndarray:
    """Learned reconstruction of one sinogram with a trained :class:`PostProcessor`.

    The approximant is computed on the model's training grid, the network applied with
    sliding windows, the result rotated back and resampled to ``geometry.volume_shape``.

    Returns
    -------
    ndarray, shape geometry.volume_shape, float32, in the units of the scan's volumes.
    """
    meta = dict(module.hparams.meta or {})
    scale = float(module.hparams.scale)
    g = model_grid(geometry, meta)
    img, phi = approximant(sinogram, g, meta.get("approximant", "fbp"), int(meta.get("sirt_iter", 50)),
                           bool(meta.get("canonical", True)), meta.get("filter", "ramp"))
    out = sliding_window(module, img / scale, window=int(meta.get("window", 256)),
                         multiple=2 ** module.hparams.depth) * scale
    out = rotate_back(out, phi)
    if out.shape != tuple(geometry.volume_shape):
        zoom = [t / s for t, s in zip(geometry.volume_shape, out.shape)]
        out = ndimage.zoom(out, zoom, order=1)
    return out.astype(np.float32)
