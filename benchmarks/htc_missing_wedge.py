"""The IRDM recipe on the HTC2022 limited-angle study (the README's HTC table, extra column).

Same phantoms, arcs, start angles, grid and scoring as `tomolearn run
examples/htc2022_limited_angle.yaml` (MCC of the Otsu segmentation on the official 512 grid
against the official segmentation). The IRDM model never saw real data: it is trained by

    tomolearn train missing_wedge -o runs/missing_wedge_htc --families holed_disc \\
        --wedge-range 70,145 --epochs 20 --samples-per-epoch 320

on synthetic holed discs, simulated in parallel beam; HTC2022 is fan beam (fan ~11.6 deg), whose
arcs of 30-90 deg leave a parallel-equivalent wedge of about 180 - arc - 11.6 = 78-138 deg.
So no fold is needed (like the study's "learned (synthetic)" column).

    .venv/bin/python benchmarks/htc_missing_wedge.py --weights runs/missing_wedge_htc/missing_wedge_2d.pt
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tomolearn.config import load_study
from tomolearn.io.htc import load_htc
from tomolearn.metrics import mcc, psnr, segment
from tomolearn.recipes.missing_wedge import data_consistent, irdm_slice, load_default
from tomolearn.workflow.common import git_hash
from tomolearn.workflow.htc2022 import bin_scan, eval_start, upsample

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "examples" / "htc2022_limited_angle.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True, help="IRDM weights for the HTC wedges")
    args = ap.parse_args()
    cfg = load_study(STUDY)
    d = cfg.data
    gen, meta = load_default(args.weights)
    files = sorted((ROOT / d.htc_dir).glob("htc2022_*_full.mat"))
    t0, rows = time.perf_counter(), []
    for h, f in enumerate(files):
        scan = load_htc(f)
        sino, g = bin_scan(scan, d.grid)
        ref, seg = scan.reference[0], scan.reference_segmentation[0]
        for arc in d.arcs_deg:
            for k in range(d.eval_starts):
                idx = g.arc_indices(np.deg2rad(arc), eval_start(cfg.seed, h, k, arc))
                s, gs = sino[idx], g.subset(idx)
                out = irdm_slice(gen, meta, s, gs)
                recs = {"IRDM (synthetic)": out, "IRDM + DC (synthetic)": data_consistent(s, gs, out, n_iter=150)}
                for m, r in recs.items():
                    up = upsample(r)
                    rows.append({"phantom": f.stem, "arc_deg": arc, "method": m, "mcc": mcc(seg, segment(up)),
                                 "psnr": psnr(ref, up, data_range=float(ref.max() - ref.min()))})
        print(f"{f.stem} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    table = {str(int(a)): {m: {k: float(np.mean([r[k] for r in rows if r["arc_deg"] == a and r["method"] == m]))
                               for k in ("mcc", "psnr")} for m in methods} for a in d.arcs_deg}
    out = ROOT / "benchmarks" / "results"
    cmd = f".venv/bin/python benchmarks/htc_missing_wedge.py --weights {args.weights}"
    (out / "htc_missing_wedge.json").write_text(json.dumps(
        {"command": cmd, "git": git_hash(), "weights_record": meta.training, "table": table, "rows": rows,
         "seconds": round(time.perf_counter() - t0, 1)}, indent=1))
    lines = ["# HTC2022 limited angle: the IRDM recipe", "", f"Command: `{cmd}` (git {git_hash()}); weights: "
             f"`{meta.training.get('command', '?')}`. Mean over 5 phantoms x {d.eval_starts} starts.", "",
             "| arc (deg) | " + " | ".join(f"MCC {m}" for m in methods) + " | " + " | ".join(f"PSNR {m}" for m in methods)
             + " |", "|---" * (1 + 2 * len(methods)) + "|"]
    for a, v in table.items():
        lines.append(f"| {a} | " + " | ".join(f"{v[m]['mcc']:.3f}" for m in methods) + " | "
                     + " | ".join(f"{v[m]['psnr']:.2f}" for m in methods) + " |")
    (out / "htc_missing_wedge.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
