"""RAPID inference: approximant (+ two-step SART where the card asks) -> anisotropic-ASPP 3D U-Net -> δ volume (seed 001).

Inference imports no training code: a network and its model card are all it needs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._checks import fail, positive

#: weights shipped in the package (trained by benchmarks/rapid_ic.py; card beside them)
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "rapid_ic.safetensors"


def load_default(weights=None, device: str = "cpu"):
    """RAPID network and model card: ``weights`` or the shipped default.

    Raises
    ------
    FileNotFoundError
        If the weights (or their card) do not exist.
    ValueError
        If they are not RAPID weights.
    """
    from ..models.weights import load_weights

    net, card = load_weights(DEFAULT_WEIGHTS if weights is None else weights, map_location=device)
    if card.method != "rapid" or card.architecture.name != "rapid":
        raise fail("model", "RAPID weights (`tomolearn train rapid`)",
                   f"weights of a {card.architecture.name} for method {card.method!r}")
    return net, card


def approximant_of(scan, card, device: str = "cpu", show_progress: bool = False) -> np.ndarray:
    """The approximant of a ptycho-tomography scan, with the settings the network was trained on.

    A grid too thin along the beam for the card's slab count gets one slab per coarse voxel,
    with a warning (the network then sees thicker-sampled input than in training).
    """
    import inspect
    import warnings

    from ..recon.ptycho import approximant

    defaults = {k: p.default for k, p in inspect.signature(approximant).parameters.items()}
    params = {"downsample": defaults["downsample"], "n_slabs": defaults["n_slabs"], **card.pipeline.approximant_params}
    depth = scan.geometry.downsampled(int(params["downsample"])).volume_shape[1]
    if int(params["n_slabs"]) > depth:
        warnings.warn(f"the scan's coarse grid has {depth} voxels along the beam, fewer than the {params['n_slabs']} "
                      f"approximant slabs the RAPID weights were trained with; using {depth}", stacklevel=2)
        params["n_slabs"] = depth
    return approximant(scan, **params, device=device, show_progress=show_progress)


def delta_scale(card, geometry) -> float:
    """How much larger δ is at the scan's energy than at the energy the network was trained at: ``(E_train / E)²``.

    Far from absorption edges δ grows as λ² (``δ = r_e λ² n_e / 2π``), so the same sample gives
    an approximant (in δ) that many times larger; :func:`apply_network` divides it out before
    the network and multiplies it back after, so weights trained at one energy serve others.
    1 when the card does not record its training energy.
    """
    trained = (card.training or {}).get("energy_kev")
    energy = getattr(geometry, "energy_kev", None)
    if not trained or not energy:
        return 1.0
    return float((float(trained) / float(energy)) ** 2)


def two_step_of(scan, card, device: str = "cpu", show_progress: bool = False) -> np.ndarray | None:
    """The two-step reconstruction the network takes beside the approximant, or None if it takes none.

    Same settings as the project's two-step baseline (per-angle ptychography with multislice
    refinement, then 10 SART iterations or FBP), of the same reduced angles as the approximant.
    """
    kind = card.pipeline.two_step_input
    if kind is None:
        return None
    from ..recon.ptycho import two_step

    return two_step(scan, kind, n_iter=10, device=device, show_progress=show_progress)[0]


def network_input(card, approx: np.ndarray, two_step: np.ndarray | None = None, scale: float = 1.0) -> np.ndarray:
    """The network's standardised input: the approximant, and the two-step volume where the card asks for it.

    Parameters
    ----------
    card : ModelCard
        ``pipeline.input_mean/input_std`` (approximant) and ``two_step_stats`` (two-step volume)
        are the training side's statistics.
    approx : ndarray, shape (Z, Y, X)
    two_step : ndarray, shape (Z, Y, X), optional
        Needed when ``pipeline.two_step_input`` is set (:func:`two_step_of`).
    scale : float
        :func:`delta_scale`; both volumes are divided by it.

    Returns
    -------
    ndarray, shape (Z, Y, X) or (2, Z, Y, X), float32

    Raises
    ------
    ValueError
        If the card lacks its statistics, or the two-step volume is missing or on another grid.
    """
    p = card.pipeline
    if p.input_mean is None or p.input_std is None or p.output_affine is None:
        raise fail("model", "RAPID weights whose card holds input_mean, input_std and output_affine",
                   "a card without them", "train them with `tomolearn train rapid`")
    scale = np.float32(positive(scale, "scale"))
    x = (np.asarray(approx, np.float32) / scale - np.float32(p.input_mean)) / np.float32(p.input_std)
    if p.two_step_input is None:
        return x
    if two_step is None or np.shape(two_step) != np.shape(approx) or p.two_step_stats is None:
        raise fail("two_step", f"the two-step {p.two_step_input.upper()} volume of the approximant's grid "
                   f"{np.shape(approx)} (the weights take it as a second channel)",
                   "none" if two_step is None else f"shape {np.shape(two_step)}")
    mean, std = (np.float32(v) for v in p.two_step_stats)
    return np.stack([x, (np.asarray(two_step, np.float32) / scale - mean) / std])


def apply_network(net, card, approx: np.ndarray, show_progress: bool = False, scale: float = 1.0,
                  two_step: np.ndarray | None = None) -> np.ndarray:
    """Standardise an approximant as in training, run the network in overlapping 3D windows, calibrate.

    Parameters
    ----------
    net : torch.nn.Module
        A :class:`~tomolearn.models.rapid.RAPIDNet` (its device is used).
    card : ModelCard
        ``pipeline.input_mean/input_std`` standardise the input, ``pipeline.output_affine``
        ``(a, b)`` maps the output to δ, ``pipeline.window_3d`` / ``overlap`` tile the volume.
    approx : ndarray, shape (Z, Y, X)
    scale : float
        δ at the scan's energy over δ at the training energy (:func:`delta_scale`): the
        approximant is divided by it before the network and the output multiplied by it.
    two_step : ndarray, shape (Z, Y, X), optional
        The second input channel of weights trained with one (:func:`two_step_of`).

    Returns
    -------
    ndarray, shape (Z·u0, Y·u1, X·u2), float32

    Raises
    ------
    ValueError
        As :func:`network_input`.
    """
    from ..infer import sliding_window_3d

    p = card.pipeline
    x = network_input(card, approx, two_step, scale)
    y = sliding_window_3d(net, x, p.window_3d or (32, 64, 64), p.overlap, upsample=card.architecture.upsample,
                          show_progress=show_progress)
    a, b = p.output_affine
    return (np.float32(scale) * (a * y + b)).astype(np.float32)


#: mirror images of a ptycho-tomography measurement that are measurements again: Z (along the rotation
#: axis) and X (across the beam, angles negated); Y runs along the beam at θ = 0 and is left alone
MIRROR_AXES = ((), (0,), (2,), (0, 2))


def mirror_spread(net, card, approx: np.ndarray, volume: np.ndarray | None = None,
                  show_progress: bool = False, scale: float = 1.0, two_step: np.ndarray | None = None) -> np.ndarray:
    """Per-voxel standard deviation of the network over the mirror images of its approximant.

    Mirroring the object along Z (the rotation axis), or along X with the angles negated,
    together with the probe and the scan positions, gives the mirrored patterns of the same
    physics: the multislice model and the approximant's slabs along the beam commute with
    both flips, so the approximant of the mirrored measurement is the mirrored approximant.
    A network that had learned the physics alone would answer the four versions alike; where
    its answers differ it depends on how the sample happens to lie, i.e. it guessed (seed
    000). The 3D analogue of :func:`~tomolearn.workflow.reconstruct.mirror_uncertainty`.

    Parameters
    ----------
    net, card
        The RAPID network and its model card (:func:`apply_network`).
    approx : ndarray, shape (Z, Y, X)
        The approximant.
    volume : ndarray, shape (Z·u0, Y·u1, X·u2), optional
        The network's answer on ``approx`` itself, when already computed (saves one pass).
    scale : float
        :func:`delta_scale` of the scan (as for :func:`apply_network`).
    two_step : ndarray, shape (Z, Y, X), optional
        The second input channel, mirrored with the approximant (tomography commutes with
        the same flips).

    Returns
    -------
    ndarray, float32, the output's shape
    """
    outs = []
    for axes in MIRROR_AXES:
        if not axes and volume is not None:
            outs.append(np.asarray(volume, np.float32))
            continue
        def mirror(v):
            return None if v is None else np.ascontiguousarray(np.flip(v, axes) if axes else v)

        out = apply_network(net, card, mirror(approx), show_progress, scale, mirror(two_step))
        outs.append(np.flip(out, axes) if axes else out)
    return np.std(np.stack(outs), axis=0).astype(np.float32)


def rapid(scan, net, card, device: str = "cpu", show_progress: bool = False
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """RAPID reconstruction of a reduced-angle ptycho-tomography scan.

    Returns
    -------
    volume : ndarray, shape (Z, Y, X), float32
        δ on the scan's grid.
    approximant : ndarray, shape (Z, Y, X), float32
    two_step : ndarray, shape (Z, Y, X), float32, or None
        The two-step volume given to the network as a second channel (weights trained with
        ``--two-step-input``), else None.

    References
    ----------
    Z. Guo et al., "Three-dimensional nanoscale reduced-angle ptycho-tomographic imaging with deep
    learning (RAPID)", eLight 3, 7 (2023).
    """
    approx = approximant_of(scan, card, device, show_progress)
    second = two_step_of(scan, card, device, show_progress)
    vol = apply_network(net, card, approx, show_progress, delta_scale(card, scan.geometry), second)
    if vol.shape != tuple(scan.geometry.volume_shape):
        raise fail("model", f"a network whose output matches the scan's grid {scan.geometry.volume_shape}",
                   f"output shape {vol.shape}")
    return vol, approx, second


__all__ = ["DEFAULT_WEIGHTS", "MIRROR_AXES", "apply_network", "approximant_of", "delta_scale", "load_default",
           "mirror_spread", "network_input", "rapid", "two_step_of"]
