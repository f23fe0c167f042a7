"""A short run of the reader fuzzer in the default suite (the 10,000-case runs: benchmarks/fuzz_readers.py)."""
import sys
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz_readers  # noqa: E402


@pytest.mark.parametrize("fmt", fuzz_readers.FORMATS)
def test_mutated_files_load_or_fail_in_one_line(fmt, tmp_path):
    r = fuzz_readers.fuzz_format(fmt, 40, tmp_path)
    assert r["cases"] == 40
    assert r["crashes"] == 0, r["distinct_crashes"]


def test_the_oracle_catches_a_crash(tmp_path, monkeypatch):
    """A reader that raises anything but a user error is reported, so the test above can fail."""
    import tomolearn.io

    def broken(path, **hints):
        raise AttributeError("a bug")

    monkeypatch.setattr(tomolearn.io, "load_scan", broken)
    seed = fuzz_readers.seed_file("dxchange", tmp_path)
    assert fuzz_readers.check("dxchange", seed).startswith("AttributeError: a bug")
