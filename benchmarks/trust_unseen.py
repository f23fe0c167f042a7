"""Trust maps against the truth, and the unseen-feature test of seed 000 (issue 16).

Objects: held-out ellipse/polygon phantoms (128², integer seeds no training library draws),
each with two features no training object has: a small dense inclusion (value 2, where the
families stay within [0, 1]) and a thin crack (a 1-pixel line cut through the object).
Parallel beam, 1° steps, Poisson noise at 1e4 photons, 0.02 per pixel, simulated on a 2x finer
grid and binned. Learned methods with their SHIPPED weights (nothing trained here): ``lpd``
at a 90° arc and ``missing_wedge`` (IRDM) at a 120° arc (a 60° wedge); FBP and TV beside them.

For every method and map (``data_residual``, ``null_space``, and for learned methods the mirror
``uncertainty``): Spearman(map, |error|), AUSE, the AUC of the map for the pixels of each unseen
feature, and the feature's contrast recovered (output contrast / true contrast against a ring
around it); the uncertainty's ±2σ coverage after a recalibration fitted on separate validation
objects. Writes benchmarks/results/trust_unseen.{json,md}.

    .venv/bin/python benchmarks/trust_unseen.py [--n-test 6] [--n-val 3]
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
from tomolearn.geometry import ParallelGeometry, uniform_angles
from tomolearn.methods import base as registry
from tomolearn.phantoms import make_phantom
from tomolearn.physics.noise import poisson_noise
from tomolearn.physics.projector import RayTransform
from tomolearn.scenario import binned_projections
from tomolearn.trust import coverage, feature_auc, sigma_scale, sparsification, spearman
from tomolearn.workflow.common import git_hash
from tomolearn.workflow.reconstruct import geometry_operator, run_cropped

SIZE, MU, I0 = 128, 0.02, 1e4
CASES = {"lpd": 90.0, "missing_wedge": 120.0}


def object_with_unseen_features(seed: int):
    """Phantom on the 2x fine grid with a dense inclusion and a crack; coarse truth and feature masks."""
    rng = np.random.default_rng(seed)
    n2 = 2 * SIZE
    ph = make_phantom("ellipses_polygons", n2, seed).astype(np.float32)
    inside = np.argwhere(ph > 0.2)
    cy, cx = inside[rng.integers(len(inside))] if len(inside) else (n2 // 2, n2 // 2)
    yy, xx = np.mgrid[:n2, :n2]
    inclusion = (yy - cy) ** 2 + (xx - cx) ** 2 <= 6 ** 2  # radius 3 coarse pixels
    angle = rng.uniform(0, np.pi)
    d = np.abs((yy - n2 / 2) * np.cos(angle) - (xx - n2 / 2) * np.sin(angle))
    crack = (d <= 1.0) & (ph > 0.2) & ~inclusion & (np.hypot(yy - n2 / 2, xx - n2 / 2) < n2 * 0.3)
    ph[crack] = 0.0
    ph[inclusion] = 2.0
    coarse = ph.reshape(SIZE, 2, SIZE, 2).mean((1, 3))
    down = lambda m: m.reshape(SIZE, 2, SIZE, 2).mean((1, 3)) > 0.5  # noqa: E731
    return ph, coarse, {"inclusion": down(inclusion), "crack": down(crack)}


def scan(fine_object, arc_deg: float, seed: int):
    n = SIZE
    fine = RayTransform(ParallelGeometry(uniform_angles(180), 2 * n, detector_spacing=0.5, voxel_size=0.5,
                                         volume_shape=(2 * n, 2 * n)))
    full = ParallelGeometry(uniform_angles(180), n, volume_shape=(n, n))
    sino = poisson_noise(binned_projections(fine_object * MU, fine, 2), I0, seed + 7)
    idx = full.arc_indices(np.deg2rad(arc_deg), np.random.default_rng(seed).uniform(0, np.pi))
    return sino[idx], full.subset(idx)


def contrast(image, mask) -> float:
    ring = ndimage.binary_dilation(mask, iterations=3) & ~ndimage.binary_dilation(mask, iterations=1)
    return float(image[mask].mean() - image[ring].mean())


def run_case(method: str, arc: float, seeds, tv):
    rows = []
    for s in seeds:
        fine, truth, features = object_with_unseen_features(int(s))
        y, g = scan(fine, arc, int(s))
        g3 = g.replace(n_rows=1)
        op = geometry_operator(g3)
        slab = y[:, None]
        inst = registry.build(method).prepare(g3)
        learned = run_cropped(inst, slab, op, 0, 1, trust=True)
        classical = {"FBP": registry.build("fbp").image(y, g) / MU, "TV": tv.image(y, g) / MU}
        out = learned.volume[0] / MU
        rows.append({"truth": truth, "features": features, "output": out,
                     "maps": {k: np.abs(v[0]) / MU for k, v in learned.maps.items()}, "classical": classical})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-test", type=int, default=6)
    ap.add_argument("--n-val", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "trust_unseen"))
    a = ap.parse_args()
    t0 = time.perf_counter()
    tv = registry.build("tv", {"n_iter": 200, "tv_relative": 0.03, "level": MU})
    record = {}
    for method, arc in CASES.items():
        test = run_case(method, arc, 4_000_000 + np.arange(a.n_test), tv)
        val = run_case(method, arc, 5_000_000 + np.arange(a.n_val), tv)
        maps = {}
        for name in test[0]["maps"]:
            err = np.concatenate([np.abs(r["output"] - r["truth"]).ravel() for r in test])
            u = np.concatenate([r["maps"][name].ravel() for r in test])
            entry = {"spearman": round(spearman(u, err), 3), "ause": sparsification(u, err)["ause"]}
            for feat in ("inclusion", "crack"):
                entry[f"auc_{feat}"] = round(float(np.mean([feature_auc(r["maps"][name], r["features"][feat])
                                                            for r in test])), 3)
            if name == "uncertainty":
                verr = np.concatenate([np.abs(r["output"] - r["truth"]).ravel() for r in val])
                vu = np.concatenate([r["maps"][name].ravel() for r in val])
                s = sigma_scale(vu, verr)
                entry.update(coverage_raw=round(coverage(u, err), 3), recalibration=round(s, 3),
                             coverage_recalibrated=round(coverage(u, err, s), 3))
            maps[name] = entry
        recovered = {}
        for feat in ("inclusion", "crack"):
            per = {"learned": [], "FBP": [], "TV": []}
            for r in test:
                true_c = contrast(r["truth"], r["features"][feat])
                per["learned"].append(contrast(r["output"], r["features"][feat]) / true_c)
                for k in ("FBP", "TV"):
                    per[k].append(contrast(r["classical"][k], r["features"][feat]) / true_c)
            recovered[feat] = {k: round(float(np.mean(v)), 3) for k, v in per.items()}
        record[method] = {"arc_deg": arc, "maps": maps, "contrast_recovered": recovered}
        print(method, json.dumps(record[method]), flush=True)
    result = {"benchmark": "trust_unseen", "setup": {"size": SIZE, "mu_per_pixel": MU, "i0": I0, "n_test": a.n_test,
                                                    "n_val": a.n_val, "test_seeds": "4000000+i",
                                                    "val_seeds": "5000000+i", "cases": CASES},
              "results": record, "seconds": round(time.perf_counter() - t0, 1), "cpu_count": os.cpu_count(),
              "tomolearn": __version__, "git": git_hash()}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    lines = ["# Trust maps against the truth; the unseen-feature test\n",
             f"Command: `.venv/bin/python benchmarks/trust_unseen.py` (git {result['git']}). {a.n_test} held-out "
             f"objects per method with a dense inclusion (value 2) and a 1-pixel crack, features no training object "
             f"has; shipped weights, nothing trained here. Maps from `reconstruct --trust`.\n"]
    for method, r in record.items():
        lines += [f"\n## {method} ({r['arc_deg']:g}° arc)\n", "| map | Spearman(map, abs error) | AUSE | AUC inclusion | "
                  "AUC crack | ±2σ coverage raw / recalibrated |", "|---|---|---|---|---|---|"]
        for name, e in r["maps"].items():
            cov = f"{e['coverage_raw']:.3f} / {e['coverage_recalibrated']:.3f}" if "coverage_raw" in e else "-"
            lines.append(f"| {name} | {e['spearman']:.3f} | {e['ause']:.4f} | {e['auc_inclusion']:.3f} | "
                         f"{e['auc_crack']:.3f} | {cov} |")
        lines += ["", "Contrast recovered (output / true, against a ring around the feature):", "",
                  "| feature | learned | FBP | TV |", "|---|---|---|---|"]
        lines += [f"| {f} | {v['learned']:.3f} | {v['FBP']:.3f} | {v['TV']:.3f} |"
                  for f, v in r["contrast_recovered"].items()]
    lines.append(f"\nWall time {result['seconds']} s on {os.cpu_count()} CPU cores.\n")
    out.with_suffix(".md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
