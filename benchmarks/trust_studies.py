"""Trust maps on the built-in study and on the HTC2022 study (real data), per uncertainty kind; cost of --trust.

Issue 16's measurement. The two studies are run by their study files (or read from finished run
folders), each with every uncertainty kind for its U-Net: mirror test-time augmentation,
Monte-Carlo dropout (``model.dropout``) and a deep ensemble (``model.ensemble``):

    tomolearn run examples/synthetic_trust.yaml -o runs/synthetic_trust      # simulated, truth known
    tomolearn run examples/htc2022_trust.yaml -o runs/htc2022_trust          # real; reference = full data

Scores (from each run's metrics.json): Spearman(map, |error|), AUSE, coverage of
``|error| <= 2 |map|`` raw and after recalibration (synthetic: fitted on validation phantoms;
HTC2022: cross-fitted on the other held-out phantoms). The cost part times in-memory
``reconstruct`` of a simulated 8-slice 128² scan (60° arc) with and without trust maps.
Writes benchmarks/results/trust_studies.{json,md}.

    .venv/bin/python benchmarks/trust_studies.py [--synthetic-run DIR] [--htc-run DIR] [--run]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tomolearn import __version__, load_scan
from tomolearn.workflow.common import git_hash
from tomolearn.workflow.reconstruct import TrustOptions, reconstruct

ROOT = Path(__file__).resolve().parents[1]


def study_trust(folder: Path, study: Path, run: bool) -> dict:
    """The trust block (and summary) of a finished study run; runs the study first when asked."""
    metrics = folder / "metrics.json"
    if not metrics.exists():
        if not run:
            raise SystemExit(f"{metrics} is missing: run `tomolearn run {study.relative_to(ROOT)} -o {folder}` "
                             "or pass --run")
        from tomolearn.config import load_study
        from tomolearn.workflow import run_study

        run_study(load_study(study), folder, show_progress=False, log=print)
    m = json.loads(metrics.read_text())
    return {"trust": m["trust"], "summary": m.get("summary"), "table": m.get("table"), "seconds": m.get("seconds")}


def timings(unet_run: Path, repeats: int = 1) -> dict:
    """Seconds of in-memory reconstruct, plain and with each trust kind, on one simulated scan."""
    from typer.testing import CliRunner

    from tomolearn.cli import app

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scan.h5"
        r = CliRunner().invoke(app, ["simulate", "-o", str(path), "--size", "128", "--n-slices", "8", "--angles", "60",
                                     "--range-deg", "60"])
        assert r.exit_code == 0, r.output
        scan = load_scan(path)
        cases = {
            "lpd (shipped)": ("lpd", {}, [("plain", False), ("--trust (mirror)", True)]),
            "learned U-Net": ("learned", {"model": str(unet_run / "model.safetensors")},
                              [("plain", False), ("--trust (mirror)", True),
                               ("--mc-dropout 8", TrustOptions("mc_dropout", 8))]),
            "learned ensemble of 3": ("learned", {"model": str(unet_run / "ensemble")},
                                      [("plain (mean + spread)", False), ("--trust", True)]),
        }
        out = {}
        for label, (method, params, variants) in cases.items():
            out[label] = {}
            for name, trust in variants:
                best = np.inf
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    reconstruct(scan, method, params, trust=trust)
                    best = min(best, time.perf_counter() - t0)
                out[label][name] = round(best, 3)
    return out


def _rows(trust_scores: dict) -> list[str]:
    lines = ["| network / uncertainty kind | map | Spearman | AUSE | coverage raw | coverage recalibrated |",
             "|---|---|---|---|---|---|"]
    for label, maps in trust_scores.items():
        for name, v in maps.items():
            lines.append(f"| {label} | {name} | {v['spearman']:.3f} | {v['ause']:.4f} | {v['coverage_raw']:.3f} | "
                         f"{v.get('coverage', float('nan')):.3f} |")
    return lines


def markdown(res: dict) -> str:
    syn, htc = res["synthetic"], res["htc2022"]
    lines = ["# Trust maps per uncertainty kind: built-in study and HTC2022 (real data)", "",
             f"Command: `.venv/bin/python benchmarks/trust_studies.py` (git {res['git']}, {res['cpu_count']} CPU cores). "
             "Studies: `tomolearn run examples/synthetic_trust.yaml -o runs/synthetic_trust` "
             f"({syn['seconds']} s) and `tomolearn run examples/htc2022_trust.yaml -o runs/htc2022_trust` "
             f"({htc['seconds']} s). Kinds: `learned` = mirror test-time augmentation (`--trust`); "
             "`MC dropout` = 8 passes with channel dropout 0.1 (`--mc-dropout 8`); ensemble = 3 seeded networks "
             "(`train --ensemble 3` / `model.ensemble: 3`). Maps scored against |error|; coverage of "
             "|error| <= 2|map| before and after the ±2σ recalibration.", "",
             "## Built-in study (simulated, 60° arc, held-out phantoms; scale fitted on validation phantoms)", "",
             syn["trust"]["note"], "", *_rows(syn["trust"]["scores"]), ""]
    if syn.get("summary"):
        lines += ["PSNR / SSIM of the networks on all held-out phantoms:", "", "| method | PSNR (dB) | SSIM |",
                  "|---|---|---|"]
        lines += [f"| {k} | {v['psnr']['mean']:.2f} | {v['ssim']['mean']:.3f} |" for k, v in syn["summary"].items()]
        lines.append("")
    lines += ["## HTC2022 (real, leave-one-phantom-out; reference = full-data reconstruction; scale cross-fitted "
              "on the other phantoms)", "", htc["trust"]["note"], "", *_rows(htc["trust"]["scores"]), ""]
    if htc.get("table"):
        labels = [k for k in next(iter(htc["table"].values())) if k.startswith("learned") or k in ("FBP", "TV")]
        lines += ["MCC / PSNR per arc:", "", "| arc | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        for arc, row in htc["table"].items():
            lines.append(f"| {arc} | " + " | ".join(f"{row[k]['mcc']:.3f} / {row[k]['psnr']:.2f}" for k in labels) + " |")
        lines.append("")
    lines += ["## Cost of trust maps (in-memory reconstruct, 8 slices of 128², 60° arc, seconds)", "",
              "| network | variant | seconds |", "|---|---|---|"]
    for label, row in res["timings"].items():
        lines += [f"| {label} | {k} | {v} |" for k, v in row.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic-run", type=Path, default=ROOT / "runs" / "synthetic_trust")
    ap.add_argument("--htc-run", type=Path, default=ROOT / "runs" / "htc2022_trust")
    ap.add_argument("--run", action="store_true", help="run the studies whose folders hold no metrics.json")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    a = ap.parse_args()
    t0 = time.time()
    res = {"benchmark": "trust_studies", "git": git_hash(), "cpu_count": os.cpu_count(), "tomolearn": __version__,
           "synthetic": study_trust(a.synthetic_run, ROOT / "examples" / "synthetic_trust.yaml", a.run),
           "htc2022": study_trust(a.htc_run, ROOT / "examples" / "htc2022_trust.yaml", a.run)}
    res["timings"] = timings(a.synthetic_run)
    res["seconds"] = round(time.time() - t0, 1)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "trust_studies.json").write_text(json.dumps(res, indent=2))
    (a.out / "trust_studies.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
