"""A method added by a third-party package through the entry-point group appears everywhere."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PLUGIN_DIR = Path(__file__).parent / "plugin_example"


def _install_entry_point(site: Path) -> dict:
    """A dist-info with a `tomolearn.methods` entry point, as `pip install` of the plug-in would write."""
    info = site / "tomolearn_median_fbp-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tomolearn-median-fbp\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tomolearn.methods]\nmedian_fbp = tomolearn_median_fbp\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(PLUGIN_DIR), env.get("PYTHONPATH", "")])
    return env


def _cli(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tomolearn.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_entry_point_method_in_methods_reconstruct_and_study(tmp_path):
    env = _install_entry_point(tmp_path / "site")
    listing = _cli(env, "methods", "--json")
    assert listing.returncode == 0, listing.stderr
    names = {m["name"]: m for m in json.loads(listing.stdout)}
    assert "median_fbp" in names and names["median_fbp"]["parameters"]["median_size"]["default"] == 3
    help_ = _cli(env, "reconstruct", "--help")
    assert "median_fbp" in help_.stdout and "--median-size" in help_.stdout

    scan = tmp_path / "scan.h5"
    assert _cli(env, "simulate", "-o", str(scan), "--size", "32", "--angles", "30").returncode == 0
    out = tmp_path / "v.h5"
    r = _cli(env, "reconstruct", str(scan), "--method", "median_fbp", "--median-size", "5", "-o", str(out))
    assert r.returncode == 0, r.stderr
    import h5py

    with h5py.File(out) as f:
        assert f["volume"].shape == (1, 32, 32) and np.isfinite(f["volume"][()]).all()

    study = tmp_path / "study.yaml"
    study.write_text("name: plug\ndata: {size: 32, n_train: 8, n_val: 4, n_test: 1, n_full_angles: 60}\n"
                     "model: {base_channels: 4, depth: 2}\ntrain: {epochs: 1, batch_size: 4}\n"
                     "baselines:\n  methods:\n    - fbp\n    - {method: median_fbp, label: median FBP, "
                     "tune: {median_size: [3, 5]}}\n")
    r = _cli(env, "run", str(study), "-o", str(tmp_path / "run"), "--quiet", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["summary"]) == {"FBP", "median FBP", "learned"}
    assert metrics["baseline_parameters"]["median FBP"]["median_size"] in (3, 5)


def test_without_the_entry_point_the_method_is_unknown(tmp_path):
    r = _cli(dict(os.environ), "methods", "median_fbp")
    assert r.returncode == 2 and "median_fbp" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("bad", ["{method: nope}", "{method: tv, params: {n_iter: -1}}",
                                 "{method: tv, tune: {not_a_param: [1]}}"])
def test_study_file_rejects_unknown_methods_and_parameters(tmp_path, bad):
    from tomolearn.config import load_study

    p = tmp_path / "s.yaml"
    p.write_text(f"baselines:\n  methods:\n    - {bad}\n")
    with pytest.raises(ValueError, match="study: field 'baselines.methods.0'") as err:
        load_study(p)
    assert "\n" not in str(err.value)
