"""ASTRA-backed ray transform: forward and back projection of stacks of 2D slices.

Parallel beam (2D, or 3D as a stack of slices along the rotation axis) and 2D fan beam, on
the CPU with ASTRA's CPU projectors and on CUDA with ASTRA's GPU projectors when the input
lives on a CUDA device. ``ray_transform`` wraps it as a torch autograd Function, so a network
or a variational method can differentiate through the measurement model.

Units: internally ASTRA works in voxels; lengths are divided by ``voxel_size`` on the way in
and line integrals multiplied by it on the way out, so a volume in attenuation per ``unit``
gives dimensionless line integrals.
"""
from __future__ import annotations

import threading

import astra
import numpy as np
import torch

from .._checks import fail
from ..geometry import FanGeometry, ParallelGeometry

_ASTRA_LOCK = threading.Lock()  # ASTRA's object registry is global


def astra_geometries(geometry) -> tuple[dict, dict]:
    """ASTRA volume and projection geometry (in voxel units) for one slice of ``geometry``."""
    ny, nx = geometry.volume_shape
    vol = astra.create_vol_geom(ny, nx)
    vs = geometry.voxel_size
    spacing = geometry.detector_spacing / vs
    if isinstance(geometry, FanGeometry):
        proj = astra.create_proj_geom("fanflat", spacing, geometry.n_detector, geometry.angles,
                                      geometry.source_origin / vs, geometry.origin_detector / vs)
    elif isinstance(geometry, ParallelGeometry):
        proj = astra.create_proj_geom("parallel", spacing, geometry.n_detector, geometry.angles)
    else:
        raise TypeError(f"geometry: expected ParallelGeometry or FanGeometry, got {type(geometry).__name__}")
    if geometry.cor_offset:
        # the axis projects to column centre + cor_offset  <=>  the detector moves by -cor_offset
        proj = astra.geom_2vec(proj)
        vec = proj["Vectors"].copy()
        vec[:, 2:4] -= geometry.cor_offset * vec[:, 4:6]
        proj["Vectors"] = vec
    return vol, proj


class RayTransform:
    """Linear ray transform ``A`` of a geometry, applied slice by slice.

    Parameters
    ----------
    geometry : ParallelGeometry or FanGeometry
        Acquisition geometry; ``volume_shape`` fixes the slice grid.
    model : {"linear", "line", "strip"}
        ASTRA CPU projection model (Joseph interpolation by default; fan beam uses the
        matching ``*_fanflat`` model). CUDA always uses ASTRA's GPU kernels.

    Notes
    -----
    ``forward`` maps volumes ``(Z, Y, X)`` (or a slice ``(Y, X)``) to projections
    ``(A, Z, U)`` (or a sinogram ``(A, U)``); ``adjoint`` is its exact transpose on the CPU.
    Torch tensors of shape ``(..., Y, X)`` / ``(..., A, U)`` go through :func:`ray_transform`.
    """

    def __init__(self, geometry, model: str = "linear") -> None:
        if model not in ("linear", "line", "strip"):
            raise fail("model", "'linear', 'line' or 'strip'", repr(model))
        self.geometry = geometry
        self.model = model
        self._vol_geom, self._proj_geom = astra_geometries(geometry)
        self._projector: dict[str, int] = {}

    def subset(self, indices) -> "RayTransform":
        """The operator restricted to the projections at ``indices`` (for ordered subsets)."""
        return RayTransform(self.geometry.subset(indices), self.model)

    # ---- shapes ---------------------------------------------------------------------------
    @property
    def sinogram_shape(self) -> tuple[int, int]:
        return (self.geometry.n_angles, self.geometry.n_detector)

    @property
    def slice_shape(self) -> tuple[int, int]:
        return tuple(self.geometry.volume_shape)

    # ---- ASTRA plumbing ---------------------------------------------------------------------
    def _projector_id(self, cuda: bool) -> int:
        key = "cuda" if cuda else "cpu"
        if key not in self._projector:
            if cuda:
                kind = "cuda"
            else:
                fan = isinstance(self.geometry, FanGeometry)
                # ASTRA has no Joseph model for fan beam: its nearest is the line model
                kind = {"linear": "line", "line": "line", "strip": "strip"}[self.model] + "_fanflat" if fan else self.model
            with _ASTRA_LOCK:
                self._projector[key] = astra.create_projector(kind, self._proj_geom, self._vol_geom)
        return self._projector[key]

    def __del__(self) -> None:  # free ASTRA objects; tolerate interpreter shutdown
        try:
            for pid in self._projector.values():
                astra.projector.delete(pid)
        except Exception:
            pass

    def _run(self, algorithm: str, data: np.ndarray, out_shape, cuda: bool) -> np.ndarray:
        pid = self._projector_id(cuda)
        out = np.empty((data.shape[0], *out_shape), dtype=np.float32)
        src_is_vol = algorithm.startswith("FP")
        with _ASTRA_LOCK:
            vid = astra.data2d.create("-vol", self._vol_geom)
            sid = astra.data2d.create("-sino", self._proj_geom)
            cfg = astra.astra_dict(algorithm + ("_CUDA" if cuda else ""))
            cfg["ProjectorId"] = pid
            if src_is_vol:
                cfg["VolumeDataId"], cfg["ProjectionDataId"] = vid, sid
            else:
                cfg["ProjectionDataId"], cfg["ReconstructionDataId"] = sid, vid
            aid = astra.algorithm.create(cfg)
            try:
                for i, item in enumerate(data):
                    astra.data2d.store(vid if src_is_vol else sid, item)
                    if not src_is_vol:
                        astra.data2d.store(vid, 0.0)
                    astra.algorithm.run(aid)
                    out[i] = astra.data2d.get_shared(sid if src_is_vol else vid)
            finally:
                astra.algorithm.delete(aid)
                astra.data2d.delete([vid, sid])
        return out

    # ---- numpy API --------------------------------------------------------------------------
    def _stack(self, x, expected: tuple[int, int], name: str) -> tuple[np.ndarray, bool]:
        arr = np.ascontiguousarray(x, dtype=np.float32)
        single = arr.ndim == 2
        stack = arr[None] if single else arr
        if stack.ndim != 3 or stack.shape[-2:] != tuple(expected):
            raise fail(name, f"shape (..., {expected[0]}, {expected[1]})", f"shape {arr.shape}",
                       "check the geometry's volume_shape / angles / n_detector")
        return stack, single

    def forward_slices(self, volume: np.ndarray, cuda: bool = False) -> np.ndarray:
        """Forward-project a stack of slices ``(N, Y, X)`` to sinograms ``(N, A, U)``."""
        stack, _ = self._stack(volume, self.slice_shape, "volume")
        return self._run("FP", stack, self.sinogram_shape, cuda) * np.float32(self.geometry.voxel_size)

    def adjoint_slices(self, sinograms: np.ndarray, cuda: bool = False) -> np.ndarray:
        """Back-project (adjoint) sinograms ``(N, A, U)`` to slices ``(N, Y, X)``."""
        stack, _ = self._stack(sinograms, self.sinogram_shape, "sinograms")
        return self._run("BP", stack, self.slice_shape, cuda) * np.float32(self.geometry.voxel_size)

    def forward(self, volume: np.ndarray) -> np.ndarray:
        """Projections of a volume.

        Parameters
        ----------
        volume : ndarray, shape (Z, Y, X) or (Y, X)
            Attenuation per ``geometry.unit``.

        Returns
        -------
        ndarray, shape (A, Z, U) or (A, U)
            Line integrals.

        Raises
        ------
        ValueError
            If the slice shape does not match ``geometry.volume_shape``.
        """
        stack, single = self._stack(volume, self.slice_shape, "volume")
        sino = self.forward_slices(stack)
        return sino[0] if single else np.moveaxis(sino, 0, 1)

    def adjoint(self, projections: np.ndarray) -> np.ndarray:
        """Back projection ``A^T``: ``(A, Z, U)`` or ``(A, U)`` to ``(Z, Y, X)`` or ``(Y, X)``."""
        arr = np.asarray(projections, dtype=np.float32)
        if arr.ndim == 3:
            arr = np.moveaxis(arr, 1, 0)
        stack, single = self._stack(arr, self.sinogram_shape, "projections")
        vol = self.adjoint_slices(stack)
        return vol[0] if single else vol


class _RayTransformFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, op: RayTransform, adjoint: bool):
        ctx.op, ctx.adjoint = op, adjoint
        lead = x.shape[:-2]
        flat = x.detach().reshape(-1, *x.shape[-2:]).to("cpu", torch.float32).numpy()
        fn = op.adjoint_slices if adjoint else op.forward_slices
        y = fn(flat, cuda=x.is_cuda)
        return torch.from_numpy(y).reshape(*lead, *y.shape[-2:]).to(x.device)

    @staticmethod
    def backward(ctx, grad):
        return _RayTransformFn.apply(grad.contiguous(), ctx.op, not ctx.adjoint), None, None


def ray_transform(x: torch.Tensor, op: RayTransform, adjoint: bool = False) -> torch.Tensor:
    """Differentiable ray transform of a torch tensor; the result is on ``x``'s device.

    Parameters
    ----------
    x : Tensor, shape (..., Y, X) or, with ``adjoint=True``, (..., A, U)
        Any leading batch dimensions, e.g. ``(B, C)``.
    op : RayTransform
    adjoint : bool
        Apply ``A^T`` instead of ``A``.

    Returns
    -------
    Tensor, shape (..., A, U) or (..., Y, X)

    Raises
    ------
    ValueError
        If the trailing shape does not match the geometry.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    return _RayTransformFn.apply(x, op, adjoint)
