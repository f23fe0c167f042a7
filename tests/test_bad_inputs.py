"""A table of bad inputs across info, simulate, reconstruct, train and run.

Each row must end with exit status 2, exactly one line of output that starts ``error:`` and names
what to fix, no traceback, and no file left behind in the output folder (a file that was there
before stays byte for byte).
"""
from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from tomolearn.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Input files every row may name: a good tiny scan and a zoo of broken ones."""
    d = tmp_path_factory.mktemp("inputs")
    good = d / "good.h5"
    r = runner.invoke(app, ["simulate", "-o", str(good), "--size", "16", "--angles", "12"])
    assert r.exit_code == 0, r.output
    fly = d / "fly.h5"
    r = runner.invoke(app, ["simulate", "-o", str(fly), "--size", "16", "--angles", "12", "--speed-deg-s", "10",
                            "--exposure-s", "0.1"])
    assert r.exit_code == 0, r.output
    (d / "empty.h5").write_bytes(b"")
    (d / "text.mat").write_text("this is not a MATLAB file\n")
    (d / "junk.xyz").write_text("x")
    (d / "tilt.mrc").write_bytes(b"\0" * 2048)
    trunc = d / "truncated.h5"
    trunc.write_bytes(good.read_bytes()[:1500])
    nan = d / "nan.h5"
    shutil.copy(good, nan)
    with h5py.File(nan, "r+") as f:
        data = f["exchange/data"][...]
        data[0, 0, 0] = np.nan
        f["exchange/data"][...] = data
    (d / "empty_folder").mkdir()
    (d / "bad_syntax.yaml").write_text("data: {size: [\n")
    (d / "unknown_key.yaml").write_text("name: x\nbogus: 1\n")
    (d / "bad_arc.yaml").write_text("data: {arc_deg: 400}\n")
    (d / "bad_size.yaml").write_text("data: {size: 3}\n")
    (d / "not_a_mapping.yaml").write_text("- just\n- a list\n")
    (d / "no_data.yaml").write_text(f"name: x\ndata: {{source: htc2022, htc_dir: {d / 'absent'}}}\n")
    (d / "angles.txt").write_text("0\n1\nnot-a-number\n")
    (d / "weights.safetensors").write_bytes(b"\0" * 64)
    return d


# (id, argv with {in} = input folder and {out} = empty output folder, expected text in the error line)
CASES = [
    ("info-missing", ["info", "{in}/absent.h5"], "no such file"),
    ("info-empty-file", ["info", "{in}/empty.h5"], "empty.h5"),
    ("info-text-as-mat", ["info", "{in}/text.mat"], "text.mat"),
    ("info-unknown-suffix", ["info", "{in}/junk.xyz"], "extension"),
    ("info-truncated-h5", ["info", "{in}/truncated.h5"], "truncated.h5"),
    ("info-empty-folder", ["info", "{in}/empty_folder"], "empty_folder"),
    ("info-angles-file-on-h5", ["info", "{in}/good.h5", "--angles-file", "{in}/angles.txt"], "--angles-file"),
    ("info-mrc-without-tilt-file", ["info", "{in}/tilt.mrc"], "rawtlt"),
    ("simulate-size-0", ["simulate", "-o", "{out}/s.h5", "--size", "0"], "size"),
    ("simulate-size-huge", ["simulate", "-o", "{out}/s.h5", "--size", "100000"], "GiB"),
    ("simulate-angles-0", ["simulate", "-o", "{out}/s.h5", "--angles", "0"], "--angles"),
    ("simulate-angles-negative", ["simulate", "-o", "{out}/s.h5", "--angles", "-5"], "--angles"),
    ("simulate-angles-huge", ["simulate", "-o", "{out}/s.h5", "--angles", "10000000"], "GiB"),
    ("simulate-start-huge", ["simulate", "-o", "{out}/s.h5", "--start-deg", "1e20"], "start"),
    ("simulate-range-0", ["simulate", "-o", "{out}/s.h5", "--range-deg", "0"], "range"),
    ("simulate-range-nan", ["simulate", "-o", "{out}/s.h5", "--range-deg", "nan"], "range"),
    ("simulate-i0-0", ["simulate", "-o", "{out}/s.h5", "--i0", "0"], "i0"),
    ("simulate-noise-negative", ["simulate", "-o", "{out}/s.h5", "--noise-percent", "-1"], "noise"),
    ("simulate-unknown-phantom", ["simulate", "-o", "{out}/s.h5", "--phantom", "nope"], "nope"),
    ("simulate-speed-alone", ["simulate", "-o", "{out}/s.h5", "--speed-deg-s", "30"], "--exposure-s"),
    ("simulate-arc-over-step", ["simulate", "-o", "{out}/s.h5", "--angles", "180", "--speed-deg-s", "100",
                                "--exposure-s", "1"], "angular step"),
    ("simulate-slices-0", ["simulate", "-o", "{out}/s.h5", "--n-slices", "0"], "slices"),
    ("simulate-no-parent", ["simulate", "-o", "{out}/no/such/dir/s.h5", "--size", "16"], "dir"),
    ("simulate-bad-suffix", ["simulate", "-o", "{out}/s.txt", "--size", "16"], "s.txt"),
    ("reconstruct-missing-scan", ["reconstruct", "{in}/absent.h5", "-o", "{out}/r.h5"], "no such file"),
    ("reconstruct-nan-scan", ["reconstruct", "{in}/nan.h5", "-o", "{out}/r.h5"], "nan"),
    ("reconstruct-n-iter-0", ["reconstruct", "{in}/good.h5", "--method", "sirt", "--n-iter", "0", "-o",
                              "{out}/r.h5"], "n-iter"),
    ("reconstruct-n-iter-negative", ["reconstruct", "{in}/good.h5", "--method", "sirt", "--n-iter", "-5", "-o",
                                     "{out}/r.h5"], "n-iter"),
    ("reconstruct-relaxation", ["reconstruct", "{in}/good.h5", "--method", "sart", "--relaxation", "3", "-o",
                                "{out}/r.h5"], "relaxation"),
    ("reconstruct-tv-negative", ["reconstruct", "{in}/good.h5", "--method", "tv", "--tv-relative", "-1", "-o",
                                 "{out}/r.h5"], "tv"),
    ("reconstruct-option-of-other-method", ["reconstruct", "{in}/good.h5", "--method", "fbp", "--n-iter", "5",
                                            "-o", "{out}/r.h5"], "--n-iter"),
    ("reconstruct-learned-no-model", ["reconstruct", "{in}/good.h5", "--method", "learned", "-o", "{out}/r.h5"],
     "--model"),
    ("reconstruct-missing-model", ["reconstruct", "{in}/good.h5", "--method", "flyscan", "--model",
                                   "{in}/absent.safetensors", "-o", "{out}/r.h5"], "absent.safetensors"),
    ("reconstruct-garbage-weights", ["reconstruct", "{in}/good.h5", "--method", "flyscan", "--model",
                                     "{in}/weights.safetensors", "-o", "{out}/r.h5"], "weights"),
    ("reconstruct-own-input", ["reconstruct", "{in}/good.h5", "-o", "{in}/good.h5", "--overwrite"], "input"),
    ("reconstruct-existing-output", ["reconstruct", "{in}/good.h5", "-o", "{in}/fly.h5"], "--overwrite"),
    ("reconstruct-bad-suffix", ["reconstruct", "{in}/good.h5", "-o", "{out}/r.xyz"], "r.xyz"),
    ("reconstruct-chunk-0", ["reconstruct", "{in}/good.h5", "--chunk-slices", "0", "-o", "{out}/r.h5"],
     "chunk"),
    ("reconstruct-speed-alone", ["reconstruct", "{in}/fly.h5", "--method", "mlem", "--speed-deg-s", "30", "-o",
                                 "{out}/r.h5"], "--exposure-s"),
    ("reconstruct-bad-angles-file", ["reconstruct", "{in}/good.h5", "--angles-file", "{in}/angles.txt", "-o",
                                     "{out}/r.h5"], "angles"),
    ("train-flyscan-patch", ["train", "flyscan", "-o", "{out}/run", "--size", "32", "--patch", "64"], "--patch"),
    ("train-flyscan-range", ["train", "flyscan", "-o", "{out}/run", "--angles", "10"], "--angles"),
    ("train-flyscan-i0", ["train", "flyscan", "-o", "{out}/run", "--i0", "0,10"], "i0"),
    ("train-flyscan-family", ["train", "flyscan", "-o", "{out}/run", "--families", "shepp"], "families"),
    ("train-flyscan-epochs-0", ["train", "flyscan", "-o", "{out}/run", "--epochs", "0"], "--epochs"),
    ("train-lpd-arc-reversed", ["train", "lpd", "-o", "{out}/run", "--arc-range", "90,40"], "--arc-range"),
    ("train-lpd-arc-over-180", ["train", "lpd", "-o", "{out}/run", "--arc-range", "30,200"], "--arc-range"),
    ("train-lpd-i0", ["train", "lpd", "-o", "{out}/run", "--i0", "0,10"], "--i0"),
    ("train-lpd-family", ["train", "lpd", "-o", "{out}/run", "--families", "shepp"], "--families"),
    ("train-lpd-init", ["train", "lpd", "-o", "{out}/run", "--init", "sirt"], "--init"),
    ("train-lpd-geometry-missing", ["train", "lpd", "-o", "{out}/run", "--geometry-from", "{out}/none.h5"], "none.h5"),
    ("train-lpd-init-from-missing", ["train", "lpd", "-o", "{out}/run", "--init-from", "{out}/w.safetensors"],
     "w.safetensors"),
    ("train-lowdose-missing-scan", ["train", "lowdose", "{in}/absent.h5", "-o", "{out}/run",
                                    "--self-supervised"], "no such file"),
    ("train-lowdose-no-pairs", ["train", "lowdose", "{in}/good.h5", "-o", "{out}/run"], "--pairs"),
    ("train-missing-wedge-export", ["train", "missing_wedge", "-o", "{out}/run", "--export", "{in}/good.h5"],
     "good.h5"),
    ("run-missing-study", ["run", "{in}/absent.yaml", "-o", "{out}/run"], "absent.yaml"),
    ("run-bad-yaml", ["run", "{in}/bad_syntax.yaml", "-o", "{out}/run"], "bad_syntax.yaml"),
    ("run-unknown-key", ["run", "{in}/unknown_key.yaml", "-o", "{out}/run"], "bogus"),
    ("run-arc-out-of-range", ["run", "{in}/bad_arc.yaml", "-o", "{out}/run"], "arc_deg"),
    ("run-size-too-small", ["run", "{in}/bad_size.yaml", "-o", "{out}/run"], "size"),
    ("run-not-a-mapping", ["run", "{in}/not_a_mapping.yaml", "-o", "{out}/run"], "not_a_mapping.yaml"),
    ("run-missing-data", ["run", "{in}/no_data.yaml", "-o", "{out}/run"], "htc_dir"),
    ("run-resume-and-overwrite", ["run", "-o", "{out}/run", "--resume", "--overwrite"], "--resume"),
]


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("argv, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_no_file(inputs, tmp_path, argv, expected):
    out = tmp_path / "out"
    out.mkdir()
    before = _snapshot(inputs)
    args = [a.replace("{in}", str(inputs)).replace("{out}", str(out)) for a in argv]
    r = runner.invoke(app, args)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert "Traceback" not in r.output
    assert expected.lower() in lines[0].lower(), lines[0]
    assert not any(out.rglob("*")), sorted(out.rglob("*"))  # nothing written, not even a hidden temporary
    assert _snapshot(inputs) == before  # no input touched


def test_the_table_has_at_least_forty_rows_over_every_command():
    assert len(CASES) >= 40
    assert {c[1][0] for c in CASES} == {"info", "simulate", "reconstruct", "train", "run"}


def test_debug_shows_the_traceback(inputs):
    r = runner.invoke(app, ["--debug", "info", str(inputs / "absent.h5")])
    assert isinstance(r.exception, FileNotFoundError)
    r = runner.invoke(app, ["info", str(inputs / "absent.h5")])  # and the next command is quiet again
    assert r.exit_code == 2 and r.output.startswith("error: ")


@pytest.mark.parametrize("command", [[], ["run"], ["reconstruct"], ["simulate"], ["info"], ["methods"], ["train"],
                                     ["train", "flyscan"], ["train", "lowdose"], ["train", "missing_wedge"],
                                     ["train", "rapid"]])
def test_help_reads_at_80_columns(command):
    r = runner.invoke(app, [*command, "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(map(len, lines)) <= 80, [ln for ln in lines if len(ln) > 80]
    assert "…" not in r.output  # nothing cut
    assert not [ln for ln in lines if ln.rstrip().endswith("...") and not ln.startswith("Usage:")]
    if command == ["reconstruct"] or (command[:1] == ["train"] and len(command) > 1):  # option lists
        assert "default" in r.output
