"""How far to trust a reconstruction: data consistency at measurements it never saw."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._checks import fail, positive_int
from .metrics import nrmse, pcc
from .physics.projector import RayTransform


def held_out_projection_check(projections, geometry, reconstruct: Callable, every: int = 4,
                              first: int = 1) -> dict:
    """Held-out-tilt (projection) validation for data without ground truth.

    Every ``every``-th projection (from ``first``) is left out, the volume is reconstructed
    from the rest with ``reconstruct(projections, geometry)``, re-projected at the held-out
    angles and compared with the measured projections. Scores a method by how well it
    predicts measurements it never saw (a cross-validation of the reconstruction).

    Parameters
    ----------
    projections : ndarray, shape (A, V, U)
    geometry : ParallelGeometry or FanGeometry
        With ``n_rows = V``.
    reconstruct : callable
        ``reconstruct(projections (A', V, U), geometry) -> volume (V, Y, X)``.
    every, first : int
        Leave out indices ``first, first + every, ...``.

    Returns
    -------
    dict
        ``nrmse`` and ``pcc`` (mean over held-out projections), ``per_projection`` lists and the
        ``held_out_indices``.

    Raises
    ------
    ValueError
        If fewer than two projections would remain, or shapes disagree.
    """
    proj = np.asarray(projections, dtype=np.float32)
    if proj.ndim != 3 or proj.shape != geometry.projection_shape:
        raise fail("projections", f"shape (A, V, U) = {geometry.projection_shape}", f"shape {proj.shape}")
    every = positive_int(every, "every")
    held = np.arange(first, proj.shape[0], every)
    kept = np.setdiff1d(np.arange(proj.shape[0]), held)
    if held.size == 0 or kept.size < 2:
        raise fail("every", "a step that leaves out some projections and keeps at least two", every)
    volume = reconstruct(proj[kept], geometry.subset(kept))
    predicted = RayTransform(geometry.subset(held).replace(n_rows=1)).forward_slices(np.asarray(volume))
    predicted = np.moveaxis(predicted, 0, 1)  # (A_held, V, U)
    scores_n = [nrmse(m, p) for m, p in zip(proj[held], predicted)]
    scores_p = [pcc(m, p) for m, p in zip(proj[held], predicted)]
    return {"nrmse": float(np.mean(scores_n)), "pcc": float(np.mean(scores_p)), "held_out_indices": held.tolist(),
            "per_projection": {"nrmse": scores_n, "pcc": scores_p}}
