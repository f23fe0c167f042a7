"""Seed 001's Fig. 4 architecture ablation at (about) equal parameter count, on the RAPID IC run.

Variants (trained like `benchmarks/rapid_ic.py`, same golden standard, approximant, region split,
epochs; base channels chosen so parameter counts match within 7 %: 144k–160k):

* A: plain 3D U-Net (no atrous modules);
* B: planar ASPP kernels without atrous (rates 1, 1, 1; no depth rates);
* C: isotropic atrous (rates 6, 12, 18; no depth rates);
* D: anisotropic with equal rates (depth-axis branches at 12 and 18, the in-plane rates);
* E: anisotropic with larger depth rates (24 and 30, the seed's).

Scores: PCC, MS-SSIM, DICE, BER of each on the test region against the golden standard.

    .venv/bin/python benchmarks/rapid_ablation.py --work runs/rapid_ic [--epochs 100]

(`--work` holds `tall.h5` and `run/` from `benchmarks/rapid_ic.py`, whose cached golden standard
and approximant are reused.)
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from rapid_ic import add_seed_input_args

OUT = Path(__file__).parent / "results"
VARIANTS = {
    "A: plain 3D U-Net": dict(atrous=False, base_channels=10),
    "B: planar, no atrous": dict(rates=(1, 1, 1), depth_rates=(), base_channels=8),
    "C: isotropic atrous": dict(rates=(6, 12, 18), depth_rates=(), base_channels=8),
    "D: anisotropic, equal rates": dict(rates=(6, 12, 18), depth_rates=(12, 18), base_channels=8),
    "E: anisotropic, larger depth rates": dict(rates=(6, 12, 18), depth_rates=(24, 30), base_channels=8),
}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/rapid_ic"))
    ap.add_argument("--epochs", type=int, default=100)
    add_seed_input_args(ap)
    args = ap.parse_args(argv)

    import torch

    from tomolearn.methods.rapid import RAPIDTraining
    from tomolearn.metrics import volume_scores
    from tomolearn.models.weights import load_weights
    from tomolearn.workflow.train_rapid import train_rapid

    torch.set_num_threads(2)
    base = args.work / "run"
    rows = {}
    for label, kw in VARIANTS.items():
        run = args.work / f"ablation_{label[0]}"
        run.mkdir(parents=True, exist_ok=True)
        for name in ("golden.npy", "golden.json", "approximant.npy", "approximant.json"):
            if not (run / name).exists():
                shutil.copy(base / name, run / name)
        if not (run / "rapid.safetensors").exists():
            cfg = RAPIDTraining(scan=args.work / "tall.h5", epochs=args.epochs, n_iter=args.n_iter,
                                n_slabs=args.n_slabs, two_step_input=args.two_step_input, **kw)
            train_rapid(cfg, run, resume=True, show_progress=False, log=lambda m: None,
                        command=f"benchmarks/rapid_ablation.py variant {label[0]}")
        rec = json.loads((run / "training.json").read_text())
        split = json.loads((run / "split.json").read_text())
        z0, z1 = split["test_range"]
        golden = np.load(run / "golden.npy")[z0:z1]
        pred = np.load(run / "rapid.npy")[z0:z1]
        net, _ = load_weights(run / "rapid.safetensors")
        rows[label] = {"parameters": int(sum(p.numel() for p in net.parameters())),
                       "seconds": rec["training"]["seconds"], **volume_scores(golden, pred)}
        print(label, rows[label], flush=True)
    rec = {"command": f".venv/bin/python benchmarks/rapid_ablation.py --work {args.work} --epochs {args.epochs}",
           "results": rows}
    lines = ["# RAPID architecture ablation (seed 001, Fig. 4)", "", f"Command: `{rec['command']}` (2 CPU cores). "
             "Test region against the golden standard.", "",
             "| variant | parameters | training s | PCC | MS-SSIM | DICE | BER |", "|---|---|---|---|---|---|---|"]
    for k, r in rows.items():
        lines.append(f"| {k} | {r['parameters']} | {r['seconds']:.0f} | {r['pcc']:.3f} | {r['ms_ssim']:.3f} | "
                     f"{r['dice']:.3f} | {r['ber']:.3f} |")
    OUT.mkdir(exist_ok=True)
    (OUT / "rapid_ablation.json").write_text(json.dumps(rec, indent=2))
    (OUT / "rapid_ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return rec


if __name__ == "__main__":
    main(sys.argv[1:])
