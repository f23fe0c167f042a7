"""Fuzz every reader: hypothesis-driven mutations of valid files, 0 crashes other than one-line errors.

For each format a small valid file is written (Data Exchange HDF5 by `simulate`, NXtomo HDF5,
a TIFF folder with angles.txt, an MRC tilt series with its .rawtlt, an HTC2022-style .mat, a
YAML study), then mutated by hypothesis: bytes overwritten, truncated or inserted, and, for the
structured formats, fields deleted, replaced by arrays of other shapes and dtypes, NaN/inf,
strings. Each mutant goes through what the CLI does with it — ``load_scan`` and a read of its
projections and flats (or ``load_study``) — and must either load or raise one of the errors the
CLI prints as one line (``cli.USER_ERRORS``). Anything else is a crash and is recorded with its
traceback's last line.

    .venv/bin/python benchmarks/fuzz_readers.py [--cases 10000] [--formats dxchange,nxtomo,tiff,mrc,htc,study]

Results: benchmarks/results/fuzz_readers.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"
FORMATS = ("dxchange", "nxtomo", "tiff", "mrc", "htc", "study")


# ---- valid seed files -----------------------------------------------------------------------
def seed_file(fmt: str, folder: Path) -> Path:
    """A small valid file (or folder) of ``fmt`` in ``folder``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    if fmt == "dxchange":
        from tomolearn.scenario import Scenario
        from tomolearn.workflow.simulate import simulate_to_file

        return simulate_to_file(folder / "scan.h5", "ellipses_polygons", 16, Scenario(n_angles=8, i0=1e3).validated(),
                                1, 0)
    if fmt == "nxtomo":
        import h5py

        p = folder / "scan.nxs"
        key = np.array([2, 1] + [0] * 8 + [1], np.int32)
        angles = np.concatenate([[0, 0], np.linspace(0, 180, 8, endpoint=False), [180]])
        with h5py.File(p, "w") as f:
            f["entry/data/data"] = rng.integers(100, 1000, (key.size, 2, 16)).astype(np.uint16)
            f["entry/data/image_key"] = key
            f["entry/data/rotation_angle"] = angles
            f["entry/instrument/detector/count_time"] = 0.02
        return p
    if fmt == "tiff":
        import tifffile

        d = folder / "tiffs"
        d.mkdir(exist_ok=True)
        for i in range(6):
            tifffile.imwrite(d / f"raw_{i:03d}.tif", rng.integers(100, 1000, (2, 16)).astype(np.uint16))
        tifffile.imwrite(d / "flat_000.tif", np.full((2, 16), 1000, np.uint16))
        tifffile.imwrite(d / "dark_000.tif", np.full((2, 16), 10, np.uint16))
        (d / "angles.txt").write_text("\n".join(f"{a:.1f}" for a in np.linspace(0, 180, 6, endpoint=False)))
        return d
    if fmt == "mrc":
        import mrcfile

        p = folder / "tilt.mrc"
        with mrcfile.new(p, overwrite=True) as m:
            m.set_data(rng.random((5, 16, 16)).astype(np.float32))
        p.with_suffix(".rawtlt").write_text("\n".join(str(a) for a in (-60, -30, 0, 30, 60)))
        return p
    if fmt == "htc":
        import scipy.io

        p = folder / "scan.mat"
        params = {"angles": np.linspace(0, 90, 10, endpoint=False), "distanceSourceDetector": 553.74,
                  "distanceSourceOrigin": 410.66, "geometricMagnification": 1.348, "numDetectorsPost": 32,
                  "effectivePixelSizePost": 0.1483, "pixelSizePost": 0.2}
        scipy.io.savemat(p, {"CtDataLimited": {"type": "limited", "sinogram": rng.random((10, 32)),
                                               "parameters": params}})
        return p
    if fmt == "study":
        p = folder / "study.yaml"
        p.write_text("name: fuzz\ndata: {size: 32, n_train: 4, n_val: 2, n_test: 2, arc_deg: 60}\n"
                     "model: {base_channels: 4, depth: 2}\ntrain: {epochs: 1, batch_size: 2}\n"
                     "baselines:\n  methods:\n    - fbp\n    - {method: sirt, params: {n_iter: 10}}\n")
        return p
    raise ValueError(f"fmt: expected one of {', '.join(FORMATS)}, got {fmt!r}")


# ---- mutations ------------------------------------------------------------------------------
def byte_mutation():
    """A strategy of byte mutations for :func:`apply_bytes`: overwrite, truncate or insert."""
    from hypothesis import strategies as hs

    overwrite = hs.tuples(hs.just("overwrite"), hs.lists(hs.tuples(hs.floats(0, 1), hs.integers(0, 255)),
                                                          min_size=1, max_size=16))
    truncate = hs.tuples(hs.just("truncate"), hs.floats(0, 1))
    insert = hs.tuples(hs.just("insert"), hs.tuples(hs.floats(0, 1), hs.binary(min_size=1, max_size=64)))
    return hs.one_of(overwrite, truncate, insert)


def apply_bytes(data: bytes, op) -> bytes:
    kind, arg = op
    if kind == "truncate":
        return data[:int(arg * len(data))]
    if kind == "insert":
        at, blob = arg
        i = int(at * len(data))
        return data[:i] + blob + data[i:]
    buf = bytearray(data)
    for at, value in arg:
        buf[min(int(at * len(buf)), len(buf) - 1)] = value
    return bytes(buf)


def value_strategy():
    """Arrays and scalars a corrupted file might hold in place of a field."""
    from hypothesis import strategies as hs
    from hypothesis.extra import numpy as hnp

    dtypes = hs.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64])
    arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))
    specials = hs.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e30])
    return hs.one_of(arrays, specials, hs.text(max_size=8), hs.integers(-2**40, 2**40))


def h5_mutation(path: Path, op, value) -> None:
    """Structural mutation of an HDF5 file: delete, replace or NaN-poison one of its datasets/attributes."""
    import h5py

    with h5py.File(path, "r+") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        if not names:
            return
        kind, pick = op
        name = names[int(pick * len(names)) % len(names)]
        if kind == "delete":
            del f[name]
        elif kind == "replace":
            del f[name]
            f[name] = np.asarray(value) if not isinstance(value, str) else value
        elif kind == "poison":
            ds = f[name]
            if ds.dtype.kind == "f" and ds.size:
                data = ds[...]
                data.flat[int(pick * data.size) % data.size] = np.nan
                ds[...] = data
        elif kind == "attr":
            f[name].attrs["exposure_arc_deg" if pick < 0.5 else "units"] = (
                np.asarray(value) if not isinstance(value, str) else value)


# ---- the oracle -----------------------------------------------------------------------------
def check(fmt: str, path: Path) -> str | None:
    """None if the CLI would load the file or stop with a one-line error; else the crash."""
    from tomolearn.cli import USER_ERRORS

    try:
        if fmt == "study":
            from tomolearn.config import load_study

            load_study(path)
            return None
        from tomolearn.io import load_scan

        # the readers, not the centre-of-rotation search (SIRT per candidate) that tomolearn.load_scan adds
        s = load_scan(path, **({"find_center": False} if fmt in ("dxchange", "nxtomo", "tiff") else {}))
        proj = s.projections
        np.asarray(proj[:, :1] if getattr(proj, "ndim", 0) == 3 else proj)
        for field in ("flats", "darks"):
            if getattr(s, field, None) is not None:
                np.asarray(getattr(s, field))
        return None
    except USER_ERRORS:
        return None
    except Exception as err:  # noqa: BLE001 - the point: anything else is a crash
        tb = traceback.extract_tb(err.__traceback__)[-1]
        return f"{type(err).__name__}: {str(err)[:120]} ({Path(tb.filename).name}:{tb.lineno})"


def fuzz_format(fmt: str, cases: int, work: Path, seed: int = 0) -> dict:
    """Run ``cases`` hypothesis mutants of ``fmt``; counts and distinct crashes."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as hs

    base = seed_file(fmt, work / f"seed_{fmt}")
    crashes: dict[str, int] = {}
    count = {"n": 0, "loaded_or_one_line": 0}
    structural = fmt in ("dxchange", "nxtomo")
    op_strategy = (hs.one_of(byte_mutation(),
                             hs.tuples(hs.sampled_from(["delete", "replace", "poison", "attr"]), hs.floats(0, 0.999)))
                   if structural else byte_mutation())

    @settings(max_examples=cases, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(op=op_strategy, value=value_strategy(), which=hs.integers(0, 1000))
    def run(op, value, which):
        target = work / f"mutant_{fmt}"
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        if base.is_dir():
            shutil.copytree(base, target)
            files = sorted(target.iterdir())
            victim = files[which % len(files)]
            path = target
        else:
            target = target.with_suffix(base.suffix)
            shutil.copy(base, target)
            victim = path = target
            if fmt == "mrc":  # the tilt file is part of the format
                shutil.copy(base.with_suffix(".rawtlt"), target.with_suffix(".rawtlt"))
                if which % 3 == 0:
                    victim = target.with_suffix(".rawtlt")
        if op[0] in ("delete", "replace", "poison", "attr"):
            try:
                h5_mutation(victim, op, value)
            except (OSError, TypeError, ValueError):  # h5py refused to store the value: keep the file
                pass
        else:
            victim.write_bytes(apply_bytes(victim.read_bytes(), op))
        count["n"] += 1
        crash = check(fmt, path)
        if crash is None:
            count["loaded_or_one_line"] += 1
        else:
            crashes[crash] = crashes.get(crash, 0) + 1

    t0 = time.perf_counter()
    run()
    return {"cases": count["n"], "ok": count["loaded_or_one_line"], "crashes": sum(crashes.values()),
            "distinct_crashes": crashes, "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=10_000, help="mutants per format")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--name", default="fuzz_readers")
    args = ap.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    from tomolearn import __version__

    record = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "tomolearn_version": __version__,
              "machine": platform.processor() or platform.machine(), "formats": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            record["formats"][fmt] = fuzz_format(fmt, args.cases, Path(tmp))
            print(fmt, {k: v for k, v in record["formats"][fmt].items() if k != "distinct_crashes"}, flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(record, indent=2))
    lines = ["# Reader fuzzing (hypothesis mutations of valid files)", "",
             f"Command: `.venv/bin/python benchmarks/{record['command']}` — tomolearn {record['tomolearn_version']}.",
             "", "A case passes when the CLI would load the mutant or stop with a one-line error "
             "(`cli.USER_ERRORS`); anything else is a crash.", "",
             "| format | cases | passed | crashes | seconds |", "|---|---|---|---|---|"]
    for fmt, r in record["formats"].items():
        lines.append(f"| {fmt} | {r['cases']} | {r['ok']} | {r['crashes']} | {r['seconds']} |")
    for fmt, r in record["formats"].items():
        for crash, n in r["distinct_crashes"].items():
            lines.append(f"\n- {fmt}: {n} × `{crash}`")
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
