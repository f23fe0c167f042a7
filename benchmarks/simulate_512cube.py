"""`simulate` at 512^3 (spheres in a cube, 180 angles, Poisson noise): time and peak memory.

    .venv/bin/python benchmarks/simulate_512cube.py

Writes benchmarks/results/simulate_512cube.json; the issue's bound is 24 GB.
"""
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import h5py

from tomolearn.scenario import low_dose, sparse_view
from tomolearn.workflow.common import git_hash
from tomolearn.workflow.simulate import simulate_to_file


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = simulate_to_file(Path(tmp) / "cube.h5", "spheres_in_cube", 512, sparse_view(180) + low_dose(i0=1e4),
                                seed=0, chunk_rows=16)
        seconds = time.perf_counter() - t0
        with h5py.File(path) as f:
            shape = list(f["exchange/data"].shape)
        size_mib = path.stat().st_size / 2**20
    record = {"benchmark": "simulate_512cube", "git": git_hash(), "cpu_count": os.cpu_count(),
              "seconds": round(seconds, 1), "projections_shape_AVU": shape, "file_mib": round(size_mib, 1),
              "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "simulate_512cube.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
