"""How many TV iterations should start the shipped Learned Primal-Dual? (issue 11)

The shipped weights were trained from a TV start of 100 primal-dual iterations (weight 0.03
relative to the data). That start is under-converged; this benchmark scores the same weights
started from TV-100, TV-200 and TV-400 (``reconstruct --method lpd --init-iter N``), and each
start alone, on the held-out phantoms of ``benchmarks/lpd_arcs.py`` (same seeds, arcs,
families and noise), beside the tuned TV recorded there. Writes
benchmarks/results/lpd_init.{json,md}.

    .venv/bin/python benchmarks/lpd_init.py [--n-test 6] [--iters 100,200,400]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from lpd_arcs import ARCS, FAMILIES, MU, scans, score
from tomolearn.methods import base as registry
from tomolearn.workflow.common import git_hash

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-test", type=int, default=6)
    ap.add_argument("--iters", default="100,200,400")
    ap.add_argument("--arcs", default=",".join(map(str, ARCS)))
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    iters = [int(v) for v in a.iters.split(",")]
    t0 = time.perf_counter()
    arcs_ref = json.loads((RESULTS / "lpd_arcs.json").read_text())
    table, seconds = {}, {}
    for fam in FAMILIES:
        for arc in [int(v) for v in a.arcs.split(",")]:
            test = scans(fam, 2_000_000 + np.arange(a.n_test), arc)
            row = {"TV tuned (lpd_arcs)": arcs_ref["psnr_ssim"][fam][str(arc)]["TV"]}
            for n in iters:
                start = registry.build("tv", {"n_iter": n, "tv_relative": 0.03})
                lpd = registry.build("lpd", {"init_iter": n})
                t = time.perf_counter()
                row[f"TV-{n} start"] = score(start.image, test)
                t_start = time.perf_counter() - t
                t = time.perf_counter()
                row[f"LPD from TV-{n}"] = score(lpd.image, test)
                seconds[n] = {"start_s_per_slice": round(t_start / len(test), 3),
                              "lpd_s_per_slice": round((time.perf_counter() - t) / len(test), 3)}
            table.setdefault(fam, {})[str(arc)] = row
            print(fam, arc, {k: round(v["psnr"], 2) for k, v in row.items()}, flush=True)
    res = {"benchmark": "lpd_init", "git": git_hash(), "cpu_count": os.cpu_count(), "n_test": a.n_test, "mu": MU,
           "iters": iters, "table": table, "seconds_per_slice": seconds,
           "seconds": round(time.perf_counter() - t0, 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "lpd_init.json").write_text(json.dumps(res, indent=2))
    (a.out / "lpd_init.md").write_text(markdown(res))
    print(markdown(res))


def markdown(res: dict) -> str:
    cols = ["TV tuned (lpd_arcs)", *[f"LPD from TV-{n}" for n in res["iters"]], *[f"TV-{n} start" for n in res["iters"]]]
    lines = ["# Learned Primal-Dual: the TV start's iterations", "",
             f"Command: `.venv/bin/python benchmarks/lpd_init.py --n-test {res['n_test']} --iters "
             f"{','.join(map(str, res['iters']))}` (git {res['git']}, "
             f"{res['cpu_count']} CPU cores, {res['seconds']} s). Shipped weights (trained from TV-100), the held-out "
             "phantoms of `benchmarks/lpd_arcs.py`; cells PSNR (dB) / SSIM, mean over the phantoms. The TV starts use "
             "weight 0.03 relative to the data and the level of the data; the tuned TV uses the known level and "
             "200 iterations.", ""]
    for fam, rows in res["table"].items():
        lines += [f"## {fam}", "", "| arc | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for arc, row in rows.items():
            lines.append(f"| {arc} | " + " | ".join(f"{row[c]['psnr']:.2f} / {row[c]['ssim']:.3f}" for c in cols) + " |")
        lines.append("")
    lines += ["Seconds per 128² slice (2 cores, shared with other work): "
              + "; ".join(f"TV-{n} {v['start_s_per_slice']} s, LPD from it {v['lpd_s_per_slice']} s (start included)"
                          for n, v in res["seconds_per_slice"].items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
