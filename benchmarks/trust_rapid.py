"""Trust maps of ptycho-tomography reconstructions against the truth, with unseen features (issues 16 and 15).

Objects: the default ``simulate --modality ptycho`` pillar (``layered_ic``, 64³, 3 nm voxels,
1.5 keV) of seeds no training scan used (the shipped RAPID weights saw seed 0 only), wiring
density drawn from 0.4-0.7, each with two features no training object has: a dense inclusion
(a sphere of radius 3 voxels with twice copper's δ, where the ICs hold copper and dielectric
only) and a crack (a 1-voxel-thick plane cut through the middle of the pillar). Scans: 21 angles
over 140.8° (the reduced scan the shipped weights expect), 3 probe modes, 1e6 photons per
pattern. Methods: RAPID with its SHIPPED weights (nothing trained here), the approximant, and
the two-step SART baseline on the same 21 angles, each through ``reconstruct(..., trust=True)``.

For every method and map (``data_residual``, ``null_space``, and RAPID's mirror ``uncertainty``):
Spearman(map, |error|), AUSE, the AUC of the map for the voxels of each unseen feature, and the
±2σ coverage raw and after a scale fitted on the OTHER objects (leave-one-object-out); the
features' contrast recovered (output / true contrast against a shell around them); the time of
``--trust`` against a plain reconstruction. Writes benchmarks/results/trust_rapid.{json,md}.

    .venv/bin/python benchmarks/trust_rapid.py [--n-objects 4] [--work /tmp/trust_rapid]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from tomolearn import __version__
from tomolearn.io.ptycho import load_ptycho
from tomolearn.trust import coverage, feature_auc, sigma_scale, sparsification, spearman
from tomolearn.workflow import reconstruct
from tomolearn.workflow.common import git_hash
from tomolearn.workflow.simulate import ptycho_object, simulate_ptycho_to_file

SIZE, ENERGY_KEV, N_ANGLES = 64, 1.5, 21
METHODS = ("rapid", "approximant", "two_step_sart")


def object_with_unseen_features(seed: int) -> tuple[np.ndarray, dict]:
    """A pillar IC with a dense inclusion and a crack; δ and the features' voxel masks."""
    rng = np.random.default_rng(seed)
    obj = ptycho_object(SIZE, seed, ENERGY_KEV, density=float(rng.uniform(0.4, 0.7)))
    metal = float(obj.max())
    zz, yy, xx = np.mgrid[:SIZE, :SIZE, :SIZE] - (SIZE - 1) / 2
    central = (np.hypot(yy, xx) < 0.3 * SIZE) & (np.abs(zz) < 0.35 * SIZE)
    candidates = np.argwhere(central & (obj > 0))
    cz, cy, cx = candidates[rng.integers(len(candidates))] - (SIZE - 1) / 2
    inclusion = (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= 3 ** 2
    a = rng.uniform(0, np.pi)
    crack = (np.abs(zz * np.cos(a) - xx * np.sin(a)) <= 0.5) & central & (obj > 0) & ~inclusion
    obj[crack] = 0.0
    obj[inclusion] = 2 * metal
    return obj, {"inclusion": inclusion, "crack": crack}


def contrast(image, mask) -> float:
    shell = ndimage.binary_dilation(mask, iterations=3) & ~ndimage.binary_dilation(mask, iterations=1)
    return float(image[mask].mean() - image[shell].mean())


def run_object(seed: int, work: Path) -> dict:
    obj, features = object_with_unseen_features(seed)
    path = work / f"ic_{seed}.h5"
    if not path.exists():
        simulate_ptycho_to_file(path, obj=obj, n_angles=N_ANGLES, energy_kev=ENERGY_KEV, seed=seed)
    scan = load_ptycho(path)
    out = {"truth": obj, "features": features, "methods": {}}
    for method in METHODS:
        t0 = time.perf_counter()
        plain = reconstruct(scan, method).volume if method == "rapid" else None
        t_plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = reconstruct(scan, method, trust=True)
        t_trust = time.perf_counter() - t0
        if plain is not None:
            assert np.array_equal(plain, res.volume)  # --trust adds maps, never changes the volume
        out["methods"][method] = {"volume": res.volume, "maps": {n: np.abs(m) for n, m in res.maps.items()},
                                  "seconds_plain": round(t_plain, 2) if plain is not None else None,
                                  "seconds_trust": round(t_trust, 2),
                                  "data_residual_relative": res.info.get("data_residual_relative")}
        print(f"seed {seed} {method}: {t_trust:.1f} s with --trust", flush=True)
    return out


def scores(objects: list[dict], method: str) -> dict:
    names = list(objects[0]["methods"][method]["maps"])
    rows = {}
    for name in names:
        per = []
        for k, o in enumerate(objects):
            m = o["methods"][method]
            err = np.abs(m["volume"] - o["truth"])
            u = m["maps"][name]
            others = [p for j, p in enumerate(objects) if j != k]
            s = sigma_scale(np.concatenate([p["methods"][method]["maps"][name].ravel() for p in others]),
                            np.concatenate([np.abs(p["methods"][method]["volume"] - p["truth"]).ravel() for p in others]))
            per.append({"spearman": spearman(u, err), "ause": sparsification(u, err)["ause"],
                        "auc_inclusion": feature_auc(u, o["features"]["inclusion"]),
                        "auc_crack": feature_auc(u, o["features"]["crack"]),
                        "coverage_raw": coverage(u, err), "coverage_recalibrated": coverage(u, err, s)})
        rows[name] = {k: round(float(np.mean([p[k] for p in per])), 4) for k in per[0]}
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-objects", type=int, default=4)
    ap.add_argument("--first-seed", type=int, default=31)
    ap.add_argument("--work", type=Path, default=Path("/tmp/trust_rapid"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    objects = [run_object(args.first_seed + k, args.work) for k in range(args.n_objects)]
    rec = {"command": "benchmarks/trust_rapid.py " + " ".join(argv if argv is not None else os.sys.argv[1:]),
           "git": git_hash(), "tomolearn": __version__, "threads": os.cpu_count(),
           "objects": f"{args.n_objects} layered_ic pillars {SIZE}³, seeds {args.first_seed}..",
           "scan": f"{N_ANGLES} angles over 140.8°, 3 modes, 1e6 photons per pattern, {ENERGY_KEV} keV",
           "maps": {m: scores(objects, m) for m in METHODS},
           "contrast_recovered": {f: {m: round(float(np.mean([contrast(o["methods"][m]["volume"], o["features"][f])
                                                               / contrast(o["truth"], o["features"][f])
                                                               for o in objects])), 3) for m in METHODS}
                                  for f in ("inclusion", "crack")},
           "pcc_vs_truth": {m: round(float(np.mean([np.corrcoef(o["methods"][m]["volume"].ravel(),
                                                                o["truth"].ravel())[0, 1] for o in objects])), 3)
                            for m in METHODS},
           "data_residual_relative": {m: round(float(np.mean([o["methods"][m]["data_residual_relative"]
                                                              for o in objects])), 4) for m in METHODS},
           "seconds": {m: {"plain": float(np.mean([o["methods"][m]["seconds_plain"] or np.nan for o in objects])),
                           "trust": float(np.mean([o["methods"][m]["seconds_trust"] for o in objects]))}
                       for m in METHODS},
           "wall_s": round(time.time() - t0, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "trust_rapid.json").write_text(json.dumps(rec, indent=2))
    (args.out / "trust_rapid.md").write_text(markdown(rec))
    print(markdown(rec))
    return rec


def markdown(rec: dict) -> str:
    lines = ["# Trust maps of ptycho-tomography reconstructions against the truth; unseen features", "",
             f"Command: `.venv/bin/python {rec['command'].strip()}` (git {rec['git']}, {rec['threads']} CPU cores). "
             f"Objects: {rec['objects']}, each with a dense inclusion (2x copper's δ, radius 3 voxels) and a "
             f"1-voxel crack, features no training object has. Scan: {rec['scan']}. RAPID with its shipped weights "
             "(nothing trained here). Maps from `reconstruct(..., trust=True)` (`reconstruct --trust`); error = "
             "|output − ground truth|; coverage of |error| <= 2|map| raw and after a scale fitted on the other "
             "objects (leave one object out); means over the objects.", ""]
    for m, rows in rec["maps"].items():
        lines += [f"## {m}", "", "| map | Spearman(map, abs error) | AUSE | AUC inclusion | AUC crack | "
                  "±2σ coverage raw / recalibrated |", "|---|---|---|---|---|---|"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['spearman']:.3f} | {r['ause']:.4f} | {r['auc_inclusion']:.3f} | "
                         f"{r['auc_crack']:.3f} | {r['coverage_raw']:.3f} / {r['coverage_recalibrated']:.3f} |")
        lines.append("")
    lines += ["## Contrast recovered (output / true, against a shell around the feature) and PCC with the truth", "",
              "| | " + " | ".join(rec["maps"]) + " |", "|---|" + "---|" * len(rec["maps"])]
    for f, row in rec["contrast_recovered"].items():
        lines.append(f"| {f} | " + " | ".join(f"{row[m]:.3f}" for m in rec["maps"]) + " |")
    lines.append("| PCC vs truth | " + " | ".join(f"{rec['pcc_vs_truth'][m]:.3f}" for m in rec["maps"]) + " |")
    lines.append("| data residual ‖I(δ) − g‖/‖g‖ | "
                 + " | ".join(f"{rec['data_residual_relative'][m]:.4f}" for m in rec["maps"]) + " |")
    s = rec["seconds"]["rapid"]
    lines += ["", f"Time per object (2 CPU cores): RAPID {s['plain']:.1f} s plain, {s['trust']:.1f} s with `--trust`; "
              + ", ".join(f"{m} {rec['seconds'][m]['trust']:.1f} s with `--trust`" for m in list(rec["maps"])[1:])
              + f". Wall time {rec['wall_s']} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
