"""RAPID's shipped weights at photon energies other than the training one, with and without the λ² rescaling.

One unseen pillar (``layered_ic``, 64³, 3 nm voxels, seed 41 by default) is simulated at each
energy (``tomolearn simulate --modality ptycho --energy-kev E``, 21 angles over 140.8°, 1e6
photons per pattern); the approximant (and the two-step SART, for weights that take it) goes through the network as
``reconstruct --method rapid`` does (``recipes.rapid.delta_scale``: δ ∝ λ², divided out before the network and restored
after) and with the scale fixed to 1 (the network's training units). Scored against the ground
truth: PCC, output std / truth std, NRMSE over the truth's std. Writes
benchmarks/results/rapid_energy.{json,md}.

    .venv/bin/python benchmarks/rapid_energy.py [--energies 0.8,1.5,3.0] [--seed 41]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from tomolearn import __version__
from tomolearn.io.ptycho import load_ptycho
from tomolearn.recipes.rapid import apply_network, approximant_of, delta_scale, load_default, two_step_of
from tomolearn.workflow.common import git_hash
from tomolearn.workflow.simulate import simulate_ptycho_to_file


def scores(vol: np.ndarray, truth: np.ndarray) -> dict:
    sd = float(truth.std())
    return {"pcc": round(float(np.corrcoef(vol.ravel(), truth.ravel())[0, 1]), 3),
            "std_ratio": round(float(vol.std()) / sd, 3),
            "nrmse": round(float(np.sqrt(np.mean((vol - truth) ** 2))) / sd, 3)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--energies", default="0.8,1.5,3.0")
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--work", type=Path, default=Path("/tmp/rapid_energy"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    net, card = load_default()
    rows = {}
    for e in (float(v) for v in args.energies.split(",")):
        path = args.work / f"ic_{args.seed}_{e:g}keV.h5"
        if not path.exists():
            simulate_ptycho_to_file(path, energy_kev=e, seed=args.seed)
        scan = load_ptycho(path)
        approx = approximant_of(scan, card)
        second = two_step_of(scan, card)  # None unless the weights take a two-step channel
        scale = delta_scale(card, scan.geometry)
        rows[f"{e:g}"] = {"delta_scale": round(scale, 4), "truth_max_delta": float(scan.reference.max()),
                          "rescaled": scores(apply_network(net, card, approx, scale=scale, two_step=second),
                                             scan.reference),
                          "fixed": scores(apply_network(net, card, approx, two_step=second), scan.reference)}
        print(e, rows[f"{e:g}"], flush=True)
    rec = {"command": "benchmarks/rapid_energy.py " + " ".join(argv if argv is not None else os.sys.argv[1:]),
           "git": git_hash(), "tomolearn": __version__, "training_energy_kev": card.training.get("energy_kev"),
           "object": f"layered_ic pillar 64³ seed {args.seed}, 21 angles over 140.8°", "energies": rows,
           "wall_s": round(time.time() - t0, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rapid_energy.json").write_text(json.dumps(rec, indent=2))
    lines = ["# RAPID's shipped weights across photon energies", "",
             f"Command: `.venv/bin/python {rec['command'].strip()}` (git {rec['git']}). Object: {rec['object']}; "
             f"weights trained at {rec['training_energy_kev']} keV. Against the ground truth; `rescaled` = "
             "`reconstruct --method rapid` (approximant / (E_train/E)², output × the same), `fixed` = network "
             "units of the training energy.", "",
             "| energy (keV) | (E_train/E)² | PCC rescaled / fixed | std ratio rescaled / fixed | "
             "NRMSE rescaled / fixed |", "|---|---|---|---|---|"]
    for e, r in rows.items():
        a, b = r["rescaled"], r["fixed"]
        lines.append(f"| {e} | {r['delta_scale']:.3f} | {a['pcc']:.3f} / {b['pcc']:.3f} | "
                     f"{a['std_ratio']:.3f} / {b['std_ratio']:.3f} | {a['nrmse']:.3f} / {b['nrmse']:.3f} |")
    lines += ["", f"Wall time {rec['wall_s']} s.", ""]
    (args.out / "rapid_energy.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return rec


if __name__ == "__main__":
    main()
