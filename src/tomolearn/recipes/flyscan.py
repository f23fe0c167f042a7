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
_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
#: shipped weights by network input: RRDB on modified MLEM (the default: better in every family of
#: benchmarks/results/flyscan_rrdb_mlem.md) and on FBP (seed 003's workflow, about 3x faster)
SHIPPED = {"mlem": _WEIGHTS / "flyscan_mlem_2d.safetensors", "fbp": _WEIGHTS / "flyscan_2d.safetensors"}
DEFAULT_INPUT = "mlem"
DEFAULT_WEIGHTS = SHIPPED[DEFAULT_INPUT]


def load_default(weights=None, device: str = "cpu", network_input: str | None = None):
    """RRDB network and model card: ``weights`` (a file or a `train flyscan` run folder) or shipped ones.

    Parameters
    ----------
    weights : path, optional
        Default: the shipped weights for ``network_input``.
    device : str
    network_input : {"mlem", "fbp"}, optional
        Which shipped weights (default ``"mlem"``); with ``weights``, checked against their card.

    Raises
    ------
    FileNotFoundError
        If the weights do not exist.
    ValueError
        If they are not fly-scan weights, ``network_input`` is unknown, or it differs from the
        input the given weights were trained on.
    """
    from ..models.weights import load_weights

    if network_input is not None and network_input not in SHIPPED:
        raise fail("--network-input", f"one of {', '.join(SHIPPED)}", repr(network_input))
    p = SHIPPED[network_input or DEFAULT_INPUT] if weights is None else Path(weights)
    if p.is_dir():
        p = p / "flyscan.safetensors"
    if not p.exists():
        hint = "" if weights is not None else " (the shipped weights are missing: reinstall, or train with `tomolearn train flyscan`)"
        raise FileNotFoundError(f"--model: no such file {str(p)!r}{hint}")
    net, card = load_weights(p, map_location=device)
    if card.method != "flyscan":
        raise fail("--model", "fly-scan weights (`tomolearn train flyscan`)",
                   f"weights of a {card.architecture.name} for method {card.method!r}")
    if network_input is not None and card.pipeline.approximant != network_input:
        raise fail("--network-input", f"the input the --model weights were trained on ({card.pipeline.approximant})",
                   repr(network_input), "leave --network-input out with --model")
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


def flyscan_slice(net, card, sinogram: np.ndarray, geometry, self_ensemble: bool = False) -> np.ndarray:
    """Learned reconstruction of one fly-scan sinogram ``(A, U)`` (geometry with its exposure arc).

    ``self_ensemble`` averages the network over the 8 flips/quarter turns of the approximant (a
    fly scan covers the full arc and its blur is tangential, so none of them is a new kind of
    input); 8× the network's time.

    Returns
    -------
    ndarray, shape geometry.volume_shape, float32

    References
    ----------
    Seed 003 (ultrafast fly-scan nano-CT), Fig. 2a; X. Wang et al., ESRGAN, ECCV-W 2018.
    """
    from .postprocess import postprocess_slice

    return postprocess_slice(net, card, sinogram, geometry, self_ensemble)


__all__ = ["DEFAULT_INPUT", "DEFAULT_WEIGHTS", "SHIPPED", "check_acquisition", "flyscan_slice", "load_default"]
