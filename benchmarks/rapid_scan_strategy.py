"""RAPID scan strategy (seed 001, Fig. 2): metrics of the test region as the number of angles and the range grow.

Fig. 2a, b — for each number of angles N (evenly chosen over the full 140.8° set of the simulated
IC of ``benchmarks/rapid_ic.py``), RAPID is trained on the upper region with the approximant of
those N angles (``tomolearn train rapid tall.h5 --reduced-angles N``; the golden standard of all
angles is computed once and reused).
Fig. 2c, d — for each angular range R, a second scan of the same IC with 21 angles within R
(centred on face-on incidence, as the full arc) is simulated and RAPID trained with the
approximant of that scan (``tomolearn train rapid tall.h5 --reduced-scan range_R.h5``).
Each time the test region is scored — approximant, RAPID, two-step FBP and two-step SART of the
same reduced scan — with PCC, MS-SSIM, DICE and BER against the golden standard.

    .venv/bin/python benchmarks/rapid_scan_strategy.py [--work DIR] [--angles 2,3,5,11,21,41,81]
        [--ranges 8,16,32,64,140.8] [--epochs 100]

A part given as an empty list (``--angles ''``) is not run; its rows are kept from the previous
results file.

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

from rapid_ic import OUT, add_seed_input_args, tomolearn


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/rapid_ic"))
    ap.add_argument("--angles", default="2,3,5,11,21,41,81")
    ap.add_argument("--ranges", default="8,16,32,64,140.8", help="angular ranges in degrees (21 angles each)")
    ap.add_argument("--range-angles", type=int, default=21)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--rows", type=int, default=160)
    add_seed_input_args(ap)
    ap.add_argument("--name", default="rapid_scan_strategy", help="results file name under benchmarks/results")
    args = ap.parse_args(argv)
    suffix = "" if args.two_step_input == "none" else f"_{args.two_step_input}"

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

    def train(run, extra, golden_from):
        if (run / "rapid.safetensors").exists():
            return
        if golden_from is not None and not (run / "golden.npy").exists():  # one golden standard for all runs
            run.mkdir(parents=True, exist_ok=True)
            for name in ("golden.npy", "golden.json"):
                shutil.copy(golden_from / name, run / name)
        t0 = time.perf_counter()
        tomolearn("train", "rapid", str(scan_path), "--train-region", "z<0.8", *extra, "--epochs", str(args.epochs),
                  "--n-iter", str(args.n_iter), "--n-slabs", str(args.n_slabs), "--two-step-input", args.two_step_input,
                  "-o", str(run), "--device", "cpu", "--quiet", *(["--resume"] if run.exists() else []))
        print(f"{run.name}: trained in {time.perf_counter() - t0:.0f} s", flush=True)

    def score(run, reduced) -> dict:
        net, card = load_weights(run / "rapid.safetensors")
        split = json.loads((run / "split.json").read_text())
        vs_golden, vs_truth, secs, _ = evaluate(reduced, np.load(run / "golden.npy"), net, card, split["test_range"])
        print(run.name, {k: round(v["pcc"], 3) for k, v in vs_golden.items()}, flush=True)
        return {"vs_golden": vs_golden, "vs_truth": vs_truth, "seconds": secs,
                "training_s": json.loads((run / "training.json").read_text())["training"]["seconds"]}

    previous = json.loads((OUT / f"{args.name}.json").read_text()) if (OUT / f"{args.name}.json").exists() else {}
    rows = previous.get("rows", {}) if not args.angles else {}
    for n in [int(v) for v in args.angles.split(",") if v]:
        run = work / f"strategy_n{n}{suffix}"
        train(run, ["--reduced-angles", str(n)], golden_src)
        golden_src = golden_src or run
        rows[str(n)] = score(run, full.subset(reduced_indices(full.geometry.n_angles, n)))
    range_rows = previous.get("range_rows", {}) if not args.ranges else {}
    for r in [float(v) for v in args.ranges.split(",") if v]:
        reduced_path = work / f"range_{r:g}.h5"
        if not reduced_path.exists():  # the same IC (same seed and size), 21 angles within r
            tomolearn("simulate", "--modality", "ptycho", "-o", str(reduced_path), "--rows", str(args.rows),
                      "--angles", str(args.range_angles), "--range-deg", f"{r:g}")
        run = work / f"strategy_r{r:g}{suffix}"
        train(run, ["--reduced-scan", str(reduced_path)], golden_src)
        golden_src = golden_src or run
        range_rows[f"{r:g}"] = score(run, load_ptycho(reduced_path))
    common = (f"--epochs {args.epochs} --rows {args.rows} --n-iter {args.n_iter} --n-slabs {args.n_slabs} "
              f"--two-step-input {args.two_step_input} --name {args.name}")
    command = f".venv/bin/python benchmarks/rapid_scan_strategy.py --work {work} --angles {args.angles} {common}"
    rec = {"command": previous.get("command", command) if not args.angles else command,
           "range_command": (f".venv/bin/python benchmarks/rapid_scan_strategy.py --work {work} --angles '' "
                             f"--ranges {args.ranges} --range-angles {args.range_angles} {common}")
           if args.ranges else previous.get("range_command"),
           "machine": f"{platform.machine()}, 2 torch threads, CPU", "torch": torch.__version__,
           "full_angles": full.geometry.n_angles, "range_deg": round(float(np.degrees(np.ptp(full.geometry.angles))), 1),
           "epochs": args.epochs, "rows": rows, "range_rows": range_rows, "range_angles": args.range_angles,
           "seconds": previous.get("seconds") if not args.angles else round(time.perf_counter() - t_start, 1),
           "range_seconds": round(time.perf_counter() - t_start, 1) if args.ranges else previous.get("range_seconds")}
    OUT.mkdir(exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(rec, indent=2, default=float))
    (OUT / f"{args.name}.md").write_text(markdown(rec))
    print(markdown(rec))
    return rec


def _tables(rows: dict, key: str, methods: list) -> list[str]:
    lines = []
    for metric, label in (("pcc", "PCC"), ("ms_ssim", "MS-SSIM"), ("dice", "DICE"), ("ber", "BER (lower is better)")):
        lines += [f"### {label}", "", f"| {key} | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
        for n, row in rows.items():
            lines.append(f"| {n} | " + " | ".join(f"{row['vs_golden'][m][metric]:.3f}" for m in methods) + " |")
        lines.append("")
    return lines + ["Training seconds: " + ", ".join(f"{n}: {row['training_s']}" for n, row in rows.items()), ""]


def markdown(rec: dict) -> str:
    lines = ["# RAPID scan strategy (seed 001, Fig. 2)", "",
             f"{rec['machine']}, torch {rec['torch']}. RAPID trained for {rec['epochs']} epochs per row on the upper "
             "80 % of the IC; test region (never trained on) scored against the golden standard (two-step SART "
             f"of all {rec['full_angles']} angles over {rec['range_deg']}°).", ""]
    if rec.get("rows"):
        methods = list(next(iter(rec["rows"].values()))["vs_golden"])
        lines += ["## Number of angles N at 140.8° (Fig. 2a, b)", "",
                  f"Command: `{rec['command']}` ({rec['seconds']} s). Angles evenly chosen from the "
                  f"{rec['full_angles']}.", "", *_tables(rec["rows"], "N", methods)]
    if rec.get("range_rows"):
        methods = list(next(iter(rec["range_rows"].values()))["vs_golden"])
        lines += [f"## Angular range at {rec['range_angles']} angles (Fig. 2c, d)", "",
                  f"Command: `{rec['range_command']}` ({rec['range_seconds']} s). For each range a separate scan "
                  f"of the same IC (same seed and size), {rec['range_angles']} angles evenly within the range, "
                  "centred on face-on incidence.", "", *_tables(rec["range_rows"], "range (°)", methods)]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
