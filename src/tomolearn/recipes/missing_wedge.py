"""Missing-wedge recipe (IRDM, seed 004): WBP in canonical orientation -> U-Net++ generator.

The slice is reconstructed by WBP with the measured arc centred at angle 0 (so the wedge
points the way it did in training), divided by the same robust scale as in training
(:func:`~tomolearn.models.card.input_scale`), passed through the generator, scaled back and
rotated into the scan's frame (:func:`~tomolearn.recipes.postprocess.postprocess_slice`, with
the settings of the weights' model card). Slices larger than the training images are
processed on a grid of the training size covering the same field of view (the learned
artefact pattern has the scale of the training objects), then resampled back.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .._checks import fail
from ..geometry import covered_arc
from ..models.card import ModelCard
from ..models.weights import load_weights
from ..recon import intensity_level, tv_pdhg, tv_weight
from .postprocess import postprocess_slice, working_geometry

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "missing_wedge_2d.safetensors"


def missing_wedge_deg(geometry) -> float:
    """Unmeasured part of the half-turn, degrees: 180 minus the arc covered (parallel beam).

    For fan beam the arc (over a full turn) gains the fan angle, the parallel-equivalent
    coverage near the centre: wedge = 180 - arc - fan. A gap no larger than 1.5 angular steps
    is sampling, not a wedge (0 is returned).
    """
    _, span, step = covered_arc(geometry.angles, geometry.period)
    if geometry.period - span <= 1.5 * step:
        return 0.0
    covered = np.degrees(span)
    if hasattr(geometry, "source_origin"):  # fan beam: add the fan angle
        half_width = geometry.n_detector * geometry.detector_spacing / 2
        covered += 2 * np.degrees(np.arctan(half_width / (geometry.source_origin + geometry.origin_detector)))
    return float(max(0.0, 180.0 - covered))


def load_default(weights=None, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, ModelCard]:
    """The generator and its model card: ``weights`` (.safetensors + .json, IRDM .ckpt, .pt) or the shipped default.

    Raises
    ------
    FileNotFoundError
        If the weights (or their card) do not exist.
    ValueError
        If the file is not generator weights.
    """
    net, card = load_weights(DEFAULT_WEIGHTS if weights is None else weights, map_location=device)
    if card.architecture.name != "unetpp":
        raise fail("weights", "IRDM generator weights (U-Net++, `tomolearn train missing_wedge`)",
                   f"weights of a {card.architecture.name} for method {card.method!r}")
    return net, card


@torch.no_grad()
def irdm_slice(generator, card: ModelCard, sinogram: np.ndarray, geometry, working_size: int | str | None = "auto") -> np.ndarray:
    """Reconstruct one slice with the IRDM recipe.

    Parameters
    ----------
    generator : torch.nn.Module
        From :func:`load_default`; runs on the device of its parameters.
    card : ModelCard
        Its model card (training size, wedge range, pipeline).
    sinogram : ndarray, shape (A, U)
        Line integrals of a limited-angle (missing-wedge) scan.
    geometry : ParallelGeometry or FanGeometry
        2D geometry of the sinogram (radians).
    working_size : int, "auto" or None
        Longest side of the grid the network sees; "auto" = the card's (the training size),
        None = the scan's grid.

    Returns
    -------
    ndarray, shape geometry.volume_shape, float32
        Attenuation per voxel unit, like WBP.

    Raises
    ------
    ValueError
        On a bad ``working_size``.

    References
    ----------
    C. Wang et al., "0.71-A resolution electron tomography enabled by deep learning aided
    information recovery" (IRDM), seed 004.
    """
    if working_size != "auto":
        if working_size is not None and (not isinstance(working_size, (int, np.integer)) or working_size < 16):
            raise fail("working_size", "an integer >= 16, 'auto' or None", working_size)
        card = card.model_copy(update={"pipeline": card.pipeline.model_copy(update={"working_size": working_size})})
    return postprocess_slice(generator, card, sinogram, geometry)


def data_consistent(sinogram: np.ndarray, geometry, prior: np.ndarray, tv_relative: float = 0.01,
                    prior_relative: float = 0.03, n_iter: int = 200) -> np.ndarray:
    """Reconcile a network output with the measured data (our extension of IRDM).

    Solves ``min_x 1/2 ||A x - b||^2 + w_tv TV(x) + w_p / 2 ||x - prior||^2, x >= 0``: where
    the projections determine the slice (the measured Fourier region) the data win, in the
    missing wedge the network's content and TV decide. The output therefore re-projects onto
    the measurements, which IRDM's raw output need not do.

    Parameters
    ----------
    sinogram : ndarray, shape (A, U)
    geometry : ParallelGeometry
    prior : ndarray, shape geometry.volume_shape
        E.g. :func:`irdm_slice`'s output.
    tv_relative : float
        TV weight relative to the data (see :func:`tomolearn.recon.tv_weight`, with
        the prior's 99th percentile as level). Default: the value tuned on the missing-wedge
        benchmark's tuning faces at 40-60 degrees.
    prior_relative : float
        Prior weight in units of ``A * voxel_size**2`` (1: about as strong as the data term's
        diagonal). Default: tuned there too (0.03 at every wedge from 40 to 80 degrees).
    n_iter : int

    Returns
    -------
    ndarray, shape geometry.volume_shape, float32

    References
    ----------
    Chambolle-Pock TV as in :func:`tomolearn.recon.tv_pdhg` (its fixed preconditioned steps);
    learned prior from IRDM (seed 004).
    """
    scale = geometry.n_angles * geometry.voxel_size**2
    # the fixed steps its defaults were tuned with: the balanced ones move this problem
    # (benchmarks/results/tv_balance_impact.md), so switching means re-tuning it first
    return tv_pdhg(sinogram, geometry, weight=tv_weight(tv_relative, geometry, intensity_level(prior)), n_iter=n_iter,
                   x0=prior, prior=prior, prior_weight=prior_relative * scale, balanced=False).astype(np.float32)


def check_wedge(geometry, card: ModelCard) -> float:
    """Warn when the scan's missing wedge lies outside the wedges the model was trained on; return the wedge (deg)."""
    wedge = missing_wedge_deg(geometry)
    lo, hi = card.geometry.wedge_range_deg or (0.0, 180.0)
    if not lo - 5 <= wedge <= hi + 5:
        warnings.warn(f"missing wedge {wedge:.0f} deg is outside the training range {lo:.0f}-{hi:.0f} deg; "
                      "expect artefacts (train a model for this range with `tomolearn train missing_wedge`)",
                      stacklevel=2)
    return wedge


__all__ = ["DEFAULT_WEIGHTS", "check_wedge", "data_consistent", "irdm_slice", "load_default", "missing_wedge_deg",
           "working_geometry"]
