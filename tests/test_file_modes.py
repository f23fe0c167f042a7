"""Outputs get the mode the user's umask gives any new file (not mkstemp's private 0600)."""
import os
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn.io import save_volume
from tomolearn.workflow.common import write_json

runner = CliRunner()


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_outputs_follow_the_umask(tmp_path, umask_027):
    save_volume(tmp_path / "v.h5", np.zeros((2, 4, 4), np.float32))
    write_json(tmp_path / "m.json", {"a": 1})
    r = runner.invoke(app, ["simulate", "-o", str(tmp_path / "s.h5"), "--size", "16", "--angles", "8"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["simulate", "--modality", "ptycho", "-o", str(tmp_path / "p.h5"), "--size", "16",
                            "--angles", "2", "--pattern-size", "8", "--probe-diameter", "4", "--step", "3"])
    assert r.exit_code == 0, r.output
    for name in ("v.h5", "m.json", "s.h5", "p.h5"):
        assert _mode(tmp_path / name) == 0o640, name  # 0666 & ~027
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_unwritable_outputs_fail_before_work_and_storage_errors_are_one_line(tmp_path):
    import errno

    import pytest

    from tomolearn._files import check_writable, storage_message

    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_writable(tmp_path / "missing" / "out.h5")
    check_writable(tmp_path / "out.h5")  # a writable folder passes and keeps nothing
    assert list(tmp_path.iterdir()) == []
    msg = storage_message(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".x.h5.tmp")))
    assert msg.startswith("output: could not write into") and "No space left on device" in msg
    assert storage_message(OSError(errno.EROFS, "Read-only file system")) is not None
    assert storage_message(OSError(errno.EINVAL, "other")) is None


import pytest  # noqa: E402


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_sigterm_and_ctrl_c_leave_no_temporary_file(tmp_path, signame):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sig.h5"
    exe = [sys.executable, "-m", "tomolearn.cli", "simulate", "-o", str(out), "--phantom", "spheres_in_cube",
           "--size", "160", "--angles", "360"]
    proc = subprocess.Popen(exe, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".sig.h5.") for p in tmp_path.iterdir()):
        time.sleep(0.1)  # wait until the temporary file exists
    sig = getattr(signal, signame)
    proc.send_signal(sig)
    assert proc.wait(60) == 128 + sig
    assert list(tmp_path.iterdir()) == []  # neither the output nor a hidden temporary file
    assert "interrupted" in proc.stderr.read().decode()


def test_reconstruct_never_replaces_its_own_input(tmp_path):
    from typer.testing import CliRunner

    from tomolearn.cli import app

    scan = tmp_path / "scan.h5"
    assert CliRunner().invoke(app, ["simulate", "-o", str(scan), "--size", "32", "--angles", "20"]).exit_code == 0
    before = scan.read_bytes()
    r = CliRunner().invoke(app, ["reconstruct", str(scan), "-o", str(scan), "--overwrite"])
    assert r.exit_code == 2 and "own input" in r.output
    assert scan.read_bytes() == before


def test_two_writers_of_one_output_the_second_stops_and_stale_locks_are_taken_over(tmp_path):
    import os
    import subprocess
    import sys

    from typer.testing import CliRunner

    from tomolearn.cli import app

    scan = tmp_path / "scan.h5"
    assert CliRunner().invoke(app, ["simulate", "-o", str(scan), "--size", "32", "--angles", "20"]).exit_code == 0
    out = tmp_path / "rec.h5"
    lock = tmp_path / ".rec.h5.lock"
    lock.write_text(str(os.getpid()))  # a live writer (this process)
    r = CliRunner().invoke(app, ["reconstruct", str(scan), "-o", str(out)])
    assert r.exit_code == 2 and "being written by process" in r.output and not out.exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(dead.stdout.strip())  # its writer is gone: stale
    leftover = tmp_path / ".rec.h5.abcd1234.h5"  # the temporary file of that killed writer
    leftover.write_bytes(b"partial")
    r = CliRunner().invoke(app, ["reconstruct", str(scan), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists() and not lock.exists() and not leftover.exists()
    assert "removed 1 temporary file" in r.output


def test_an_interrupted_command_says_how_to_continue():
    from tomolearn.cli import resume_hint

    assert resume_hint(["tomolearn", "train", "flyscan", "-o", "runs/f", "--overwrite"]) == \
        "continue with: tomolearn train flyscan -o runs/f --resume"
    assert resume_hint(["tomolearn", "reconstruct", "a b.h5", "-o", "out.zarr"]) == \
        "continue with: tomolearn reconstruct 'a b.h5' -o out.zarr --resume"
    assert resume_hint(["tomolearn", "reconstruct", "scan.mat", "-o", "out.tif"]) == "run the command again"
    assert resume_hint(["tomolearn", "reconstruct", "scan.h5", "-o", "out.tif"]) == "run the command again"
    assert resume_hint(["tomolearn", "simulate", "-o", "s.h5"]) == "run the command again"
