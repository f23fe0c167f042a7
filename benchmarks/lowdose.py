"""Low dose (seed 002): the seed's synthetic experiment, real counts thinned to a lower dose, Noise2Inverse.

1. Synthetic (seed 002, Figs. 3–5), CPU-sized: `spheres_in_cube` at SIZE³ (seed: 512³; values
   0 / 0.3 / 1, spheres 4–20 voxels at 512, scaled) with ANGLES projections over 180° (seed:
   721), Gaussian noise of 5, 10, 20, 30 % of the projections' maximum; high-dose (noise-free)
   pairs at 0° and 45° train the CNN, 90° is held out (the SSIM-map figure). Each level:

       tomolearn simulate -o low.h5 --phantom spheres_in_cube --size SIZE --angles ANGLES \\
           --noise-percent P --pairs-deg 0,45,90 --pairs-out high.h5

   Reference R_o: FBP (Parzen) of the noise-free projections (`tomolearn simulate` without noise).
2. Real counts: `../shared/data/aps_tooth` (APS, 181 angles, 2 rows x 640) and
   `../shared/data/i13_wire` (Diamond I13, 91 angles, 135 x 160), their raw projections AND flat
   fields thinned binomially to 1/10 and 1/30 of their counts (each photon kept with
   probability p; detector values above the mean dark taken as photons, gain 1); pairs = the
   full-count projections at the first angle and a quarter of the way round; the reference is
   the full-count FBP (Parzen) at the centre of rotation found on the full data.
3. Every case: all methods of :func:`tomolearn.workflow.lowdose_study.compare`.

    .venv/bin/python benchmarks/lowdose.py [--size 128] [--angles 180] [--epochs 20] [--quick]
"""
from __future__ import annotations

import argparse
import functools
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tomolearn(*args: str) -> None:
    exe = Path(sys.executable).with_name("tomolearn")
    subprocess.run([str(exe), *args], check=True, stdout=subprocess.DEVNULL)


def configs(epochs: int, n2i_epochs: int, quick: bool, read_noise: float = 0.0):
    from tomolearn.methods.lowdose import LowDoseTraining

    paired = LowDoseTraining(scan=Path("scan"), pairs=Path("pairs"), epochs=epochs, samples=256 if quick else 4096)
    n2i = LowDoseTraining(scan=Path("scan"), self_supervised=True, epochs=n2i_epochs,
                          samples=256 if quick else 2048, base_channels=8 if quick else 16, read_noise=read_noise)
    return paired, n2i


def is_synthetic(case: str) -> bool:
    """Synthetic cases are named by their noise: "30 %" (Gaussian, the seed's) or "I0 300" (Poisson counts)."""
    return case.endswith("%") or case.startswith("I0 ")


def synthetic(work: Path, size: int, angles: int, levels, cfgs, log, tuning: dict, compare=None,
              i0_levels=()) -> dict:
    from tomolearn import load_scan
    from tomolearn.io import load_scan as read
    from tomolearn.workflow.lowdose_study import compare as compare_all

    compare = compare or compare_all
    from tomolearn.workflow.reconstruct import reconstruct

    work.mkdir(parents=True, exist_ok=True)
    clean = work / "clean.h5"
    if not clean.exists():
        tomolearn("simulate", "-o", str(clean), "--phantom", "spheres_in_cube", "--size", str(size), "--angles",
                  str(angles))
    clean_scan = load_scan(clean).load()
    reference = reconstruct(clean_scan, "fbp", filter="parzen").volume  # the seed's R_o
    truth = np.asarray(clean_scan.reference)
    out = {}
    cases = [(f"{p} %", f"{p}", ["--noise-percent", str(p)]) for p in levels]
    cases += [(f"I0 {i0:g}", f"i0_{i0:g}", ["--i0", f"{i0:g}"]) for i0 in i0_levels]  # raw counts with flats
    for label, tag, noise in cases:
        low, high = work / f"low_{tag}.h5", work / f"high_{tag}.h5"
        if not low.exists():
            tomolearn("simulate", "-o", str(low), "--phantom", "spheres_in_cube", "--size", str(size), "--angles",
                      str(angles), *noise, "--pairs-deg", "0,45,90", "--pairs-out", str(high))
        log(f"== synthetic {label}")
        out[label] = compare(load_scan(low).load(), reference, work / f"runs_{tag}", pairs=read(high).load(),
                                train_deg=(0.0, 45.0), paired=cfgs[0], self_supervised=cfgs[1], truth=truth,
                                log=log, **tuning)
    return out


def raw_tooth():
    import h5py

    with h5py.File(DATA / "aps_tooth" / "tooth.h5") as f:
        return (f["exchange/data"][()], f["exchange/data_white"][()], f["exchange/data_dark"][()],
                f["exchange/theta"][()])


def raw_i13():
    import tifffile

    folder = DATA / "i13_wire"
    data = np.stack([tifffile.imread(p) for p in sorted((folder / "tiffs").glob("raw_*.tif*"))]).astype(np.float32)
    flat = tifffile.imread(folder / "flat_00001.tiff").astype(np.float32)[None]
    dark = tifffile.imread(folder / "dark_00001.tiff").astype(np.float32)[None]
    theta = np.loadtxt(folder / "angles.txt")[10:10 + len(data)]  # the data README: entries [10:101]
    return data, flat, dark, theta


def real(work: Path, name: str, raw, fractions, cfgs, log, tuning: dict, seed: int = 0, compare=None) -> dict:
    from tomolearn.alignment import centre_scan
    from tomolearn.io._raw import scan_from_counts
    from tomolearn.physics.noise import thin_counts
    from tomolearn.scan import Scan
    from tomolearn.workflow.lowdose_study import compare as compare_all
    from tomolearn.workflow.reconstruct import reconstruct

    compare = compare or compare_all

    data, flats, darks, theta = raw
    full = centre_scan(scan_from_counts(data, flats, darks, theta, {"source": name}, find_center=True))
    cor = float(full.geometry.cor_offset)
    reference = reconstruct(full, "fbp", filter="parzen").volume
    A = full.geometry.n_angles
    train_idx, held_idx = [0, A // 4], [A // 2]
    idx = np.asarray(train_idx + held_idx)
    pairs = Scan(np.asarray(full.projections)[idx], full.geometry.subset(idx))
    train_deg = tuple(float(d) for d in np.degrees(full.geometry.angles[train_idx]))
    dark = darks.mean(0)
    out = {}
    for k, frac in enumerate(fractions):
        rng = np.random.default_rng([seed, k])
        low_data = thin_counts(data, frac, rng, offset=dark)
        low_flats = thin_counts(flats, frac, rng, offset=dark)
        low = scan_from_counts(low_data, low_flats, darks, theta, {"source": f"{name} x{frac:.3g}"}, cor_offset=cor)
        label = f"{name} 1/{round(1 / frac)}"
        log(f"== {label}")
        out[label] = compare(low, reference, work / f"runs_{name}_{k}", pairs=pairs, train_deg=train_deg,
                             paired=cfgs[0], self_supervised=cfgs[1], log=log, **tuning)
        out[label]["setup"] = {"cor_offset_px": cor, "train_deg": list(train_deg),
                               "held_out_deg": float(np.degrees(full.geometry.angles[held_idx[0]])),
                               "counts_per_pixel_flat": float(np.mean(low_flats - dark))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/tomolearn_lowdose"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--angles", type=int, default=180)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--n2i-epochs", type=int, default=15)
    ap.add_argument("--levels", default="5,10,20,30")
    ap.add_argument("--read-noise", type=float, default=0.0, help="count split: the detector's read-out noise "
                                                                   "std in counts (train lowdose --read-noise)")
    ap.add_argument("--i0-levels", default="", help="synthetic cases with Poisson noise instead: photons per "
                                                    "detector pixel, e.g. 1000,300 (raw counts with flat fields)")
    ap.add_argument("--cases", default="synthetic,aps_tooth,i13_wire")
    ap.add_argument("--name", default="lowdose", help="results file stem (results/NAME.json, .md)")
    ap.add_argument("--tv-grid", default="0.003,0.01,0.03,0.1,0.3,1", help="TV reconstruction weights tried")
    ap.add_argument("--sirt-grid", default="10,30,100", help="SIRT iteration counts tried")
    ap.add_argument("--tune-slices", type=int, default=2, help="slices TV and SIRT are tuned on")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (results not written to results/)")
    ap.add_argument("--tv-only", action="store_true", help="score the TV (PDHG) baseline alone (same data, slices "
                                                          "and tuning; e.g. after a change of its solver)")
    ap.add_argument("--n2i-only", action="store_true", help="score Noise2Inverse alone, at every --n2i-splits K, "
                                                           "beside the noisy FBP (same data and slices)")
    ap.add_argument("--n2i-splits", default="2,4", help="with --n2i-only: the numbers of angle subsets K compared; "
                                                         "'counts' adds the count-split mode (real raw counts)")
    args = ap.parse_args()
    import torch

    from tomolearn import __version__
    from tomolearn.workflow.lowdose_study import bars_figure, histogram_figure, slices_figure, ssim_map_figure

    if args.quick:
        args.size, args.angles, args.epochs, args.n2i_epochs, args.levels = 48, 60, 2, 2, "30"
    args.work.mkdir(parents=True, exist_ok=True)
    out_dir = args.work / "results" if args.quick else OUT
    cfgs = configs(args.epochs, args.n2i_epochs, args.quick, args.read_noise)
    tuning = {"tv_grid": tuple(float(v) for v in args.tv_grid.split(",")),
              "sirt_grid": tuple(int(v) for v in args.sirt_grid.split(",")), "tv_slices": args.tune_slices}
    log = lambda m: print(m, flush=True)  # noqa: E731
    cases = args.cases.split(",")
    t0 = time.perf_counter()
    results = {}
    from tomolearn.workflow.lowdose_study import compare, compare_n2i, compare_tv

    scorer = compare_tv if args.tv_only else compare
    if args.n2i_only:
        scorer = functools.partial(compare_n2i, splits=tuple(k if k == "counts" else int(k)
                                                             for k in args.n2i_splits.split(",")))
    score_only = args.tv_only or args.n2i_only
    if "synthetic" in cases:
        levels = [int(v) for v in args.levels.split(",") if v]
        i0_levels = [float(v) for v in args.i0_levels.split(",") if v]
        results.update(synthetic(args.work / "synthetic", args.size, args.angles, levels, cfgs, log, tuning, scorer,
                                 i0_levels))
    for name, loader, fracs in (("aps_tooth", raw_tooth, (0.1, 1 / 30)), ("i13_wire", raw_i13, (0.1, 1 / 30))):
        if name in cases:
            (args.work / name).mkdir(parents=True, exist_ok=True)
            results.update(real(args.work / name, name, loader(), fracs if not args.quick else fracs[:1], cfgs, log,
                                tuning, compare=scorer))
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    if score_only:
        results = {c: {**r, "volumes": {}} for c, r in results.items()}
    scores = {c: r["scores"] for c, r in results.items()}
    synth = {c: s for c, s in scores.items() if is_synthetic(c)}
    if synth and not score_only:
        figures.append(bars_figure(synth, out_dir / "lowdose_synthetic_bars.png"))
    realsc = {c: s for c, s in scores.items() if not is_synthetic(c)}
    if realsc and not score_only:
        figures.append(bars_figure(realsc, out_dir / f"{args.name}_bars.png"))
    for case, r in (results.items() if not score_only else ()):  # the TV-/N2I-only re-scores draw no figures
        tag = case.replace(" ", "_").replace("/", "-").replace("%", "pct")
        vols = r["volumes"]
        row = next(iter(vols.values())).shape[0] // 2
        reference = r.get("reference")
        if reference is not None:
            figures.append(slices_figure(reference, vols, out_dir / f"lowdose_slices_{tag}.png", row, case))
        figures.append(histogram_figure(reference if reference is not None else vols["FBP (noisy)"],
                                        {k: vols[k] for k in ("FBP (noisy)", "CNN (paired) + FBP", "Noise2Inverse")
                                         if k in vols}, out_dir / f"lowdose_hist_{tag}.png", case))
        if r.get("enhanced"):
            figures.append(ssim_map_figure(r["enhanced"], out_dir / f"lowdose_ssim_map_{tag}.png", case))
    record = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "tomolearn_version": __version__,
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
              "scale": {"size": args.size, "angles": args.angles, "seed_size": 512, "seed_angles": 721},
              "epochs": {"paired": args.epochs, "noise2inverse": args.n2i_epochs},
              "tuning": {k: list(v) if isinstance(v, tuple) else v for k, v in tuning.items()},
              "total_seconds": round(time.perf_counter() - t0, 1),
              "cases": {c: {k: v for k, v in r.items() if k not in ("volumes", "enhanced", "reference")}
                        for c, r in results.items()},
              "figures": [p.name for p in figures]}
    (out_dir / f"{args.name}.json").write_text(json.dumps(record, indent=2, default=float))
    (out_dir / f"{args.name}.md").write_text(markdown(record))
    print((out_dir / f"{args.name}.md").read_text())


def markdown(record: dict) -> str:
    lines = ["# Low dose (seed 002): paired CNN, Noise2Inverse and baselines", "",
             f"Command: `.venv/bin/python benchmarks/{record['command']}` — tomolearn {record['tomolearn_version']}, "
             f"{record['machine']['threads']} CPU threads, {record['total_seconds']:.0f} s in all. "
             + (f"Synthetic scale {record['scale']['size']}³ voxels and {record['scale']['angles']} angles (seed: "
                "512³, 721). " if any(is_synthetic(c) for c in record["cases"]) else "")
             + f"Epochs: paired {record['epochs']['paired']}, Noise2Inverse {record['epochs']['noise2inverse']}.", ""]
    for case, r in record["cases"].items():
        ref = "noise-free FBP (Parzen), the seed's R_o" if is_synthetic(case) else "full-count FBP (Parzen)"
        lines += [f"## {case}", "", f"Against the {ref}" + (", and against the ground truth" if r.get("scores_truth")
                                                              else "") + f"; {len(r['rows'])} slices scored.", ""]
        truth = r.get("scores_truth") or {}
        head = "| method | PSNR (dB) | SSIM | NRMSE | PCC |" + (" PSNR vs truth | SSIM vs truth |" if truth else "")
        lines += [head + " seconds |", "|---" * (head.count("|")) + "|"]
        best = max(r["scores"], key=lambda m: r["scores"][m]["psnr"])
        for m, s in r["scores"].items():
            mark = "**" if m == best else ""
            extra = f" {truth[m]['psnr']:.2f} | {truth[m]['ssim']:.3f} |" if truth else ""
            lines.append(f"| {mark}{m}{mark} | {s['psnr']:.2f} | {s['ssim']:.3f} | {s['nrmse']:.3f} | {s['pcc']:.3f} |"
                         f"{extra} {r['seconds'].get(m, '')} |")
        tuned = {k: v for k, v in r["settings"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        trained = {k[:-len(" training")]: v for k, v in r["seconds"].items() if k.endswith(" training")}
        lines += ["", ("Tuned: " + ", ".join(f"{k} {v:g}" for k, v in tuned.items()) + "; " if tuned else "")
                  + "training: " + ", ".join(f"{k} {v} s" for k, v in trained.items()) + ".", ""]
    lines += ["Figures: " + ", ".join(record["figures"]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
