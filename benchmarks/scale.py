"""Scale benchmark: in-memory vs chunked reconstruction, and dask LocalClusters, as volumes grow.

For each number of slices (default 64, 256, 1024) a parallel-beam scan of 256 x 256 slices is
simulated (`tomolearn simulate --n-slices`, 120 projections over a 120-degree arc, Poisson noise
at 1e4 photons: the missing-wedge setting, so the learned method runs inside its training
range), then reconstructed with FBP and with the learned `missing_wedge` method:

* in memory: the whole scan read, `tomolearn.reconstruct`, the volume saved at the end;
* chunked: the lazy scan read slab by slab (16 rows), each slab written to OME-Zarr at once;
* chunked on a dask LocalCluster of 1 and 2 worker processes (largest size only).

Each configuration runs in its own process; its wall time and peak resident memory (the
process's maximum RSS, from `wait4`) are recorded. Dask runs report the client's memory only
(workers are other processes) and their speed-up.

    .venv/bin/python benchmarks/scale.py [--slices 64,256,1024] [--size 256]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "results"

RUN = """
import sys, time, json, warnings
warnings.simplefilter("ignore")
from tomolearn import load_scan
mode, scan_path, out, method = sys.argv[1:5]
t0 = time.perf_counter()
if mode == "memory":
    from tomolearn.io import save_volume
    from tomolearn.workflow import reconstruct
    s = load_scan(scan_path, lazy=False)
    r = reconstruct(s, method, chunk_slices=16)
    save_volume(out, r.volume, s.geometry.voxel_size, s.geometry.unit)
else:
    from tomolearn.workflow.stream import reconstruct_to_file
    scheduler = None if mode == "chunked" else "processes"
    workers = 1 if mode in ("chunked", "dask1") else 2
    reconstruct_to_file(load_scan(scan_path), method, out, chunk_slices=16, scheduler=scheduler, workers=workers,
                        log=lambda m: None)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def measure(mode: str, scan: Path, out: Path, method: str) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", RUN, mode, str(scan), str(out), method], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        raise RuntimeError(f"{mode} {method} failed: {stderr[-2000:]}")
    seconds = json.loads(stdout.strip().splitlines()[-1])["seconds"]
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", default="64,256,1024")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    sizes = [int(s) for s in args.slices.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent, prefix="tmp_scale") as tmp:
        tmp = Path(tmp)
        for n in sizes:
            scan = tmp / f"scan_{n}.h5"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "tomolearn.cli", "simulate", "-o", str(scan), "--size",
                            str(args.size), "--n-slices", str(n), "--angles", "120", "--range-deg", "120",
                            "--start-deg", "30", "--i0", "1e4"], check=True, capture_output=True)
            print(f"{n} slices simulated in {time.perf_counter() - t0:.0f} s", flush=True)
            modes = ["memory", "chunked"] + (["dask1", "dask2"] if n == max(sizes) else [])
            for method in ("fbp", "missing_wedge"):
                for mode in modes:
                    out = tmp / f"{n}_{method}_{mode}" / ("v.h5" if mode == "memory" else "v.zarr")
                    out.parent.mkdir()
                    r = measure(mode, scan, out, method)
                    voxels = n * args.size**2
                    rows.append({"slices": n, "method": method, "mode": mode, **r,
                                 "voxels_per_s": round(voxels / r["seconds"])})
                    print(rows[-1], flush=True)
    big = max(sizes)

    def get(n, method, mode):
        return next(r for r in rows if r["slices"] == n and r["method"] == method and r["mode"] == mode)

    chunked_mem = [get(n, "fbp", "chunked")["peak_rss_mb"] for n in sizes]
    learned_ratio = {n: round(get(n, "missing_wedge", "chunked")["seconds"] / get(n, "fbp", "chunked")["seconds"], 2)
                     for n in sizes}
    record = {"command": "`.venv/bin/python benchmarks/scale.py" + (f" --slices {args.slices}" if sizes != [64, 256, 1024]
                                                                     else "") + "`",
              "size": args.size, "cpu_count": os.cpu_count(), "rows": rows,
              "chunked_peak_rss_growth": round(max(chunked_mem) / min(chunked_mem) - 1, 3),
              "chunked_memory_flat_within_20_percent": max(chunked_mem) <= 1.2 * min(chunked_mem),
              "learned_to_fbp_time_ratio": learned_ratio,
              "dask_speedup_2_vs_1_workers": {m: round(get(big, m, "dask1")["seconds"] / get(big, m, "dask2")["seconds"], 2)
                                              for m in ("fbp", "missing_wedge")}}
    OUT.mkdir(exist_ok=True)
    (OUT / "scale.json").write_text(json.dumps(record, indent=1))
    lines = ["# Scale: in memory vs chunked vs dask", "",
             f"Command: {record['command']} ({os.cpu_count()} CPU cores, no GPU). Parallel beam, {args.size}^2 slices, "
             "120 projections over 120 deg, Poisson 1e4; learned = `missing_wedge` (IRDM, shipped weights). "
             "Peak RSS of the process that ran the reconstruction (dask: the client only).", "",
             "| slices | method | mode | seconds | voxels/s | peak RSS (MB) |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['slices']} | {r['method']} | {r['mode']} | {r['seconds']} | {r['voxels_per_s']:,} | "
              f"{r['peak_rss_mb']} |" for r in rows]
    lines += ["", f"Chunked FBP peak memory from {min(sizes)} to {big} slices: {min(chunked_mem)} -> {max(chunked_mem)} MB "
              f"(growth {record['chunked_peak_rss_growth']:.0%}; flat within 20 %: "
              f"{record['chunked_memory_flat_within_20_percent']}).",
              f"Learned / FBP time (chunked): {learned_ratio} (target <= 3).",
              f"Dask LocalCluster, 2 vs 1 worker processes at {big} slices: speed-up "
              f"{record['dask_speedup_2_vs_1_workers']}."]
    (OUT / "scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
