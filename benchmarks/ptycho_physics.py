"""Ptycho-tomography physics benchmark (RAPID part 1, seed 001): simulation, golden standard,
reduced-angle baselines and the approximant, scored against the ground truth and the golden standard.

The experiment, all on the default physics of `tomolearn simulate --modality ptycho`
(a 64^3 `layered_ic` pillar, 1.5 keV, 3 nm voxels, 32^2 patterns, probe of 16 px with 3 modes,
6 px snake steps -> 144 positions per angle, 1e6 photons per pattern, 64-slab simulation):

* the full scan: 81 angles over 140.8 degrees (the seed's 349 scaled to the grid);
* the reduced scan: every 4th angle, 21 angles over the same 140.8 degrees (the seed's 21);
* golden standard: two-step (per-angle rPIE ptychography + 3-slab multislice refinement,
  phase unwrapping and ramp removal) then SART with 10 iterations, on the 81 angles;
* baselines: the same two-step projections of the 21 angles, then FBP and SART (10);
* the approximant (seed: k = 2 gradient steps, L = 5 slabs, x2 down-sampled) on the 21
  angles, and with k = 20 for reference;
* scores: PCC, MS-SSIM, DICE and BER (EM thresholds, Bayes' rule with the golden standard's
  priors) against the ground truth and against the golden standard; the ceiling of the
  approximant's representation (the ground truth averaged over its L slabs, x2 coarser);
  data misfit of the true object under L = 1, 3, 5 slab models (does multislice matter?);
  power spectral density planes (figure).

    .venv/bin/python benchmarks/ptycho_physics.py [--size 64] [--full 81] [--every 4]
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--full", type=int, default=81)
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    from tomolearn.io.ptycho import load_ptycho
    from tomolearn.physics.multislice import MultisliceOperator
    from tomolearn.metrics import pcc, power_spectrum_planes, volume_scores
    from tomolearn.recon.ptycho import (approximant, dilate_to_grid, phase_projections, ptychography,
                                        refine_multislice, tomography)
    from tomolearn.workflow.simulate import simulate_ptycho_to_file

    torch.set_num_threads(2)
    rec: dict = {"command": "tomolearn simulate --modality ptycho (defaults) with --angles "
                 f"{args.full}; benchmarks/ptycho_physics.py --size {args.size} --full {args.full} --every {args.every}",
                 "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, CPU",
                 "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ic.h5"
        t0 = time.perf_counter()
        simulate_ptycho_to_file(path, size=args.size, n_angles=args.full, seed=args.seed)
        rec["simulation"] = {"angles": args.full, "seconds": round(time.perf_counter() - t0, 1),
                             "peak_rss_mb_after": round(peak_mb(), 0), "file_mb": round(path.stat().st_size / 2**20, 1)}
        full = load_ptycho(path)
    gt = full.reference
    g = full.geometry
    rec["physics"] = {k: v for k, v in g.describe().items() if k not in ("angles_deg",)}
    rec["physics"]["probe_modes"] = int(len(full.probe))
    rec["physics"]["photons_per_pattern"] = full.photons
    reduced_idx = np.arange(0, args.full, args.every)
    reduced = full.subset(reduced_idx)
    rec["reduced_angles"] = int(reduced_idx.size)

    # does multislice matter? misfit of the true object's patterns under L-slab models, in units of the
    # Poisson noise (chi^2 per pattern pixel of the measured counts)
    with torch.no_grad():
        d = torch.as_tensor(gt)
        sub = list(range(0, args.full, max(1, args.full // 9)))
        meas = np.asarray(full.patterns)[sub]
        chi = {}
        for L in (1, 3, 5, 16):
            pred = MultisliceOperator.from_scan(full, L).intensities(d, sub).numpy() * full.photons
            chi[L] = round(float(((pred - meas) ** 2 / np.maximum(pred, 1)).mean()), 3)
    rec["multislice_misfit_chi2_per_pixel"] = chi

    t0 = time.perf_counter()
    obj = ptychography(full, 200)
    t_rpie = time.perf_counter() - t0
    t0 = time.perf_counter()
    obj = refine_multislice(full, obj, 3, 50)
    t_refine = time.perf_counter() - t0
    proj = phase_projections(obj, g)
    rec["per_angle_ptychography"] = {"rpie_seconds_per_angle": round(t_rpie / args.full, 3),
                                     "refine_seconds_per_angle": round(t_refine / args.full, 3)}
    from tomolearn.physics import make_operator
    from tomolearn.recon.ptycho import projection_geometry

    rt = make_operator(projection_geometry(g).replace(n_rows=1))
    true_proj = np.moveaxis(rt.forward_batch(gt), 0, 1)
    rec["per_angle_ptychography"]["projection_pcc_vs_true"] = round(pcc(true_proj, proj), 4)

    vols, secs = {}, {}
    t0 = time.perf_counter()
    vols["golden standard (SART 10, %d angles)" % args.full] = tomography(proj, g, "sart", 10)
    secs["golden standard (SART 10, %d angles)" % args.full] = time.perf_counter() - t0 + t_rpie + t_refine
    per_angle = (t_rpie + t_refine) / args.full * reduced_idx.size
    for alg, label in (("sart", "two-step SART 10 (21)"), ("fbp", "two-step FBP (21)")):
        t0 = time.perf_counter()
        vols[label] = tomography(proj[reduced_idx], reduced.geometry, alg, 10)
        secs[label] = time.perf_counter() - t0 + per_angle
    for k in (2, 20):
        label = f"approximant k={k}, L=5, x2 (21)"
        t0 = time.perf_counter()
        vols[label] = approximant(reduced, n_iter=k, n_slabs=5, downsample=2)
        secs[label] = time.perf_counter() - t0
    golden = vols["golden standard (SART 10, %d angles)" % args.full]
    # the approximant's representation ceiling: ground truth averaged over 5 slabs, x2 coarser
    z, y, x = gt.shape
    c = gt[: z // 2 * 2, :, : x // 2 * 2].reshape(z // 2, 2, y, x // 2, 2).mean((1, 4))
    slabs = np.stack([c[:, p].mean(1) for p in np.array_split(np.arange(y), 5)], 1)
    vols["(ceiling of the approximant's representation)"] = dilate_to_grid(torch.as_tensor(slabs), gt.shape).numpy()
    secs["(ceiling of the approximant's representation)"] = 0.0

    rows = []
    for label, v in vols.items():
        row = {"method": label, "seconds": round(secs[label], 1),
               "vs_truth": {k: round(val, 4) for k, val in volume_scores(gt, v, seed=args.seed).items()}}
        if not label.startswith("golden"):
            row["vs_golden"] = {k: round(val, 4) for k, val in volume_scores(golden, v, seed=args.seed).items()}
        rows.append(row)
    rec["results"] = rows
    rec["peak_rss_mb"] = round(peak_mb(), 0)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {"ground truth": gt, **{k: v for k, v in vols.items() if not k.startswith("(")}}
    fig, axes = plt.subplots(3, len(shown), figsize=(2.2 * len(shown), 6.6))
    for j, (label, v) in enumerate(shown.items()):
        for i, (plane, p) in enumerate(power_spectrum_planes(v).items()):
            axes[i, j].imshow(np.log10(p + p.max() * 1e-8), cmap="magma")
            axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(label.replace(" (", "\n("), fontsize=7)
            if j == 0:
                axes[i, j].set_ylabel(plane)
    fig.suptitle("log10 power spectral density, central planes", fontsize=9)
    fig.tight_layout()
    OUT.mkdir(exist_ok=True)
    fig.savefig(OUT / "ptycho_psd.png", dpi=80)
    (OUT / "ptycho_physics.json").write_text(json.dumps(rec, indent=2))
    (OUT / "ptycho_physics.md").write_text(markdown(rec))
    print(markdown(rec))
    return rec


def markdown(rec: dict) -> str:
    p = rec["physics"]
    lines = ["# Ptycho-tomography physics benchmark (RAPID part 1)", "",
             f"Command: `.venv/bin/python benchmarks/ptycho_physics.py` ({rec['command']}); {rec['machine']}, "
             f"torch {rec['torch']}.", "",
             f"Object: simulated `layered_ic` pillar {p['volume_shape']} voxels of {p['voxel_size']} {p['unit']}, "
             f"{p['energy_kev']} keV (λ = {p['wavelength_nm']:.3f} nm), depth of field {p['depth_of_field']:.0f} "
             f"{p['unit']} vs a plate of {p['thickness_along_beam'] / 2:.0f} {p['unit']} (face-on) to "
             f"{p['thickness_along_beam'] / 2 / np.cos(np.radians(70.4)):.0f} {p['unit']} (at 70.4°); "
             f"{p['positions_per_angle']} positions of {p['pattern_size']}² patterns per angle, "
             f"{p['probe_modes']} probe modes, {p['photons_per_pattern']:.0e} photons per pattern.", "",
             f"Simulation of {rec['simulation']['angles']} angles: {rec['simulation']['seconds']} s, file "
             f"{rec['simulation']['file_mb']} MB, peak RSS {rec['simulation']['peak_rss_mb_after']:.0f} MB "
             f"(whole benchmark: {rec['peak_rss_mb']:.0f} MB).", "",
             "Does multislice matter? Misfit (χ² per pattern pixel, Poisson units; ~1 is the noise floor) "
             "of the TRUE object's patterns under L-slab models: "
             + ", ".join(f"L={k}: {v}" for k, v in rec["multislice_misfit_chi2_per_pixel"].items()) + ".", "",
             f"Per-angle ptychography: rPIE {rec['per_angle_ptychography']['rpie_seconds_per_angle']} s/angle, "
             f"multislice refinement {rec['per_angle_ptychography']['refine_seconds_per_angle']} s/angle; "
             f"PCC of the phase projections with the true projections "
             f"{rec['per_angle_ptychography']['projection_pcc_vs_true']}.", "",
             "| method | s | PCC | MS-SSIM | DICE | BER | PCC vs golden | MS-SSIM vs golden | DICE vs golden | BER vs golden |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rec["results"]:
        t, gd = r["vs_truth"], r.get("vs_golden", {})
        cells = [f"{t[k]:.3f}" for k in ("pcc", "ms_ssim", "dice", "ber")]
        cells += [f"{gd[k]:.3f}" if k in gd else "—" for k in ("pcc", "ms_ssim", "dice", "ber")]
        lines.append(f"| {r['method']} | {r['seconds']} | " + " | ".join(cells) + " |")
    lines += ["", "Seconds of the reduced-angle two-step rows include their share (21 angles) of the per-angle "
              "ptychography. PSD planes: `ptycho_psd.png`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
