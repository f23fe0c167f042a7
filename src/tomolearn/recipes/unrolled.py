"""Unrolled reconstruction (Learned Primal-Dual) on any slice geometry: scan in, slices out.

The recipe around :class:`~tomolearn.models.lpd.LearnedPrimalDual`, shared by training and
inference so both compute the same input:

1. **Exact canonical orientation** (:func:`canonical_scan`). The projections are unwrapped
   into one contiguous, sorted arc and turned by a multiple of 90° so the arc's centre lies
   within ±45° of angle 0; the output is turned back with :func:`numpy.rot90`, exact on a
   square grid (no interpolation, unlike the free rotation of the post-processing recipes):
   ``A_θ(rot90(x, k)) = A_{θ-k·90°}(x)`` for parallel and fan beam (``tests/test_unrolled.py``).
2. **Start and scale.** A classical reconstruction starts the primal memory: FBP (cheap), or
   TV, from which the network learns what to add (``pipeline.approximant`` of the weights'
   card). Data, start and output are divided by a high percentile of the start
   (:func:`~tomolearn.models.card.input_scale`), so the result is equivariant to the
   attenuation unit: reconstructing ``c·y`` gives ``c`` times the reconstruction of ``y``.
3. **Network.** The operator inside the network is the scan's own (in canonical orientation),
   so every iteration is fitted to the measured data.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .._checks import fail
from ..models.card import input_scale
from .limited_angle import arc_centre

#: weights shipped in the package (trained by `tomolearn train lpd`; card beside them)
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "lpd_2d.safetensors"
WEIGHTS_NAME = "lpd.safetensors"


def _unwrap(angles: np.ndarray, centre: float, period: float) -> tuple[np.ndarray, np.ndarray]:
    """Angles moved by multiples of ``period`` into ``[centre - period/2, centre + period/2)``, and the multiples."""
    m = np.floor((angles - centre) / period + 0.5)
    return angles - m * period, m.astype(int)


def canonical_scan(sinograms: np.ndarray, geometry) -> tuple[np.ndarray, object, int]:
    """The sinograms and geometry of a scan in the network's canonical frame, and the quarter turns to undo.

    1. Every angle is moved to the equivalent one nearest the arc's centre: by whole turns, and
       for parallel beam by half turns with the detector row reversed (``p(θ + π, u) = p(θ, -u)``;
       only with the axis on the detector centre, where the reversal is exact), so an arc that
       wraps past 180° becomes contiguous;
    2. projections are sorted by angle (the dual blocks convolve across neighbouring angles);
    3. all angles are shifted by ``k·90°`` so the arc centre lies in [-45°, 45°) (a non-square grid
       keeps ``k = 0``). Reconstructing in that frame and applying ``numpy.rot90(·, k)`` gives
       the object, exactly: ``A_θ(rot90(x, k)) = A_{θ - k·90°}(x)``.

    Parameters
    ----------
    sinograms : ndarray, shape (V, A, U)
    geometry : ParallelGeometry or FanGeometry

    Returns
    -------
    sinograms : ndarray, shape (V, A, U)
    geometry : the canonical geometry
    k : int
        Quarter turns (0-3) that bring the canonical reconstruction back to the scan's frame.
    """
    from ..geometry import ParallelGeometry

    s = np.asarray(sinograms, dtype=np.float32)
    angles = np.asarray(geometry.angles, dtype=np.float64)
    half_turns = isinstance(geometry, ParallelGeometry) and geometry.cor_offset == 0
    period = np.pi if half_turns else 2 * np.pi
    # the centre modulo the period, so every description of the same measurement (angles moved by
    # whole turns, or by half turns with reversed rows) gets the same canonical form
    centre = float(np.mod(arc_centre(angles, period), period))
    angles, m = _unwrap(angles, centre, period)
    flip = (m % 2 == 1) if half_turns else np.zeros(m.shape, bool)
    if flip.any():
        s = s.copy()
        s[:, flip] = s[:, flip, ::-1]
    order = np.argsort(angles, kind="stable")
    s, angles = s[:, order], angles[order]
    ny, nx = geometry.volume_shape
    k = int(np.floor(centre / (np.pi / 2) + 0.5)) if ny == nx else 0
    return np.ascontiguousarray(s), geometry.replace(angles=angles - k * np.pi / 2), k % 4


def network_inputs(sinograms: np.ndarray, geometry, op=None, init: str = "fbp",
                   init_params: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised data, initial images and the scale of each sinogram, in ``geometry``'s frame.

    Parameters
    ----------
    sinograms : ndarray, shape (B, A, U)
    geometry : ParallelGeometry or FanGeometry
    op : LinearOperator, optional
        Its ray transform, if already built.
    init : str
        The registered method whose reconstruction starts the primal memory: ``fbp`` (cheap),
        or ``tv`` (the network then starts from TV and learns what to add to it).
    init_params : dict, optional
        Its parameters (e.g. ``{"n_iter": 100, "tv_relative": 0.03}``). Every parameter must keep
        the method positively homogeneous (TV's weight relative to the data does), so the scale
        equivariance holds.

    Returns
    -------
    data : ndarray, shape (B, 1, A, U), float32
    init : ndarray, shape (B, 1, Y, X), float32
    scale : ndarray, shape (B,)
        The divisor of each slice (multiply the network output by it).
    """
    from ..methods import base as registry  # the registry imports this recipe

    params = dict(init_params or {})
    if init == "tv":  # the shipped weights learned from fixed-step TV starts: keep them unless a card says otherwise
        params.setdefault("balanced", False)
    method = registry.build(init, params)
    start = np.stack([method.image(s, op if op is not None else geometry) for s in sinograms]).astype(np.float32)
    scale = np.array([input_scale(im) for im in start], dtype=np.float32)
    data = np.asarray(sinograms, dtype=np.float32) / scale[:, None, None]
    return data[:, None], (start / scale[:, None, None])[:, None], scale


def load_default(weights=None, device: str = "cpu"):
    """Learned Primal-Dual network and model card: ``weights`` (file or `train lpd` run folder) or the shipped ones.

    Raises
    ------
    FileNotFoundError
        If the weights do not exist.
    ValueError
        If they are not Learned Primal-Dual weights.
    """
    from ..models.weights import load_weights

    p = DEFAULT_WEIGHTS if weights is None else Path(weights)
    if p.is_dir():
        p = p / WEIGHTS_NAME
    if not p.exists():
        hint = "" if weights is not None else " (the shipped weights are missing: reinstall, or train with `tomolearn train lpd`)"
        raise FileNotFoundError(f"--model: no such file {str(p)!r}{hint}")
    net, card = load_weights(p, map_location=device)
    if card.method != "lpd" or card.architecture.name != "lpd":
        raise fail("--model", "Learned Primal-Dual weights (`tomolearn train lpd`)",
                   f"weights of a {card.architecture.name} for method {card.method!r}")
    return net.eval(), card


def initial_method(card, overrides: dict | None = None) -> tuple[str, dict]:
    """The method (name, parameters) whose reconstruction starts the network, from a card (default FBP).

    ``overrides`` replace parameters of the card's (e.g. more TV iterations at inference).
    """
    if card is None:
        return "fbp", dict(overrides or {})
    return card.pipeline.approximant, {**card.pipeline.approximant_params, **(overrides or {})}


def check_geometry(card, geometry) -> list[str]:
    """Warnings when a scan's geometry kind or arc lies outside what the weights were trained on."""
    from ..geometry import FanGeometry, covered_arc

    out = []
    kind = "fan" if isinstance(geometry, FanGeometry) else "parallel"
    if kind not in card.geometry.kinds:
        out.append(f"the scan is {kind} beam; the LPD weights were trained on {', '.join(card.geometry.kinds)} beam "
                   "(train weights for this geometry with `tomolearn train lpd --geometry-from SCAN`)")
    lo_hi = card.geometry.arc_range_deg
    arc = float(np.degrees(covered_arc(geometry.angles, geometry.period)[1]))
    if lo_hi and not (lo_hi[0] - 1.0 <= arc <= lo_hi[1] + 1.0):
        out.append(f"the scan's {arc:.0f} deg arc lies outside the {lo_hi[0]:.0f}-{lo_hi[1]:.0f} deg the LPD weights "
                   "were trained on; the network is extrapolating")
    _, g, _ = canonical_scan(np.zeros((0, geometry.n_angles, geometry.n_detector), np.float32), geometry)
    centre = float(np.degrees((g.angles.min() + g.angles.max()) / 2))
    if not -46.0 <= centre <= 46.0:  # only a square grid can be turned exactly
        out.append(f"the scan's arc is centred at {centre:.0f} deg on a non-square {geometry.volume_shape} grid, which "
                   "cannot be turned to the weights' canonical orientation (centre within 45 deg of 0); "
                   "reconstruct on a square grid")
    for w in out:
        warnings.warn(w, stacklevel=2)
    return out


def lpd_slices(net, sinograms: np.ndarray, geometry, batch: int = 8, device: str | None = None,
               card=None, init_params: dict | None = None) -> np.ndarray:
    """Learned Primal-Dual reconstruction of sinograms ``(V, A, U)`` of one geometry.

    Parameters
    ----------
    net : LearnedPrimalDual
    sinograms : ndarray, shape (V, A, U) or (A, U)
        Line integrals.
    geometry : ParallelGeometry or FanGeometry
        Of one slice (``volume_shape`` is the output grid).
    batch : int
        Slices per network call.
    device : str, optional
        Default: the network's device.
    card : ModelCard, optional
        The weights' card: its pipeline names the initial reconstruction (default FBP).
    init_params : dict, optional
        Parameters of the initial reconstruction that replace the card's (e.g. ``{"n_iter": 200}``).

    Returns
    -------
    ndarray, shape (V, Y, X) (or (Y, X)), float32, in the unit of ``sinograms`` per ``geometry.unit``

    References
    ----------
    J. Adler and O. Öktem, "Learned Primal-Dual Reconstruction", IEEE TMI 37(6), 2018.
    """
    from ..physics.projector import make_operator

    s = np.asarray(sinograms, dtype=np.float32)
    single = s.ndim == 2
    s, g, k = canonical_scan(s[None] if single else s, geometry)
    op = make_operator(g)
    dev = device or next(net.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(s), max(int(batch), 1)):
            data, init, scale = network_inputs(s[i: i + batch], g, op, *initial_method(card, init_params))
            y = net(torch.from_numpy(data).to(dev), op, torch.from_numpy(init).to(dev))
            out.append(y[:, 0].cpu().numpy() * scale[:, None, None])
    vol = np.rot90(np.concatenate(out), k, axes=(-2, -1)).astype(np.float32)
    vol = np.ascontiguousarray(vol)
    return vol[0] if single else vol


__all__ = ["DEFAULT_WEIGHTS", "WEIGHTS_NAME", "canonical_scan", "check_geometry", "initial_method", "load_default", "lpd_slices",
           "network_inputs"]
