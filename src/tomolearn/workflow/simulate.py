"""`simulate_to_file`: phantom family + scenario -> a Data Exchange file readable by every command."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .._checks import positive_int
from ..io.dxchange import DataExchangeWriter
from ..phantoms import FAMILIES_3D, make_phantom
from ..scenario import Scenario, simulate


def simulate_to_file(out, family: str, size: int, scenario: Scenario, n_slices: int = 1, seed: int = 0,
                     mu_max: float = 0.02, oversample: int = 2, overwrite: bool = False,
                     chunk_rows: int = 16) -> Path:
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
    chunk_rows : int
        Slices simulated and written at a time (bounds memory: a 512^3 volume needs ~2 GB).
        Noise in chunk ``k`` is drawn from ``default_rng([seed, first_row])``.

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
    n = positive_int(size, "size")
    is_3d = family in FAMILIES_3D
    n_rows = n if is_3d else positive_int(n_slices, "n_slices")
    volume = make_phantom(family, n, seed) * mu_max if is_3d else None  # 3D: its Z slices are detector rows
    geometry = scenario.validated().geometry(n, n_rows)
    attrs = {"family": family, "seed": seed, "mu_max": mu_max, "oversample": oversample, "chunk_rows": chunk_rows,
             **{k: ("" if v is None else v) for k, v in dataclasses.asdict(scenario).items()}}
    n_flats = 10 if scenario.i0 is not None else 0
    with DataExchangeWriter(out, geometry.n_angles, n_rows, n, np.degrees(geometry.angles), n_flats, True, attrs,
                            overwrite) as writer:
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            chunk = volume[start:stop] if is_3d else np.stack(
                [make_phantom(family, n, seed + i) for i in range(start, stop)]) * mu_max
            sim = simulate(chunk, scenario, np.random.default_rng([seed, start]), oversample, n_flats or 10)
            writer.write_rows(start, sim["projections"], sim["flats"], sim["darks"], sim["ground_truth"])
    return Path(out)
