"""`tomolearn` command line: run | reconstruct | simulate | train | info.

The only module that touches argv, the environment and output folders. Errors from bad input
are printed as one line (no traceback) and exit with status 2.
"""
from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import numpy as np
import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Deep-learning-aided tomographic reconstruction from limited data.")

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError)


class Method(str, Enum):
    fbp = "fbp"
    sirt = "sirt"
    sart = "sart"
    cgls = "cgls"
    tv = "tv"
    mlem = "mlem"
    learned = "learned"
    missing_wedge = "missing_wedge"


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"--device: expected auto, cpu, cuda or cuda:N, got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device: {name!r} requested but no CUDA device is available; use --device cpu")
    return name


def _numbers(option: str, text: str, kind):
    try:
        values = tuple(kind(float(v)) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated numbers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"{option}: expected positive numbers, got {text!r}")
    return values


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}".replace("\n", " "), err=True)
    raise typer.Exit(2)


@app.command()
def run(study: Optional[Path] = typer.Argument(None, help="YAML study file; default: built-in synthetic 60° study"),
        out: Path = typer.Option(None, "-o", "--out", help="run folder (default runs/<study name>)"),
        overwrite: bool = typer.Option(False, help="replace an existing run folder"),
        resume: bool = typer.Option(False, help="continue an interrupted run in the same folder"),
        device: str = typer.Option("auto", help="auto | cpu | cuda[:N]"),
        quiet: bool = typer.Option(False, help="no progress bars")) -> None:
    """Run a study (train, infer, compare with FBP/SIRT/TV, report)."""
    try:
        from .config import StudyConfig, load_study
        from .workflow import run_study

        cfg = load_study(study) if study else StudyConfig()
        folder = out or Path("runs") / cfg.name
        result = run_study(cfg, folder, overwrite, resume, _device(device), not quiet,
                           log=lambda m: typer.echo(m, err=True))
    except USER_ERRORS as err:
        _fail(err)
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


@app.command()
def reconstruct(scan: Path = typer.Argument(..., help="scan file (.mat HTC2022, .h5 Data Exchange / NXtomo, .mrc tilt series)"),
                method: Method = typer.Option(Method.fbp, help="reconstruction method"),
                model: Optional[Path] = typer.Option(None, help="checkpoint for --method learned; weights for missing_wedge (default: shipped)"),
                segment: bool = typer.Option(False, help="also store an Otsu segmentation"),
                align: bool = typer.Option(False, help="align a tilt series (cross-correlation) and centre its tilt axis first"),
                refine: bool = typer.Option(False, help="missing_wedge: reconcile the network output with the data (TV + learned prior)"),
                n_iter: Optional[int] = typer.Option(None, help="iterations for sirt/sart/cgls/tv/mlem"),
                output: Path = typer.Option(..., "-o", "--output", help="output volume (.h5 or .tif)"),
                overwrite: bool = typer.Option(False, help="replace an existing output file"),
                device: str = typer.Option("auto", help="auto | cpu | cuda[:N]")) -> None:
    """Reconstruct a scan with a classical or learned method and write the volume."""
    try:
        from .io import load_scan, save_volume
        from .metrics import segment as otsu
        from .workflow import align_scan
        from .workflow import reconstruct as recon

        if output.exists() and not overwrite:
            raise FileExistsError(f"output: {str(output)!r} exists; choose another name or pass --overwrite")
        s = load_scan(scan)
        if align:
            s = align_scan(s)
            typer.echo(f"aligned: largest shift {np.abs(s.metadata['alignment_shifts_px']).max():.1f} px, "
                       f"tilt-axis offset {s.metadata['cor_offset_px']:.2f} px", err=True)
        if refine and method.value != "missing_wedge":
            raise ValueError(f"--refine: applies to --method missing_wedge, got --method {method.value}")
        vol = recon(s, method.value, model=model, n_iter=n_iter, device=_device(device), refine=refine)
        extra = {"segmentation": np.stack([otsu(v) for v in vol]).astype("uint8")} if segment else None
        if segment and output.suffix.lower() not in (".h5", ".hdf5"):
            raise ValueError(f"--segment: expected an .h5 output to hold the segmentation beside the volume, got {output.name!r}")
        save_volume(output, vol, s.geometry.voxel_size, s.geometry.unit, overwrite=overwrite, extra=extra,
                    attrs={"method": method.value, "source": str(scan), "model": str(model or "")})
    except USER_ERRORS as err:
        _fail(err)
    typer.echo(f"wrote {output} {tuple(vol.shape)} ({method.value})")


@app.command()
def simulate(output: Path = typer.Option(..., "-o", "--output", help="output Data Exchange file (.h5)"),
             phantom: str = typer.Option("ellipses_polygons", help="ellipses_polygons | holed_disc | heterogeneous | cracked_particles | crack_network | radial_cracks | shepp_logan | spheres_in_cube | layered_ic"),
             size: int = typer.Option(256, help="slice size in pixels"),
             n_slices: int = typer.Option(1, help="slices (one phantom each)"),
             angles: Optional[int] = typer.Option(None, help="number of projections (sparse view)"),
             range_deg: Optional[float] = typer.Option(None, help="limited angular range in degrees"),
             start_deg: float = typer.Option(0.0, help="start of the arc in degrees"),
             i0: Optional[float] = typer.Option(None, help="photons per detector pixel (Poisson noise)"),
             noise_percent: Optional[float] = typer.Option(None, help="Gaussian noise, % of the maximum"),
             speed_deg_s: Optional[float] = typer.Option(None, help="fly scan: rotation speed in deg/s"),
             exposure_s: Optional[float] = typer.Option(None, help="fly scan: exposure time per projection in s"),
             seed: int = typer.Option(0, help="random seed"),
             sweep: bool = typer.Option(False, help="acquisition planning: FBP/SIRT PSNR/SSIM maps; -o is a folder"),
             sweep_angles: str = typer.Option("30,60,120,180", help="--sweep: numbers of projections"),
             sweep_i0: str = typer.Option("1e2,1e3,1e4,1e5", help="--sweep: photons per pixel"),
             sweep_speed: Optional[str] = typer.Option(None, help="--sweep: rotation speeds in deg/s (instead of dose)"),
             overwrite: bool = typer.Option(False, help="replace an existing output")) -> None:
    """Simulate a limited scan of a phantom and write it as Data Exchange HDF5 (with ground truth)."""
    try:
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
        scenario = Scenario(n_angles=angles, range_deg=range_deg, start_deg=start_deg, i0=i0,
                            noise_percent=noise_percent,
                            exposure_arc_deg=speed_deg_s * exposure_s if speed_deg_s is not None else None)
        path = simulate_to_file(output, phantom, size, scenario.validated(), n_slices, seed, overwrite=overwrite)
    except USER_ERRORS as err:
        _fail(err)
    typer.echo(f"wrote {path}")


@app.command()
def train(recipe: str = typer.Argument("missing_wedge", help="recipe to train (missing_wedge)"),
          out: Path = typer.Option(Path("runs/missing_wedge"), "-o", "--out", help="run folder"),
          size: int = typer.Option(128, help="training image side, pixels"),
          wedge_range: str = typer.Option("25,85", help="missing wedges drawn in training, degrees: LOW,HIGH"),
          families: str = typer.Option("ellipses_polygons,holed_disc,heterogeneous,cracked_particles,crack_network,radial_cracks,shepp_logan",
                                       help="phantom families of the library"),
          images: Optional[Path] = typer.Option(None, help="real reconstructed slices to add (volume .h5/.tif, (M, Y, X))"),
          samples_per_epoch: int = typer.Option(400, help="fresh library samples per epoch"),
          epochs: int = typer.Option(30, help="epochs (learning rates x0.1 at 75% and 92%)"),
          batch_size: int = typer.Option(8, help="minibatch size"),
          base_channels: int = typer.Option(12, help="generator width at full resolution"),
          supervised: bool = typer.Option(False, help="L1 only, no discriminator (baseline)"),
          adversarial_weight: float = typer.Option(0.01, help="RaLSGAN weight beside the L1 loss"),
          seed: int = typer.Option(0, help="random seed"),
          export: Optional[Path] = typer.Option(None, help="also write the slim weights here"),
          overwrite: bool = typer.Option(False, help="replace an existing run folder / export file"),
          resume: bool = typer.Option(False, help="continue an interrupted training in the same folder"),
          device: str = typer.Option("auto", help="auto | cpu | cuda[:N]"),
          quiet: bool = typer.Option(False, help="no progress bars")) -> None:
    """Train a recipe's network on its synthetic library and export slim weights."""
    try:
        if recipe not in ("missing_wedge", "missing-wedge"):
            raise ValueError(f"recipe: expected missing_wedge, got {recipe!r}")
        from .workflow.train_missing_wedge import train_missing_wedge

        lo_hi = _numbers("--wedge-range", wedge_range, float)
        if len(lo_hi) != 2:
            raise ValueError(f"--wedge-range: expected LOW,HIGH in degrees, got {wedge_range!r}")
        slices = None
        if images is not None:
            from .io import load_volume

            slices = load_volume(images)
        dev = _device(device)
        record = train_missing_wedge(out, size, lo_hi, [f.strip() for f in families.split(",") if f.strip()], slices,
                                     samples_per_epoch, 16, epochs, batch_size, base_channels, 4, not supervised,
                                     adversarial_weight, seed, "gpu" if dev.startswith("cuda") else "cpu", export,
                                     overwrite, resume, command="tomolearn " + " ".join(sys.argv[1:]),
                                     show_progress=not quiet, log=lambda m: typer.echo(m, err=True))
    except USER_ERRORS as err:
        _fail(err)
    for wedge, row in record["validation"]["per_wedge_deg"].items():
        typer.echo(f"wedge {wedge} deg: " + ", ".join(f"{m} PSNR {v['psnr']:.2f} SSIM {v['ssim']:.3f}" for m, v in row.items()))
    typer.echo(f"weights: {out / 'missing_wedge_2d.pt'}" + (f" and {export}" if export else ""))


@app.command()
def info(scan: Path = typer.Argument(..., help="scan file")) -> None:
    """Print what a scan file holds: shapes, angles, geometry."""
    try:
        from .io import load_scan

        s = load_scan(scan, find_center=False) if scan.suffix.lower() in (".h5", ".hdf5", ".hdf") else load_scan(scan)
    except USER_ERRORS as err:
        _fail(err)
    typer.echo(json.dumps(s.describe(), indent=2, default=str))


def main() -> None:  # pragma: no cover
    app(prog_name="tomolearn")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
