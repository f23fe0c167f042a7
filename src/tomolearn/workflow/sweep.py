"""Acquisition planning: PSNR/SSIM maps of FBP and SIRT over angles x dose (or rotation speed).

Like seed 003 Fig. 3k-n: a user sees where classical reconstruction breaks down before
planning a scan. Each cell simulates the same seeded phantoms under one scenario.
"""
from __future__ import annotations

import numpy as np

from ..metrics import psnr, ssim
from ..phantoms import make_phantom
from ..preprocess import minus_log, normalize
from ..recon import fbp, sirt
from ..report import sweep_figure
from ..scenario import Scenario, simulate
from .common import prepare_run_dir, write_json


def acquisition_sweep(out_dir, family: str = "ellipses_polygons", size: int = 128, n_phantoms: int = 2,
                      angles: tuple[int, ...] = (30, 60, 120, 180), i0s: tuple[float, ...] = (1e2, 1e3, 1e4, 1e5),
                      speeds_deg_s: tuple[float, ...] | None = None, exposure_s: float = 0.05, i0: float = 1e4,
                      sirt_iter: int = 50, seed: int = 0, mu_max: float = 0.02, overwrite: bool = False) -> dict:
    """Sweep number of angles x dose (``i0s``) or x rotation speed (``speeds_deg_s``).

    Parameters
    ----------
    out_dir : path
        Receives ``sweep.json`` and ``sweep.png``.
    family, size, n_phantoms, seed, mu_max
        Phantoms (``n_phantoms`` seeded slices of ``family``).
    angles : tuple of int
        Projections over 180 degrees.
    i0s : tuple of float
        Photons per pixel (dose axis), used unless ``speeds_deg_s`` is given.
    speeds_deg_s : tuple of float, optional
        Rotation speeds (fly-scan axis) at ``exposure_s`` and ``i0``; cells whose exposure arc
        exceeds the angular step are impossible and left empty.
    sirt_iter : int

    Returns
    -------
    dict
        Axes and ``psnr``/``ssim`` grids per method (NaN where impossible).

    Raises
    ------
    FileExistsError
        If ``out_dir`` is not empty and ``overwrite`` is False.
    """
    out = prepare_run_dir(out_dir, overwrite, resume=False)
    phantoms = np.stack([make_phantom(family, size, seed + i) for i in range(n_phantoms)]) * mu_max
    second = list(speeds_deg_s) if speeds_deg_s else list(i0s)
    grids = {m: {k: np.full((len(angles), len(second)), np.nan) for k in ("psnr", "ssim")} for m in ("FBP", "SIRT")}
    for a, n_ang in enumerate(angles):
        for b, v in enumerate(second):
            if speeds_deg_s:
                scen = Scenario(n_angles=n_ang, i0=i0, exposure_arc_deg=v * exposure_s)
                if scen.exposure_arc_deg > 180.0 / n_ang:
                    continue
            else:
                scen = Scenario(n_angles=n_ang, i0=v)
            sim = simulate(phantoms, scen.validated(), seed + 1000 * a + b)
            g = sim["geometry"]
            lines = minus_log(normalize(sim["projections"], sim["flats"], sim["darks"]))
            recs = {"FBP": fbp(lines, g), "SIRT": sirt(lines, g, sirt_iter)}
            for m, r in recs.items():
                grids[m]["psnr"][a, b] = np.mean([psnr(p, q, data_range=mu_max) for p, q in zip(phantoms, r)])
                grids[m]["ssim"][a, b] = np.mean([ssim(p, q, data_range=mu_max) for p, q in zip(phantoms, r)])
    second_name = f"rotation speed (deg/s, {exposure_s} s exposure)" if speeds_deg_s else "photons per pixel (i0)"
    result = {"family": family, "size": size, "angles": list(angles), "second_axis": second_name, "second": second,
              "grids": {m: {k: v.tolist() for k, v in d.items()} for m, d in grids.items()}}
    write_json(out / "sweep.json", result)
    sweep_figure(grids, list(angles), second, second_name, out / "sweep.png")
    return result
