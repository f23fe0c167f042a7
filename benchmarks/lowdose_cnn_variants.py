"""Low dose, paired CNN ablation: the seed's network vs residual learning vs noise resampled from the
pairs' measured noise model (`--resample-noise`) vs neighbouring angles as input channels
(`--neighbours`), each with and without geometric self-ensemble.

Same data as `benchmarks/lowdose.py` (its synthetic scans must exist under --work: run that first):
spheres_in_cube 128³, 180 angles, Gaussian noise 5/10/20/30 %, pairs at 0° and 45°; scored against
the noise-free FBP (Parzen) R_o on the same 24 slices.

    .venv/bin/python benchmarks/lowdose_cnn_variants.py [--work /tmp/tomolearn_lowdose] [--epochs 20]
        [--variants "seed network,residual,resampled noise 0.5,resampled noise 0.9"] [--name NAME]
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"
#: name -> LowDoseTraining settings; all without the row-sum correction (`consistent_mass`), which
#: `benchmarks/lowdose.py` scores with the defaults
VARIANTS = {name: {"consistent_mass": False, **kw} for name, kw in {
    "seed network": {}, "residual": {"residual": True},
    "resampled noise 0.5": {"resample_noise": 0.5}, "resampled noise 0.9": {"resample_noise": 0.9},
    "neighbours 2": {"neighbours": 2}, "neighbours 2, resampled noise 0.5": {"neighbours": 2, "resample_noise": 0.5},
    "neighbours 4": {"neighbours": 4}}.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/tomolearn_lowdose"))
    ap.add_argument("--levels", default="5,10,20,30")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    ap.add_argument("--name", default="lowdose_cnn_variants", help="results file stem")
    ap.add_argument("--row-sums", action="store_true", help="also score each variant with the row-sum (mass) "
                                                            "correction, with and without self-ensemble")
    args = ap.parse_args()
    from tomolearn import __version__, load_scan
    from tomolearn.io import load_scan as read
    from tomolearn.methods.lowdose import LowDoseTraining
    from tomolearn.metrics import stack_scores
    from tomolearn.workflow.reconstruct import reconstruct
    from tomolearn.workflow.train_lowdose import train_lowdose

    syn = args.work / "synthetic"
    clean = load_scan(syn / "clean.h5").load()
    ref = reconstruct(clean, "fbp", filter="parzen").volume
    rows = np.unique(np.linspace(0, ref.shape[0] - 1, 24).round().astype(int))
    variants = {v: VARIANTS[v] for v in args.variants.split(",")}
    results, t0 = {}, time.perf_counter()
    for p in args.levels.split(","):
        low, high = load_scan(syn / f"low_{p}.h5").load(), read(syn / f"high_{p}.h5").load()
        res = {}
        for name, kw in variants.items():
            cfg = LowDoseTraining(scan=Path(f"low_{p}.h5"), pairs=Path(f"high_{p}.h5"), pair_angles=(0.0, 45.0),
                                  epochs=args.epochs, samples=4096, **kw)
            run = args.work / "variants" / f"{p}_{name.replace(' ', '_')}"
            train_lowdose(cfg, run, overwrite=True, show_progress=False, scan=low, pairs=high)
            scorings = ((False, False), (True, False), (False, True), (True, True))
            for ens, rowsums in scorings[:4 if args.row_sums else 2]:
                card_path = run / "lowdose.json"
                card = json.loads(card_path.read_text())
                card["pipeline"].update(self_ensemble=ens, consistent_mass=rowsums)
                card_path.write_text(json.dumps(card))
                vol = reconstruct(low, "lowdose", model=run).volume[rows]
                label = name + (" + self-ensemble" if ens else "") + (" + row sums" if rowsums else "")
                res[label] = stack_scores(ref[rows], {label: vol})[label]
        results[f"{p} %"] = res
        print(p, res, flush=True)
    record = {"command": " ".join(["lowdose_cnn_variants.py", *map(shlex.quote, sys.argv[1:])]),
              "tomolearn_version": __version__, "epochs": args.epochs, "seconds": round(time.perf_counter() - t0, 1),
              "rows": rows.tolist(), "results": results}
    (OUT / f"{args.name}.json").write_text(json.dumps(record, indent=2))
    lines = ["# Low dose: paired CNN variants (vs the noise-free FBP R_o, PSNR dB / SSIM)", "",
             f"Command: `.venv/bin/python benchmarks/{record['command']}` after "
             f"`benchmarks/lowdose.py --work WORK`; {args.epochs} epochs of 4096 patches; "
             f"{record['seconds']:.0f} s.", "",
             "| variant | " + " | ".join(results) + " |", "|---" * (1 + len(results)) + "|"]
    for label in next(iter(results.values())):
        lines.append(f"| {label} | " + " | ".join(f"{res[label]['psnr']:.2f} / {res[label]['ssim']:.3f}"
                                                  for res in results.values()) + " |")
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
