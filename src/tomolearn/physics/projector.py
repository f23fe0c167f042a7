"""ASTRA-backed ray transform: forward and back projection of stacks of 2D slices.

This module is the one place that talks to ASTRA: :func:`make_operator` (the factory every
solver and recipe goes through when it is handed a geometry), :class:`RayTransform`, and
:func:`source_detector_vectors` for the fan-beam distance weight of FBP.

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

from .._checks import fail
from ..geometry import FanGeometry, ParallelGeometry, uniform_angles
from .base import LinearOperator, SliceOperator, register_operator, ray_transform

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


@register_operator
class RayTransform(SliceOperator):
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
    One item is a slice ``(Y, X)`` (``domain_shape``) and its sinogram ``(A, U)``
    (``range_shape``). ``forward`` maps volumes ``(Z, Y, X)`` (or a slice ``(Y, X)``) to
    projections ``(A, Z, U)`` (or a sinogram ``(A, U)``), the Data Exchange order; ``adjoint``
    is its exact transpose on the CPU. Torch tensors of shape ``(..., Y, X)`` go through
    :func:`~tomolearn.physics.base.ray_transform` (autograd, device follows the input).

    Raises
    ------
    ValueError
        On an unknown projection model.
    TypeError
        If ``geometry`` is not a parallel or fan geometry.
    """

    name = "ray_transform"

    def __init__(self, geometry, model: str = "linear") -> None:
        if model not in ("linear", "line", "strip"):
            raise fail("model", "'linear', 'line' or 'strip'", repr(model))
        self.geometry = geometry
        self.model = model
        self._vol_geom, self._proj_geom = astra_geometries(geometry)
        self._projector: dict[str, int] = {}

    @classmethod
    def examples(cls) -> list["RayTransform"]:
        """Small parallel and fan-beam instances (off-centre axis, anisotropic grid) for contract tests."""
        return [cls(ParallelGeometry(uniform_angles(24), 40, volume_shape=(32, 36), cor_offset=1.5)),
                cls(FanGeometry(uniform_angles(30, 2 * np.pi), 48, detector_spacing=1.4, source_origin=120,
                                origin_detector=50, volume_shape=(32, 32)))]

    def subset(self, indices) -> "RayTransform":
        """The operator restricted to the projections at ``indices`` (for ordered subsets)."""
        return RayTransform(self.geometry.subset(indices), self.model)

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

    # ---- batches ----------------------------------------------------------------------------
    def _batch(self, x, expected: tuple[int, int], name: str) -> np.ndarray:
        arr = np.ascontiguousarray(x, dtype=np.float32)
        stack = arr[None] if arr.ndim == 2 else arr
        self.check_batch(stack, name, expected)
        return stack

    def forward_batch(self, x: np.ndarray, cuda: bool = False) -> np.ndarray:
        """Forward-project a stack of slices ``(N, Y, X)`` to sinograms ``(N, A, U)``."""
        stack = self._batch(x, self.domain_shape, "volume")
        return self._run("FP", stack, self.range_shape, cuda) * np.float32(self.geometry.voxel_size)

    def adjoint_batch(self, y: np.ndarray, cuda: bool = False) -> np.ndarray:
        """Back-project (adjoint) sinograms ``(N, A, U)`` to slices ``(N, Y, X)``."""
        stack = self._batch(y, self.range_shape, "sinograms")
        return self._run("BP", stack, self.domain_shape, cuda) * np.float32(self.geometry.voxel_size)


def make_operator(geometry_or_op, model: str = "linear") -> LinearOperator:
    """The operator of a geometry (ASTRA ray transform), or ``geometry_or_op`` itself if it is one.

    A fly-scan geometry (``exposure_arc > 0``) gets the blurred ray transform
    (:class:`~tomolearn.physics.flyscan.FlyScanTransform`), so every solver models the blur.

    Every solver and recipe accepts either and calls this, so a fly-scan or third-party
    operator passed in is used as it is and a bare geometry gets the standard ray transform.

    Parameters
    ----------
    geometry_or_op : ParallelGeometry, FanGeometry or LinearOperator
    model : {"linear", "line", "strip"}
        ASTRA projection model for a geometry.

    Returns
    -------
    LinearOperator

    Raises
    ------
    TypeError
        If the argument is neither a geometry nor a linear operator.
    """
    if isinstance(geometry_or_op, LinearOperator):
        return geometry_or_op
    if isinstance(geometry_or_op, (ParallelGeometry, FanGeometry)):
        if geometry_or_op.exposure_arc > 0:  # a fly scan: the blurred ray transform (seed 003, Eq. 5)
            from .flyscan import FlyScanTransform

            return FlyScanTransform(geometry_or_op, geometry_or_op.exposure_arc, model=model)
        return RayTransform(geometry_or_op, model)
    raise TypeError(f"op: expected a LinearOperator or a ParallelGeometry/FanGeometry, got "
                    f"{type(geometry_or_op).__name__}")


def source_detector_vectors(geometry) -> np.ndarray:
    """Per-angle source and detector-centre positions ``(A, 4)`` in ``unit`` (ASTRA's frame).

    Columns ``[src_x, src_y, det_x, det_y]``; used by fan-beam FBP's distance weight.
    """
    _, proj = astra_geometries(geometry)
    vec = astra.geom_2vec(proj)["Vectors"]
    return vec[:, 0:4] * geometry.voxel_size


__all__ = ["RayTransform", "make_operator", "ray_transform", "astra_geometries", "source_detector_vectors"]
