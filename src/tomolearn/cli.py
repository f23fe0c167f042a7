"""`tomolearn` command line: run | reconstruct | methods | simulate | train | info.

The only module that touches argv, the environment and output folders. Errors from bad input
are printed as one line (no traceback) and exit with status 2. The ``--method`` choices and
per-method options of ``reconstruct``, ``methods`` and the ``train`` subcommands are generated
from the method registry (:mod:`tomolearn.methods`): a new method adds no line here.
"""
from __future__ import annotations

import functools
import inspect
import json
import os
import signal
import sys
import threading
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from .methods import base as registry

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Deep-learning-aided tomographic reconstruction from limited data.")

#: errors shown as one line (exit 2); OSError last: a file system that cannot take the output
#: (read-only, full) or a file the libraries cannot open, never a traceback
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError, OSError)

ANGLES_DEG_HELP = ("TIFF folder / MRC tilt series without an angle file: the angles in degrees, a,b,c,... or "
                   "START:STOP:N (N angles, both ends included)")
DETERMINISTIC_HELP = ("deterministic algorithms only: a training repeats bit for bit on the same machine and thread "
                      "count (or set TOMOLEARN_DETERMINISTIC=1)")


Method = Enum("Method", {name: name for name in registry.available()}, type=str)


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"--device: expected auto, cpu, cuda or cuda:N, got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device: {name!r} requested but no CUDA device is available; use --device cpu")
    return name


def _numbers(option: str, text: str, kind, positive: bool = True):
    try:
        values = tuple(kind(float(v)) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated numbers, got {text!r}") from None
    if not positive:
        if not values or not all(map(np.isfinite, values)):
            raise ValueError(f"{option}: expected comma-separated finite numbers, got {text!r}")
        return values
    if not values or any(not v > 0 for v in values):
        raise ValueError(f"{option}: expected positive numbers, got {text!r}")
    return values


def _quiet_hdf5_finalisers(unraisable, _default=sys.unraisablehook) -> None:
    """Hide HDF5 handle finalisers that fail after a write error (a full disk): the error line says it."""
    if "h5py" in repr(getattr(unraisable, "object", "")) or "h5py" in str(getattr(unraisable, "err_msg", "")):
        return
    _default(unraisable)


sys.unraisablehook = _quiet_hdf5_finalisers


def _terminate(signum, _frame) -> None:
    """Ctrl-C or SIGTERM (a batch scheduler's time limit): unwind, so atomic writers remove their
    temporary files, say how to continue, exit ``128 + signal`` (130, 143)."""
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    sys.stderr.write(f"\nerror: interrupted ({name}); no output was replaced and no temporary file is left; "
                     f"{resume_hint(sys.argv)}\n")
    raise SystemExit(128 + signum)


def resume_hint(argv: list[str]) -> str:
    """How to continue the interrupted command ``argv``: the same command with ``--resume`` where it can."""
    import shlex

    from .io.chunked import CHUNKED_FORMATS

    words = [w for w in argv[1:] if w not in ("--overwrite", "--resume")]
    command = next((w for w in words if not w.startswith("-")), "")
    outputs = [b for a, b in zip(words, words[1:]) if a in ("-o", "--output")]  # the output, not the scan
    chunked = any(o.lower().endswith(CHUNKED_FORMATS) for o in outputs)
    if command in ("run", "train") or (command == "reconstruct" and chunked):
        return "continue with: tomolearn " + " ".join(shlex.quote(w) for w in [*words, "--resume"])
    return "run the command again"


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)


#: ``--debug`` (or TOMOLEARN_DEBUG=1): an error shows its traceback, for a bug report
_DEBUG = {"on": False}


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="show an error's full traceback (for a bug report) "
                                                            "instead of one line")) -> None:
    """Deep-learning-aided tomographic reconstruction from limited data."""
    _DEBUG["on"] = debug or os.environ.get("TOMOLEARN_DEBUG", "") not in ("", "0")


def _fail(err: Exception) -> None:
    from ._files import storage_message

    if _DEBUG["on"]:
        raise err

    msg = storage_message(err) if isinstance(err, OSError) and not isinstance(err, USER_ERRORS[:4]) else None
    typer.echo(f"error: {msg or err}".replace("\n", " "), err=True)
    if msg and "pytest" not in sys.modules:
        # HDF5 handles that failed to close can crash the interpreter's shutdown: leave now, status 2
        sys.stderr.flush()
        os._exit(2)
    raise typer.Exit(2)


@app.command()
def run(study: Optional[Path] = typer.Argument(None, help="YAML study file; default: built-in synthetic 60° study"),
        out: Path = typer.Option(None, "-o", "--out", help="run folder (default runs/<study name>)"),
        overwrite: bool = typer.Option(False, help="replace an existing run folder"),
        resume: bool = typer.Option(False, help="continue an interrupted run in the same folder"),
        device: str = typer.Option("auto", help="auto | cpu | cuda[:N]"),
        quiet: bool = typer.Option(False, help="no progress bars"),
        deterministic: bool = typer.Option(False, help=DETERMINISTIC_HELP)) -> None:
    """Run a study (train, infer, compare with FBP/SIRT/TV, report)."""
    _set_deterministic(deterministic)
    try:
        from .config import StudyConfig, load_study
        from .workflow import run_study

        cfg = load_study(study) if study else StudyConfig()
        folder = out or Path("runs") / cfg.name
        result = run_study(cfg, folder, overwrite, resume, _device(device), not quiet,
                           log=lambda m: typer.echo(m, err=True))
    except USER_ERRORS as err:
        _fail(err)
    if not result:  # an extra process of a multi-process training: rank 0 reports
        return
    _print_summary(result)
    typer.echo(f"report: {folder / 'report.html'}")


def _print_summary(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    summary = result.get("summary") or {}
    if not summary:
        return
    table = Table(title=f"{result.get('study')}: held-out mean")
    keys = list(next(iter(summary.values())))
    table.add_column("method")
    for k in keys:
        table.add_column(k.upper(), justify="right")
    for m, vals in summary.items():
        table.add_row(m, *(f"{vals[k]['mean']:.4f}" for k in keys))
    Console().print(table)


def _cli_type(annotation):
    """The type a generated option takes on the command line (pydantic converts strings later)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if annotation is bool or args == [bool]:
        return Optional[bool]
    return Optional[str]


def _metavar(annotation) -> str:
    """What a generated option takes, from the field's type (the CLI passes text; pydantic checks it)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        inner = _metavar(args[0]) if args else "TEXT"
        return f"{inner},{inner}" if origin is tuple else f"{inner},..."
    base = args[0] if len(args) == 1 and origin is not None and origin is not typing.Literal else annotation
    if typing.get_origin(base) is typing.Literal:
        return "|".join(map(str, typing.get_args(base)))
    return {int: "INT", float: "FLOAT", Path: "PATH"}.get(base, "TEXT")


def _flag(name: str, annotation) -> tuple[str]:
    """``--x/--no-x`` for booleans (unset = the method's default), ``--x`` otherwise."""
    return (f"{name}/--no-{name[2:]}",) if annotation == Optional[bool] else (name,)


def _option_name(name: str, field) -> str:
    extra = field.json_schema_extra or {}
    return extra.get("cli", "--" + name.replace("_", "-"))


def _method_options() -> dict[str, tuple]:
    """Every parameter of every registered method: name -> (annotation, option name, help)."""
    found: dict[str, dict] = {}
    for mname, cls in registry.available().items():
        for fname, f in cls.Params.model_fields.items():
            entry = found.setdefault(fname, {"types": set(), "field": f, "uses": [], "metavars": set()})
            entry["metavars"].add(_metavar(f.annotation))
            entry["types"].add(_cli_type(f.annotation))
            entry["uses"].append(f"{mname} " + ("required" if f.is_required() else str(f.default)))
    out = {}
    for fname, e in found.items():
        annotation = e["types"].pop() if len(e["types"]) == 1 else Optional[str]
        help_ = (e["field"].description or fname) + " (" + ", ".join(e["uses"]) + ")"  # no [..]: rich markup
        name = _option_name(fname, e["field"])
        metavar = e["metavars"].pop() if len(e["metavars"]) == 1 else "TEXT"
        out[fname] = (annotation, _flag(name, annotation)[0], help_, metavar)
    return out


METHOD_OPTIONS = _method_options()


def _check_method_options(method: str, given: dict) -> None:
    accepted = registry.get(method).Params.model_fields
    for k in given:
        if k not in accepted:
            users = [m for m, c in registry.available().items() if k in c.Params.model_fields]
            raise ValueError(f"{METHOD_OPTIONS[k][1].split('/')[0]}: expected an option of --method {method} "
                             f"({', '.join(accepted) or 'none'}), got one for {', '.join(users)}")
    try:
        registry.parameters(method, given)  # bad values fail before the scan is read
    except ValueError as err:  # "sirt.n_iter: ..." -> "--n-iter: ..." (the name the user typed)
        head, sep, rest = str(err).partition(": ")
        field = head.removeprefix(f"{method}.")
        if sep and field in METHOD_OPTIONS:
            raise ValueError(f"{METHOD_OPTIONS[field][1].split('/')[0]}: {rest}") from None
        raise


def _with_exposure(s, speed_deg_s: Optional[float], exposure_s: Optional[float]):
    """The scan with its fly-scan exposure arc set from ``--speed-deg-s`` x ``--exposure-s`` (if given)."""
    import dataclasses

    if speed_deg_s is None and exposure_s is None:
        return s
    if speed_deg_s is None or exposure_s is None:
        raise ValueError("--speed-deg-s/--exposure-s: expected both for a fly scan, got only one")
    for flag, v in (("--speed-deg-s", speed_deg_s), ("--exposure-s", exposure_s)):
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"{flag}: expected a number >= 0, got {v}")
    arc = np.deg2rad(speed_deg_s * exposure_s)
    return dataclasses.replace(s, geometry=s.geometry.replace(exposure_arc=arc),
                               metadata={**s.metadata, "exposure_arc_deg": float(np.degrees(arc))})


def _reader_hints(angles_file: Optional[Path], angle_offset: Optional[int], angles_deg: Optional[str] = None) -> dict:
    """Reader options given on the command line (TIFF folders, MRC tilt series)."""
    from .io._raw import parse_angles_deg

    hints = {}
    if angles_deg is not None:
        hints["angles_deg"] = parse_angles_deg(angles_deg)
    if angles_file is not None:
        hints["angles_file"] = angles_file
    if angle_offset is not None:
        hints["angle_offset"] = angle_offset
    return hints


def _reconstruct(scan: Path, method: Method, output: Path, *args, dry_run: bool = False, **kwargs) -> None:
    """``reconstruct`` holding a lock on its output: two commands never write the same file."""
    import contextlib

    from ._files import output_lock

    try:
        lock = contextlib.nullcontext() if dry_run or not output.parent.exists() else output_lock(output)
        with lock as held:
            if getattr(held, "removed", None):
                typer.echo(f"removed {len(held.removed)} temporary file(s) an earlier, interrupted run left: "
                           f"{', '.join(held.removed)}", err=True)
            _reconstruct_unlocked(scan, method, output, *args, dry_run=dry_run, **kwargs)
    except FileExistsError as err:
        _fail(err)


def _reconstruct_unlocked(scan: Path, method: Method, output: Path, segment: bool, trust: bool, align: bool, overwrite: bool,
                          device: str, chunk_slices: Optional[int], resume: bool, dry_run: bool,
                          scheduler: Optional[str], workers: int, speed_deg_s: Optional[float] = None,
                          exposure_s: Optional[float] = None, angles_file: Optional[Path] = None,
                          angle_offset: Optional[int] = None, angles_deg: Optional[str] = None,
                          mc_dropout: Optional[int] = None, **method_options) -> None:
    try:
        from . import load_scan
        from .io.chunked import CHUNKED_FORMATS
        from .workflow import align_scan

        given = {k: v for k, v in method_options.items() if v is not None}
        _check_method_options(method.value, given)
        if chunk_slices is not None and chunk_slices < 1:
            raise ValueError(f"--chunk-slices: expected detector rows per slab >= 1, got {chunk_slices}")
        chunked = output.suffix.lower() in CHUNKED_FORMATS
        if mc_dropout is not None:  # the uncertainty kind of --trust: Monte-Carlo dropout
            from .workflow.reconstruct import TrustOptions

            trust = TrustOptions("mc_dropout", mc_dropout)
            if registry.get(method.value).kind != "learned":
                raise ValueError(f"--mc-dropout: expected a learned method (its network's dropout), got "
                                 f"{method.value!r}")
        if not chunked and (resume or scheduler or segment or trust):
            flag = ("--resume" if resume else "--scheduler" if scheduler else "--segment" if segment
                    else "--mc-dropout" if mc_dropout is not None else "--trust")
            raise ValueError(f"{flag}: expected a chunked output ({', '.join(CHUNKED_FORMATS)}), got {output.name!r}")
        if output.resolve() == scan.resolve():
            raise ValueError(f"output: expected a file other than the scan it reconstructs, got {str(output)!r}; "
                             "--overwrite never replaces a command's own input")
        if output.exists() and not overwrite and not dry_run:
            raise FileExistsError(f"output: {str(output)!r} exists; choose another name or pass --overwrite")
        if not dry_run:
            from ._files import check_writable

            check_writable(output)  # before hours of reconstruction, not after
        dev = _device(device)
        s = load_scan(scan, **_reader_hints(angles_file, angle_offset, angles_deg))
        if s.kind == "diffraction":
            _reconstruct_ptycho(s, scan, method, output, given, dev, overwrite, trust, align=align, resume=resume,
                                dry_run=dry_run, scheduler=scheduler, segment=segment)
            return
        s = _with_exposure(s, speed_deg_s, exposure_s)
        if align:
            s = align_scan(s)
            typer.echo(f"aligned: largest shift {np.abs(s.metadata['alignment_shifts_px']).max():.1f} px, "
                       f"tilt-axis offset {s.metadata['cor_offset_px']:.2f} px", err=True)
        if dry_run:
            from .workflow.stream import plan

            for line in plan(s, method.value, given, chunk_slices, workers, dev, trust=trust).lines():
                typer.echo(line)
            return
        if chunked:
            from .workflow.stream import reconstruct_to_file

            done = reconstruct_to_file(s, method.value, output, given, chunk_slices=chunk_slices, scheduler=scheduler,
                                       workers=workers, device=dev, resume=resume, overwrite=overwrite,
                                       segment=segment, trust=trust, attrs={"source": str(scan)},
                                       log=lambda m: typer.echo(m, err=True))
            summary = (f"{done['computed']} slabs of {done['chunk_slices']} rows"
                       + (f", {done['skipped']} already done" if done["skipped"] else "") + f", {done['seconds']:.1f} s")
        else:
            from .io import save_volume
            from .workflow import reconstruct as recon

            result = recon(s, method.value, given, device=dev, chunk_slices=chunk_slices)
            save_volume(output, result.volume, s.geometry.voxel_size, s.geometry.unit, overwrite=overwrite,
                        attrs={"method": method.value, "source": str(scan),
                               "parameters": json.dumps(result.info.get("parameters", {}))})
            summary = f"{result.info['seconds']:.1f} s"
    except USER_ERRORS as err:
        _fail(err)
    typer.echo(f"wrote {output} {tuple(s.geometry.volume_shape_3d)} ({method.value}, {summary})")


def _reconstruct_ptycho(s, scan: Path, method: Method, output: Path, given: dict, dev: str, overwrite: bool, trust,
                        **unsupported) -> None:
    """A ptycho-tomography scan: the whole volume at once, written atomically (``/volume``, and with
    ``trust`` the maps of :func:`~tomolearn.workflow.reconstruct.with_ptycho_trust_maps` beside it)."""
    from .io import save_volume
    from .workflow import reconstruct as recon

    for flag, value in unsupported.items():
        if value:
            raise ValueError(f"--{flag.replace('_', '-')}: expected a projection scan, got a ptycho-tomography scan "
                             f"({scan.name}); its methods reconstruct the whole volume at once")
    if output.suffix.lower() not in (".h5", ".hdf5", ".tif", ".tiff"):
        raise ValueError(f"--output: expected .h5 or .tif for a ptycho-tomography reconstruction, got {output.name!r}")
    result = recon(s, method.value, given, device=dev, show_progress=True, trust=trust)
    g = s.geometry
    residual = result.info.get("data_residual_relative")  # ||I(δ) − g|| / ||g|| with --trust
    extra = {} if residual is None else {"data_residual_relative": residual}
    save_volume(output, result.volume, g.voxel_size, g.unit, overwrite=overwrite, extra=result.maps or None,
                attrs={"method": method.value, "source": str(scan), "quantity": "delta (refractive-index decrement)",
                       "parameters": json.dumps(result.info.get("parameters", {})), **extra})
    typer.echo(f"wrote {output} {tuple(result.volume.shape)} ({method.value}, {result.info['seconds']:.1f} s)")


def _build_reconstruct():
    """``reconstruct`` with one option per method parameter found in the registry."""
    def command(**kwargs) -> None:
        """Reconstruct a scan with a registered method (`tomolearn methods`) and write the volume."""
        fixed = {k: kwargs.pop(k) for k in ("scan", "method", "output", "segment", "trust", "align", "overwrite", "device",
                                            "chunk_slices", "resume", "dry_run", "scheduler", "workers",
                                            "speed_deg_s", "exposure_s", "angles_file", "angle_offset", "angles_deg",
                                            "mc_dropout")}
        _reconstruct(**fixed, **kwargs)

    P = inspect.Parameter
    params = [
        P("scan", P.KEYWORD_ONLY, annotation=Path, default=typer.Argument(
            ..., help="scan file (.mat HTC2022, .h5 Data Exchange / NXtomo, .mrc tilt series) or TIFF folder")),
        P("method", P.KEYWORD_ONLY, annotation=Method, default=typer.Option(
            "fbp", metavar="<method>", help="reconstruction method, one of: " + ", ".join(registry.available())
            + " (`tomolearn methods` lists them with their needs)")),
        P("output", P.KEYWORD_ONLY, annotation=Path, default=typer.Option(
            ..., "-o", "--output", help="output volume: .h5 or .zarr (OME-Zarr), written slab by slab; or .tif")),
        P("segment", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(False, help="also store an Otsu segmentation")),
        P("trust", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, help="also store trust maps: /data_residual (where the output contradicts the data), "
                        "/null_space (what the data do not determine) and, for learned methods, /uncertainty "
                        "(mirror test-time augmentation; an ensemble --model: its members' spread)")),
        P("mc_dropout", P.KEYWORD_ONLY, annotation=Optional[int], default=typer.Option(
            None, metavar="T", help="--trust with Monte-Carlo dropout: /uncertainty from T stochastic passes "
                                    "(weights trained with dropout)")),
        P("align", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, help="align a tilt series (cross-correlation) and centre its tilt axis first")),
        P("overwrite", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(False, help="replace an existing output file")),
        P("device", P.KEYWORD_ONLY, annotation=str, default=typer.Option("auto", help="auto | cpu | cuda[:N]")),
        P("chunk_slices", P.KEYWORD_ONLY, annotation=Optional[int], default=typer.Option(
            None, help="detector rows per slab (default: from the free memory and the method's needs)")),
        P("resume", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, help="continue an interrupted chunked reconstruction; finished slabs are not recomputed")),
        P("dry_run", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, help="print sizes, slab size, peak memory per worker and time (one row measured), then stop")),
        P("scheduler", P.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
            None, help="run slabs as dask tasks: threads | processes (a LocalCluster) | a cluster address "
                       "(tcp://host:8786)")),
        P("workers", P.KEYWORD_ONLY, annotation=int, default=typer.Option(
            1, min=1, help="LocalCluster workers (--scheduler threads|processes)")),
        P("speed_deg_s", P.KEYWORD_ONLY, annotation=Optional[float], default=typer.Option(
            None, help="fly scan: rotation speed in deg/s (with --exposure-s; default: what the file says)")),
        P("exposure_s", P.KEYWORD_ONLY, annotation=Optional[float], default=typer.Option(
            None, help="fly scan: exposure time per projection in s (with --speed-deg-s)")),
        P("angles_file", P.KEYWORD_ONLY, annotation=Optional[Path], default=typer.Option(
            None, help="TIFF folder / MRC tilt series: the file of angles in degrees (default angles.txt / .rawtlt)")),
        P("angle_offset", P.KEYWORD_ONLY, annotation=Optional[int], default=typer.Option(
            None, help="TIFF folder: index of the first projection's angle in a longer angles file")),
        P("angles_deg", P.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
            None, metavar="<a,b,..|START:STOP:N>", help=ANGLES_DEG_HELP)),
    ]
    for fname, (annotation, opt, help_, metavar) in METHOD_OPTIONS.items():
        params.append(P(fname, P.KEYWORD_ONLY, annotation=annotation, default=typer.Option(
            None, opt, help=help_, rich_help_panel="Method options",
            metavar=None if annotation == Optional[bool] else metavar)))
    command.__signature__ = inspect.Signature(params)
    return command


app.command("reconstruct", short_help="Reconstruct a scan with any registered method.")(_build_reconstruct())


@app.command("methods", short_help="List the methods: kind, execution, needs.")
def methods(name: Optional[str] = typer.Argument(None, help="show one method's parameters"),
            as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """List the reconstruction methods: name, kind, execution, needs, one line each."""
    from rich.console import Console
    from rich.table import Table

    try:
        chosen = [registry.get(name)] if name else list(registry.available().values())
    except USER_ERRORS as err:
        _fail(err)
    info = [registry.describe(c) for c in chosen]
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    if name:
        d = info[0]
        typer.echo(f"{d['name']} ({d['kind']}, {d['execution']}; geometries {', '.join(d['geometries'])}; "
                   f"needs {', '.join(d['needs']) or 'nothing'}): {d['summary']}")
        for p, v in d["parameters"].items():
            default = "required" if v["required"] else f"default {v['default']}"
            typer.echo(f"  {METHOD_OPTIONS[p][1].split('/')[0]:<18} {v['type']:<20} {default:<18} {v['help']}")
        return
    table = Table(title="tomolearn methods")
    for col in ("name", "kind", "execution", "geometries", "needs", "summary"):
        table.add_column(col)
    for d in info:
        table.add_row(d["name"], d["kind"], d["execution"], ", ".join(d["geometries"]), ", ".join(d["needs"]) or "-",
                      d["summary"])
    Console(width=160).print(table)


def _ptycho_option(default, help: str, *names: str):
    """An option of ``simulate``'s ptycho-tomography panel (defaults as in ``simulate_ptycho_to_file``)."""
    return typer.Option(default, *names, help=help, rich_help_panel="Ptycho-tomography")


@app.command(short_help="Simulate a limited, noisy or fly scan of a phantom.")
def simulate(output: Path = typer.Option(..., "-o", "--output", help="output Data Exchange file (.h5)"),
             phantom: str = typer.Option("ellipses_polygons", help="ellipses_polygons | holed_disc | heterogeneous | cracked_particles | crack_network | radial_cracks | shepp_logan | spheres_in_cube | layered_ic"),
             size: Optional[int] = typer.Option(None, help="slice size in pixels (default 256; ptycho: 64)"),
             n_slices: int = typer.Option(1, help="slices (one phantom each)"),
             angles: Optional[int] = typer.Option(None, help="number of projections (sparse view)"),
             range_deg: Optional[float] = typer.Option(None, help="limited angular range in degrees"),
             start_deg: Optional[float] = typer.Option(None, help="start of the arc in degrees (default 0; ptycho: "
                                                                   "-range/2)"),
             i0: Optional[float] = typer.Option(None, help="photons per detector pixel (Poisson noise)"),
             noise_percent: Optional[float] = typer.Option(None, help="Gaussian noise, % of the maximum"),
             speed_deg_s: Optional[float] = typer.Option(None, help="fly scan: rotation speed in deg/s"),
             exposure_s: Optional[float] = typer.Option(None, help="fly scan: exposure time per projection in s"),
             pairs_deg: Optional[str] = typer.Option(None, help="low dose: angles (deg, e.g. 0,45) of high-dose "
                                                     "projections written to --pairs-out", rich_help_panel="Low dose"),
             pairs_i0: Optional[float] = typer.Option(None, help="low dose: photons per pixel of the pairs (default "
                                                      "noise-free)", rich_help_panel="Low dose"),
             pairs_out: Optional[Path] = typer.Option(None, help="low dose: file of the high-dose pairs (.h5)",
                                                      rich_help_panel="Low dose"),
             seed: int = typer.Option(0, help="random seed"),
             sweep: bool = typer.Option(False, help="acquisition planning: FBP/SIRT PSNR/SSIM maps; -o is a folder"),
             sweep_angles: str = typer.Option("30,60,120,180", help="--sweep: numbers of projections"),
             sweep_i0: str = typer.Option("1e2,1e3,1e4,1e5", help="--sweep: photons per pixel"),
             sweep_speed: Optional[str] = typer.Option(None, help="--sweep: rotation speeds in deg/s (instead of dose)"),
             overwrite: bool = typer.Option(False, help="replace an existing output"),
             modality: str = _ptycho_option("projections", "projections (X-ray CT) | ptycho (multislice "
                                            "ptycho-tomography, seed 001)"),
             object_file: Optional[Path] = _ptycho_option(None, "ptycho: your own object, a (Z, Y, X) dataset "
                                                          "/volume of delta in an HDF5 file", "--object"),
             energy_kev: float = _ptycho_option(1.5, "ptycho: photon energy in keV"),
             voxel_size: float = _ptycho_option(3.0, "ptycho: voxel (and probe pixel) size in nm"),
             pattern_size: int = _ptycho_option(32, "ptycho: probe window and diffraction pattern in pixels"),
             probe_diameter: Optional[float] = _ptycho_option(None, "ptycho: probe diameter in pixels (default "
                                                              "pattern size / 2)"),
             modes: int = _ptycho_option(3, "ptycho: probe modes (partial coherence)"),
             step: float = _ptycho_option(6.0, "ptycho: scan step in pixels (smaller than the probe)"),
             scan_pattern: str = _ptycho_option("snake", "ptycho: snake | raster"),
             photons: float = _ptycho_option(1e6, "ptycho: incident photons per pattern (Poisson noise)"),
             slabs: Optional[int] = _ptycho_option(None, "ptycho: multislice slabs of the simulation (default one "
                                                   "per voxel along the beam)"),
             rows: Optional[int] = _ptycho_option(None, "ptycho: height of the IC along the rotation axis in "
                                                  "voxels (default --size)"),
             wiring_density: float = _ptycho_option(0.55, "ptycho: fraction of wiring tracks present in the IC")) -> None:
    """Simulate a limited scan of a phantom and write it as HDF5 with its ground truth.

    ``--modality projections`` (default): Data Exchange projections of a phantom.
    ``--modality ptycho``: multislice ptycho-tomography diffraction patterns of an integrated
    circuit (``layered_ic`` pillar) or ``--object``, over ``--range-deg`` (default 140.8) with
    ``--angles`` (default 21).
    """
    try:
        from ._files import check_writable

        for flag, value in (("--size", size), ("--angles", angles), ("--n-slices", n_slices)):
            if value is not None and value < 1:  # 0 is not "the default"
                raise ValueError(f"{flag}: expected a whole number >= 1, got {value}")
        if not sweep and output.suffix.lower() not in (".h5", ".hdf5"):
            raise ValueError(f"--output: expected an HDF5 file name ending in .h5 (Data Exchange), got {output.name!r}")
        check_writable(output, "--output")
        if modality not in ("projections", "ptycho"):
            raise ValueError(f"--modality: expected projections or ptycho, got {modality!r}")
        if modality == "ptycho":
            from .workflow.simulate import load_object, simulate_ptycho_to_file

            if (sweep or speed_deg_s is not None or exposure_s is not None or i0 is not None or noise_percent is not None
                    or pairs_deg is not None or pairs_i0 is not None or pairs_out is not None):
                raise ValueError("--modality ptycho: expected --photons for the noise and no fly-scan or --sweep "
                                 "options, got projection options")
            obj = load_object(object_file) if object_file is not None else None
            path = simulate_ptycho_to_file(
                output, obj, 64 if size is None else size, 21 if angles is None else angles, 140.8 if range_deg is None else range_deg,
                start_deg, energy_kev, voxel_size, "nm", pattern_size, probe_diameter,
                modes, step, scan_pattern, photons, slabs, seed, overwrite, show_progress=True, rows=rows,
                density=wiring_density)
            typer.echo(f"wrote {path}")
            return
        if object_file is not None or rows is not None:
            flag = "--object" if object_file is not None else "--rows"
            raise ValueError(f"{flag}: expected only with --modality ptycho, got --modality projections")
        size = 256 if size is None else size
        from .scenario import Scenario
        from .workflow.simulate import simulate_to_file

        if sweep:
            from .workflow.sweep import acquisition_sweep

            acquisition_sweep(output, phantom, size, angles=_numbers("--sweep-angles", sweep_angles, int),
                              i0s=_numbers("--sweep-i0", sweep_i0, float),
                              speeds_deg_s=_numbers("--sweep-speed", sweep_speed, float) if sweep_speed else None,
                              exposure_s=exposure_s or 0.05, i0=i0 or 1e4, seed=seed, overwrite=overwrite)
            typer.echo(f"wrote {output / 'sweep.png'} and {output / 'sweep.json'}")
            return

        if (speed_deg_s is None) != (exposure_s is None):
            raise ValueError("--speed-deg-s/--exposure-s: expected both for a fly scan, got only one")
        scenario = Scenario(n_angles=angles, range_deg=range_deg, start_deg=start_deg or 0.0, i0=i0,
                            noise_percent=noise_percent,
                            exposure_arc_deg=speed_deg_s * exposure_s if speed_deg_s is not None else None)
        path = simulate_to_file(output, phantom, size, scenario.validated(), n_slices, seed, overwrite=overwrite,
                                pairs_deg=_numbers("--pairs-deg", pairs_deg, float, positive=False) if pairs_deg is not None else None,
                                pairs_i0=pairs_i0, pairs_out=pairs_out)
        if pairs_out is not None:
            typer.echo(f"wrote {pairs_out}")
    except USER_ERRORS as err:
        _fail(err)
    typer.echo(f"wrote {path}")


train_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Train a method's network and export weights with a model card.",
                        short_help="Train a method's network; export weights + card.")
app.add_typer(train_app, name="train")


def _split_list(annotation, value: str):
    """Comma-separated CLI text for tuple/list fields; other values pass through."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):  # Optional[tuple[...]]
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(inner[0]) if len(inner) == 1 else origin
    if origin in (tuple, list) and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def _set_deterministic(on: bool) -> None:
    """``--deterministic``: every training this command starts uses deterministic algorithms (``train.fit``)."""
    if on:
        os.environ["TOMOLEARN_DETERMINISTIC"] = "1"


def _short(text: str, limit: int = 60) -> str:
    """A command's one-line summary for the command list, cut at a word (click cuts mid-text at 80 columns)."""
    text = text.split(" (")[0].split(":")[0].strip().rstrip(".")
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def _build_train(name: str, spec):
    fields = spec.config.model_fields

    def command(**kwargs) -> None:
        common = {k: kwargs.pop(k) for k in ("out", "overwrite", "resume", "device", "quiet", "devices", "strategy",
                                             "precision", "deterministic", "ensemble")}
        _set_deterministic(common["deterministic"])
        try:
            from pydantic import ValidationError

            values = {k: _split_list(fields[k].annotation, v) for k, v in kwargs.items() if v is not None}
            try:
                config = spec.config.model_validate(values)
            except ValidationError as err:
                e = err.errors()[0]
                if not e["loc"]:  # a check across options words its own message
                    raise ValueError(e["msg"].removeprefix("Value error, ")) from None
                opt = _option_name(str(e["loc"][0]), fields[str(e["loc"][0])])
                raise ValueError(f"{opt}: {e['msg'].lower()}, got {kwargs.get(e['loc'][0])!r}") from None
            dev = _device(common["device"])
            train = spec.load()
            if common["ensemble"] != 1:  # K seeded members in one folder: `--model RUN` runs them all
                from .workflow.ensemble import train_ensemble

                train = functools.partial(train_ensemble, name, train, size=common["ensemble"])
            record = train(config, common["out"] or Path("runs") / name, overwrite=common["overwrite"],
                           resume=common["resume"], device=dev, show_progress=not common["quiet"],
                           log=lambda m: typer.echo(m, err=True), command="tomolearn " + " ".join(sys.argv[1:]),
                           devices=common["devices"], strategy=common["strategy"], precision=common["precision"])
        except USER_ERRORS as err:
            _fail(err)
        if not record:  # an extra process of a multi-process run: rank 0 reports
            return
        for line in record.get("summary_lines", []):
            typer.echo(line)
        typer.echo("weights: " + " and ".join(map(str, record.get("weights", []))))

    command.__doc__ = f"{spec.summary or 'Train ' + name}."
    P = inspect.Parameter
    params = [
        P("out", P.KEYWORD_ONLY, annotation=Optional[Path], default=typer.Option(
            None, "-o", "--out", help=f"run folder (default runs/{name})")),
        P("overwrite", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, help="replace an existing run folder / export file")),
        P("resume", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, help="continue an interrupted training in the same folder")),
        P("device", P.KEYWORD_ONLY, annotation=str, default=typer.Option("auto", help="auto | cpu | cuda[:N]")),
        P("quiet", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(False, help="no progress bars")),
        P("devices", P.KEYWORD_ONLY, annotation=int, default=typer.Option(
            1, help="processes / GPUs to train on (Lightning); >1 with --strategy ddp")),
        P("strategy", P.KEYWORD_ONLY, annotation=str, default=typer.Option(
            "auto", help="auto | ddp | ddp_spawn | fsdp (Lightning); ddp on CPU uses gloo")),
        P("precision", P.KEYWORD_ONLY, annotation=str, default=typer.Option(
            "32-true", help="32-true | bf16-mixed | 16-mixed (GPU)")),
        P("deterministic", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, help=DETERMINISTIC_HELP)),
        P("ensemble", P.KEYWORD_ONLY, annotation=int, default=typer.Option(
            1, metavar="K", help="train K members seeded seed..seed+K-1 (a deep ensemble; --model RUN: their "
                                 "mean, and their spread as /uncertainty)")),
    ]
    for fname, f in fields.items():
        if (f.json_schema_extra or {}).get("argument"):  # e.g. `tomolearn train rapid SCAN.h5`
            params.insert(0, P(fname, P.KEYWORD_ONLY, annotation=_cli_type(f.annotation),
                               default=typer.Argument(..., help=f.description or fname,
                                                      metavar=fname.upper())))
            continue
        default = f.default
        shown = ", ".join(map(str, default)) if isinstance(default, (tuple, list)) else default
        params.append(P(fname, P.KEYWORD_ONLY, annotation=_cli_type(f.annotation), default=typer.Option(
            None, *_flag(_option_name(fname, f), _cli_type(f.annotation)),
            help=f"{f.description or fname} (default {shown})",
            metavar=None if _cli_type(f.annotation) == Optional[bool] else _metavar(f.annotation))))
    command.__signature__ = inspect.Signature(params)
    return command


for _name, _cls in registry.trainable().items():
    train_app.command(_name, short_help=_short(_cls.training.summary or f"Train {_name}."))(
        _build_train(_name, _cls.training))


@app.command()
def info(scan: Path = typer.Argument(..., help="scan file"),
         angles_file: Optional[Path] = typer.Option(None, help="TIFF folder / MRC: the file of angles in degrees"),
         angle_offset: Optional[int] = typer.Option(None, help="TIFF folder: index of the first projection's angle"),
         angles_deg: Optional[str] = typer.Option(None, metavar="<a,b,..|START:STOP:N>", help=ANGLES_DEG_HELP)
         ) -> None:
    """Print what a scan file holds: shapes, angles, geometry."""
    try:
        from . import load_scan

        hints = _reader_hints(angles_file, angle_offset, angles_deg)
        s = load_scan(scan, find_center=False, **hints) if scan.suffix.lower() in (".h5", ".hdf5", ".hdf") \
            else load_scan(scan, **hints)
    except USER_ERRORS as err:
        _fail(err)
    typer.echo(json.dumps(s.describe(), indent=2, default=str))


def main() -> None:  # pragma: no cover
    app(prog_name="tomolearn")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
