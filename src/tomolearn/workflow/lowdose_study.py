"""The low-dose comparison (seed 002): every method on one low-dose scan, scored against a reference.

Methods, all from the same low-dose projections: FBP of the noisy projections (the seed's
R_n); the projections denoised by a median filter, TV (Chambolle) and non-local means, then
FBP; SIRT and TV (PDHG) reconstruction of the noisy data; the paired CNN (seed 002, trained on
the high-dose projections of a few angles only) then FBP (R_e); Noise2Inverse (no pairs).
FBP uses the Parzen window throughout, as the seed's gridrec. The projection denoisers'
strengths are chosen on the training pairs (the same data the CNN gets); TV reconstruction's
weight and SIRT's iteration count are chosen against the reference (or the ground truth) on a few
slices (an oracle: their best case).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._checks import fail
from ..metrics import psnr, ssim, stack_scores

#: strengths tried per projection denoiser (median: window side; tv: weight in units of the
#: projections' range; nlm: filter strength h in units of the estimated noise sigma)
DENOISER_GRID = {"median": (3, 5, 7, 9), "tv": (0.005, 0.01, 0.02, 0.04, 0.08, 0.16),
                 "nlm": (0.6, 0.8, 1.0, 1.3, 1.7)}


def noise_sigma(image: np.ndarray) -> float:
    """Robust noise standard deviation of an image: the MAD of its column differences / (0.6745 √2).

    Differences of neighbouring pixels cancel the (smooth) signal and double the noise
    variance; the median absolute deviation ignores the few edges.
    """
    d = np.diff(np.asarray(image, np.float64), axis=-1).ravel()
    if d.size == 0:
        return float(np.std(image))
    return float(np.median(np.abs(d - np.median(d))) / 0.6745 / np.sqrt(2.0))


def denoise_projections(projections: np.ndarray, kind: str, strength: float) -> np.ndarray:
    """Denoise each projection ``(V, U)`` of a stack ``(A, V, U)`` with a scikit-image filter.

    Parameters
    ----------
    projections : ndarray, shape (A, V, U)
    kind : {"median", "tv", "nlm"}
        Median filter (window ``strength`` px), TV denoising (Chambolle; weight ``strength``
        times the stack's value range) or non-local means (``h = strength · σ̂``, σ̂ estimated
        per projection by :func:`noise_sigma`).
    strength : float

    Returns
    -------
    ndarray, shape (A, V, U), float32

    Raises
    ------
    ValueError
        On an unknown ``kind``.

    References
    ----------
    A. Chambolle, J. Math. Imaging Vis. 20 (2004); A. Buades, B. Coll, J.-M. Morel, CVPR 2005
    (non-local means); the seed's baselines (X. Yang et al., Sci. Rep. 8, 2575 (2018), Fig. 6).
    """
    from scipy.ndimage import median_filter
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    if kind not in DENOISER_GRID:
        raise fail("kind", f"one of {', '.join(DENOISER_GRID)}", repr(kind))
    proj = np.asarray(projections, np.float32)
    out = np.empty_like(proj)
    span = float(proj.max() - proj.min()) or 1.0
    for a, p in enumerate(proj):
        if kind == "median":
            size = (min(int(strength), p.shape[0]), int(strength))
            out[a] = median_filter(p, size=size, mode="reflect")
        elif kind == "tv":
            out[a] = denoise_tv_chambolle(p, weight=strength * span)
        else:
            sigma = noise_sigma(p)
            patch = 5 if min(p.shape) >= 5 else 1
            out[a] = denoise_nl_means(p, patch_size=patch, patch_distance=6, h=strength * sigma, sigma=sigma,
                                      fast_mode=True)
    return out


def tune_denoiser(kind: str, low: np.ndarray, high: np.ndarray) -> tuple[float, float]:
    """The strength of ``kind`` with the best PSNR of ``denoise(low)`` against ``high`` (the training pairs)."""
    best = None
    for s in DENOISER_GRID[kind]:
        score = psnr(high, denoise_projections(low, kind, s), float(high.max() - high.min()) or 1.0)
        if best is None or score > best[1]:
            best = (float(s), score)
    return best


def scored_rows(scan, reference, truth, score_rows: int | None):
    """The slices every method is scored on: ``score_rows`` spread evenly (all if None), the scan and references cut to them."""
    V = scan.projections.shape[1]
    rows = np.arange(V) if score_rows is None or score_rows >= V else np.unique(
        np.linspace(0, V - 1, score_rows).round().astype(int))
    cut = scan.__class__(np.asarray(scan.projections, np.float32)[:, rows], scan.geometry.replace(n_rows=rows.size))
    return (rows, cut, np.asarray(reference, np.float32)[rows],
            None if truth is None else np.asarray(truth, np.float32)[rows])


def tuning_slices(scan, tv_slices: int):
    """``tv_slices`` inner slices of the scored ones (the ends may be empty) on which TV and SIRT are tuned."""
    n = scan.projections.shape[1]
    idx = np.unique(np.linspace(0, n - 1, min(tv_slices + 2, n)).round().astype(int))
    idx = idx[1:-1] if idx.size > 2 else idx
    return scan.__class__(np.asarray(scan.projections)[:, idx], scan.geometry.replace(n_rows=idx.size)), idx


def best_setting(sub, ref, method: str, param: str, grid) -> tuple:
    """The value of ``param`` in ``grid`` whose ``method`` reconstruction of the tuning slices ``sub`` has the best
    PSNR against ``ref`` (their reference, ``(n, Y, X)``), and every value's PSNR."""
    from .reconstruct import reconstruct

    rng = float(ref.max() - ref.min()) or 1.0
    scores = {v: psnr(ref, reconstruct(sub, method, **{param: v}).volume, rng) for v in grid}
    return max(scores, key=scores.get), scores


def compare_tv(scan, reference: np.ndarray, out_dir=None, *, tv_grid=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
               tv_slices: int = 2, score_rows: int | None = 24, truth: np.ndarray | None = None, log=print,
               **_ignored) -> dict:
    """The TV (PDHG) baseline of :func:`compare` alone: same scored slices, tuning and scores (the other
    methods' arguments are accepted and ignored), for re-scoring TV when its solver changes."""
    from .reconstruct import reconstruct

    rows, scan, reference, truth = scored_rows(scan, reference, truth, score_rows)
    tune_ref = reference if truth is None else truth
    sub, idx = tuning_slices(scan, tv_slices)
    weight, tv_scores = best_setting(sub, tune_ref[idx], "tv", "tv_relative", tv_grid)
    t0 = time.perf_counter()
    vols = {"TV (PDHG)": np.asarray(reconstruct(scan, "tv", tv_relative=weight).volume, np.float32)}
    seconds = round(time.perf_counter() - t0, 2)
    log(f"TV (PDHG): weight {weight}, {seconds} s")
    return {"scores": stack_scores(reference, vols), "scores_truth": stack_scores(truth, vols) if truth is not None
            else {}, "rows": rows.tolist(), "seconds": {"TV (PDHG)": seconds},
            "settings": {"TV (PDHG)": weight, "tv_psnr_on_slices": tv_scores}}


def noise2inverse_run(full, scored, config, out_dir, *, seed: int = 0, device: str = "cpu", log=print,
                      **overrides) -> tuple[dict, np.ndarray, float, float]:
    """Train Noise2Inverse on the whole scan ``full`` and reconstruct the ``scored`` slices with it.

    ``config`` (a :class:`~tomolearn.methods.lowdose.LowDoseTraining`, or None for the defaults)
    is made self-supervised, seeded and updated with ``overrides`` (e.g. ``splits``). Returns the
    training record, the volume ``(Z, Y, X)`` and the training and reconstruction seconds.
    """
    from ..methods.lowdose import LowDoseTraining
    from .reconstruct import reconstruct
    from .train_lowdose import train_lowdose

    cfg = (config or LowDoseTraining(scan=Path("scan"), self_supervised=True)).model_copy(
        update={"self_supervised": True, "pairs": None, "pair_angles": None, "seed": seed, **overrides})
    t0 = time.perf_counter()
    record = train_lowdose(cfg, out_dir, overwrite=True, device=device, show_progress=False, log=log, scan=full)
    t_train = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    vol = np.asarray(reconstruct(scored, "lowdose", model=out_dir).volume, np.float32)
    t_rec = round(time.perf_counter() - t0, 2)
    what = "count split" if cfg.split == "counts" else f"Noise2Inverse (K={cfg.splits})"
    log(f"{what}: trained in {t_train} s, reconstructed in {t_rec} s")
    return record, vol, t_train, t_rec


def compare_n2i(scan, reference: np.ndarray, out_dir, *, self_supervised=None, splits=(2, 4),
                score_rows: int | None = 24, truth: np.ndarray | None = None, seed: int = 0, device: str = "cpu",
                log=print, **_ignored) -> dict:
    """Noise2Inverse at several numbers of angle subsets ``K`` (and count splitting) beside the noisy FBP, scored like :func:`compare`.

    Hendriksen et al. (IEEE TCI 2020) train to predict one interleaved subset's reconstruction
    from the mean of the other ``K - 1``; each subset holds ``A / K`` of the scan's ``A``
    projections, so a larger ``K`` gives targets with more angular-undersampling streaks, which
    no network can predict from the other subsets. Count splitting (``"counts"`` in ``splits``)
    trains on two binomial halves of the photons instead, every angle in both. This measures
    these trades on one scan (the other methods' arguments are accepted and ignored).

    Parameters
    ----------
    scan : Scan
        The low-dose scan (line integrals).
    reference : ndarray, shape (Z, Y, X)
        What the reconstructions are scored against.
    out_dir : path
        Folder for the training runs (``noise2inverse_K{k}/``).
    self_supervised : LowDoseTraining, optional
        Training settings; ``splits`` is replaced by each of ``splits``.
    splits : sequence of int or "counts"
        The ``K`` values trained and scored; ``"counts"`` adds the count-split mode (a scan of
        raw counts).
    score_rows, truth, seed, device, log
        As in :func:`compare`.

    Returns
    -------
    dict
        ``scores``, ``scores_truth``, ``rows``, ``seconds``, ``settings`` and ``volumes`` as in
        :func:`compare`, methods ``"FBP (noisy)"``, ``"Noise2Inverse K=k"`` and ``"count split"``.
    """
    from .reconstruct import reconstruct

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    full = scan
    rows, scan, reference, truth = scored_rows(scan, reference, truth, score_rows)
    vols, secs, records = {}, {}, {}
    t0 = time.perf_counter()
    vols["FBP (noisy)"] = np.asarray(reconstruct(scan, "fbp", filter="parzen").volume, np.float32)
    secs["FBP (noisy)"] = round(time.perf_counter() - t0, 2)
    for k in splits:
        if k == "counts":
            name, folder, how = "count split", "count_split", {"split": "counts"}
        else:
            name, folder, how = f"Noise2Inverse K={int(k)}", f"noise2inverse_K{int(k)}", {"splits": int(k)}
        records[name], vols[name], secs[f"{name} training"], secs[name] = noise2inverse_run(
            full, scan, self_supervised, out / folder, seed=seed, device=device, log=log, **how)
    return {"scores": stack_scores(reference, vols),
            "scores_truth": stack_scores(truth, vols) if truth is not None else {}, "rows": rows.tolist(),
            "seconds": secs, "settings": {"splits": [k if k == "counts" else int(k) for k in splits]},
            "volumes": vols,
            "training": {k: {kk: v[kk] for kk in ("training", "scores", "data") if kk in v}
                         for k, v in records.items()}}


def compare(scan, reference: np.ndarray, out_dir, *, pairs=None, train_deg=(0.0, 45.0), paired=None,
            self_supervised=None, tv_grid=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0), tv_slices: int = 2,
            sirt_grid=(10, 30, 100),
            score_rows: int | None = 24, truth: np.ndarray | None = None, seed: int = 0, device: str = "cpu",
            log=print) -> dict:
    """Run and score every low-dose method on one scan.

    Parameters
    ----------
    scan : Scan
        The low-dose scan (line integrals).
    reference : ndarray, shape (Z, Y, X)
        What the reconstructions are scored against (seed 002: the reconstruction R_o of the
        high-dose or noise-free projections with the same FBP).
    out_dir : path
        Folder for the training runs (``paired/``, ``noise2inverse/``).
    pairs : Scan, optional
        High-dose projections (at least at ``train_deg``; other angles are held out and only
        scored). None skips the paired CNN and the tuned projection denoisers use their
        middle strength.
    train_deg : sequence of float
        The pair angles the CNN trains on (seed: 0° and 45°).
    paired, self_supervised : LowDoseTraining, optional
        Training settings (defaults otherwise); ``scan``/``pairs`` fields only name the data.
    tv_grid : sequence of float
        TV reconstruction weights (``tv_relative``) tried on ``tv_slices`` of the scored slices.
    sirt_grid : sequence of int
        SIRT iteration counts tried (early stopping is SIRT's regulariser), chosen like TV's weight.
    score_rows : int, optional
        Score (and run the iterative baselines on) this many slices spread evenly over the
        volume, the same for every method; None: all. The networks train on the whole scan.
    truth : ndarray, shape (Z, Y, X), optional
        The object itself (a simulation's ground truth): also scored against, and TV's weight
        is tuned against it. A smoothed reference (FBP with a Parzen window, the seed's R_o)
        favours smooth FBP-based outputs over SIRT and TV, whose edges are sharper.
    seed : int
    device : str

    Returns
    -------
    dict
        ``scores`` (method -> PSNR, SSIM, NRMSE, PCC over the scored slices), ``scores_truth``
        (the same against ``truth``, or empty), ``rows`` (their
        indices), ``seconds`` (of the scored slices, training apart),
        ``settings`` (tuned strengths), ``volumes`` (method -> (Z, Y, X)), ``enhanced``
        (projections of the held-out pair angles: low, CNN, high) and the training records.
    """
    from ..methods.lowdose import LowDoseTraining
    from ..recipes.lowdose import enhance_projections, load_lowdose, pair_by_angle
    from .reconstruct import reconstruct
    from .train_lowdose import matched_pairs, train_lowdose

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vols, secs, settings, records = {}, {}, {}, {}

    def timed(name, fn):
        t0 = time.perf_counter()
        vols[name] = np.asarray(fn(), np.float32)
        secs[name] = round(time.perf_counter() - t0, 2)
        log(f"{name}: {secs[name]} s")

    fbp = {"filter": "parzen"}
    full = scan
    proj_all = np.asarray(scan.projections, np.float32)
    rows, scan, reference, truth = scored_rows(scan, reference, truth, score_rows)
    tune_ref = reference if truth is None else truth
    timed("FBP (noisy)", lambda: reconstruct(scan, "fbp", fbp).volume)
    low_pairs = high_pairs = None
    if pairs is not None:
        chosen, idx = matched_pairs(full, pairs, train_deg)
        low_pairs, high_pairs = proj_all[idx], np.asarray(pairs.projections, np.float32)[chosen]
    for kind, label in (("median", "median + FBP"), ("tv", "TV denoise + FBP"), ("nlm", "NLM + FBP")):
        grid = DENOISER_GRID[kind]
        strength = tune_denoiser(kind, low_pairs, high_pairs)[0] if low_pairs is not None else grid[len(grid) // 2]
        settings[label] = strength
        # whole projections (V, U) are denoised, then the scored rows reconstructed
        timed(label, lambda kind=kind, strength=strength: reconstruct(
            scan.__class__(denoise_projections(proj_all, kind, strength)[:, rows], scan.geometry), "fbp", fbp).volume)
    sub, tv_rows = tuning_slices(scan, tv_slices)
    settings["TV (PDHG)"], tv_scores = best_setting(sub, tune_ref[tv_rows], "tv", "tv_relative", tv_grid)
    settings["SIRT"], sirt_scores = best_setting(sub, tune_ref[tv_rows], "sirt", "n_iter", sirt_grid)
    timed("SIRT", lambda: reconstruct(scan, "sirt", n_iter=settings["SIRT"]).volume)
    timed("TV (PDHG)", lambda: reconstruct(scan, "tv", tv_relative=settings["TV (PDHG)"]).volume)
    enhanced = {}
    if pairs is not None:
        cfg = paired or LowDoseTraining(scan=Path("scan"), pairs=Path("pairs"))
        cfg = cfg.model_copy(update={"pair_angles": tuple(train_deg), "self_supervised": False, "seed": seed})
        t0 = time.perf_counter()
        records["paired"] = train_lowdose(cfg, out / "paired", overwrite=True, device=device, show_progress=False,
                                          log=log, scan=full, pairs=pairs)
        t_train = time.perf_counter() - t0
        # the CNN enhances whole projections (V, U): reconstruct the scan, keep the scored rows
        timed("CNN (paired) + FBP", lambda: reconstruct(full, "lowdose", model=out / "paired").volume[rows])
        secs["CNN (paired) training"] = round(t_train, 1)
        held = [i for i, a in enumerate(np.degrees(pairs.geometry.angles))
                if not np.any(np.isclose(a, np.asarray(train_deg)))]
        if held:
            net, card = load_lowdose(out / "paired", device)
            sidx = pair_by_angle(full.geometry.angles, pairs.geometry.angles[held])
            enhanced = {"angle_deg": float(np.degrees(pairs.geometry.angles[held[0]])), "low": proj_all[sidx[0]],
                        "CNN": enhance_projections(net, card, proj_all[sidx[:1]])[0],
                        "high": np.asarray(pairs.projections, np.float32)[held[0]]}
            for kind, label in (("median", "median + FBP"), ("tv", "TV denoise + FBP")):
                enhanced[label.split(" + ")[0]] = denoise_projections(proj_all[sidx[:1]], kind, settings[label])[0]
    records["noise2inverse"], vols["Noise2Inverse"], t_train, secs["Noise2Inverse"] = noise2inverse_run(
        full, scan, self_supervised, out / "noise2inverse", seed=seed, device=device, log=log)
    secs["Noise2Inverse training"] = t_train
    scores = stack_scores(reference, vols)
    scores_truth = stack_scores(truth, vols) if truth is not None else {}
    return {"scores": scores, "scores_truth": scores_truth, "rows": rows.tolist(), "reference": reference, "seconds": secs, "settings": {**settings, "tv_psnr_on_slices": tv_scores,
                                                        "sirt_psnr_on_slices": sirt_scores},
            "volumes": vols, "enhanced": enhanced,
            "training": {k: {kk: v[kk] for kk in ("training", "scores", "data") if kk in v} for k, v in records.items()}}


# ---------------------------------------------------------------- figures

def slices_figure(reference: np.ndarray, volumes: dict, path, row: int, title: str = "") -> Path:
    """One slice of every method beside the reference, with error maps (:func:`tomolearn.report.figure_grid`)."""
    from ..report import figure_grid

    ref = reference[row]
    vmax = float(np.percentile(ref, 99.9) or ref.max() or 1.0)
    return figure_grid(ref, {k: v[row] for k, v in volumes.items()}, Path(path), title, vmax=vmax)


def histogram_figure(reference: np.ndarray, volumes: dict, path, title: str = "", bins: int = 200) -> Path:
    """Grey-value histograms of whole volumes (seed 002, Fig. 3)."""
    from ..report import plt

    lo, hi = np.percentile(reference, [0.1, 99.9])
    pad = 0.5 * (hi - lo)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(reference.ravel(), bins=bins, range=(lo - pad, hi + pad), histtype="step", color="k", lw=1.5,
            label="reference", density=True)
    for name, v in volumes.items():
        ax.hist(v.ravel(), bins=bins, range=(lo - pad, hi + pad), histtype="step", lw=1, label=name, density=True)
    ax.set_yscale("log")
    ax.set_xlabel("reconstructed value")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def bars_figure(results: dict, path, metrics=("psnr", "ssim")) -> Path:
    """PSNR and SSIM of every method per case (seed 002, Fig. 4): ``results[case][method][metric]``."""
    from ..report import plt

    cases = list(results)
    methods = list(next(iter(results.values())))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4))
    width = 0.8 / len(methods)
    for ax, m in zip(np.atleast_1d(axes), metrics):
        for i, name in enumerate(methods):
            ax.bar(np.arange(len(cases)) + i * width, [results[c][name][m] for c in cases], width, label=name)
        ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2, cases, fontsize=8)
        ax.set_ylabel(m.upper())
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def ssim_map_figure(enhanced: dict, path, title: str = "") -> Path:
    """A held-out projection: high dose, then SSIM maps of low dose, filters and CNN against it (seed 002, Fig. 5/6)."""
    from ..report import plt

    high = enhanced["high"]
    rng = float(high.max() - high.min()) or 1.0
    names = [k for k in ("low", "median", "TV denoise", "CNN") if k in enhanced]
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(3.2 * (1 + len(names)), 3.4))
    axes[0].imshow(high, cmap="gray", aspect="auto")
    axes[0].set_title(f"high dose, {enhanced['angle_deg']:g}°")
    for ax, k in zip(axes[1:], names):
        score, smap = ssim(high, enhanced[k], rng, return_map=True)
        ax.imshow(smap, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_title(f"SSIM map {k}: {score:.2f}", fontsize=9)
    for ax in axes:
        ax.set_xticks([]); ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


__all__ = ["DENOISER_GRID", "bars_figure", "compare", "denoise_projections", "histogram_figure", "noise_sigma", "slices_figure",
           "ssim_map_figure", "tune_denoiser"]
