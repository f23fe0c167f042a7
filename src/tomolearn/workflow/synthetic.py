"""Built-in synthetic limited-angle study: phantoms -> limited arc -> train -> compare -> report.

Projections are simulated from phantoms at twice the resolution on a detector twice as fine,
then binned (no inverse crime), with Poisson noise at ``i0``. Training inputs use arcs centred
at angle 0 (the canonical orientation); test scans use random arc starts and go through the
full learned pipeline (canonical rotation and back).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..geometry import ParallelGeometry, uniform_angles
from ..metrics import image_metrics
from ..models.card import Architecture, GeometryRange, ModelCard, Pipeline
from ..models.weights import load_weights, save_weights
from ..phantoms import make_phantom
from ..physics.noise import poisson_noise
from ..physics.projector import RayTransform
from ..recipes.limited_angle import approximant
from ..recipes.postprocess import postprocess_slice
from ..scenario import binned_projections
from ..report import figure_grid, html_report
from ..train import PairedImages, PostProcessor, fit
from ..train.fit import is_main_process, seeded
from ..methods import base as registry
from .common import (comparison_methods, learned_trust, prepare_run_dir, summarise, write_ensemble, write_json,
                     write_run_record)
from .reconstruct import TrustOptions
from .study import register_study


def _simulate(cfg, seeds: np.ndarray):
    """Phantoms (coarse grid, values 0..1) and their full-scan sinograms (per-pixel units)."""
    d = cfg.data
    n = d.size
    fine = ParallelGeometry(uniform_angles(d.n_full_angles), 2 * n, detector_spacing=0.5, voxel_size=0.5,
                            volume_shape=(2 * n, 2 * n))
    op = RayTransform(fine)
    phantoms, sinos = [], []
    for s in seeds:
        ph = make_phantom(d.family, 2 * n, int(s))
        sino = binned_projections(ph * d.mu_max, op, 2)
        if d.i0:
            sino = poisson_noise(sino, d.i0, np.random.default_rng(int(s) + 7))
        phantoms.append(ph.reshape(n, 2, n, 2).mean((1, 3)))
        sinos.append(sino)
    coarse = ParallelGeometry(uniform_angles(d.n_full_angles), n, volume_shape=(n, n))
    return np.stack(phantoms), np.stack(sinos), coarse


def _pairs(cfg, phantoms, sinos, geometry):
    """Network inputs (approximants of arcs centred at 0) and targets, normalised by mu_max."""
    arc = np.deg2rad(cfg.data.arc_deg)
    idx = geometry.arc_indices(arc, -arc / 2)
    g = geometry.subset(idx)
    x = np.stack([approximant(s[idx], g, cfg.model.approximant, cfg.model.approximant_params)[0] for s in sinos])
    return x[:, None] / cfg.data.mu_max, phantoms[:, None].astype(np.float32)


def _card(cfg) -> ModelCard:
    d = cfg.data
    return ModelCard(
        method="learned",
        architecture=Architecture(name="unet", base_channels=cfg.model.base_channels, depth=cfg.model.depth,
                                  dropout=cfg.model.dropout),
        pipeline=Pipeline(approximant=cfg.model.approximant, approximant_params=cfg.model.approximant_params,
                          canonical=True, voxel_size=1.0,
                          grid_shape=(d.size, d.size), scale=d.mu_max, window=d.size),
        geometry=GeometryRange(kinds=["parallel"], arc_range_deg=(d.arc_deg, d.arc_deg)),
        training={"study": cfg.name, "family": d.family, "n_train": d.n_train, "n_val": d.n_val, "size": d.size,
                  "i0": d.i0, "mu_max": d.mu_max, "seed": cfg.seed, "epochs": cfg.train.epochs})


def _train(cfg, out, x_tr, y_tr, x_va, y_va, device, show_progress, seed=None):
    """Train the residual U-Net; write model.ckpt (resumable) and model.safetensors + model.json."""
    seed = cfg.seed if seed is None else seed
    card = _card(cfg)
    card.training["seed"] = seed
    with seeded(seed):  # the initial weights too: otherwise they depend on what ran before in the process
        module = PostProcessor(2, 1, cfg.model.base_channels, cfg.model.depth, cfg.train.lr, "mse", cfg.train.epochs,
                               card=card.model_dump(mode="json"), dropout=cfg.model.dropout)
    ckpt = fit(module, PairedImages(x_tr, y_tr, cfg.train.patch, flips=(-2,), seed=seed),
               PairedImages(x_va, y_va, augment=False), out, cfg.train.epochs, cfg.train.batch_size, seed,
               accelerator="gpu" if device.startswith("cuda") else "cpu", show_progress=show_progress,
               devices=cfg.train.devices, strategy=cfg.train.strategy, precision=cfg.train.precision)
    if not is_main_process():  # extra DDP processes stop once training is done; rank 0 evaluates
        return None
    (out / "model.ckpt").write_bytes(ckpt.read_bytes())
    network, _ = load_weights(ckpt)  # tensors only: a checkpoint never runs code when read
    save_weights(network, card, out / "model.safetensors", half=False, overwrite=True)
    return network.to(device), card


def _train_ensemble(cfg, out, data, device, show_progress, log):
    """(label, Ensemble method) of ``model.ensemble`` U-Nets seeded ``seed + k``, or None for one U-Net.

    Member 0 is the study's U-Net (``model.safetensors``, copied); the others train into
    ``ensemble/member_k``, listed in ``ensemble/ensemble.json`` as ``train --ensemble`` does,
    so ``--model RUN/ensemble`` reconstructs with them.
    """
    k_total = cfg.model.ensemble
    if k_total < 2:
        return None

    def train_member(k, member):
        log(f"training ensemble member {k + 1} of {k_total} (seed {cfg.seed + k})")
        _train(cfg, member, *data, device, show_progress, seed=cfg.seed + k)
    folder = write_ensemble(out / "ensemble", "learned", out / "model.safetensors", train_member, k_total,
                            [cfg.seed + k for k in range(k_total)],
                            f"tomolearn run (study {cfg.name}, model.ensemble {k_total})")
    label = f"learned (ensemble of {k_total})"
    return label, registry.build("learned", {"model": str(folder)}, device=device)


@register_study("synthetic")
def run_synthetic(cfg, out_dir, overwrite, resume, device, show_progress, log) -> dict:
    """The built-in synthetic limited-angle study (see the module docstring)."""
    t0 = time.time()
    out = prepare_run_dir(out_dir, overwrite, resume)
    write_run_record(out, cfg)
    d = cfg.data
    rng = np.random.default_rng(cfg.seed)
    seeds = rng.choice(10**6, d.n_train + d.n_val + d.n_test, replace=False)
    split = {"train": seeds[: d.n_train], "val": seeds[d.n_train: d.n_train + d.n_val],
             "test": seeds[d.n_train + d.n_val:]}
    write_json(out / "split.json", {k: v.tolist() for k, v in split.items()} |
               {"note": "phantom seeds; test phantoms are never used for training or tuning"})
    log(f"simulating {seeds.size} {d.family} phantoms at {d.size}x{d.size} ({d.arc_deg:g} deg arc)")
    ph, sinos, geometry = _simulate(cfg, seeds)
    tr = slice(0, d.n_train); va = slice(d.n_train, d.n_train + d.n_val); te = slice(d.n_train + d.n_val, None)
    x_tr, y_tr = _pairs(cfg, ph[tr], sinos[tr], geometry)
    x_va, y_va = _pairs(cfg, ph[va], sinos[va], geometry)

    log(f"training a residual U-Net for {cfg.train.epochs} epochs on {d.n_train} pairs")
    trained = _train(cfg, out, x_tr, y_tr, x_va, y_va, device, show_progress)
    if trained is None:
        return {}
    network, card = trained
    ensemble = _train_ensemble(cfg, out, (x_tr, y_tr, x_va, y_va), device, show_progress, log)

    arc = np.deg2rad(d.arc_deg)
    def scan_of(i, sino):
        start = np.random.default_rng(cfg.seed + 1000 + i).uniform(0, np.pi)
        idx = geometry.arc_indices(arc, start)
        return sino[idx], geometry.subset(idx)

    def validation_psnr(method) -> float:  # tuning sees validation scans only, never the test scans
        vals = []
        for i, sino in enumerate(sinos[va][:4]):
            s, g = scan_of(-1 - i, sino)
            vals.append(image_metrics(ph[va][i], method.image(s, g) / d.mu_max, data_range=1.0)["psnr"])
        return float(np.mean(vals))
    baselines, chosen = comparison_methods(cfg.baselines.methods, validation_psnr, level=d.mu_max, device=device,
                                           log=log)

    rows, figures = [], []
    for i, (truth, sino) in enumerate(zip(ph[te], sinos[te])):
        s, g = scan_of(i, sino)
        recs = {label: m.image(s, g) for label, m in baselines.items()}
        recs["learned"] = postprocess_slice(network, card, s, g)
        if ensemble is not None:
            recs[ensemble[0]] = ensemble[1].image(s, g)
        recs = {k: v / d.mu_max for k, v in recs.items()}
        for name, rec in recs.items():
            rows.append({"image": int(split["test"][i]), "method": name,
                         **image_metrics(truth, rec, data_range=1.0)})
        if i < 3:
            figures.append(figure_grid(truth, recs, out / f"test_{i}.png", f"test phantom {i}, "
                                       f"{d.arc_deg:g} deg arc", vmax=1.0))
    summary = summarise(rows, ["psnr", "ssim", "nrmse", "pcc"])
    # trust maps of the learned methods on the first held-out images: where they guessed, and how well
    # the maps rank their errors (seed 000)
    single = str(out / "model.safetensors")
    learned = {"learned": registry.build("learned", {"model": single}, device=device),
               **({"learned, MC dropout": registry.build("learned", {"model": single}, device=device)}
                  if cfg.model.dropout > 0 else {}),
               **(dict([ensemble]) if ensemble is not None else {}),
               **{k: m for k, m in baselines.items() if m.kind == "learned"}}
    options = {"learned, MC dropout": TrustOptions("mc_dropout", cfg.model.mc_samples)}
    k = d.trust_images
    cases = [(truth, *scan_of(i, sino)) for i, (truth, sino) in enumerate(zip(ph[te][:k], sinos[te][:k]))]
    val_cases = [(truth, *scan_of(-1 - i, sino)) for i, (truth, sino) in enumerate(zip(ph[va][:k], sinos[va][:k]))]
    trust, trust_png = learned_trust(learned, cases, d.mu_max, out / "trust_0.png",
                                     "trust maps, test phantom 0 (error, data residual, null space, uncertainty)",
                                     validation_cases=val_cases, options=options)
    figures.append(trust_png)
    result = {"study": cfg.name, "held_out_images": len(ph[te]), "arc_deg": d.arc_deg, "baseline_parameters": chosen,
              "summary": summary, "per_image": rows, "seconds": round(time.time() - t0, 1),
              "trust": {"images": len(cases), "scores": trust,
                        "note": "Spearman(map, |error|), AUSE and coverage of |error| <= 2 |map| over the first held-out "
                                "images, raw and after a scale fitted on as many validation images; maps of `--trust`"}}
    write_json(out / "metrics.json", result)
    html_report(out, f"tomolearn: {cfg.name}", summary, figures, [
        f"{d.n_train} training / {d.n_val} validation / {d.n_test} held-out {d.family} phantoms, "
        f"{d.size}x{d.size}, parallel beam, {d.arc_deg:g} deg arc at random start angles, "
        f"Poisson noise i0={d.i0}.", f"Learned: residual U-Net on the {cfg.model.approximant.upper()} "
        "approximant in canonical orientation, trained in this run. Compared in the same run (parameters "
        "tuned on validation scans where the study file says so; LPD: the shipped Learned Primal-Dual weights, "
        "trained by `tomolearn train lpd` on objects and scans drawn apart from this study's): "
        + "; ".join(f"{k} {v}" for k, v in chosen.items()) + ".",
        f"Wall time {result['seconds']} s; torch {torch.__version__}."])
    return result
