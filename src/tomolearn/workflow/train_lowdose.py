"""`tomolearn train lowdose`: paired projection enhancement (seed 002) or self-supervised (no pairs):
Noise2Inverse on angle subsets, or Noise2Noise on binomial halves of the photons."""
from __future__ import annotations

import time

import numpy as np
import torch

from .. import __version__
from .._checks import fail
from ..metrics import stack_scores
from ..models.card import Architecture, GeometryRange, ModelCard, Pipeline, input_scale
from ..models.weights import load_weights
from ..recipes.lowdose import (WEIGHTS_NAME, angle_neighbours, count_split_reconstructions, enhance_projections,
                               minmax_normalise, network_inputs, pad_to, pair_by_angle, split_angles,
                               sub_reconstructions)
from ..train.fit import best_checkpoint, fit, is_main_process, seeded
from ..train.lowdose import Noise2InversePatches, Noise2InverseValidation, PairedProjectionPatches, held_out_tiles
from ..train.noise_model import PairNoiseModel
from ..train.module import CardModule
from .common import check_export, save_run_weights, git_hash, prepare_run_dir, write_json
from .reconstruct import geometry_kind, scan_operator


def _load(path, what: str):
    from .. import load_scan
    from ..io import load_scan as read

    scan = load_scan(path) if what == "scan" else read(path)
    if getattr(scan, "kind", "projections") != "projections":
        raise fail(what, "projections of an X-ray scan", f"a {scan.kind} scan {str(path)!r}")
    return scan


def matched_pairs(scan, pairs, pair_angles_deg=None) -> tuple[np.ndarray, np.ndarray]:
    """``(pair_indices, scan_indices)``: which high-dose projections train, and their low-dose partners.

    Parameters
    ----------
    scan, pairs : Scan
        The low-dose scan and the high-dose projections of the same sample.
    pair_angles_deg : sequence of float, optional
        Only these angles of ``pairs`` (degrees); default all.

    Raises
    ------
    ValueError
        If the projections differ in size (another sample or detector), a pair angle has no
        scan partner, or a requested angle is not in ``pairs``.
    """
    if tuple(pairs.projections.shape[1:]) != tuple(scan.projections.shape[1:]):
        raise fail("--pairs", f"projections of the scan's size (V, U) = {tuple(scan.projections.shape[1:])}",
                   f"{tuple(pairs.projections.shape[1:])}", "the pairs must come from the same sample and detector")
    chosen = np.arange(pairs.geometry.n_angles)
    if pair_angles_deg:
        chosen = pair_by_angle(pairs.geometry.angles, np.deg2rad(np.asarray(pair_angles_deg, np.float64)))
    return chosen, pair_by_angle(scan.geometry.angles, pairs.geometry.angles[chosen])


def train_lowdose(config, out_dir, overwrite: bool = False, resume: bool = False, device: str = "cpu",
                  show_progress: bool = True, log=print, command: str = "", devices: int = 1,
                  strategy: str = "auto", precision: str = "32-true", scan=None, pairs=None) -> dict:
    """Train the low-dose network of one scan: on high/low-dose pairs, or self-supervised.

    Paired (``config.pairs``): the high-dose projections are matched to the scan's by angle;
    only the matched angles train (written to ``split.json``; any other high-dose angles in
    the file are held out and scored, the seed's Table 1); the encoder–decoder is fitted with
    the 1/PSNR loss on overlapping, min–max normalised patches in their 8 orientations; a
    share ``resample_noise`` of the inputs are high-dose patches plus fresh noise of the model
    measured on the pairs (:class:`tomolearn.train.noise_model.PairNoiseModel`).
    Self-supervised (``config.self_supervised``): Noise2Inverse on ``splits`` interleaved
    angle subsets of the scan itself (``split="angles"``), or Noise2Noise on the two binomial
    halves of its photons, every angle in both (``split="counts"``, a scan of raw counts with
    flat fields); MSE, U-Net; when the scan carries a reference volume (a simulation's ground
    truth) FBP and the denoised slices are scored against it.

    Parameters
    ----------
    config : tomolearn.methods.lowdose.LowDoseTraining
    out_dir : path
    overwrite, resume, device, show_progress, log, command, devices, strategy, precision
        As :func:`tomolearn.workflow.train_missing_wedge.train_missing_wedge`.
    scan, pairs : Scan, optional
        Scans already in memory (e.g. a real scan thinned to a lower dose) instead of reading
        ``config.scan`` / ``config.pairs``; the config's paths then only name them in the record.

    Returns
    -------
    dict
        The training record (``training.json``), ``weights`` and ``summary_lines``.

    Raises
    ------
    FileNotFoundError
        If the scan or the pairs file does not exist.
    ValueError
        On neither or both of ``pairs`` and ``self_supervised``, pairs that do not match the
        scan, a patch size the network cannot take, or ``split="counts"`` on a scan without
        open-beam counts.
    FileExistsError
        If ``out_dir`` is not empty (without ``overwrite``/``resume``) or ``export`` exists.

    References
    ----------
    X. Yang et al., Sci. Rep. 8, 2575 (2018); A. A. Hendriksen et al., IEEE TCI 6, 1320 (2020);
    J. Lehtinen et al., ICML 2018 (Noise2Noise).
    """
    c = config
    if (c.pairs is None and pairs is None) == (not c.self_supervised):
        raise fail("--pairs/--self-supervised", "exactly one: high-dose pairs (--pairs HIGH.h5) or --self-supervised",
                   "both" if c.self_supervised else "neither")
    if c.pair_angles and c.pairs is None and pairs is None:
        raise fail("--pair-angles", "a selection of --pairs", "no --pairs")
    if c.patch % 8:
        raise fail("--patch", "a multiple of 8 (three stride-2 layers)", c.patch)
    check_export(c.export, overwrite)
    scan = scan if scan is not None else _load(c.scan, "scan")
    train = _self_supervised_setup(scan, c, log) if c.self_supervised else _paired_setup(
        scan, c, pairs if pairs is not None else _load(c.pairs, "--pairs"))
    out = prepare_run_dir(out_dir, overwrite, resume)
    write_json(out / "split.json", train["split"])
    card = train["card"]
    with seeded(c.seed):  # the initial weights too, not only the training
        module = CardModule(card.model_dump(mode="json"), train["loss"], c.lr)
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    t0 = time.perf_counter()
    val = train.get("validation")
    last = fit(module, train["dataset"], val, out, c.epochs, c.batch_size, c.seed, accelerator, show_progress,
               devices=devices, strategy=strategy, precision=precision,
               keep_best=f"val_{train['loss']}" if val is not None else None)
    seconds = time.perf_counter() - t0
    if not is_main_process():
        return {}
    chosen, best_epoch = best_checkpoint(out) if val is not None else (last, None)
    if val is not None:
        log(f"self-supervised: weights of epoch {best_epoch} of {c.epochs} (lowest loss on the held-out tiles)")
    net, _ = load_weights(chosen, map_location=device)
    net.eval()
    t0 = time.perf_counter()
    scores = train["evaluate"](net, card)
    t_eval = time.perf_counter() - t0
    record = {"command": command, "tomolearn_version": __version__, "git": git_hash(), "seed": c.seed,
              "mode": card.pipeline.mode, "data": {"scan": str(c.scan), **train["data"]},
              "training": {"epochs": c.epochs, "batch_size": c.batch_size, "samples": len(train["dataset"]),
                           "loss": train["loss"], "lr": c.lr,
                           "parameters": int(sum(p.numel() for p in net.parameters())),
                           "architecture": card.architecture.model_dump(mode="json"), "accelerator": accelerator,
                           "devices": devices, "seconds": round(seconds, 1), "threads": torch.get_num_threads(),
                           "chosen_epoch": best_epoch if val is not None else c.epochs},
              "evaluation_seconds": round(t_eval, 2), "scores": scores}
    write_json(out / "training.json", record)
    card = card.model_copy(update={"training": {**card.training, **{k: v for k, v in record.items() if k != "scores"}},
                                   "metrics": scores})
    weights = save_run_weights(net, card, out, WEIGHTS_NAME, c.export, overwrite)
    lines = [f"{where}: " + ", ".join(f"{k} {v:.3f}" for k, v in s.items()) for where, s in scores.items()]
    return {**record, "weights": weights, "summary_lines": lines}


def _paired_setup(scan, c, pairs) -> dict:
    chosen, idx = matched_pairs(scan, pairs, c.pair_angles)
    high_all = np.asarray(pairs.projections, np.float32)
    low = np.stack([np.asarray(scan.projections[int(i)], np.float32) for i in idx])
    high = high_all[chosen]
    value_range = (float(low.min()), float(low.max()))
    y = pad_to(minmax_normalise(high, value_range), c.patch)
    table = angle_neighbours(scan.geometry.angles, c.neighbours) if c.neighbours else None
    x = np.stack([network_inputs(scan.projections, value_range, c.patch, table, int(i)) for i in idx])
    noise = PairNoiseModel.fit(x[:, c.neighbours], y, c.patch) if c.resample_noise else None
    dataset = PairedProjectionPatches(x, y, c.patch, c.stride, c.samples, c.seed, noise, c.resample_noise)
    held = np.setdiff1d(np.arange(pairs.geometry.n_angles), chosen)
    held_idx = pair_by_angle(scan.geometry.angles, pairs.geometry.angles[held]) if held.size else np.array([], int)
    deg = np.degrees(pairs.geometry.angles)
    split = {"mode": "paired", "pairs_file": str(c.pairs), "trained_deg": deg[chosen].round(6).tolist(),
             "trained_scan_indices": idx.tolist(), "held_out_pairs_deg": deg[held].round(6).tolist(),
             "held_out_scan_indices": held_idx.tolist(),
             "note": "only the trained angles' high-dose projections were seen in training; every other "
                     "projection of the scan is unpaired"}
    arch = Architecture(name="encdec", patch=c.patch, fc_channels=c.fc_channels, residual=c.residual,
                        in_channels=2 * c.neighbours + 1)
    card = ModelCard(method="lowdose", architecture=arch,
                     pipeline=Pipeline(mode="paired", value_range=value_range, window=c.patch, overlap=0.5,
                                       canonical=False, self_ensemble=c.self_ensemble, neighbours=c.neighbours,
                                       consistent_mass=c.consistent_mass,
                                       mass_bias=float(np.mean(low - high))),
                     geometry=GeometryRange(kinds=[geometry_kind(scan.geometry)]),
                     training={"scan": str(c.scan), "pairs": str(c.pairs), "trained_deg": split["trained_deg"],
                               "patch": c.patch, "stride": c.stride, "resample_noise": c.resample_noise,
                               "neighbours": c.neighbours})

    def evaluate(net, card):
        out = {}
        every = np.asarray(scan.projections, np.float32) if c.neighbours else None
        for name, p_idx, s_idx in (("trained angles", chosen, idx), ("held-out angles", held, held_idx)):
            if len(p_idx) == 0:
                continue
            lo = np.stack([np.asarray(scan.projections[int(i)], np.float32) for i in s_idx])
            hi = high_all[p_idx]
            enhanced = (enhance_projections(net, card, every, angles=scan.geometry.angles, indices=s_idx)
                        if c.neighbours else enhance_projections(net, card, lo))
            out[f"projections vs high dose, {name}"] = stack_scores(hi, {"low dose": lo, "CNN": enhanced})
        return {f"{where} | {m}": s for where, group in out.items() for m, s in group.items()}

    return {"dataset": dataset, "card": card, "split": split, "loss": "inverse_psnr", "evaluate": evaluate,
            "data": {"pairs": str(c.pairs), "trained_deg": split["trained_deg"],
                     "held_out_pairs_deg": split["held_out_pairs_deg"], "patches": len(dataset.index),
                     "value_range": list(value_range), "resample_noise": c.resample_noise,
                     "noise_model": noise.describe() if noise is not None else None}}


def _self_supervised_setup(scan, c, log) -> dict:
    V = scan.projections.shape[1]
    rows = np.arange(V) if c.rows is None or c.rows >= V else np.unique(
        np.round(np.linspace(0, V - 1, c.rows)).astype(int))
    proj = np.stack([np.asarray(scan.projections[:, int(r)], np.float32) for r in rows], axis=1)
    op = scan_operator(scan)
    params = {"filter": c.filter}
    if c.split == "counts":
        if scan.open_beam is None:
            raise fail("--split", "counts: a scan of raw counts with flat fields (Data Exchange, NXtomo, TIFF with "
                                  "flats)", f"{str(c.scan)!r}, which holds line integrals only",
                       "use --split angles (Noise2Inverse) for this scan")
        log(f"count split: two half-dose reconstructions of {rows.size} slices")
        subs = count_split_reconstructions(proj, scan.open_beam[rows], op, c.seed, frames=scan.open_beam_frames,
                                           gain=c.gain, read_noise=c.read_noise, approximant="fbp",
                                           approximant_params=params)
        mode, splits = "count_split", 2
    else:
        log(f"Noise2Inverse: {c.splits} sub-reconstructions of {rows.size} slices")
        subs = sub_reconstructions(proj, op, c.splits, "fbp", params)
        mode, splits = "noise2inverse", c.splits
    scale = input_scale(subs.mean(0))
    subs /= np.float32(scale)
    held = held_out_tiles(subs.shape[1:], c.window, c.validation, c.seed)
    dataset = Noise2InversePatches(subs, c.window, c.samples, c.seed, exclude=held)
    validation = Noise2InverseValidation(subs, held, c.window) if held.any() else None
    if c.validation and validation is None:
        log(f"Noise2Inverse: slices too small to hold out {c.window}-pixel tiles; the last epoch's weights are kept")
    arch = Architecture(name="unet", spatial_dims=2, base_channels=c.base_channels, depth=c.depth, residual=True)
    card = ModelCard(method="lowdose", architecture=arch,
                     pipeline=Pipeline(mode=mode, splits=splits, approximant="fbp",
                                       approximant_params=params, scale=scale, window=256, overlap=0.25,
                                       canonical=False),
                     geometry=GeometryRange(kinds=[geometry_kind(scan.geometry)]),
                     training={"scan": str(c.scan), "split": c.split, "splits": splits, "rows": rows.size,
                               **({"gain": c.gain, "read_noise": c.read_noise} if c.split == "counts" else {})})
    how = ({"count_split": {"seed": c.seed, "gain": c.gain, "read_noise": c.read_noise,
                            "flat_frames": scan.open_beam_frames,
                            "note": "every angle in both halves; each detected photon drawn into one of them"}}
           if c.split == "counts" else
           {"splits": [s.tolist() for s in split_angles(scan.geometry.n_angles, c.splits)]})
    split = {"mode": mode, "rows": rows.tolist(), **how,
             "validation_tiles": {"side": c.window, "share": c.validation,
                                  "tiles": int(held.sum()) // (c.window * c.window),
                                  "note": "no training patch overlaps them; their self-supervised loss chose the "
                                          "epoch"}}

    def evaluate(net, card):
        if scan.reference is None:
            return {}
        from ..recipes.lowdose import noise2inverse
        from ..recon import fbp

        ref = np.stack([np.asarray(scan.reference[int(r)], np.float32) for r in rows])
        fbp_all = fbp(proj, op, filter=c.filter)
        n2i = noise2inverse(net, card, proj, op)
        name = "count split" if mode == "count_split" else "Noise2Inverse"
        return {f"slices vs reference | {k}": v for k, v in stack_scores(ref, {"FBP": fbp_all, name: n2i}).items()}

    return {"dataset": dataset, "validation": validation, "card": card, "split": split, "loss": "mse",
            "evaluate": evaluate,
            "data": {"split": c.split, "splits": splits, "rows": int(rows.size), "scale": scale}}
