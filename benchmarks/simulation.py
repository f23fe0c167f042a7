"""Time and memory of `simulate` and of the fly-scan operator at 256^2 and 512^2.

    .venv/bin/python benchmarks/simulation.py

Writes benchmarks/results/simulation.{json,md}. Memory: peak of NumPy allocations (tracemalloc)
and the process's peak resident size (includes ASTRA's buffers; monotonic over the run).
"""
from __future__ import annotations

import json
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from tomolearn.geometry import ParallelGeometry, uniform_angles
from tomolearn.physics import FlyScanTransform
from tomolearn.scenario import flyscan, low_dose, sparse_view
from tomolearn.workflow.common import git_hash
from tomolearn.workflow.simulate import simulate_to_file


def measure(fn, repeat: int = 3) -> dict:
    fn()  # warm-up: ASTRA object creation, caches
    tracemalloc.start()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds_median": round(float(np.median(times)), 4), "seconds_min": round(min(times), 4),
            "numpy_peak_mib": round(peak / 2**20, 1),
            "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    rows = []
    for n in (256, 512):
        x = np.random.default_rng(0).random((n, n), dtype=np.float32)
        g = ParallelGeometry(uniform_angles(180), n)
        fly = FlyScanTransform(g, np.deg2rad(1.0))  # 1 deg exposure arc per 1 deg step
        y = fly.forward(x)
        rows.append({"case": f"flyscan forward {n}^2, 180 angles, n_sub={fly.n_sub}", **measure(lambda: fly.forward(x))})
        rows.append({"case": f"flyscan adjoint {n}^2, 180 angles, n_sub={fly.n_sub}", **measure(lambda: fly.adjoint(y))})
        for label, scen in (("sparse 180 + Poisson i0=1e4", sparse_view(180) + low_dose(i0=1e4)),
                            ("fly scan 30 deg/s x 0.03 s, 180 proj., i0=1e4", flyscan(30, 0.03, 180) + low_dose(i0=1e4))):
            with tempfile.TemporaryDirectory() as tmp:
                counter = iter(range(100))
                rows.append({"case": f"simulate {n}^2 x 1 slice, {label}",
                             **measure(lambda: simulate_to_file(Path(tmp) / f"s{next(counter)}.h5", "ellipses_polygons",
                                                                n, scen, seed=0), repeat=2)})
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    record = {"benchmark": "simulation", "git": git_hash(), "cpu_count": os.cpu_count(), "rows": rows}
    (out / "simulation.json").write_text(json.dumps(record, indent=2))
    lines = ["# Simulation benchmark", "",
             f"Command: `.venv/bin/python benchmarks/simulation.py` (git {record['git']}, {os.cpu_count()} CPU cores). "
             "simulate = phantom + 2x oversampled projection + noise + Data Exchange write.", "",
             "| case | median s | min s | NumPy peak MiB | process max RSS MiB |", "|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['seconds_median']} | {r['seconds_min']} | {r['numpy_peak_mib']} | "
              f"{r['process_max_rss_mib']} |" for r in rows]
    (out / "simulation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
