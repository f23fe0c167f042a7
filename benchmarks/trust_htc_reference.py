"""HTC2022 trust maps against two references: how much of the real-data "error" is the reference's own noise.

Issue 16's real-data calibration scores the fold networks' maps against the full-data FBP
(the `htc2022_X_full_recon_fbp.mat` of each phantom, on the network grid), which carries its
own noise and streaks. This script re-scores the SAME maps of the SAME fold networks (the
finished run of `examples/htc2022_trust.yaml`; nothing is trained) against a second reference,
the challenge's official segmentation of that reconstruction (material = 1 in units of the
material attenuation, air = 0, block-averaged to the grid: the HTC2022 ground truth), and
measures the first reference's departure from the second.

    tomolearn run examples/htc2022_trust.yaml -o runs/htc2022_trust   # once (about 45 min)
    .venv/bin/python benchmarks/trust_htc_reference.py [--run runs/htc2022_trust]

Writes benchmarks/results/trust_htc_reference.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from tomolearn import __version__
from tomolearn.config import load_study
from tomolearn.methods import base as registry
from tomolearn.trust import spearman
from tomolearn.workflow.common import calibration_scores, git_hash
from tomolearn.workflow.htc2022 import _down, _load, _merge, _trust_fold
from tomolearn.workflow.reconstruct import TrustOptions

ROOT = Path(__file__).resolve().parents[1]


def kinds_of(run: Path, held: str, cfg) -> dict:
    """The fold's uncertainty kinds, rebuilt from the run folder's weights."""
    fold = run / f"fold_{held}"
    kinds = {"learned (mirror TTA)": (registry.build("learned", {"model": str(fold / "model.safetensors")}),
                                      TrustOptions())}
    if cfg.model.dropout > 0:
        kinds["learned, MC dropout"] = (registry.build("learned", {"model": str(fold / "model.safetensors")}),
                                        TrustOptions("mc_dropout", cfg.model.mc_samples))
    if (fold / "ensemble" / "ensemble.json").exists():
        kinds["ensemble of 3"] = (registry.build("learned", {"model": str(fold / "ensemble")}), TrustOptions())
    return kinds


def with_errors(samples: dict, reference: np.ndarray) -> dict:
    return {**samples, "errors": [np.abs(o - reference) for o in samples["outputs"]]}


def cross_fitted(per_fold: dict) -> dict:
    """Calibration of each fold's samples with the ±2σ scale fitted on the other folds; mean over folds."""
    folds = list(per_fold)
    scores = {h: calibration_scores(per_fold[h], _merge([per_fold[o] for o in folds if o != h])) for h in folds}
    first = scores[folds[0]]
    return {m: {k: round(float(np.mean([scores[h][m][k] for h in folds])), 4) for k in first[m]} for m in first}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "htc2022_trust")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    if not (args.run / "metrics.json").exists():
        raise SystemExit(f"{args.run}/metrics.json is missing: run `tomolearn run examples/htc2022_trust.yaml "
                         f"-o {args.run}` first")
    t0 = time.time()
    cfg = load_study(args.run / "config.yaml")
    data = _load(cfg, print)
    by_kind: dict = {}
    ref_noise = {}
    for h, held in enumerate(data.names):
        seg = _down(data.scans[h].reference_segmentation[0].astype(np.float32), cfg.data.grid)
        fbp = data.refs[h] / data.mu
        interior = seg > 0.99
        ref_noise[held] = {"rms_fbp_minus_seg_interior": float(np.sqrt(np.mean((fbp - seg)[interior] ** 2))),
                           "rms_fbp_minus_seg_air": float(np.sqrt(np.mean((fbp - seg)[seg < 0.01] ** 2)))}
        for label, samples in _trust_fold(cfg, data, h, kinds_of(args.run, held, cfg)).items():
            rows = by_kind.setdefault(label, {"full-data FBP": {}, "official segmentation": {}, "agree": []})
            rows["full-data FBP"][held] = with_errors(samples, fbp)
            rows["official segmentation"][held] = with_errors(samples, seg)
            rows["agree"] += [spearman(np.abs(o - fbp), np.abs(o - seg)) for o in samples["outputs"]]
            print(f"{held} {label}: {len(samples['outputs'])} arcs", flush=True)
    result = {"command": "benchmarks/trust_htc_reference.py " + " ".join(argv if argv is not None else os.sys.argv[1:]),
              "git": git_hash(), "tomolearn": __version__, "run": str(args.run), "phantoms": data.names,
              "arcs_deg": list(cfg.data.arcs_deg),
              "scores": {label: {ref: cross_fitted(rows[ref]) for ref in ("full-data FBP", "official segmentation")}
                         for label, rows in by_kind.items()},
              "spearman_between_the_two_errors": {label: round(float(np.mean(rows["agree"])), 3)
                                                  for label, rows in by_kind.items()},
              "reference_departure": {k: round(float(np.mean([v[k] for v in ref_noise.values()])), 4)
                                      for k in next(iter(ref_noise.values()))},
              "wall_s": round(time.time() - t0, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "trust_htc_reference.json").write_text(json.dumps(result, indent=2))
    (args.out / "trust_htc_reference.md").write_text(markdown(result))
    print(markdown(result))
    return result


def markdown(r: dict) -> str:
    d = r["reference_departure"]
    lines = ["# HTC2022 trust maps against the full-data FBP and against the official segmentation", "",
             f"Command: `.venv/bin/python {r['command'].strip()}` (git {r['git']}; the fold networks of "
             f"`{r['run']}`, nothing trained). Real data: the five HTC2022 training phantoms, each scored by its "
             f"fold's network (never trained on it), arcs {r['arcs_deg']} (first start). Spearman(map, |error|), "
             "AUSE, ±2σ coverage raw / after a scale fitted on the other phantoms; mean over phantoms.", "",
             f"The full-data FBP departs from the segmentation by {d['rms_fbp_minus_seg_interior']:.3f} RMS inside "
             f"the material and {d['rms_fbp_minus_seg_air']:.3f} in air (units of the material attenuation).", "",
             "| uncertainty kind | map | reference | Spearman | AUSE | coverage raw / recalibrated |",
             "|---|---|---|---|---|---|"]
    for label, refs in r["scores"].items():
        for ref, maps in refs.items():
            for m, v in maps.items():
                lines.append(f"| {label} | {m} | {ref} | {v['spearman']:.3f} | {v['ause']:.4f} | "
                             f"{v['coverage_raw']:.3f} / {v.get('coverage', float('nan')):.3f} |")
    norms = {label: refs["full-data FBP"]["data_residual"] for label, refs in r["scores"].items()}
    lines += ["", "Data residual ||A x − y|| / ||y|| of each network's output on its limited-arc data, and that over "
              "FBP's on the same data (FBP is no least-squares fit of an arc: below 1 the output explains the "
              "measured projections better than FBP does): " + ", ".join(
                  f"{k} {v['norm']:.4f} ({v['norm_vs_fbp']:.3f} of FBP's)" for k, v in norms.items()
                  if "norm" in v) + "."]
    lines += ["", "Spearman between |output − FBP| and |output − segmentation| per case (how alike the two errors "
              "rank): " + ", ".join(f"{k} {v:.3f}" for k, v in r["spearman_between_the_two_errors"].items())
              + f". Wall time {r['wall_s']} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
