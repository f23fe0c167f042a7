"""Fly scan, learned part (seed 003): Table 1, the Fig. 3k-n robustness grid, and the real k11 fly scan.

1. Table 1: SIZE², 120 projections over 180°, 30°/s × 0.05 s = 1.5° of rotation per exposure,
   Poisson noise at I0 photons per pixel, IMAGES held-out objects of each of the five families
   (seeds the training library never draws): FBP, naive MLEM (blur ignored), modified MLEM
   (blur modelled), RRDB(FBP) and, given --model-mlem, RRDB(modified MLEM). PSNR and SSIM
   with the object's maximum as the data range. Each scan is what

       tomolearn simulate -o fly.h5 --phantom FAMILY --size SIZE --angles 120 --speed-deg-s 30 \\
           --exposure-s 0.05 --i0 I0

   writes (the same simulator, in memory).
2. Fig. 3k-n: PSNR/SSIM of FBP and RRDB over photon counts × projection numbers (30°/s × 0.05 s,
   capped at the angular step), GRID_IMAGES objects per cell at GRID_SIZE².
3. Real: the NXtomo fly scan `../shared/data/k11_flyscan` (encoder angles, 0.02 s exposures,
   exposure arc from the file): every method, the held-out-projection check of `trust.py`
   (every 4th projection predicted from the rest), middle-slice images.

    .venv/bin/python benchmarks/flyscan_rrdb.py [--size 512] [--images 2] [--model W] [--model-mlem W2]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def methods(model, model_mlem, only=None):
    """name -> reconstruct(sinogram (A, U), fly geometry) -> image (``only``: these names)."""
    from tomolearn.methods import base as registry
    from tomolearn.recipes.flyscan import flyscan_slice, load_default

    fbp, mlem = registry.build("fbp"), registry.build("mlem", {"n_iter": 20, "n_subsets": 10})
    out = {"FBP": lambda s, g: fbp.image(s, g.replace(exposure_arc=0.0)),
           "naive MLEM": lambda s, g: mlem.image(s, g.replace(exposure_arc=0.0)),
           "modified MLEM": lambda s, g: mlem.image(s, g)}
    net, card = load_default(model, network_input=None if model else "fbp")
    out[f"RRDB({card.pipeline.approximant})"] = lambda s, g: flyscan_slice(net, card, s, g)
    if model_mlem is not None:
        net2, card2 = load_default(model_mlem)
        out[f"RRDB({card2.pipeline.approximant})"] = lambda s, g: flyscan_slice(net2, card2, s, g)
        out[f"RRDB({card2.pipeline.approximant}) + self-ensemble"] = lambda s, g: flyscan_slice(net2, card2, s, g,
                                                                                                 self_ensemble=True)
    out[f"RRDB({card.pipeline.approximant}) + self-ensemble"] = lambda s, g: flyscan_slice(net, card, s, g,
                                                                                           self_ensemble=True)
    if not only:  # the self-ensembles (8x the network's time) run only when named
        return {k: v for k, v in out.items() if not k.endswith("self-ensemble")}
    if only:
        unknown = set(only) - set(out)
        if unknown:
            raise SystemExit(f"--methods: expected names from {', '.join(out)}, got {', '.join(sorted(unknown))}")
        out = {k: v for k, v in out.items() if k in only}
    return out


def table1(size: int, images: int, i0: float, recons: dict, seed: int = 20_000) -> dict:
    from tomolearn.metrics import psnr, ssim
    from tomolearn.phantoms import FLYSCAN_FAMILIES, make_phantom
    from tomolearn.train.flyscan_library import fly_sinogram

    rows = {m: {"psnr": [], "ssim": [], "seconds": []} for m in recons}
    per_family = {}
    for fam in FLYSCAN_FAMILIES:
        per_family[fam] = {m: [] for m in recons}
        for k in range(images):
            rng = np.random.default_rng([seed, k, FLYSCAN_FAMILIES.index(fam)])
            obj = np.clip(make_phantom(fam, size, rng), 0, None)
            obj = (obj / obj.max() * 2.5 / size).astype(np.float32)
            sino, g = fly_sinogram(obj, 120, 1.5, i0, rng)
            for m, f in recons.items():
                t0 = time.perf_counter()
                img = f(sino, g)
                dt = time.perf_counter() - t0
                p, s = psnr(obj, img, float(obj.max())), ssim(obj, img, float(obj.max()))
                rows[m]["psnr"].append(p), rows[m]["ssim"].append(s), rows[m]["seconds"].append(dt)
                per_family[fam][m].append(p)
            print(fam, k, {m: round(v["psnr"][-1], 2) for m, v in rows.items()}, flush=True)
    return {"mean": {m: {k: round(float(np.mean(v)), 4) for k, v in r.items()} for m, r in rows.items()},
            "psnr_per_family": {f: {m: round(float(np.mean(v)), 2) for m, v in d.items()} for f, d in per_family.items()}}


def grid(size: int, n_images: int, i0s, angles, recons: dict, seed: int = 30_000) -> dict:
    from tomolearn.metrics import psnr, ssim
    from tomolearn.phantoms import FLYSCAN_FAMILIES, make_phantom
    from tomolearn.train.flyscan_library import fly_sinogram

    out = {m: {"psnr": np.zeros((len(i0s), len(angles))), "ssim": np.zeros((len(i0s), len(angles)))} for m in recons}
    for a, i0 in enumerate(i0s):
        for b, n in enumerate(angles):
            arc = min(1.5, 180.0 / n)
            for k in range(n_images):
                rng = np.random.default_rng([seed, a, b, k])
                fam = FLYSCAN_FAMILIES[k % len(FLYSCAN_FAMILIES)]
                obj = np.clip(make_phantom(fam, size, rng), 0, None)
                obj = (obj / obj.max() * 2.5 / size).astype(np.float32)
                sino, g = fly_sinogram(obj, n, arc, i0, rng)
                for m, f in recons.items():
                    img = f(sino, g)
                    out[m]["psnr"][a, b] += psnr(obj, img, float(obj.max())) / n_images
                    out[m]["ssim"][a, b] += ssim(obj, img, float(obj.max())) / n_images
            print("grid", i0, n, {m: round(v["psnr"][a, b], 2) for m, v in out.items()}, flush=True)
    return {m: {k: np.round(v, 4).tolist() for k, v in d.items()} for m, d in out.items()}


def real_k11(recons: dict, out_dir: Path, name: str = "flyscan_rrdb") -> dict:
    from tomolearn import load_scan
    from tomolearn.report import figure_grid
    from tomolearn.trust import held_out_projection_check

    scan = load_scan(DATA / "k11_flyscan" / "k11-18014.nxs").load()
    proj = np.asarray(scan.projections)
    g = scan.geometry
    res, images = {}, {}
    for m, f in recons.items():
        def rec(p, geom, f=f):
            return np.stack([f(p[:, v], geom.replace(n_rows=1)) for v in range(p.shape[1])])

        t0 = time.perf_counter()
        vol = rec(proj, g)
        dt = time.perf_counter() - t0
        check = held_out_projection_check(proj, g, rec, every=4)
        res[m] = {"seconds": round(dt, 2), "held_out_nrmse": round(check["nrmse"], 4), "held_out_pcc": round(check["pcc"], 4)}
        images[m] = vol[vol.shape[0] // 2]
        print("k11", m, res[m], flush=True)
    ref_name = "modified MLEM" if "modified MLEM" in images else next(iter(images))
    ref = images[ref_name]
    if len(images) > 1:  # a figure compares methods: none with one method (--methods)
        figure_grid(ref, {k: v for k, v in images.items() if k != ref_name}, out_dir / f"{name}_k11_slices.png",
                    f"k11 fly scan (middle row); reference panel: {ref_name}", vmax=float(np.percentile(ref, 99.5)))
    return {"exposure_arc_deg": float(np.degrees(g.exposure_arc)), "angles": int(g.n_angles),
            "shape": list(proj.shape), "methods": res}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--i0", type=float, default=1e4)
    ap.add_argument("--model", type=Path, default=None, help="RRDB(FBP) weights (default: shipped)")
    ap.add_argument("--model-mlem", type=Path, default=None, help="RRDB(modified MLEM) weights, if trained")
    ap.add_argument("--grid-size", type=int, default=128)
    ap.add_argument("--grid-images", type=int, default=5)
    ap.add_argument("--parts", default="table1,grid,real")
    ap.add_argument("--name", default="flyscan_rrdb")
    ap.add_argument("--methods", default="", help="only these methods, comma-separated (same scans, same seeds), "
                                                  "e.g. 'RRDB(mlem)' for a model trained later; the '+ self-ensemble' "
                                                  "variants run only when named")
    args = ap.parse_args()
    import torch

    from tomolearn import __version__

    recons = methods(args.model, args.model_mlem, [m for m in args.methods.split(",") if m])
    parts = args.parts.split(",")
    t0 = time.perf_counter()
    record = {"name": args.name, "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "tomolearn_version": __version__,
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
              "settings": {"size": args.size, "images_per_family": args.images, "i0": args.i0, "angles": 120,
                           "exposure_arc_deg": 1.5, "grid_size": args.grid_size, "grid_images": args.grid_images}}
    from tomolearn.recipes.flyscan import load_default

    record["models"] = {}
    for label, path in (("model", args.model), ("model_mlem", args.model_mlem)):
        if label == "model" or path is not None:
            _, card = load_default(path, network_input=None if path else "fbp")
            record["models"][label] = {"path": str(path or "shipped"), "approximant": card.pipeline.approximant,
                                       "training": card.training, "validation": card.metrics.get("validation")}
    OUT.mkdir(exist_ok=True)
    if "table1" in parts:
        record["table1"] = table1(args.size, args.images, args.i0, recons)
    if "grid" in parts:
        i0s, angles = [1e3, 1e4, 1e5], [60, 90, 120, 180]
        record["grid"] = {"i0": i0s, "angles": angles,
                          "scores": grid(args.grid_size, args.grid_images, i0s, angles, recons)}
    if "real" in parts and (DATA / "k11_flyscan").exists():
        record["k11"] = real_k11(recons, OUT, args.name)
    record["total_seconds"] = round(time.perf_counter() - t0, 1)
    (OUT / f"{args.name}.json").write_text(json.dumps(record, indent=2, default=float))
    (OUT / f"{args.name}.md").write_text(markdown(record))
    print((OUT / f"{args.name}.md").read_text())


def markdown(r: dict) -> str:
    s = r["settings"]
    lines = ["# Fly scan (seed 003): FBP, naive / modified MLEM and RRDB", "",
             f"Command: `.venv/bin/python benchmarks/{r['command']}` — tomolearn {r['tomolearn_version']}, "
             f"{r['machine']['threads']} CPU threads, {r['total_seconds']:.0f} s.", ""]
    if "table1" in r:
        lines += [f"## Table 1: {s['size']}², 120 projections, 1.5° per exposure, I0 = {s['i0']:g}, "
                  f"{s['images_per_family']} held-out images per family (5 families)", "",
                  "| method | PSNR (dB) | SSIM | seconds per image |", "|---|---|---|---|"]
        for m, v in r["table1"]["mean"].items():
            lines.append(f"| {m} | {v['psnr']:.2f} | {v['ssim']:.3f} | {v['seconds']:.2f} |")
        lines += ["", "Seed 003 (512², its own phantoms): FBP 11.69 / 0.38, MLEM 17.77 / 0.60, modified MLEM "
                  "20.2 / 0.64, RRDB 25.02 / 0.88.", ""]
    if "grid" in r:
        g = r["grid"]
        lines += [f"## Robustness grid (Fig. 3k-n): {s['grid_size']}², {s['grid_images']} images per cell, PSNR (dB)",
                  ""]
        for m, d in g["scores"].items():
            lines += [f"**{m}**", "", "| I0 \\ projections | " + " | ".join(map(str, g["angles"])) + " |",
                      "|---" * (len(g["angles"]) + 1) + "|"]
            for a, i0 in enumerate(g["i0"]):
                lines.append(f"| {i0:g} | " + " | ".join(f"{v:.2f}" for v in d["psnr"][a]) + " |")
            lines.append("")
    if "k11" in r:
        k = r["k11"]
        lines += [f"## Real: k11 fly scan ({k['angles']} projections, exposure arc {k['exposure_arc_deg']:.4f}° "
                  "from the file)", "", "No reference exists: every 4th projection is predicted from the rest "
                  "(`trust.held_out_projection_check`).", "",
                  "| method | held-out NRMSE | held-out PCC | seconds |", "|---|---|---|---|"]
        for m, v in k["methods"].items():
            lines.append(f"| {m} | {v['held_out_nrmse']:.4f} | {v['held_out_pcc']:.4f} | {v['seconds']} |")
        fig = f"{r.get('name', 'flyscan_rrdb')}_k11_slices.png"
        lines += ["", f"Figure: {fig}" if (OUT / fig).exists() else "(no figure: one method)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
