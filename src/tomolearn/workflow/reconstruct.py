"""`reconstruct`: any readable scan, any method, one call."""
from __future__ import annotations

import numpy as np

from .._checks import fail
from ..metrics import segment as otsu_segment
from ..physics.projector import RayTransform
from ..recon import cgls, fbp, mlem, sart, sirt, tv_pdhg
from .common import tv_weight

METHODS = ("fbp", "sirt", "sart", "cgls", "tv", "mlem", "learned", "missing_wedge")


def align_scan(scan, max_shift_px: float | None = None):
    """Tilt-series alignment (cross-correlation) then tilt-axis centring on the middle row.

    Returns
    -------
    Scan
        Aligned projections, geometry with the found ``cor_offset``; ``metadata`` gains the
        applied ``alignment_shifts_px``.
    """
    from dataclasses import replace

    from ..preprocess import align_tilt_series, find_center_of_rotation

    aligned, shifts = align_tilt_series(scan.projections, scan.geometry.angles, max_shift_px=max_shift_px)
    g = scan.geometry
    cor = find_center_of_rotation(aligned[:, aligned.shape[1] // 2], g.replace(n_rows=1))
    return replace(scan, projections=aligned, geometry=g.replace(cor_offset=cor),
                   metadata={**scan.metadata, "alignment_shifts_px": shifts.tolist(), "cor_offset_px": cor})


def reconstruct(scan, method: str = "fbp", model=None, segment: bool = False, n_iter: int | None = None,
                tv_relative: float = 0.01, filter: str = "ramp", device: str = "cpu",
                show_progress: bool = False, refine: bool = False) -> np.ndarray:
    """Reconstruct every slice of a scan with a classical or learned method.

    Parameters
    ----------
    scan : Scan
        From :func:`tomolearn.io.load_scan` or built in code.
    method : {"fbp", "sirt", "sart", "cgls", "tv", "mlem", "learned", "missing_wedge"}
        ``missing_wedge`` is the IRDM recipe (WBP + U-Net++ GAN generator, seed 004).
    model : path or PostProcessor, optional
        Checkpoint for ``method="learned"`` (e.g. the one the HTC2022 study writes); for
        ``missing_wedge`` generator weights (.pt or IRDM .ckpt), default the shipped ones.
    segment : bool
        Return a binary (0/1) Otsu segmentation instead of attenuation values.
    n_iter : int, optional
        Iterations of the iterative methods (defaults: SIRT 200, SART 10, CGLS 30, TV 200,
        MLEM 50 with 10 ordered subsets).
    tv_relative : float
        Relative TV weight (see :func:`tomolearn.workflow.common.tv_weight`).
    filter : str
        FBP filter.
    device : str
        Torch device for the learned method ("cpu", "cuda", "cuda:1").
    refine : bool
        ``missing_wedge`` only: reconcile the network output with the measured data (TV +
        learned prior, :func:`tomolearn.recipes.missing_wedge.data_consistent`).
    show_progress : bool

    Returns
    -------
    ndarray, shape (Z, Y, X), float32
        Attenuation per ``scan.geometry.unit`` (or 0/1 with ``segment``).

    Raises
    ------
    ValueError
        On an unknown method, or ``method="learned"`` without a model.
    FileNotFoundError
        If the model checkpoint does not exist.
    """
    if method not in METHODS:
        raise fail("method", f"one of {', '.join(METHODS)}", repr(method))
    g = scan.geometry.replace(n_rows=1)
    op = RayTransform(g) if method not in ("learned", "missing_wedge") else None
    module = None
    if method == "missing_wedge":
        from ..recipes.missing_wedge import check_wedge, irdm_slice, load_default

        generator, meta = load_default(model, device)
        check_wedge(g, meta)
    if method == "learned":
        if model is None:
            raise fail("model", "a checkpoint path for method='learned'", "none",
                       "train one with `tomolearn run` (it writes model.ckpt in the run folder)")
        from ..train import load_model

        module = load_model(model, map_location=device) if not hasattr(model, "hparams") else model.eval()
    slices = []
    for v in range(scan.projections.shape[1]):
        sino = scan.sinogram(v)
        if method == "fbp":
            img = fbp(sino, g, filter=filter, op=op)
        elif method == "sirt":
            img = sirt(sino, g, n_iter=n_iter or 200, op=op, show_progress=show_progress)
        elif method == "sart":
            img = sart(sino, g, n_iter=n_iter or 10, op=op, show_progress=show_progress)
        elif method == "cgls":
            img = cgls(sino, g, n_iter=n_iter or 30, op=op, show_progress=show_progress)
        elif method == "mlem":
            img = mlem(sino, g, n_iter=n_iter or 50, n_subsets=10, op=op, show_progress=show_progress)
        elif method == "tv":
            level = np.percentile(fbp(sino, g, op=op), 99)
            img = tv_pdhg(sino, g, weight=tv_weight(tv_relative, g, max(level, 1e-12)),
                          n_iter=n_iter or 200, op=op, show_progress=show_progress)
        elif method == "missing_wedge":
            img = irdm_slice(generator, meta, sino, g)
            if refine:
                from ..recipes.missing_wedge import data_consistent

                img = data_consistent(sino, g, img, n_iter=n_iter or 200)
        else:
            from ..recipes.limited_angle import apply_learned

            img = apply_learned(module, sino, g)
        slices.append(otsu_segment(img).astype(np.float32) if segment else img)
    return np.stack(slices).astype(np.float32)
