"""HTC2022 limited-angle study: leave-one-phantom-out, real + synthetic training, MCC and PSNR.

A network is first trained on synthetic holed discs only, simulated through the same fan
geometry on the 512 grid with the full detector (then binned to the network grid: no inverse
crime), with Poisson noise at the photon count estimated from the real sinograms' open-beam
region ("learned (synthetic)": it has seen no real phantom, so it is scored on all of them).
For each held-out phantom, a copy is then fine-tuned on random arcs (``train_arcs_deg``, any
start) of the other real phantoms, with their full-data reconstruction as target, mixed with
synthetic discs ("learned"). A last fine-tune on all real phantoms gives ``model.safetensors``
(+ ``model.json``, its card), the model for ``tomolearn reconstruct --method learned`` on HTC files. All methods work on a ``grid`` x ``grid`` network grid (pixel =
512 / grid effective pixels) and are upsampled to the official 512 x 512 grid, where MCC
(Otsu segmentation vs the official segmentation) and PSNR (vs the full-data reconstruction)
are scored, per arc, for FBP, TV and the learned method.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..io.htc import load_htc
from ..metrics import mcc, psnr, segment
from ..models.card import Architecture, GeometryRange, ModelCard, Pipeline
from ..models.weights import load_weights, save_weights
from ..phantoms import holed_disc
from ..physics.noise import poisson_noise
from ..physics.projector import RayTransform
from ..recipes.limited_angle import approximant, rotate_back
from ..recipes.postprocess import postprocess_slice
from ..recon import fbp, sirt
from ..report import figure_grid, html_report
from ..scenario import binned_projections
from ..train import PairedImages, PostProcessor, fit
from ..train.fit import seeded
from .common import (calibration_scores, comparison_methods, prepare_run_dir, summarise, trust_samples, write_ensemble,
                     write_json, write_run_record)
from .._checks import fail
from .reconstruct import TrustOptions
from .study import register_study


def bin_scan(scan, grid: int):
    """Scan on the network grid: detector binned by 512 / grid, voxels grown by the same."""
    b = 512 // grid
    g = scan.geometry
    u = g.n_detector // b
    sino = scan.sinogram(0)[:, : u * b].reshape(g.n_angles, u, b).mean(-1)
    gb = g.replace(n_detector=u, detector_spacing=g.detector_spacing * b, voxel_size=g.voxel_size * b,
                   volume_shape=(grid, grid))
    return sino, gb


def _down(img: np.ndarray, grid: int) -> np.ndarray:
    b = img.shape[0] // grid
    return img.reshape(grid, b, grid, b).mean((1, 3))


def upsample(img: np.ndarray, size: int = 512) -> np.ndarray:
    """Linear upsampling of a network-grid slice to the official 512 x 512 grid."""
    return ndimage.zoom(img, size / img.shape[0], order=1)


def eval_start(seed: int, phantom_index: int, k: int, arc_deg: float) -> float:
    """Start angle (rad) of the ``k``-th scored arc of a phantom; shared by every scorer of the study."""
    return float(np.random.default_rng(seed + 7 * phantom_index + 1000 * k + int(arc_deg)).uniform(0, 2 * np.pi))


def _estimate_i0(sinos: list[np.ndarray]) -> float:
    """Photon count from the variance of line integrals in the open beam (var = 1 / i0)."""
    edge = np.concatenate([np.r_[s[:, :12].ravel(), s[:, -12:].ravel()] for s in sinos])
    hp = edge - ndimage.uniform_filter1d(edge, 5)  # remove slow drifts
    return float(1.0 / max(np.var(hp) * 1.25, 1e-8))  # 1.25: variance lost to the 5-tap filter


def _synthetic(cfg, geometry_fine, geometry, mu: float, i0: float, n: int, rng):
    """Synthetic holed discs: canonical (arc centred at 0) approximants and targets."""
    d = cfg.data
    xs, ys = [], []
    lo, hi = np.deg2rad(d.train_arcs_deg)
    b = 512 // d.grid  # detector binning from the 512 grid's 560 columns to the network grid
    for _ in range(n):
        ph = holed_disc(512, rng, solid_fraction=d.solid_fraction) * mu
        span = rng.uniform(lo, hi)
        idx = geometry_fine.arc_indices(span, -span / 2)
        sino = poisson_noise(binned_projections(ph, RayTransform(geometry_fine.subset(idx)), b), i0, rng)
        img, _ = approximant(sino, geometry.subset(idx), cfg.model.approximant, cfg.model.approximant_params)
        xs.append(img); ys.append(_down(ph, d.grid))
    return xs, ys


def _real_pairs(cfg, scans, rng):
    """Random arcs of real phantoms: approximant (canonical) and the rotated full-data target."""
    d = cfg.data
    lo, hi = np.deg2rad(d.train_arcs_deg)
    xs, ys = [], []
    for sino, g, ref in scans:
        for _ in range(d.n_real_per_phantom):
            span, start = rng.uniform(lo, hi), rng.uniform(0, 2 * np.pi)
            idx = g.arc_indices(span, start)
            img, phi = approximant(sino[idx], g.subset(idx), cfg.model.approximant, cfg.model.approximant_params)
            xs.append(img)
            ys.append(rotate_back(ref, -phi))  # the reference in the canonical frame
    return xs, ys


@dataclass
class _Data:
    """The real phantoms on the network grid and what the study derives from all of them."""

    names: list[str]
    scans: list  # the 512-grid scans (reference reconstructions and segmentations)
    binned: list[tuple[np.ndarray, object]]  # (sinogram, geometry) on the network grid
    refs: list[np.ndarray]  # full-data references on the network grid
    mu: float  # material attenuation per mm: the one scalar shared across folds
    i0: float  # photon count estimated from the open beam

    def training(self, exclude: int | None = None) -> list[tuple]:
        """(sinogram, geometry, reference) of every phantom but ``exclude``."""
        return [(*self.binned[k], self.refs[k]) for k in range(len(self.names)) if k != exclude]


def _load(cfg, log) -> _Data:
    d = cfg.data
    folder = Path(d.htc_dir)
    files = sorted(folder.glob("htc2022_*_full.mat"))
    if len(files) < 2:
        raise FileNotFoundError(f"data.htc_dir: expected HTC2022 *_full.mat files in {str(folder)!r}, found {len(files)}")
    names = [f.name.removeprefix("htc2022_").removesuffix("_full.mat") for f in files]
    scans = [load_htc(f) for f in files]
    mu = float(np.median(np.concatenate([s.reference[0][s.reference_segmentation[0] > 0] for s in scans])))
    data = _Data(names, scans, [bin_scan(s, d.grid) for s in scans], [_down(s.reference[0], d.grid) for s in scans],
                 mu, _estimate_i0([s.sinogram(0) for s in scans]))
    log(f"HTC2022: {len(files)} phantoms {names}; material attenuation {mu:.4f}/mm; estimated i0 {data.i0:.0f}")
    return data


def _geometry_check(data: _Data) -> dict:
    """Full-data SIRT segmentation MCC against the official one, per phantom (geometry and grid check)."""
    checks = {}
    for name, s in zip(data.names, data.scans):
        half = s.geometry.sparse_indices(s.geometry.n_angles // 2)
        sub, g_half = s.sinogram(0)[half], s.geometry.subset(half)
        # SIRT warm-started from FBP converges in few iterations on 512 x 512
        rec = sirt(sub, g_half, n_iter=30, x0=np.maximum(fbp(sub, g_half), 0))
        checks[name] = mcc(s.reference_segmentation[0], segment(rec))
    return checks


def _card(cfg, data: _Data, trained_on: str) -> ModelCard:
    d = cfg.data
    return ModelCard(
        method="learned",
        architecture=Architecture(name="unet", base_channels=cfg.model.base_channels, depth=cfg.model.depth,
                                  dropout=cfg.model.dropout),
        pipeline=Pipeline(approximant=cfg.model.approximant, approximant_params=cfg.model.approximant_params,
                          canonical=True,
                          voxel_size=data.binned[0][1].voxel_size, grid_shape=(d.grid, d.grid), scale=data.mu,
                          window=d.grid),
        geometry=GeometryRange(kinds=["fan"], arc_range_deg=tuple(d.train_arcs_deg)),
        training={"study": cfg.name, "trained_on": trained_on, "mu_per_mm": data.mu, "i0": data.i0, "seed": cfg.seed})


class _Trainer:
    """Pretraining on synthetic discs and fine-tuning on real phantoms, all with one card layout."""

    def __init__(self, cfg, data: _Data, syn_x, syn_y, device: str, show_progress: bool) -> None:
        self.cfg, self.data, self.device, self.show_progress = cfg, data, device, show_progress
        self.sx, self.sy = np.stack(syn_x)[:, None] / data.mu, np.stack(syn_y)[:, None] / data.mu
        self.n_val = max(8, len(self.sx) // 20)
        self.accelerator = "gpu" if device.startswith("cuda") else "cpu"

    def _fit(self, module, train, val, folder: Path, epochs: int, seed: int, card: ModelCard):
        ckpt = fit(module, train, val, folder, epochs, self.cfg.train.batch_size, seed, self.accelerator,
                   self.show_progress, precision=self.cfg.train.precision)
        network, _ = load_weights(ckpt)  # tensors only: a checkpoint never runs code when read
        path = save_weights(network, card, folder / "model.safetensors", half=False, overwrite=True)
        return (network.to(self.device), card), path

    def pretrain(self, folder: Path):
        c, n_val = self.cfg, self.n_val
        card = _card(c, self.data, "synthetic holed discs")
        with seeded(c.seed):
            module = PostProcessor(2, 1, c.model.base_channels, c.model.depth, c.train.lr, "mse", c.train.epochs,
                                   card=card.model_dump(mode="json"), dropout=c.model.dropout)
        (self.pre_net, self.pre_card), _ = self._fit(
            module, PairedImages(self.sx[n_val:], self.sy[n_val:], c.train.patch, flips=(-2,), seed=c.seed),
            PairedImages(self.sx[:n_val], self.sy[:n_val], augment=False), folder, c.train.epochs, c.seed, card)
        return self.pre_net, self.pre_card

    def finetune(self, train_real, folder: Path, note: str, seed: int):
        c, mu, n_val = self.cfg, self.data.mu, self.n_val
        rx, ry = _real_pairs(c, train_real, np.random.default_rng(seed))
        n_syn = min(len(self.sx) - n_val, len(rx))  # as many synthetic as real pairs, against forgetting
        x = np.concatenate([np.stack(rx)[:, None] / mu, self.sx[n_val:n_val + n_syn]])
        y = np.concatenate([np.stack(ry)[:, None] / mu, self.sy[n_val:n_val + n_syn]])
        card = _card(c, self.data, note)
        with seeded(seed):  # members of a fold's ensemble differ by this seed (their fine-tuning data and order)
            module = PostProcessor(2, 1, c.model.base_channels, c.model.depth, c.train.finetune_lr, "mse",
                                   c.train.finetune_epochs, card=card.model_dump(mode="json"), dropout=c.model.dropout)
        module.net.load_state_dict(self.pre_net.state_dict())
        return self._fit(module, PairedImages(x, y, c.train.patch, flips=(-2,), seed=seed), None, folder,
                         c.train.finetune_epochs, seed, card)


def _baselines(cfg, train_real, mu: float, device: str, log):
    """The study file's comparison methods, tuned by MCC on a 60-degree arc of two training phantoms."""
    def score(method) -> float:
        vals = []
        for sino, g, ref in train_real[:2]:
            idx = g.arc_indices(np.deg2rad(60), 0.0)
            vals.append(mcc(ref > mu / 2, segment(method.image(sino[idx], g.subset(idx)))))
        return float(np.mean(vals))
    return comparison_methods(cfg.baselines.methods, score, level=mu, device=device, log=log)[0]


def _score_fold(cfg, data: _Data, h: int, methods: dict, learned: dict, out: Path) -> tuple[list, list]:
    """Every method on every arc and start of held-out phantom ``h``, scored on the official 512 grid."""
    sino, g = data.binned[h]
    held = data.names[h]
    ref512, seg512 = data.scans[h].reference[0], data.scans[h].reference_segmentation[0]
    rows, figures = [], []
    for arc in cfg.data.arcs_deg:
        for k in range(cfg.data.eval_starts):
            start = eval_start(cfg.seed, h, k, arc)
            idx = g.arc_indices(np.deg2rad(arc), start)
            s, gs = sino[idx], g.subset(idx)
            recs = {label: m.image(s, gs) for label, m in methods.items()}
            recs.update({label: postprocess_slice(net, card, s, gs) for label, (net, card) in learned.items()})
            if k == 0 and arc == 60:
                figures.append(figure_grid(ref512, {m: upsample(r) for m, r in recs.items()},
                                           out / f"held_out_{held}_60deg.png",
                                           f"{held}, 60 deg arc from {np.degrees(start):.0f} deg", vmax=1.3 * data.mu))
            for method, rec in recs.items():
                up = upsample(rec)
                rows.append({"phantom": held, "arc_deg": arc, "start_deg": float(np.degrees(start)),
                             "method": method, "mcc": mcc(seg512, segment(up)),
                             "psnr": psnr(ref512, up, data_range=float(ref512.max() - ref512.min()))})
    return rows, figures


def _split(cfg, names) -> dict:
    return {"pretrain": f"{cfg.data.n_synthetic} synthetic holed discs, no real data",
            "folds": [{"held_out": n, "train_real": [m for m in names if m != n], "synthetic": cfg.data.n_synthetic}
                      for n in names],
            "final_model": "synthetic + all real phantoms (for new data, not scored here)",
            "note": "the held-out phantom's data and reference are never used in its fold's training or tuning, "
                    "except one shared scalar: the material attenuation mu_per_mm (median of all full-data "
                    "references), used to scale values"}


@register_study("htc2022")
def run_htc2022(cfg, out_dir, overwrite, resume, device, show_progress, log) -> dict:
    """Leave-one-phantom-out limited-angle study on the HTC2022 training phantoms (module docstring).

    Writes ``split.json``, per-fold weights, ``model.safetensors`` (+ card, trained on all
    phantoms: the model for ``reconstruct --method learned``), ``metrics.json``, ``table.md``
    and ``report.html`` to ``out_dir`` and returns the metrics.
    """
    if cfg.train.devices > 1:
        raise fail("train.devices", "1 for the HTC2022 study (it trains a model per fold in sequence; "
                   "multi-process training is in the synthetic study and `tomolearn train`)", cfg.train.devices)
    t0 = time.time()
    out = prepare_run_dir(out_dir, overwrite, resume)
    write_run_record(out, cfg)
    data = _load(cfg, log)
    checks = _geometry_check(data)
    log(f"full-data SIRT segmentation MCC vs official: {checks}")
    log(f"simulating {cfg.data.n_synthetic} synthetic holed discs")
    rng = np.random.default_rng(cfg.seed)
    syn_x, syn_y = _synthetic(cfg, data.scans[0].geometry, data.binned[0][1], data.mu, data.i0, cfg.data.n_synthetic, rng)
    write_json(out / "split.json", _split(cfg, data.names))
    trainer = _Trainer(cfg, data, syn_x, syn_y, device, show_progress)
    log(f"pretraining on {len(trainer.sx) - trainer.n_val} synthetic pairs, {cfg.train.epochs} epochs")
    pretrained = trainer.pretrain(out / "pretrain")

    rows, figures, trust = [], [], {}
    for h, held in enumerate(data.names):
        others = [n for n in data.names if n != held]
        log(f"fold {held}: fine-tuning on {len(others) * cfg.data.n_real_per_phantom} real arcs of {others}")
        finetuned, path = trainer.finetune(data.training(h), out / f"fold_{held}",
                                           f"synthetic + real except {held}", cfg.seed + 100 + h)
        methods = _baselines(cfg, data.training(h), data.mu, device, log)  # this fold's training phantoms only
        kinds = _uncertainty_kinds(cfg, trainer, data, h, path, device, log)
        methods |= {label: m for label, (m, _) in kinds.items() if "ensemble" in label}
        fold_rows, fold_figs = _score_fold(cfg, data, h, methods,
                                           {"learned (synthetic)": pretrained, "learned": finetuned}, out)
        rows += fold_rows
        figures += fold_figs
        trust[held] = _trust_fold(cfg, data, h, kinds)
        log(f"fold {held} done ({time.time() - t0:.0f} s)")
        write_json(out / "metrics_partial.json", rows)
    log("final model: fine-tuning on all real phantoms")
    _, final = trainer.finetune(data.training(), out / "final", "synthetic + all HTC2022 training phantoms", cfg.seed + 99)
    for suffix in (".safetensors", ".json"):
        (out / f"model{suffix}").write_bytes(final.with_suffix(suffix).read_bytes())
    trust_result, trust_png = _trust_report(trust, data, out)
    return _report(cfg, data, checks, rows, figures + [trust_png], out, time.time() - t0, trust_result)


def _uncertainty_kinds(cfg, trainer, data: _Data, h: int, model: Path, device: str, log) -> dict:
    """Label -> (method, trust options) of fold ``h``'s network for each uncertainty kind the study file asks.

    Always the mirror test-time augmentation; ``model.dropout > 0`` adds Monte-Carlo dropout;
    ``model.ensemble = K`` adds K - 1 more fine-tunings of the pretrained network with other
    seeds (their mean is scored beside the single network).
    """
    from ..methods import base as registry

    kinds = {"learned": (registry.build("learned", {"model": str(model)}, device=device), TrustOptions())}
    if cfg.model.dropout > 0:
        kinds["learned, MC dropout"] = (registry.build("learned", {"model": str(model)}, device=device),
                                        TrustOptions("mc_dropout", cfg.model.mc_samples))
    k_total = cfg.model.ensemble
    if k_total > 1:
        held = data.names[h]
        seeds = [cfg.seed + 100 + h + 1000 * k for k in range(k_total)]

        def train_member(k, folder):
            log(f"fold {held}: ensemble member {k + 1} of {k_total} (seed {seeds[k]})")
            trainer.finetune(data.training(h), folder, f"synthetic + real except {held}", seeds[k])
        folder = write_ensemble(model.parent / "ensemble", "learned", model, train_member, k_total, seeds,
                                f"tomolearn run (study {cfg.name}, fold {held}, model.ensemble {k_total})")
        kinds[f"learned (ensemble of {k_total})"] = (registry.build("learned", {"model": str(folder)}, device=device),
                                                     TrustOptions())
    return kinds


def _trust_fold(cfg, data: _Data, h: int, kinds: dict) -> dict:
    """Label -> trust samples (``reconstruct --trust``) of fold ``h``'s networks on its held-out phantom, every arc.

    The full-data reconstruction is the reference; the first start angle of each arc is used.
    """
    sino, g = data.binned[h]
    cases = []
    for arc in cfg.data.arcs_deg:
        idx = g.arc_indices(np.deg2rad(arc), eval_start(cfg.seed, h, 0, arc))
        cases.append((data.refs[h] / data.mu, sino[idx], g.subset(idx)))
    return {label: trust_samples(method, cases, data.mu, options) for label, (method, options) in kinds.items()}


def _merge(samples: list[dict]) -> dict:
    out = {"outputs": [], "errors": [], "maps": {}}
    for s in samples:
        out["outputs"] += s["outputs"]
        out["errors"] += s["errors"]
        for name, maps in s["maps"].items():
            out["maps"].setdefault(name, []).extend(maps)
    return out


def _trust_report(trust: dict, data: _Data, out: Path) -> tuple[dict, Path]:
    """Calibration of the trust maps on held-out real phantoms, the ±2σ scale cross-fitted on the other folds.

    Each held-out phantom's coverage uses a scale fitted on the other phantoms' held-out results
    only, so no phantom calibrates itself; the scores are the mean over phantoms.
    """
    from ..report import trust_figure
    from ..trust import sparsification

    labels = list(next(iter(trust.values())))
    per_fold = {held: {label: calibration_scores(t[label], _merge([o[label] for k, o in trust.items() if k != held]))
                       for label in labels} for held, t in trust.items()}
    mean = {label: {m: {k: round(float(np.mean([f[label][m][k] for f in per_fold.values()])), 4)
                        for k in row} for m, row in next(iter(per_fold.values()))[label].items()}
            for label in labels}
    first, fold = next(iter(trust.items()))
    rows = {}
    for label, s in fold.items():
        err = np.concatenate([e.ravel() for e in s["errors"]])
        rows[label] = {"output": s["outputs"][0], "maps": {n: m[0] for n, m in s["maps"].items()},
                       "sparsification": {n: sparsification(np.concatenate([a.ravel() for a in m]), err)
                                          for n, m in s["maps"].items()}}
    png = trust_figure(data.refs[data.names.index(first)] / data.mu, rows, out / f"trust_{first}.png",
                       f"trust maps of the fine-tuned network, held-out {first}, "
                       f"{len(fold[labels[0]]['outputs'])} arcs (first shown)", vmax=1.3)
    return {"scores": mean, "per_phantom": per_fold,
            "note": "learned (fine-tuned fold network) on its held-out phantom, first start of every arc, "
                    "reference = full-data reconstruction; Spearman(map, |error|), AUSE, coverage of "
                    "|error| <= 2 |map| raw and after a scale fitted on the OTHER phantoms' held-out results; "
                    "mean over phantoms"}, png


def _report(cfg, data: _Data, checks: dict, rows: list, figures: list, out: Path, seconds: float,
            trust: dict | None = None) -> dict:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    table = _table(rows, cfg.data.arcs_deg, methods)
    result = {"study": cfg.name, "phantoms": data.names, "mu_per_mm": data.mu, "i0_estimate": data.i0,
              "full_data_sirt_mcc": checks, "table": table, "rows": rows, "seconds": round(seconds, 1),
              "trust": trust}
    write_json(out / "metrics.json", result)
    (out / "table.md").write_text(_markdown(table, methods))
    result["summary"] = summarise([r for r in rows if r["arc_deg"] <= 60], ["mcc", "psnr"])
    html_report(out, f"tomolearn: {cfg.name}", result["summary"], figures, [
        "HTC2022 training phantoms, leave-one-phantom-out. Summary over arcs of 60 degrees and less; "
        "per-arc table in table.md and metrics.json.",
        f"Full-data SIRT segmentation MCC vs the official segmentation: {checks}.",
        f"Material attenuation {data.mu:.4f}/mm, estimated photon count {data.i0:.0f}. Wall time {result['seconds']} s.",
        *([] if not trust else ["Trust maps of the fine-tuned network on its held-out phantom (mean over phantoms; "
                                "coverage after a ±2σ scale fitted on the other phantoms): " + "; ".join(
                                    f"{label}: {m} Spearman {v['spearman']:.2f}, AUSE {v['ause']:.3f}, coverage "
                                    f"{v.get('coverage', float('nan')):.2f}" for label, maps in trust["scores"].items()
                                    for m, v in maps.items()) + "."])])
    return result


def _table(rows, arcs, methods) -> dict:
    out = {}
    for arc in arcs:
        out[str(int(arc))] = {}
        for method in methods:
            sel = [r for r in rows if r["arc_deg"] == arc and r["method"] == method]
            out[str(int(arc))][method] = {"mcc": float(np.mean([r["mcc"] for r in sel])),
                                           "psnr": float(np.mean([r["psnr"] for r in sel]))}
    return out


def _markdown(table: dict, methods) -> str:
    lines = ["| arc (deg) | " + " | ".join(f"MCC {m}" for m in methods) + " | "
             + " | ".join(f"PSNR {m}" for m in methods) + " |", "|---" * (1 + 2 * len(methods)) + "|"]
    for arc, m in table.items():
        lines.append(f"| {arc} | " + " | ".join(f"{m[k]['mcc']:.3f}" for k in methods) + " | "
                     + " | ".join(f"{m[k]['psnr']:.2f}" for k in methods) + " |")
    return "\n".join(lines) + "\n"
