"""Learned Primal-Dual (shipped weights) against FBP, SIRT and tuned TV over arcs 30-150 deg (issue 11).

Held-out phantoms of two families (ellipses/polygons, holed discs), 128 x 128, parallel beam,
1 deg steps, arcs at random start angles, Poisson noise at 1e4 photons, attenuation 0.02 per
pixel (the built-in study's settings), simulated on a 2x finer grid and detector and binned.
The objects come from integer phantom seeds, which the weights' library (seeded NumPy
Generators) never draws. TV's weight is tuned per arc and family on separate validation
phantoms. Also: the held-out-projection check (every 4th projection left out and predicted)
of LPD and TV, and time per slice. Writes benchmarks/results/lpd_arcs.{json,md}.

    .venv/bin/python benchmarks/lpd_arcs.py [--weights W.safetensors] [--n-test 8]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from tomolearn import __version__
from tomolearn.geometry import ParallelGeometry, uniform_angles
from tomolearn.methods import base as registry
from tomolearn.metrics import image_metrics
from tomolearn.phantoms import make_phantom
from tomolearn.physics.noise import poisson_noise
from tomolearn.physics.projector import RayTransform
from tomolearn.recipes.unrolled import DEFAULT_WEIGHTS, load_default, lpd_slices
from tomolearn.scenario import binned_projections
from tomolearn.trust import held_out_projection_check
from tomolearn.workflow.common import git_hash

ARCS = (30, 60, 90, 120, 150)
FAMILIES = ("ellipses_polygons", "holed_disc")
SIZE, MU, I0 = 128, 0.02, 1e4
TV_WEIGHTS = (0.003, 0.01, 0.03, 0.1)


def scans(family: str, seeds, arc_deg: float):
    """(truth, sinogram, geometry) of each phantom seed: a random-start arc of a 180-angle scan."""
    n = SIZE
    fine = RayTransform(ParallelGeometry(uniform_angles(180), 2 * n, detector_spacing=0.5, voxel_size=0.5,
                                         volume_shape=(2 * n, 2 * n)))
    full = ParallelGeometry(uniform_angles(180), n, volume_shape=(n, n))
    out = []
    for s in seeds:
        ph = make_phantom(family, 2 * n, int(s))
        sino = poisson_noise(binned_projections(ph * MU, fine, 2), I0, int(s) + 7)
        idx = full.arc_indices(np.deg2rad(arc_deg), np.random.default_rng(int(s)).uniform(0, np.pi))
        out.append((ph.reshape(n, 2, n, 2).mean((1, 3)), sino[idx], full.subset(idx)))
    return out


def score(rec_fn, data) -> dict:
    rows = [image_metrics(t, rec_fn(y, g) / MU, data_range=1.0) for t, y, g in data]
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="LPD weights (default: the shipped ones)")
    ap.add_argument("--n-test", type=int, default=8)
    ap.add_argument("--n-val", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "lpd_arcs"))
    a = ap.parse_args()
    t_start = time.perf_counter()
    net, card = load_default(a.weights)
    fbp, sirt = registry.build("fbp"), registry.build("sirt", {"n_iter": 200})
    table, tuned = {}, {}
    for fam in FAMILIES:
        for arc in ARCS:
            test = scans(fam, 2_000_000 + np.arange(a.n_test), arc)
            val = scans(fam, 3_000_000 + np.arange(a.n_val), arc)
            tvs = {w: registry.build("tv", {"n_iter": 200, "tv_relative": w, "level": MU}) for w in TV_WEIGHTS}
            best = max(TV_WEIGHTS, key=lambda w: score(tvs[w].image, val)["psnr"])
            tuned[f"{fam}/{arc}"] = best
            row = {"FBP": score(fbp.image, test), "SIRT": score(sirt.image, test),
                   "TV": score(tvs[best].image, test),
                   "LPD": score(lambda y, g: lpd_slices(net, y, g, card=card), test)}
            table.setdefault(fam, {})[str(arc)] = row
            print(fam, arc, {m: (v["psnr"], v["ssim"]) for m, v in row.items()}, flush=True)

    # held-out projections: LPD must not contradict measured data more than TV does
    check = {}
    data = scans("ellipses_polygons", 2_000_000 + np.arange(4), 60)
    tv60 = registry.build("tv", {"n_iter": 200, "tv_relative": tuned["ellipses_polygons/60"], "level": MU})
    for name, fn in (("TV", lambda p, g: np.stack([tv60.image(p[:, v], g.replace(n_rows=1)) for v in range(p.shape[1])])),
                     ("LPD", lambda p, g: lpd_slices(net, np.moveaxis(p, 1, 0), g.replace(n_rows=1), card=card)),
                     ("FBP", lambda p, g: np.stack([fbp.image(p[:, v], g.replace(n_rows=1)) for v in range(p.shape[1])]))):
        r = [held_out_projection_check(y[:, None], g, fn, every=4) for _, y, g in data]
        check[name] = {"nrmse": round(float(np.mean([x["nrmse"] for x in r])), 4),
                       "pcc": round(float(np.mean([x["pcc"] for x in r])), 4)}

    # time per slice (128 x 128, 60 deg arc, 61 projections)
    _, y, g = data[0]
    timing = {}
    for batch in (1, 8):
        ys = np.repeat(y[None], batch, 0)
        lpd_slices(net, ys, g, card=card)
        t0 = time.perf_counter()
        lpd_slices(net, ys, g, batch=batch, card=card)
        timing[f"lpd_batch{batch}_s_per_slice"] = round((time.perf_counter() - t0) / batch, 3)
    t0 = time.perf_counter()
    tv60.image(y, g)
    timing["tv_200_iterations_s_per_slice"] = round(time.perf_counter() - t0, 3)

    gains = {f"{fam}/{arc}": round(row["LPD"]["psnr"] - row["TV"]["psnr"], 2)
             for fam, per in table.items() for arc, row in per.items()}
    record = {"benchmark": "lpd_arcs", "weights": str(a.weights or DEFAULT_WEIGHTS.name),
              "weights_training": {k: card.training.get(k) for k in ("command", "seconds", "epochs", "families",
                                                                     "arc_range_deg", "init_from")},
              "setup": {"size": SIZE, "mu_per_pixel": MU, "i0": I0, "angular_step_deg": 1.0, "n_test": a.n_test,
                        "n_val": a.n_val, "test_seeds": "2000000+i", "val_seeds": "3000000+i",
                        "tv_weights_tried": TV_WEIGHTS},
              "psnr_ssim": table, "tv_relative_chosen": tuned, "lpd_minus_tv_psnr_db": gains,
              "held_out_projection_check_60deg": check, "timing": timing,
              "parameters": int(sum(p.numel() for p in net.parameters())),
              "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "seconds": round(time.perf_counter() - t_start, 1), "cpu_count": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
              "python": platform.python_version(), "tomolearn": __version__, "git": git_hash()}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2))
    lines = ["# Learned Primal-Dual over arcs 30-150 deg\n",
             f"Command: `.venv/bin/python benchmarks/lpd_arcs.py --n-test {a.n_test} --n-val {a.n_val}` "
             f"(git {record['git']}, {os.cpu_count()} CPU cores). "
             f"Weights: {record['weights']}, trained by `{card.training.get('command')}`"
             + (f" after `{card.training['init_from']['command']}`" if card.training.get("init_from") else "")
             + f". {a.n_test} held-out phantoms per family and arc, {SIZE}², parallel beam, 1° steps, random arc "
             f"starts, Poisson noise at {I0:g} photons, {MU} per pixel; TV weight tuned per arc and family on "
             f"{a.n_val} validation phantoms.\n"]
    for fam, per in table.items():
        lines += [f"\n## {fam}\n", "| arc (deg) | FBP | SIRT | TV (tuned) | LPD | LPD - TV (dB) |", "|---|---|---|---|---|---|"]
        for arc, row in per.items():
            cells = " | ".join(f"{row[m]['psnr']:.2f} / {row[m]['ssim']:.3f}" for m in ("FBP", "SIRT", "TV", "LPD"))
            lines.append(f"| {arc} | {cells} | {gains[f'{fam}/{arc}']:+.2f} |")
    lines += ["\nCells: PSNR (dB) / SSIM, mean over the held-out phantoms.\n",
              "## Held-out projections (60°, every 4th left out and predicted; 4 ellipse phantoms)\n",
              "| method | NRMSE | PCC |", "|---|---|---|"]
    lines += [f"| {m} | {v['nrmse']:.4f} | {v['pcc']:.4f} |" for m, v in check.items()]
    lines += ["\n## Time and size (CPU)\n", f"- parameters: {record['parameters']}",
              *[f"- {k}: {v} s" for k, v in timing.items()],
              f"- training: {card.training.get('seconds')} s for {card.training.get('epochs')} epochs "
              f"(+ {card.training['init_from']['seconds']} s before fine-tuning)" if card.training.get("init_from")
              else f"- training: {card.training.get('seconds')} s", f"- peak resident memory of this benchmark: "
              f"{record['max_rss_mb']} MB", f"- benchmark wall time: {record['seconds']} s\n"]
    out.with_suffix(".md").write_text("\n".join(lines))
    print(json.dumps({"lpd_minus_tv_psnr_db": gains, "held_out": check}))


if __name__ == "__main__":
    main()
