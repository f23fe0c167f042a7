"""Run folders and the classical baselines shared by every study."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import yaml

from .. import __version__
from ..physics.projector import RayTransform
from ..recon import fbp, sirt, tv_pdhg


def prepare_run_dir(out_dir, overwrite: bool, resume: bool) -> Path:
    """Create the run folder; refuse to reuse a non-empty one unless told to.

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds files and neither ``overwrite`` nor ``resume`` is set.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if overwrite:
            shutil.rmtree(out)
        elif not resume:
            raise FileExistsError(f"out: folder {str(out)!r} is not empty; pass --resume to continue "
                                  "its training, --overwrite to replace it, or choose another -o")
    out.mkdir(parents=True, exist_ok=True)
    return out


def git_hash() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_json(path: Path, data) -> None:
    """Atomic JSON write (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    os.replace(tmp, path)


def write_run_record(out: Path, config, extra: dict | None = None) -> None:
    """Resolved config, seed, package version and git hash of the run."""
    (out / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    write_json(out / "run.json", {"tomolearn_version": __version__, "git": git_hash(), "seed": config.seed,
                                  **(extra or {})})


def tv_weight(relative: float, geometry, level: float) -> float:
    """Absolute TV weight from a relative one: ``relative * A * voxel^2 * level``.

    The data term grows with the number of angles ``A`` and the squared voxel size, and the
    TV term with the attenuation ``level``; this keeps one relative weight meaningful across
    scans.
    """
    return float(relative) * geometry.n_angles * geometry.voxel_size**2 * float(level)


def classical(sinogram: np.ndarray, geometry, cfg, tv_relative: float, level: float,
              op: RayTransform | None = None) -> dict[str, np.ndarray]:
    """FBP, SIRT and TV reconstructions of one sinogram (the baselines of every report)."""
    op = op or RayTransform(geometry)
    return {"FBP": fbp(sinogram, geometry, op=op),
            "SIRT": sirt(sinogram, geometry, n_iter=cfg.sirt_iter, op=op),
            "TV": tv_pdhg(sinogram, geometry, weight=tv_weight(tv_relative, geometry, level),
                          n_iter=cfg.tv_iter, op=op)}


def summarise(rows: list[dict], keys: list[str]) -> dict:
    """Mean and standard deviation of each metric over the rows, per method."""
    out: dict = {}
    for method in sorted({r["method"] for r in rows}):
        sel = [r for r in rows if r["method"] == method]
        out[method] = {k: {"mean": float(np.mean([r[k] for r in sel])), "std": float(np.std([r[k] for r in sel]))}
                       for k in keys if k in sel[0]}
    return out
