"""Acquisition geometries: parallel beam (2D slice or a stack of slices) and 2D fan beam.

Conventions (fixed here, tested against scikit-image and ASTRA in ``tests/test_projector.py``):

* angles are radians; the uniform full parallel scan is ``[0, pi)`` without the endpoint;
* a slice is ``(Y, X)`` with row 0 at the top; at angle 0 the parallel rays run along Y and
  the detector axis U points along +X (increasing column). A point at column offset ``x`` and
  row offset ``y`` (from the centre, rows counted downwards) projects to
  ``u = x cos(theta) - y sin(theta)``: the convention of ``skimage.transform.radon``;
* fan beam: at angle 0 the source sits on the -Y side of ASTRA's frame; ``source_origin`` and
  ``origin_detector`` distances are in ``unit``, like ``detector_spacing`` and ``voxel_size``;
* ``cor_offset`` is where the rotation axis projects, in detector columns from the detector
  centre (positive = towards higher U).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ._checks import fail, positive, positive_int


def _as_angles(angles) -> np.ndarray:
    arr = np.asarray(angles, dtype=np.float64).ravel()
    if arr.size == 0:
        raise fail("angles", "at least one projection angle (radians)", "an empty array")
    if not np.isfinite(arr).all():
        raise fail("angles", "finite values in radians", "NaN/inf entries")
    return arr


@dataclass(frozen=True, eq=False)
class _Geometry:
    angles: np.ndarray
    n_detector: int
    detector_spacing: float = 1.0
    n_rows: int = 1
    volume_shape: tuple[int, int] | None = None
    voxel_size: float = 1.0
    unit: str = "px"
    cor_offset: float = 0.0

    #: period after which projections repeat (used to select arcs); set by subclasses
    period: float = field(default=2 * np.pi, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "angles", _as_angles(self.angles))
        object.__setattr__(self, "n_detector", positive_int(self.n_detector, "n_detector"))
        object.__setattr__(self, "n_rows", positive_int(self.n_rows, "n_rows"))
        positive(self.detector_spacing, "detector_spacing")
        positive(self.voxel_size, "voxel_size")
        if not np.isfinite(self.cor_offset):
            raise fail("cor_offset", "a finite offset in detector columns", self.cor_offset)
        shape = self.volume_shape
        if shape is None:
            shape = (self.n_detector, self.n_detector)
        if len(tuple(shape)) != 2:
            raise fail("volume_shape", "(Y, X), two positive integers", shape)
        shape = tuple(positive_int(s, "volume_shape") for s in shape)
        object.__setattr__(self, "volume_shape", shape)

    # --- shapes -----------------------------------------------------------------------------
    @property
    def n_angles(self) -> int:
        return int(self.angles.size)

    @property
    def projection_shape(self) -> tuple[int, int, int]:
        """``(A, V, U)`` of the projections this geometry describes."""
        return (self.n_angles, self.n_rows, self.n_detector)

    @property
    def volume_shape_3d(self) -> tuple[int, int, int]:
        """``(Z, Y, X)``: one slice per detector row."""
        return (self.n_rows, *self.volume_shape)

    @property
    def angular_range(self) -> float:
        """Span of the angles in radians, plus one angular step (the arc the scan covers)."""
        if self.n_angles == 1:
            return 0.0
        a = np.sort(np.mod(self.angles - self.angles[0], 2 * np.pi))
        step = np.median(np.diff(a))
        return float(min(a[-1] - a[0] + step, 2 * np.pi))

    # --- derived geometries -----------------------------------------------------------------
    def replace(self, **changes) -> "_Geometry":
        """Copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def subset(self, indices) -> "_Geometry":
        """Geometry of the projections at ``indices`` (integer array or boolean mask)."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != self.angles.shape:
                raise fail("indices", f"a boolean mask of length {self.n_angles}", f"length {idx.size}")
            idx = np.flatnonzero(idx)
        if idx.size == 0:
            raise fail("indices", "at least one projection index", "none")
        if idx.min() < 0 or idx.max() >= self.n_angles:
            raise fail("indices", f"indices in [0, {self.n_angles})", f"range [{idx.min()}, {idx.max()}]")
        return self.replace(angles=self.angles[idx])

    def sparse_indices(self, n_angles: int) -> np.ndarray:
        """Indices of ``n_angles`` projections spread evenly over the scan (sparse view)."""
        n = positive_int(n_angles, "n_angles")
        if n > self.n_angles:
            raise fail("n_angles", f"at most the {self.n_angles} angles of the scan", n)
        return np.unique(np.round(np.linspace(0, self.n_angles, n, endpoint=False)).astype(int))

    def arc_indices(self, range_rad: float, start_rad: float = 0.0) -> np.ndarray:
        """Indices of the projections inside the contiguous arc ``[start, start + range]``.

        The arc wraps around the geometry's period (pi for parallel beam, 2 pi for fan beam),
        so any start angle works on a full scan.

        Raises
        ------
        ValueError
            If the range is not in ``(0, period]`` or the arc holds no projection.
        """
        rng = float(range_rad)
        if not (0 < rng <= self.period + 1e-9):
            raise fail("range_rad", f"an arc in (0, {np.degrees(self.period):.0f}] degrees",
                       f"{np.degrees(rng):.1f} degrees")
        rel = np.mod(self.angles - float(start_rad) + 1e-9, self.period)
        idx = np.flatnonzero(rel <= rng + 1e-9)
        if idx.size == 0:
            raise fail("start_rad", "an arc that contains at least one measured angle",
                       f"no angle in [{np.degrees(start_rad):.1f}, {np.degrees(start_rad + rng):.1f}] degrees")
        # order along the arc, starting at `start`
        return idx[np.argsort(rel[idx], kind="stable")]

    def sparse(self, n_angles: int) -> "_Geometry":
        return self.subset(self.sparse_indices(n_angles))

    def arc(self, range_rad: float, start_rad: float = 0.0) -> "_Geometry":
        return self.subset(self.arc_indices(range_rad, start_rad))

    def describe(self) -> dict:
        """Plain-dict summary (for `tomolearn info` and run folders)."""
        d = {k: getattr(self, k) for k in ("n_detector", "detector_spacing", "n_rows", "volume_shape",
                                             "voxel_size", "unit", "cor_offset")}
        d.update(kind=type(self).__name__, n_angles=self.n_angles,
                 angles_deg=[round(float(np.degrees(self.angles.min())), 3),
                             round(float(np.degrees(self.angles.max())), 3)],
                 angular_range_deg=round(float(np.degrees(self.angular_range)), 3))
        d["volume_shape"] = list(d["volume_shape"])
        return d


@dataclass(frozen=True, eq=False)
class ParallelGeometry(_Geometry):
    """Parallel-beam geometry; ``n_rows > 1`` is a 3D scan treated as a stack of slices.

    Parameters
    ----------
    angles : array_like, shape (A,)
        Projection angles in radians.
    n_detector : int
        Detector columns U.
    detector_spacing : float
        Column pitch in ``unit``.
    n_rows : int
        Detector rows V (= volume slices Z).
    volume_shape : (int, int), optional
        Slice shape ``(Y, X)``; default ``(U, U)``.
    voxel_size : float
        Voxel edge in ``unit``; volumes are attenuation per ``unit``.
    unit : str
        Length unit name, e.g. ``"mm"``; ``"px"`` when lengths are in voxels.
    cor_offset : float
        Centre-of-rotation offset in detector columns.

    Raises
    ------
    ValueError
        On empty/non-finite angles or non-positive sizes.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "period", np.pi)


@dataclass(frozen=True, eq=False)
class FanGeometry(_Geometry):
    """2D fan-beam geometry with a flat detector (rows, if any, are independent fan slices).

    Parameters
    ----------
    source_origin : float
        Source to rotation-axis distance, in ``unit``.
    origin_detector : float
        Rotation axis to detector distance, in ``unit``.
    Other parameters as :class:`ParallelGeometry`; ``detector_spacing`` is the pitch AT the
    detector (not scaled to the axis).

    Raises
    ------
    ValueError
        On non-positive distances, or any error of :class:`ParallelGeometry`.
    """

    source_origin: float = 1000.0
    origin_detector: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self.source_origin, "source_origin")
        if not np.isfinite(self.origin_detector) or self.origin_detector < 0:
            raise fail("origin_detector", "a finite distance >= 0", self.origin_detector)
        object.__setattr__(self, "period", 2 * np.pi)

    @property
    def magnification(self) -> float:
        return (self.source_origin + self.origin_detector) / self.source_origin

    def describe(self) -> dict:
        d = super().describe()
        d.update(source_origin=self.source_origin, origin_detector=self.origin_detector,
                 magnification=round(self.magnification, 6))
        return d


Geometry = ParallelGeometry | FanGeometry


def covered_arc(angles, period: float) -> tuple[float, float, float]:
    """The contiguous arc that ``angles`` (radians) cover, modulo ``period``.

    The largest gap between neighbouring angles (with wrap-around) is taken as the unmeasured
    part; the arc is its complement.

    Returns
    -------
    start, span, step : float
        First angle of the arc, its width (``period`` minus the largest gap) and the median
        angular step, radians.
    """
    a = np.sort(np.mod(np.asarray(angles, dtype=np.float64), period))
    gaps = np.diff(np.concatenate([a, [a[0] + period]]))
    k = int(np.argmax(gaps))
    return float(a[(k + 1) % a.size]), float(period - gaps[k]), float(np.median(gaps))


def uniform_angles(n_angles: int, full_range: float = np.pi) -> np.ndarray:
    """``n_angles`` equispaced angles in ``[0, full_range)`` (radians, no endpoint)."""
    n = positive_int(n_angles, "n_angles")
    return np.linspace(0.0, float(full_range), n, endpoint=False)
