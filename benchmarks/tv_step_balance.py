"""TV (PDHG) convergence: the fixed preconditioned steps against the residual-balanced ones (the default).

``tomolearn.recon.tv_pdhg(..., balanced=False)`` runs the diagonally preconditioned
Chambolle–Pock steps throughout; the default rebalances primal and dual steps by their
residuals (Goldstein, Li and Yuan, NeurIPS 2015; see its docstring).

Cases: (1) the low-dose synthetic experiment at 30 % Gaussian noise (``spheres_in_cube`` 128³,
180 angles; slice 42 scored against R_o, the Parzen FBP of the noise-free projections), relative
weights 0.3, 1, 3; (2) a 60° limited arc of ellipses (``simulate --size 128 --n-slices 4
--angles 60 --range-deg 60 --i0 10000 --seed 3``), relative weights 0.03, 0.1, 0.3, against the
truth. Writes benchmarks/results/tv_step_balance.{json,md}.

    .venv/bin/python benchmarks/tv_step_balance.py [--work /tmp/tv_balance]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tomolearn import load_scan
from tomolearn.metrics import psnr
from tomolearn.recon import fbp, intensity_level, tv_pdhg, tv_weight
from tomolearn.workflow.common import git_hash
from tomolearn.workflow.reconstruct import geometry_operator, reconstruct


def objective(x, sino, op, weight: float) -> float:
    res = op.forward_batch(x[None])[0] - sino
    gy, gx = np.diff(x, axis=0, append=x[-1:]), np.diff(x, axis=1, append=x[:, -1:])
    return 0.5 * float((res ** 2).sum()) + weight * float(np.sqrt(gx ** 2 + gy ** 2).sum())


def tomolearn(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).with_name("tomolearn")), *args], check=True, stdout=subprocess.DEVNULL)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/tv_balance"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    files = {"clean": ["--phantom", "spheres_in_cube", "--size", "128", "--angles", "180"],
             "low_30": ["--phantom", "spheres_in_cube", "--size", "128", "--angles", "180", "--noise-percent", "30"],
             "limited_60": ["--size", "128", "--n-slices", "4", "--angles", "60", "--range-deg", "60", "--i0",
                            "10000", "--seed", "3"]}
    for name, opts in files.items():
        if not (args.work / f"{name}.h5").exists():
            tomolearn("simulate", "-o", str(args.work / f"{name}.h5"), *opts)
    rec = {"command": "benchmarks/tv_step_balance.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "git": git_hash(), "low_dose_30": {}, "limited_60": {}}
    low = load_scan(args.work / "low_30.h5").load()
    ref = reconstruct(load_scan(args.work / "clean.h5").load(), "fbp", filter="parzen").volume[42]
    op = geometry_operator(low.geometry)
    sino = np.asarray(low.projections)[:, 42]
    rng = float(ref.max() - ref.min())
    for rel in (0.3, 1.0, 3.0):
        w = tv_weight(rel, low.geometry, intensity_level(fbp(sino, op)))
        row = {}
        for label, fn in (("fixed 200", lambda: tv_pdhg(sino, op, weight=w, n_iter=200, balanced=False)),
                          ("fixed 1000", lambda: tv_pdhg(sino, op, weight=w, n_iter=1000, balanced=False)),
                          ("fixed 3000", lambda: tv_pdhg(sino, op, weight=w, n_iter=3000, balanced=False)),
                          ("balanced 200", lambda: tv_pdhg(sino, op, weight=w, n_iter=200)),
                          ("balanced 400", lambda: tv_pdhg(sino, op, weight=w, n_iter=400))):
            x = fn()
            row[label] = {"psnr": round(psnr(ref, x, rng), 2), "objective": round(objective(x, sino, op, w), 1)}
        rec["low_dose_30"][f"{rel:g}"] = row
        print("low dose 30 %", rel, row, flush=True)
    la = load_scan(args.work / "limited_60.h5").load()
    truth, proj, op = np.asarray(la.reference), np.asarray(la.projections), geometry_operator(la.geometry)
    rng = float(truth.max() - truth.min())
    for rel in (0.03, 0.1, 0.3):
        fixed, bal = [], []
        for i in range(proj.shape[1]):
            w = tv_weight(rel, la.geometry, intensity_level(fbp(proj[:, i], op)))
            fixed.append(tv_pdhg(proj[:, i], op, weight=w, n_iter=200, balanced=False))
            bal.append(tv_pdhg(proj[:, i], op, weight=w, n_iter=200))
        rec["limited_60"][f"{rel:g}"] = {"fixed 200": round(psnr(truth, np.stack(fixed), rng), 2),
                                         "balanced 200": round(psnr(truth, np.stack(bal), rng), 2)}
        print("limited 60", rel, rec["limited_60"][f"{rel:g}"], flush=True)
    rec["wall_s"] = round(time.time() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tv_step_balance.json").write_text(json.dumps(rec, indent=2))
    lines = ["# TV (PDHG): fixed preconditioned steps against the residual-balanced ones (the default)", "",
             f"Command: `.venv/bin/python {rec['command'].strip()}` (git {rec['git']}, {rec['wall_s']} s).", "",
             "## Low dose, 30 % Gaussian noise, 180 angles (slice 42 against R_o): PSNR (dB) / objective", "",
             "| relative weight | " + " | ".join(next(iter(rec["low_dose_30"].values()))) + " |",
             "|---|" + "---|" * len(next(iter(rec["low_dose_30"].values())))]
    for rel, row in rec["low_dose_30"].items():
        lines.append(f"| {rel} | " + " | ".join(f"{v['psnr']:.2f} / {v['objective']:.1f}" for v in row.values()) + " |")
    lines += ["", "## 60° limited arc, 60 angles, 10⁴ photons (4 slices against the truth): PSNR (dB)", "",
              "| relative weight | fixed 200 | balanced 200 |", "|---|---|---|"]
    for rel, row in rec["limited_60"].items():
        lines.append(f"| {rel} | {row['fixed 200']:.2f} | {row['balanced 200']:.2f} |")
    (args.out / "tv_step_balance.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return rec


if __name__ == "__main__":
    main()
