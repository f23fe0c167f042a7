"""The image-domain learned pipeline shared by every post-processing network.

approximant (FBP/WBP or SIRT) on the model's grid, in canonical orientation -> normalise ->
network in overlapping windows -> de-normalise -> rotate back -> resample to the scan's grid.
Its settings come from the weights' model card (:class:`~tomolearn.models.card.Pipeline`), so
the U-Net of the limited-angle studies, the IRDM generator and the networks to come run the
same code, in training-consistent form. No training code is imported here.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ..infer import SelfEnsemble, sliding_window
from ..models.card import ModelCard, Pipeline
from .limited_angle import approximant, rotate_back


def working_geometry(geometry, size: int | None):
    """``geometry`` on a grid whose longer side has ``size`` pixels over the same field of view."""
    shape = tuple(geometry.volume_shape)
    if size is None or max(shape) <= size:
        return geometry
    f = size / max(shape)
    return geometry.replace(volume_shape=tuple(max(1, round(s * f)) for s in shape), voxel_size=geometry.voxel_size / f)


def network_geometry(geometry, pipeline: Pipeline):
    """The geometry on the grid the network works on: the model's fixed grid or a working size."""
    if pipeline.voxel_size is not None and pipeline.grid_shape is not None:
        return geometry.replace(voxel_size=float(pipeline.voxel_size), volume_shape=tuple(pipeline.grid_shape))
    return working_geometry(geometry, pipeline.working_size)


@torch.no_grad()
def postprocess_slice(network: torch.nn.Module, card: ModelCard, sinogram: np.ndarray, geometry,
                      self_ensemble: bool = False) -> np.ndarray:
    """Learned reconstruction of one sinogram with a post-processing network.

    Parameters
    ----------
    network : torch.nn.Module
        Maps ``(B, 1, h, w)`` to ``(B, 1, h, w)``; runs on the device of its parameters.
    card : ModelCard
        Its card; ``card.pipeline`` says how the input is made and the output returned.
    sinogram : ndarray, shape (A, U)
        Line integrals.
    geometry : ParallelGeometry or FanGeometry
        2D geometry of the sinogram (radians).
    self_ensemble : bool
        Average the network over the 8 flips/quarter turns of its input
        (:class:`tomolearn.infer.SelfEnsemble`); only where the approximant has no preferred
        direction (a full arc, not a missing wedge).

    Returns
    -------
    ndarray, shape geometry.volume_shape, float32
        Attenuation per ``geometry.unit``.

    References
    ----------
    K. H. Jin et al., "Deep convolutional neural network for inverse problems in imaging"
    (FBPConvNet), IEEE TIP 26 (2017); C. Wang et al. (IRDM), seed 004.
    """
    pipe = card.pipeline
    g = network_geometry(geometry, pipe)
    img, phi = approximant(sinogram, g, pipe.approximant, pipe.approximant_params, pipe.canonical)
    scale = pipe.input_scale(img)
    model = SelfEnsemble(network) if self_ensemble else network
    out = sliding_window(model, img / scale, window=pipe.window, overlap=pipe.overlap,
                         multiple=2 ** card.architecture.depth) * scale
    out = rotate_back(out, phi)
    if out.shape != tuple(geometry.volume_shape):
        out = ndimage.zoom(out, [t / s for t, s in zip(geometry.volume_shape, out.shape)], order=1)
    return out.astype(np.float32)


__all__ = ["network_geometry", "postprocess_slice", "working_geometry"]
