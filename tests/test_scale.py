"""Lazy scans, chunked outputs (HDF5, OME-Zarr), resume after SIGKILL, dask execution, --dry-run."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from tomolearn import load_scan
from tomolearn.cli import app
from tomolearn.io import load_volume
from tomolearn.io.chunked import PROGRESS, partial_path
from tomolearn.scenario import low_dose, sparse_view
from tomolearn.workflow import reconstruct
from tomolearn.workflow.simulate import simulate_to_file
from tomolearn.workflow.stream import plan, reconstruct_to_file

runner = CliRunner()


@pytest.fixture(scope="module")
def scan_file(tmp_path_factory):
    return simulate_to_file(tmp_path_factory.mktemp("scale") / "scan.h5", "ellipses_polygons", 32,
                            sparse_view(40) + low_dose(i0=1e4), n_slices=8, seed=3)


def test_lazy_scan_reads_only_the_rows_asked_for(scan_file, tmp_path):
    scan = load_scan(scan_file)
    assert scan.lazy and scan.projections.reads == []  # loading reads flats and darks only
    eager = load_scan(scan_file, lazy=False)
    np.testing.assert_allclose(scan.projections[:, 2:4], eager.projections[:, 2:4], rtol=1e-6)
    assert scan.projections.reads == [(2, 4)]
    scan.projections.reads.clear()
    reconstruct_to_file(scan, "fbp", tmp_path / "v.h5", chunk_slices=3, log=lambda m: None)
    assert sorted(scan.projections.reads) == [(0, 3), (3, 6), (6, 8)]  # each slab once, nothing else
    sub = scan.arc(np.deg2rad(90), 0.3)
    assert sub.lazy and sub.projections[:, 1].shape == (sub.geometry.n_angles, 32)


@pytest.mark.parametrize("suffix", [".h5", ".zarr"])
def test_chunked_output_equals_the_in_memory_path(scan_file, tmp_path, suffix):
    scan = load_scan(scan_file)
    ref = reconstruct(scan.load(), "sirt", n_iter=20).volume
    out = tmp_path / f"v{suffix}"
    r = runner.invoke(app, ["reconstruct", str(scan_file), "--method", "sirt", "--n-iter", "20", "--chunk-slices", "3",
                            "-o", str(out)])
    assert r.exit_code == 0, r.output
    vol = load_volume(out)
    assert np.abs(vol - ref).max() <= 1e-5 * (ref.max() - ref.min())
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no partial output left
    assert oct(os.stat(out).st_mode & 0o777) in ("0o644", "0o755")


def test_dask_processes_give_the_single_process_volume(scan_file, tmp_path):
    scan = load_scan(scan_file)
    single = reconstruct_to_file(scan, "sirt", tmp_path / "a.zarr", {"n_iter": 10}, chunk_slices=2, log=lambda m: None)
    multi = reconstruct_to_file(scan, "sirt", tmp_path / "b.zarr", {"n_iter": 10}, chunk_slices=2,
                                scheduler="processes", workers=2, log=lambda m: None)
    assert single["slabs"] == multi["slabs"] == 4
    np.testing.assert_array_equal(load_volume(tmp_path / "a.zarr"), load_volume(tmp_path / "b.zarr"))


def test_sigkill_then_resume_skips_finished_slabs(scan_file, tmp_path):
    out = tmp_path / "v.zarr"
    cmd = [sys.executable, "-m", "tomolearn.cli", "reconstruct", str(scan_file), "--method", "sirt", "--n-iter", "1500",
           "--chunk-slices", "1", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    progress = partial_path(out) / PROGRESS
    deadline = time.time() + 240
    while time.time() < deadline:
        if progress.exists() and sum(b - a for a, b in json.loads(progress.read_text())) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sum(b - a for a, b in json.loads(progress.read_text()))
    assert 2 <= done_before < 8 and not out.exists()
    again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{done_before} of 8 slabs already done" in again.stderr
    ref = reconstruct(load_scan(scan_file).load(), "sirt", n_iter=1500).volume
    np.testing.assert_allclose(load_volume(out), ref, atol=1e-5 * float(ref.max() - ref.min()))


def test_refusals_and_dry_run(scan_file, tmp_path):
    out = tmp_path / "v.h5"
    r = runner.invoke(app, ["reconstruct", str(scan_file), "--method", "fbp", "-o", str(out), "--dry-run"])
    assert r.exit_code == 0 and "peak memory per worker" in r.output and "s per row (measured)" in r.output
    assert not list(tmp_path.iterdir())
    p = plan(load_scan(scan_file), "sirt", {"n_iter": 5}, chunk_slices=3, workers=2)
    assert p.n_slabs == 3 and p.peak_bytes_per_worker > 0 and p.estimated_seconds > 0
    with_maps = plan(load_scan(scan_file), "sirt", {"n_iter": 5}, chunk_slices=3, workers=2, trust=True)
    assert with_maps.output_bytes == 3 * p.output_bytes  # volume + data residual + null space
    assert with_maps.peak_bytes_per_worker > p.peak_bytes_per_worker
    # an interrupted run's partial output is never silently reused with other settings
    partial = partial_path(out)
    from tomolearn.io.chunked import ChunkedVolume

    ChunkedVolume(out, (8, 32, 32), signature={"other": 1}).close()
    r = runner.invoke(app, ["reconstruct", str(scan_file), "--method", "fbp", "-o", str(out)])
    assert r.exit_code == 2 and "--resume" in r.output
    r = runner.invoke(app, ["reconstruct", str(scan_file), "--method", "fbp", "-o", str(out), "--resume"])
    assert r.exit_code == 2 and "other settings" in r.output and partial.exists()
    r = runner.invoke(app, ["reconstruct", str(scan_file), "--method", "fbp", "-o", str(tmp_path / "v.tif"), "--resume"])
    assert r.exit_code == 2 and "chunked output" in r.output
