"""`simulate_to_file`: phantom family + scenario -> a Data Exchange file readable by every command."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .._checks import positive_int
from ..io.dxchange import save_dxchange
from ..phantoms import FAMILIES_3D, make_phantom
from ..scenario import Scenario, simulate


def simulate_to_file(out, family: str, size: int, scenario: Scenario, n_slices: int = 1, seed: int = 0,
                     mu_max: float = 0.02, oversample: int = 2, overwrite: bool = False) -> Path:
    """Simulate ``n_slices`` seeded phantoms of ``family`` under ``scenario`` and write them.

    Parameters
    ----------
    out : path
        Output ``.h5`` (Data Exchange; ground truth in ``simulation/ground_truth``).
    family : str
        Phantom family (:func:`tomolearn.phantoms.make_phantom`).
    size : int
        Slice size in pixels.
    scenario : Scenario
    n_slices : int
        Slices of a 2D family (one phantom each, seeds ``seed, seed + 1, ...``); 3D families
        (``spheres_in_cube``, ``layered_ic``) give ``size`` slices.
    seed : int
    mu_max : float
        Attenuation per pixel of phantom value 1 (sets the transmission range).
    oversample : int
        Simulation grid refinement (no inverse crime).
    overwrite : bool

    Returns
    -------
    Path

    Raises
    ------
    FileExistsError
        If ``out`` exists and ``overwrite`` is False.
    ValueError
        On an unknown family or an impossible scenario.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"output: {str(out)!r} exists; choose another name or pass --overwrite")
    n = positive_int(size, "size")
    if family in FAMILIES_3D:  # a volume: its Z slices are the detector rows
        phantom = make_phantom(family, n, seed) * mu_max
    else:
        phantom = np.stack([make_phantom(family, n, seed + i) for i in range(positive_int(n_slices, "n_slices"))]) * mu_max
    sim = simulate(phantom, scenario, seed, oversample)
    attrs = {"family": family, "seed": seed, "mu_max": mu_max, "oversample": oversample,
             **{k: ("" if v is None else v) for k, v in dataclasses.asdict(scenario).items()}}
    return save_dxchange(out, sim["projections"], sim["theta_deg"], sim["flats"], sim["darks"],
                         sim["ground_truth"], attrs, overwrite)
