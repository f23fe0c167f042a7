"""How the approximant's settings (gradient steps k, slabs L, down-sampling) change its agreement with the golden standard.

The approximant is RAPID's network input (seed 001: k = 2, L = 5, x2). On the scan and golden
standard of `benchmarks/rapid_ic.py` (21 evenly chosen of 81 angles over 140.8°), each setting's
approximant is scored by PCC against the golden standard on the test region (the lower 20 %,
rows 128-159) and on the whole pillar, with its computation time:

    .venv/bin/python benchmarks/rapid_approximant.py --work /tmp/rx [--golden RUN/golden.npy]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"
SETTINGS = ((2, 5, 2), (6, 5, 2), (15, 5, 2), (40, 5, 2), (15, 10, 2), (6, 5, 1))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/rapid_ic"), help="benchmarks/rapid_ic.py's --work")
    ap.add_argument("--golden", type=Path, default=None, help="golden standard .npy (default: WORK/run/golden.npy)")
    ap.add_argument("--test-from", type=int, default=128, help="first row of the test region")
    args = ap.parse_args(argv)

    import torch

    from tomolearn.io.ptycho import load_ptycho
    from tomolearn.metrics import pcc
    from tomolearn.recon.ptycho import approximant
    from tomolearn.workflow.train_rapid import reduced_indices

    torch.set_num_threads(2)
    golden_path = args.golden or args.work / "run" / "golden.npy"
    if not golden_path.exists():
        sys.exit(f"--golden: no golden standard at {golden_path}; run benchmarks/rapid_ic.py --work {args.work} first")
    full = load_ptycho(args.work / "tall.h5")
    scan = full.subset(reduced_indices(full.geometry.n_angles, 21))
    golden = np.load(golden_path)
    rows = []
    for k, n_slabs, d in SETTINGS:
        t0 = time.perf_counter()
        a = approximant(scan, n_iter=k, n_slabs=n_slabs, downsample=d)
        secs = time.perf_counter() - t0
        rows.append({"n_iter": k, "n_slabs": n_slabs, "downsample": d, "seconds": round(secs, 1),
                     "pcc_test": round(float(pcc(golden[args.test_from:], a[args.test_from:])), 3),
                     "pcc_all": round(float(pcc(golden, a)), 3)})
        print(rows[-1], flush=True)
    rec = {"command": f".venv/bin/python benchmarks/rapid_approximant.py --work {args.work}"
                      + (f" --golden {args.golden}" if args.golden else ""),
           "scan": str(args.work / "tall.h5"), "angles": int(scan.geometry.n_angles), "rows": rows}
    OUT.mkdir(exist_ok=True)
    (OUT / "rapid_approximant.json").write_text(json.dumps(rec, indent=2))
    lines = ["# RAPID's approximant: steps, slabs and down-sampling against the golden standard", "",
             f"Command: `{rec['command']}` (2 CPU threads). Scan: `{rec['scan']}` (benchmarks/rapid_ic.py), "
             f"{rec['angles']} of its angles; PCC against the golden standard (two-step SART 10 of all 81 angles).", "",
             "| steps k | slabs L | down-sampling | PCC test region | PCC whole pillar | seconds (whole pillar) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['n_iter']} | {r['n_slabs']} | x{r['downsample']} | {r['pcc_test']:.3f} | {r['pcc_all']:.3f} | "
              f"{r['seconds']} |" for r in rows]
    (OUT / "rapid_approximant.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return rec


if __name__ == "__main__":
    main(sys.argv[1:])
