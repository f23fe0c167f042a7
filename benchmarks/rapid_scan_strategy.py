"""RAPID scan strategy (seed 001, Fig. 2a, b): metrics of the test region as the number of angles grows.

For each number of angles N (evenly chosen over the full 140.8° set of the simulated IC of
``benchmarks/rapid_ic.py``), RAPID is trained on the upper region with the approximant of those N
angles (``tomolearn train rapid tall.h5 --reduced-angles N``; the golden standard of all angles is
computed once and reused), then the test region is scored — approximant, RAPID, two-step FBP and
two-step SART of the same N angles — with PCC, MS-SSIM, DICE and BER against the golden
standard. The angular-range half of Fig. 2 (c, d: 21 angles within 8°…140.8°) needs 21-angle
scans inside each range of the same object; it is not built here.

    .venv/bin/python benchmarks/rapid_scan_strategy.py [--work DIR] [--angles 2,3,5,11,21,41,81] [--epochs 100]

Writes benchmarks/results/rapid_scan_strategy.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from rapid_ic import OUT, tomolearn


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/rapid_ic"))
    ap.add_argument("--angles", default="2,3,5,11,21,41,81")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--rows", type=int, default=160)
    args = ap.parse_args(argv)

    import torch

    from tomolearn.io.ptycho import load_ptycho
    from tomolearn.models.weights import load_weights
    from tomolearn.workflow.rapid_study import evaluate
    from tomolearn.workflow.train_rapid import reduced_indices

    torch.set_num_threads(2)
    t_start = time.perf_counter()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    scan_path = work / "tall.h5"
    if not scan_path.exists():
        tomolearn("simulate", "--modality", "ptycho", "-o", str(scan_path), "--rows", str(args.rows), "--angles", "81")
    full = load_ptycho(scan_path)
    # the golden standard of benchmarks/rapid_ic.py's run on the same scan, if there is one
    golden_src = work / "run" if (work / "run" / "golden.npy").exists() else None
    rows = {}
    for n in [int(v) for v in args.angles.split(",")]:
        run = work / f"strategy_n{n}"
        if not (run / "rapid.safetensors").exists():
            if golden_src is not None and not (run / "golden.npy").exists():  # one golden standard for all N
                run.mkdir(parents=True, exist_ok=True)
                for name in ("golden.npy", "golden.json"):
                    shutil.copy(golden_src / name, run / name)
            t0 = time.perf_counter()
            tomolearn("train", "rapid", str(scan_path), "--train-region", "z<0.8", "--reduced-angles", str(n),
                      "--epochs", str(args.epochs), "-o", str(run), "--device", "cpu", "--quiet",
                      *(["--resume"] if run.exists() else []))
            print(f"N={n}: trained in {time.perf_counter() - t0:.0f} s", flush=True)
        golden_src = golden_src or run
        net, card = load_weights(run / "rapid.safetensors")
        split = json.loads((run / "split.json").read_text())
        idx = reduced_indices(full.geometry.n_angles, n)
        golden = np.load(run / "golden.npy")
        vs_golden, vs_truth, secs, _ = evaluate(full.subset(idx), golden, net, card, split["test_range"])
        rows[str(n)] = {"vs_golden": vs_golden, "vs_truth": vs_truth, "seconds": secs,
                        "training_s": json.loads((run / "training.json").read_text())["training"]["seconds"]}
        print(n, {k: round(v["pcc"], 3) for k, v in vs_golden.items()}, flush=True)
    rec = {"command": f".venv/bin/python benchmarks/rapid_scan_strategy.py --work {work} --angles {args.angles} "
                      f"--epochs {args.epochs} --rows {args.rows}",
           "machine": f"{platform.machine()}, 2 torch threads, CPU", "torch": torch.__version__,
           "full_angles": full.geometry.n_angles, "range_deg": round(float(np.degrees(np.ptp(full.geometry.angles))), 1),
           "epochs": args.epochs, "rows": rows, "seconds": round(time.perf_counter() - t_start, 1)}
    OUT.mkdir(exist_ok=True)
    (OUT / "rapid_scan_strategy.json").write_text(json.dumps(rec, indent=2, default=float))
    (OUT / "rapid_scan_strategy.md").write_text(markdown(rec))
    print(markdown(rec))
    return rec


def markdown(rec: dict) -> str:
    methods = list(next(iter(rec["rows"].values()))["vs_golden"])
    lines = ["# RAPID scan strategy: number of angles (seed 001, Fig. 2a, b)", "",
             f"Command: `{rec['command']}`; {rec['machine']}, torch {rec['torch']}, {rec['seconds']} s. "
             f"Angles evenly chosen from the {rec['full_angles']} over {rec['range_deg']}°; RAPID trained for "
             f"{rec['epochs']} epochs per N on the upper 80 % of the IC; test region (never trained on) scored "
             "against the golden standard (two-step SART of all angles).", ""]
    for metric, label in (("pcc", "PCC"), ("ms_ssim", "MS-SSIM"), ("dice", "DICE"), ("ber", "BER (lower is better)")):
        lines += [f"## {label}", "", "| N | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
        for n, row in rec["rows"].items():
            lines.append(f"| {n} | " + " | ".join(f"{row['vs_golden'][m][metric]:.3f}" for m in methods) + " |")
        lines.append("")
    lines += ["Training seconds per N: " + ", ".join(f"{n}: {row['training_s']}" for n, row in rec["rows"].items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
