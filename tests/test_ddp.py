"""Multi-process training (Lightning DDP on CPU, gloo): runs, writes once, resumes on another process count."""
import json
import subprocess
import sys

import torch
from typer.testing import CliRunner

from tomolearn.cli import app

TINY = ["--size", "32", "--samples-per-epoch", "8", "--n-val", "2", "--base-channels", "4", "--depth", "2",
        "--quiet", "--device", "cpu"]


def _train(out, *args):
    return subprocess.run([sys.executable, "-m", "tomolearn.cli", "train", "missing_wedge", "-o", str(out), *TINY, *args],
                          capture_output=True, text=True, timeout=900)


def test_ddp_on_two_cpu_processes_then_resume_on_one_and_back(tmp_path):
    out = tmp_path / "run"
    r = _train(out, "--epochs", "1", "--devices", "2", "--strategy", "ddp")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("weights:") == 1  # rank 0 reports, validates and writes; the other only trains
    record = json.loads((out / "training.json").read_text())
    assert record["training"]["devices"] == 2 and record["training"]["strategy"] == "ddp"
    ckpt = out / "checkpoints" / "last.ckpt"
    first = torch.load(ckpt, weights_only=False)
    assert first["global_step"] > 0
    r = _train(out, "--epochs", "2", "--resume")  # one process continues the DDP checkpoint
    assert r.returncode == 0, r.stderr[-3000:]
    second = torch.load(ckpt, weights_only=False)
    assert second["epoch"] == first["epoch"] + 1 and second["global_step"] > first["global_step"]
    r = _train(out, "--epochs", "3", "--resume", "--devices", "2", "--strategy", "ddp")  # and DDP continues that
    assert r.returncode == 0, r.stderr[-3000:]
    third = torch.load(ckpt, weights_only=False)
    assert third["epoch"] == second["epoch"] + 1 and third["global_step"] > second["global_step"]


def test_impossible_scaling_is_refused_in_one_line(tmp_path):
    r = CliRunner().invoke(app, ["train", "missing_wedge", "-o", str(tmp_path / "x"), "--precision", "16-mixed",
                                 "--device", "cpu", *TINY[:-2]])
    assert r.exit_code == 2 and "--precision" in r.output and "GPU" in r.output
    r = CliRunner().invoke(app, ["train", "missing_wedge", "-o", str(tmp_path / "y"), "--strategy", "mpi",
                                 "--device", "cpu", *TINY[:-2]])
    assert r.exit_code == 2 and "--strategy" in r.output
