"""Low-dose recipe (seed 002): enhance low-dose projections with a CNN trained on a few high/low
pairs of the same sample, then reconstruct; or, without pairs, Noise2Inverse denoising.

Two modes, chosen by the model card (``pipeline.mode``):

- ``"paired"`` (Yang et al. 2018): an :class:`~tomolearn.models.encdec.EncoderDecoder` maps
  min–max normalised low-dose projection patches to high-dose ones; every projection of the
  scan is enhanced in overlapping patches, then reconstructed (FBP with a Parzen window, the
  seed's gridrec choice, or any registered method).
- ``"noise2inverse"`` (Hendriksen et al. 2020): the angles are split into ``K`` interleaved
  subsets, each reconstructed alone; a U-Net trained on the scan itself maps the mean of
  ``K − 1`` sub-reconstructions to the remaining one, and the output is the mean of its
  ``K`` predictions. No high-dose data at all.
- ``"count_split"`` (Noise2Noise by binomial count splitting): a scan of raw counts is split
  photon by photon into two independent half-dose scans of every angle; the U-Net learns to
  predict one half's reconstruction from the other's and is applied to the reconstruction of
  all the photons. No high-dose data and no angular undersampling of the training pairs.

Inference imports no training code.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._checks import fail

WEIGHTS_NAME = "lowdose.safetensors"


def resolve_model(model) -> Path:
    """The weight file of ``model``: itself, or ``lowdose.safetensors`` (else ``checkpoints/last.ckpt``) of a run folder.

    Raises
    ------
    FileNotFoundError
        If there is no such file, or the folder holds no low-dose weights.
    """
    p = Path(model)
    if not p.exists():
        raise FileNotFoundError(f"--model: no such file or folder {str(p)!r}")
    if p.is_dir():
        for cand in (p / WEIGHTS_NAME, p / "checkpoints" / "last.ckpt"):
            if cand.exists():
                return cand
        raise FileNotFoundError(f"--model: folder {str(p)!r} holds no {WEIGHTS_NAME} or checkpoints/last.ckpt; "
                                "train one with `tomolearn train lowdose`")
    return p


def load_lowdose(model, device: str = "cpu"):
    """Network and model card of low-dose weights (a file or a `tomolearn train lowdose` run folder).

    Raises
    ------
    FileNotFoundError
        If the weights do not exist.
    ValueError
        If they are not low-dose weights.
    """
    from ..models.weights import load_weights

    net, card = load_weights(resolve_model(model), map_location=device)
    if card.method != "lowdose" or card.pipeline.mode not in ("paired", *SELF_SUPERVISED):
        raise fail("--model", "low-dose weights (`tomolearn train lowdose`)",
                   f"weights of a {card.architecture.name} for method {card.method!r}")
    net.eval()
    return net, card


# ---------------------------------------------------------------- paired mode (seed 002)

def minmax_normalise(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """``(x − lo) / (hi − lo)``: seed 002's normalisation.

    The seed standardises (``(I − mean) / std``) and then min–max scales; a min–max is blind to
    any prior positive affine map, so the two steps are this one min–max. ``value_range`` is
    the low-dose training projections' ``(min, max)``, kept in the model card so every
    projection and every slab of rows is normalised alike and the output can be mapped back.
    """
    lo, hi = float(value_range[0]), float(value_range[1])
    return ((np.asarray(images, np.float32) - np.float32(lo)) / np.float32(max(hi - lo, 1e-12))).astype(np.float32)


def minmax_restore(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Inverse of :func:`minmax_normalise`."""
    lo, hi = float(value_range[0]), float(value_range[1])
    return (np.asarray(images, np.float32) * np.float32(max(hi - lo, 1e-12)) + np.float32(lo)).astype(np.float32)


def pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Pad the last two axes to at least ``size`` by edge reflection (a 2-row projection still fills a patch)."""
    h, w = image.shape[-2:]
    ph, pw = max(size - h, 0), max(size - w, 0)
    if not ph and not pw:
        return image
    pad = [(0, 0)] * (image.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(image, pad, mode="symmetric")


def pair_by_angle(scan_angles, pair_angles, tolerance: float | None = None) -> np.ndarray:
    """Index of the scan projection at each pair's angle.

    Parameters
    ----------
    scan_angles, pair_angles : array_like, radians
    tolerance : float, optional
        Largest accepted difference in radians; default a tenth of the scan's smallest step
        (at least 1e-6 rad).

    Returns
    -------
    ndarray of int, shape (P,)

    Raises
    ------
    ValueError
        If a pair angle has no scan projection within ``tolerance`` (the message names it and
        the nearest scan angle), or two pairs fall on one projection.
    """
    scan = np.asarray(scan_angles, np.float64).ravel()
    pairs = np.asarray(pair_angles, np.float64).ravel()
    if pairs.size == 0:
        raise fail("--pairs", "high-dose projections at one or more angles", "none")
    if tolerance is None:
        steps = np.diff(np.sort(scan))
        steps = steps[steps > 0]
        tolerance = max(0.1 * float(steps.min()) if steps.size else 1e-6, 1e-6)
    idx = []
    for a in pairs:
        d = np.abs(np.angle(np.exp(1j * (scan - a))))  # on the circle: 360° equals 0°
        k = int(np.argmin(d))
        if d[k] > tolerance:
            raise fail("--pairs", "high-dose projections at angles of the scan",
                       f"{np.degrees(a):.4g} deg, which has no partner (nearest scan angle {np.degrees(scan[k]):.4g} "
                       "deg)", "take the pairs at scan angles or check the angle units")
        idx.append(k)
    if len(set(idx)) != len(idx):
        raise fail("--pairs", "one high-dose projection per scan angle", "two pairs at one angle")
    return np.asarray(idx, dtype=int)


def match_row_sums(enhanced: np.ndarray, low: np.ndarray, bias: float = 0.0) -> np.ndarray:
    """Give every enhanced projection row the slice's mass estimated from all low-dose projections.

    In parallel beam the integral of a projection over the detector is the same at every
    angle: the integral of the slice (the zeroth Helgason–Ludwig consistency condition). The
    low-dose rows' sums are that mass plus zero-mean noise, so their mean over ``A`` angles
    estimates it with the noise divided by ``√A``; a network's output has no such guarantee, and
    its offset, the same in every projection, turns into a low-frequency error of the slice
    that FBP does not average away. Each row of each enhanced projection is shifted by a
    constant to that mean.

    Parameters
    ----------
    enhanced, low : ndarray, shape (A, V, U)
        Enhanced and low-dose projections (line integrals) of all ``A`` angles.
    bias : float
        Mean low − high residual per detector pixel (the log of few counts is biased upward),
        measured on the pairs; subtracted from the low-dose mean.

    Returns
    -------
    ndarray, shape (A, V, U), float32

    Raises
    ------
    ValueError
        If the stacks differ in shape.

    Notes
    -----
    Only for a parallel beam whose detector sees the whole object in every projection (a
    truncated field of view breaks the invariance); fan and cone beam weight the integral.

    References
    ----------
    S. Helgason, The Radon Transform (1980); D. Ludwig, Comm. Pure Appl. Math. 19, 49 (1966).
    """
    enhanced, low = np.asarray(enhanced, np.float32), np.asarray(low, np.float32)
    if enhanced.shape != low.shape or enhanced.ndim != 3:
        raise fail("enhanced", f"projections of the low-dose stack's shape {low.shape}", f"shape {enhanced.shape}")
    U = enhanced.shape[2]
    mass = low.sum(2, dtype=np.float64).mean(0) - U * float(bias)  # (V,)
    shift = (mass[None] - enhanced.sum(2, dtype=np.float64)) / U  # (A, V)
    return (enhanced + shift[..., None]).astype(np.float32)


def angle_neighbours(angles, k: int) -> np.ndarray:
    """Indices of each projection's ``k`` neighbours on either side in angle order, itself in the middle.

    Projections are ordered by angle (an interlaced or golden-angle scan too); at the ends of
    the arc the order is reflected (the neighbour before the first projection is the second),
    which needs no assumption about the geometry (a 180° parallel scan would allow mirroring
    across the ends, a fan beam or a limited arc would not).

    Parameters
    ----------
    angles : array_like, shape (A,)
        Projection angles (radians).
    k : int
        Neighbours per side.

    Returns
    -------
    ndarray of int, shape (A, 2k + 1)
        Row ``a``: the projections to stack as channels for projection ``a`` (column ``k`` is ``a``).

    Raises
    ------
    ValueError
        If ``k < 0`` or the scan has fewer than ``k + 1`` projections.
    """
    angles = np.asarray(angles, np.float64).ravel()
    if isinstance(k, bool) or int(k) < 0:
        raise fail("neighbours", "an integer >= 0", k)
    if angles.size < int(k) + 1:
        raise fail("neighbours", f"at most {angles.size - 1} for a scan of {angles.size} projections", k)
    order = np.argsort(angles, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    padded = np.pad(order, int(k), mode="reflect") if k else order
    return np.stack([padded[r:r + 2 * int(k) + 1] for r in rank])


def network_inputs(projections, value_range, patch: int, neighbours=None, index: int = 0) -> np.ndarray:
    """The normalised, padded network input ``(C, V', U')`` of projection ``index``.

    ``neighbours`` is :func:`angle_neighbours`' table (None: the projection alone, ``C = 1``).
    """
    rows = [index] if neighbours is None else neighbours[index]
    return np.stack([pad_to(minmax_normalise(projections[int(j)], value_range), patch) for j in rows])


def enhance_projections(net, card, projections: np.ndarray, batch_size: int = 256,
                        show_progress: bool = False, angles=None, indices=None) -> np.ndarray:
    """Enhance low-dose projections with a paired low-dose network (seed 002).

    Each projection is normalised with the card's ``value_range``, padded to at least one
    patch, run through the network in patches overlapping by ``pipeline.overlap`` and blended,
    and mapped back to line integrals; with ``pipeline.self_ensemble`` every patch is the mean
    over its 8 flips/rotations. With ``pipeline.neighbours = k`` the projections at the ``k``
    nearest angles on each side are stacked with it as input channels (the noise of
    neighbouring projections is independent, their content nearly the same).

    Parameters
    ----------
    net : torch.nn.Module
        :class:`~tomolearn.models.encdec.EncoderDecoder` (its device is used).
    card : ModelCard
        ``pipeline.mode == "paired"``.
    projections : ndarray, shape (A, V, U)
        Low-dose line integrals.
    batch_size : int
    show_progress : bool
    angles : array_like, shape (A,), optional
        Projection angles (radians); needed when the card has ``neighbours > 0``.
    indices : sequence of int, optional
        Enhance only these projections (the others still serve as neighbours); default all.

    Returns
    -------
    ndarray, shape (len(indices), V, U), float32

    Raises
    ------
    ValueError
        If the weights are not paired low-dose weights, ``projections`` is not 3D, or
        ``angles`` is missing or of the wrong length for a network with neighbours.

    References
    ----------
    X. Yang et al., Sci. Rep. 8, 2575 (2018).
    """
    from ..infer import SelfEnsemble, sliding_window
    from ..progress import progress

    p = card.pipeline
    if p.mode != "paired" or p.value_range is None:
        raise fail("model", "paired low-dose weights (trained with --pairs)", f"mode {p.mode!r}")
    proj = np.asarray(projections, np.float32)
    if proj.ndim != 3:
        raise fail("projections", "an array (A, V, U)", f"shape {proj.shape}")
    A, V, U = proj.shape
    table = None
    if p.neighbours:
        if angles is None or np.size(angles) != A:
            raise fail("angles", f"the {A} projection angles (the network stacks {p.neighbours} neighbours "
                                 "per side)", "none" if angles is None else f"{np.size(angles)} angles")
        table = angle_neighbours(angles, p.neighbours)
    indices = range(A) if indices is None else [int(i) for i in indices]
    patch = card.architecture.patch
    out = np.empty((len(indices), V, U), np.float32)
    model = SelfEnsemble(net) if p.self_ensemble else net
    for n, a in enumerate(progress(indices, "enhancing projections", show_progress)):
        x = network_inputs(proj, p.value_range, patch, table, a)
        y = sliding_window(model, x, window=patch, overlap=p.overlap, batch_size=batch_size, multiple=8)
        out[n] = minmax_restore(y[:V, :U], p.value_range)
    return out


# ---------------------------------------------------------------- self-supervised modes

#: card modes of the self-supervised networks: Noise2Inverse (angle subsets) and count splitting
SELF_SUPERVISED = ("noise2inverse", "count_split")


def _prepared(approximant: str, params: dict | None, op):
    """The registered ``approximant`` method with ``params``, prepared for ``op``'s geometry."""
    from ..methods import base as registry

    return registry.build(approximant, params or {}).prepare(op.geometry)


def split_angles(n_angles: int, k: int) -> list[np.ndarray]:
    """``k`` interleaved subsets of ``n_angles`` projections (``i::k``): each spans the whole arc.

    Raises
    ------
    ValueError
        If ``k < 2`` or a subset would hold fewer than 2 projections.
    """
    if isinstance(k, bool) or int(k) < 2:
        raise fail("splits", "an integer >= 2 (Noise2Inverse angle subsets)", k)
    if n_angles < 2 * k:
        raise fail("splits", f"at most {n_angles // 2} for a scan of {n_angles} projections", k)
    return [np.arange(i, n_angles, k) for i in range(int(k))]


def sub_reconstructions(projections: np.ndarray, op, k: int, approximant: str = "fbp",
                        approximant_params: dict | None = None) -> np.ndarray:
    """Reconstructions of ``k`` interleaved angle subsets of a slab.

    Parameters
    ----------
    projections : ndarray, shape (A, V, U)
        Line integrals.
    op : LinearOperator or geometry
        The slice-wise operator of all ``A`` angles (parallel or fan beam).
    k : int
    approximant : str
        A registered method (default FBP).
    approximant_params : dict, optional

    Returns
    -------
    ndarray, shape (k, V, Y, X), float32

    References
    ----------
    A. A. Hendriksen et al., IEEE Trans. Comput. Imaging 6, 1320 (2020), Eq. (6).
    """
    from ..physics.projector import make_operator

    op = make_operator(op)
    proj = np.asarray(projections, np.float32)
    method = _prepared(approximant, approximant_params, op)
    subs = [method.run(proj[idx], op.subset(idx)).volume for idx in split_angles(proj.shape[0], k)]
    return np.stack(subs).astype(np.float32)


#: a part with no photon in a pixel counts half a photon there: -log stays finite, and the
#: replacement is the usual one for zero counts in low-count CT (a smaller bias than a floor at 0+)
ZERO_COUNT = 0.5


def count_split_reconstructions(projections: np.ndarray, open_beam: np.ndarray, op, seed, *, frames: int = 1,
                                gain: float = 1.0, read_noise: float = 0.0, approximant: str = "fbp",
                                approximant_params: dict | None = None) -> np.ndarray:
    """Reconstructions of the two halves of a scan's photons (binomial count splitting).

    The detected counts behind the line integrals, ``open_beam · exp(-p)``, and the flat
    fields' photons are each split binomially in two (:func:`tomolearn.physics.noise.split_counts`);
    each half is normalised by its own half of the flat fields and reconstructed. The halves
    see every angle and independent noise (Poisson counts split binomially are independent
    Poisson counts), so one predicts the other without the angular undersampling of
    Noise2Inverse's angle subsets.

    Parameters
    ----------
    projections : ndarray, shape (A, V, U)
        Line integrals of the scan (flat/dark normalised, -log).
    open_beam : ndarray, shape (V, U)
        Open-beam counts of the same detector rows (:attr:`tomolearn.scan.Scan.open_beam`).
    op : LinearOperator or geometry
        The slice-wise operator of all ``A`` angles (parallel or fan beam).
    seed : int or numpy.random.Generator
    frames : int
        Flat frames averaged into ``open_beam``.
    gain : float
        Detector counts per photon (1: the counts are photons).
    read_noise : float
        Standard deviation of the detector's read-out noise per frame, in counts (the dark
        frames' temporal spread). It is Gaussian, not photons: the binomial split hands both
        halves about the same half of it, a shared noise a Noise2Noise network keeps. With
        ``read_noise > 0`` the halves get ``+δ`` and ``-δ``, ``δ ~ N(0, read_noise²/4)`` per
        pixel, which cancels that covariance (Recorrupted-to-Recorrupted) at the price of
        ``read_noise²/4`` more variance in each half. 0: no correction.
    approximant, approximant_params
        The registered method that reconstructs each half (default FBP).

    Returns
    -------
    ndarray, shape (2, V, Y, X), float32

    Raises
    ------
    ValueError
        If ``open_beam`` does not match the projections' detector or ``gain`` is not positive.

    References
    ----------
    J. Lehtinen et al., "Noise2Noise", ICML 2018; binomial count splitting of photon-counting
    CT data for Noise2Noise training, Proc. SPIE 12463, 1246304 (2023); T. Pang et al.,
    "Recorrupted-to-Recorrupted", CVPR 2021 (the read-out correction).
    """
    from ..physics.noise import split_counts
    from ..physics.projector import make_operator

    proj = np.asarray(projections, np.float32)
    beam = np.asarray(open_beam, np.float64)
    if beam.shape != proj.shape[1:]:
        raise fail("open_beam", f"open-beam counts of the projections' detector rows {proj.shape[1:]}",
                   f"shape {beam.shape}")
    if not (np.isfinite(gain) and gain > 0):
        raise fail("gain", "detector counts per photon > 0", gain)
    if not (np.isfinite(read_noise) and read_noise >= 0):
        raise fail("read_noise", "a read-out noise standard deviation >= 0 (counts)", read_noise)
    rng = np.random.default_rng(seed)
    photons = beam / gain
    data = split_counts(photons * np.exp(-proj.astype(np.float64)), rng)
    flats = split_counts(photons * frames, rng)
    if read_noise > 0:  # the shared half of the read-out noise, cancelled by opposite recorruptions
        sigma = read_noise / gain / 2
        d = rng.normal(0.0, sigma, data[0].shape)
        f = rng.normal(0.0, sigma * np.sqrt(frames), flats[0].shape)  # the flats' photons are a sum of frames
        data, flats = (data[0] + d, data[1] - d), (flats[0] + f, flats[1] - f)
    live = beam > 0  # a dead pixel carries no attenuation: line integral 0, as the readers set it
    op = make_operator(op)
    method = _prepared(approximant, approximant_params, op)
    halves = []
    for part, flat in zip(data, flats):
        flat = np.maximum(flat / frames, ZERO_COUNT)
        p = np.where(live, -np.log(np.maximum(part, ZERO_COUNT) / flat), 0.0).astype(np.float32)
        halves.append(method.run(p, op).volume)
    return np.stack(halves).astype(np.float32)


def noise2inverse(net, card, projections: np.ndarray, op, show_progress: bool = False,
                  batch_size: int = 4) -> np.ndarray:
    """Self-supervised low-dose reconstruction of a slab (Noise2Inverse or count splitting).

    Parameters
    ----------
    net : torch.nn.Module
        A 2D U-Net of a ``pipeline.mode`` ``"noise2inverse"`` or ``"count_split"`` card.
    card : ModelCard
        Gives the mode, the splits ``K``, the approximant, its scale and the windows.
    projections : ndarray, shape (A, V, U)
        Line integrals.
    op : LinearOperator
        Slice-wise operator of all ``A`` angles.

    Returns
    -------
    ndarray, shape (V, Y, X), float32
        Noise2Inverse: the mean over the ``K`` held-out splits of the network's prediction from
        the others. Count split: the network applied to the reconstruction of all projections.

    Raises
    ------
    ValueError
        If the card is not a self-supervised one.

    References
    ----------
    A. A. Hendriksen, D. M. Pelt, K. J. Batenburg, "Noise2Inverse: self-supervised deep
    convolutional denoising for tomography", IEEE Trans. Comput. Imaging 6, 1320 (2020);
    J. Lehtinen et al., "Noise2Noise", ICML 2018.
    """
    from ..infer import sliding_window
    from ..progress import progress

    p = card.pipeline
    if p.mode not in SELF_SUPERVISED or p.splits is None or p.scale is None:
        raise fail("model", "self-supervised weights (trained with --self-supervised)", f"mode {p.mode!r}")
    multiple = 2 ** card.architecture.depth
    if p.mode == "count_split":  # trained on half the photons, applied to all of them
        from ..physics.projector import make_operator

        op = make_operator(op)
        x = _prepared(p.approximant, p.approximant_params, op).run(np.asarray(projections, np.float32), op).volume / np.float32(p.scale)
        out = np.stack([sliding_window(net, x[v], window=p.window, overlap=p.overlap, batch_size=batch_size,
                                       multiple=multiple) for v in progress(range(x.shape[0]), "count split",
                                                                            show_progress)])
        return (out * np.float32(p.scale)).astype(np.float32)
    subs = sub_reconstructions(projections, op, p.splits, p.approximant, p.approximant_params) / np.float32(p.scale)
    K, V = subs.shape[:2]
    total = subs.sum(0)
    out = np.zeros(subs.shape[1:], np.float32)
    for v in progress(range(V), "Noise2Inverse", show_progress):
        for j in range(K):
            x = (total[v] - subs[j, v]) / (K - 1)
            out[v] += sliding_window(net, x, window=p.window, overlap=p.overlap, batch_size=batch_size,
                                     multiple=multiple)
    return (out / K * np.float32(p.scale)).astype(np.float32)


__all__ = ["SELF_SUPERVISED", "WEIGHTS_NAME", "angle_neighbours", "count_split_reconstructions", "enhance_projections", "load_lowdose", "match_row_sums",
           "minmax_normalise", "minmax_restore", "network_inputs",
           "noise2inverse", "pad_to", "pair_by_angle", "resolve_model", "split_angles", "sub_reconstructions"]
