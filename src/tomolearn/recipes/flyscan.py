"""Fly-scan recipe, learned part (seed 003): approximant of a blurred, noisy fly scan -> RRDB.

The approximant is FBP (the seed's workflow, Fig. 2a) or the fly-scan-aware modified MLEM (our
variant), computed with the scan's fly-scan geometry (its ``exposure_arc``); the RRDB network
then maps it to the object. Settings come from the weights' model card, so training and
inference compute the same input. Inference imports no training code.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .._checks import fail

#: weights shipped in the package (trained by `tomolearn train flyscan`; card beside them)
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "flyscan_2d.safetensors"


def load_default(weights=None, device: str = "cpu"):
    """RRDB network and model card: ``weights`` (a file or a `train flyscan` run folder) or the shipped default.

    Raises
    ------
    FileNotFoundError
        If the weights do not exist.
    ValueError
        If they are not fly-scan weights.
    """
    from ..models.weights import load_weights

    p = DEFAULT_WEIGHTS if weights is None else Path(weights)
    if p.is_dir():
        p = p / "flyscan.safetensors"
    if not p.exists():
        hint = "" if weights is not None else " (the shipped weights are missing: reinstall, or train with `tomolearn train flyscan`)"
        raise FileNotFoundError(f"--model: no such file {str(p)!r}{hint}")
    net, card = load_weights(p, map_location=device)
    if card.method != "flyscan":
        raise fail("--model", "fly-scan weights (`tomolearn train flyscan`)",
                   f"weights of a {card.architecture.name} for method {card.method!r}")
    net.eval()
    return net, card


def check_acquisition(card, geometry) -> list[str]:
    """Warnings when a scan's exposure arc or projection count lies outside the training ranges."""
    t = card.training
    out = []
    arc = float(np.degrees(getattr(geometry, "exposure_arc", 0.0)))
    lo_hi = t.get("exposure_arc_deg_range")
    if lo_hi and not (lo_hi[0] - 1e-6 <= arc <= lo_hi[1] + 1e-6):
        out.append(f"the scan's exposure arc {arc:.3g} deg lies outside the {lo_hi[0]:.3g}-{lo_hi[1]:.3g} deg the "
                   "fly-scan weights were trained on; the network is extrapolating")
    rng = t.get("angles")
    if rng and not (rng[0] <= geometry.n_angles <= rng[1]):
        out.append(f"the scan's {geometry.n_angles} projections lie outside the {rng[0]}-{rng[1]} the weights were "
                   "trained on")
    for w in out:
        warnings.warn(w, stacklevel=2)
    return out


def flyscan_slice(net, card, sinogram: np.ndarray, geometry) -> np.ndarray:
    """Learned reconstruction of one fly-scan sinogram ``(A, U)`` (geometry with its exposure arc).

    Returns
    -------
    ndarray, shape geometry.volume_shape, float32

    References
    ----------
    Seed 003 (ultrafast fly-scan nano-CT), Fig. 2a; X. Wang et al., ESRGAN, ECCV-W 2018.
    """
    from .postprocess import postprocess_slice

    return postprocess_slice(net, card, sinogram, geometry)


__all__ = ["DEFAULT_WEIGHTS", "check_acquisition", "flyscan_slice", "load_default"]
