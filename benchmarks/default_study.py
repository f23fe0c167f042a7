"""Time the built-in study (`tomolearn run` with no argument) and record its held-out metrics.

Targets: under 5 minutes on 2 CPU cores (issue "Foundation"), learned ahead of FBP and SIRT in
PSNR and SSIM; LPD (shipped Learned Primal-Dual weights) >= tuned TV + 2 dB PSNR and higher SSIM
(issue 11). Writes benchmarks/results/default_study.{json,md}.

    .venv/bin/python benchmarks/default_study.py
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from tomolearn import __version__
from tomolearn.config import StudyConfig
from tomolearn.workflow import run_study
from tomolearn.workflow.common import git_hash

TARGET_S = 300


def main() -> None:
    cfg = StudyConfig()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_study(cfg, Path(tmp) / "run", show_progress=False, log=lambda m: None)
        seconds = time.perf_counter() - t0
    s = result["summary"]
    learned_ahead = all(s["learned"][k]["mean"] > s[b][k]["mean"] for k in ("psnr", "ssim") for b in ("FBP", "SIRT"))
    lpd = s.get("LPD")
    lpd_target = bool(lpd and lpd["psnr"]["mean"] >= s["TV"]["psnr"]["mean"] + 2.0
                      and lpd["ssim"]["mean"] > s["TV"]["ssim"]["mean"])
    record = {"benchmark": "default_study", "seconds": round(seconds, 1), "target_seconds": TARGET_S,
              "within_target": seconds < TARGET_S, "learned_ahead_of_fbp_and_sirt": learned_ahead,
              "lpd_tv_plus_2db_and_higher_ssim": lpd_target,
              "summary": s, "baseline_parameters": result["baseline_parameters"],
              "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
              "python": platform.python_version(), "tomolearn": __version__, "git": git_hash()}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "default_study.json").write_text(json.dumps(record, indent=2))
    rows = "\n".join(f"| {m} | {v['psnr']['mean']:.2f} | {v['ssim']['mean']:.3f} | {v['nrmse']['mean']:.3f} | "
                     f"{v['pcc']['mean']:.3f} |" for m, v in s.items())
    (out / "default_study.md").write_text(
        f"# Built-in study benchmark\n\nCommand: `.venv/bin/python benchmarks/default_study.py` "
        f"(git {record['git']}, {record['cpu_count']} CPU cores, torch {torch.__version__}).\n\n"
        f"Wall time: **{record['seconds']} s** (target < {TARGET_S} s). Learned ahead of FBP and SIRT in PSNR "
        f"and SSIM: **{learned_ahead}**. LPD >= TV + 2 dB PSNR and higher SSIM: **{lpd_target}**.\n\n| method | PSNR (dB) | SSIM | NRMSE | PCC |\n|---|---|---|---|---|\n{rows}\n")
    print(json.dumps({k: record[k] for k in ("seconds", "within_target", "learned_ahead_of_fbp_and_sirt",
                                                 "lpd_tv_plus_2db_and_higher_ssim")}))


if __name__ == "__main__":
    main()
