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
    #: fly scan: rotation during one exposure (speed x exposure time), radians; 0 for a step scan
    exposure_arc: float = 0.0

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
        if not (np.isfinite(self.exposure_arc) and self.exposure_arc >= 0):
            raise fail("exposure_arc", "a rotation >= 0 radians during one exposure", self.exposure_arc)
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
                 angular_range_deg=round(float(np.degrees(self.angular_range)), 3),
                 exposure_arc_deg=round(float(np.degrees(self.exposure_arc)), 6))
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


#: metres per unit of the geometry's ``unit``
UNIT_METRES = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6, "nm": 1e-9, "A": 1e-10, "Å": 1e-10}
#: h c in keV nm: wavelength (nm) = HC_KEV_NM / energy (keV)
HC_KEV_NM = 1.239841984


def wavelength(energy_kev: float) -> float:
    """X-ray wavelength in metres of a photon energy in keV (``λ = hc / E``).

    Raises
    ------
    ValueError
        If ``energy_kev`` is not a finite number > 0.
    """
    return HC_KEV_NM / positive(energy_kev, "energy_kev") * 1e-9


def unit_metres(unit: str) -> float:
    """Metres per ``unit`` (``nm``, ``um``, ``mm``, ``m``, ``A``)."""
    if unit not in UNIT_METRES:
        raise fail("unit", f"a length unit ({', '.join(UNIT_METRES)})", repr(unit))
    return UNIT_METRES[unit]


def scan_positions(n_z: int, n_x: int, step: float, pattern: str = "snake") -> np.ndarray:
    """Probe positions covering a ``(n_z, n_x)`` projection plane with a given step.

    Positions are the probe centres in pixels of the plane, on a grid from 0 to ``n - 1``
    along each axis with a spacing of at most ``step``; ``"snake"`` reverses every other
    row (the fly-scan pattern of the Velociprobe), ``"raster"`` does not.

    Parameters
    ----------
    n_z, n_x : int
        Size of the projection plane in pixels (Z rows, X columns).
    step : float
        Largest distance between neighbouring positions in pixels (> 0).
    pattern : {"snake", "raster"}

    Returns
    -------
    ndarray, shape (J, 2), int64
        ``(z, x)`` of each probe centre, in acquisition order.

    Raises
    ------
    ValueError
        On a non-positive step or an unknown pattern.
    """
    step = positive(step, "step")
    if pattern not in ("snake", "raster"):
        raise fail("pattern", "'snake' or 'raster'", repr(pattern))
    zs = np.round(np.linspace(0, n_z - 1, max(int(np.ceil((n_z - 1) / step)) + 1, 1))).astype(np.int64)
    xs = np.round(np.linspace(0, n_x - 1, max(int(np.ceil((n_x - 1) / step)) + 1, 1))).astype(np.int64)
    rows = [(xs[::-1] if pattern == "snake" and i % 2 else xs) for i in range(zs.size)]
    return np.array([(z, x) for z, row in zip(zs, rows) for x in row], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class PtychoGeometry:
    """Acquisition of a multislice ptycho-tomography scan (immutable).

    Parameters
    ----------
    angles : array_like, shape (A,)
        Rotation angles in radians (about Z; at 0 the beam runs along +Y).
    volume_shape : tuple of 3 int
        ``(Z, Y, X)`` of the object grid; ``Y == X`` (the slice must be square so a rotation
        keeps an object inside its inscribed cylinder).
    positions : array_like, shape (J, 2)
        Probe centres ``(z, x)`` in pixels of the projection plane ``(Z, X)``.
    pattern_size : int
        ``Q``: probe window and diffraction pattern in pixels.
    voxel_size : float
        Edge of a voxel, in ``unit`` (also the probe and projection pixel).
    unit : str
        Length unit of ``voxel_size`` (``nm`` by default).
    energy_kev : float
        Photon energy in keV.

    Raises
    ------
    ValueError
        On a non-square slice, non-positive sizes or energy, or positions off the plane.
    """

    angles: np.ndarray
    volume_shape: tuple[int, int, int]
    positions: np.ndarray
    pattern_size: int
    voxel_size: float = 5.0
    unit: str = "nm"
    energy_kev: float = 8.8

    def __post_init__(self) -> None:
        angles = np.asarray(self.angles, dtype=np.float64).ravel()
        if angles.size == 0 or not np.isfinite(angles).all():
            raise fail("angles", "at least one finite angle (radians)", f"{angles.size} angles")
        shape = tuple(int(s) for s in self.volume_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise fail("volume_shape", "(Z, Y, X) of positive sizes", self.volume_shape)
        if shape[1] != shape[2]:
            raise fail("volume_shape", "a square slice (Y == X) so the object stays in the grid when rotated",
                       shape, "pad the volume along Y or X")
        pos = np.asarray(self.positions, dtype=np.int64).reshape(-1, 2)
        if pos.size == 0 or pos.min() < 0 or (pos[:, 0] >= shape[0]).any() or (pos[:, 1] >= shape[2]).any():
            raise fail("positions", f"probe centres (z, x) inside the projection plane {shape[0]} x {shape[2]}",
                       f"{len(pos)} positions spanning {pos.min(0).tolist() if pos.size else []}.."
                       f"{pos.max(0).tolist() if pos.size else []}")
        q = positive_int(self.pattern_size, "pattern_size")
        positive(self.voxel_size, "voxel_size")
        unit_metres(self.unit)
        positive(self.energy_kev, "energy_kev")
        object.__setattr__(self, "angles", angles)
        object.__setattr__(self, "volume_shape", shape)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "pattern_size", q)
        object.__setattr__(self, "voxel_size", float(self.voxel_size))
        object.__setattr__(self, "energy_kev", float(self.energy_kev))

    @property
    def n_angles(self) -> int:
        return int(self.angles.size)

    @property
    def n_positions(self) -> int:
        return int(len(self.positions))

    @property
    def volume_shape_3d(self) -> tuple[int, int, int]:
        return self.volume_shape

    @property
    def pad(self) -> int:
        """Free-space margin (pixels) around the projection plane so every window fits."""
        return self.pattern_size // 2

    @property
    def plane_shape(self) -> tuple[int, int]:
        """``(Z, X)`` of the padded projection plane the probe windows are cut from."""
        z, _, x = self.volume_shape
        return z + 2 * self.pad, x + 2 * self.pad

    @property
    def data_shape(self) -> tuple[int, int, int, int]:
        """``(A, J, Q, Q)``: the diffraction patterns."""
        return self.n_angles, self.n_positions, self.pattern_size, self.pattern_size

    @property
    def wavelength_m(self) -> float:
        return wavelength(self.energy_kev)

    @property
    def voxel_size_m(self) -> float:
        return self.voxel_size * unit_metres(self.unit)

    @property
    def depth_of_field_m(self) -> float:
        """Depth of field ``5.2 Δr² / λ`` of a resolution ``Δr`` of one voxel, in metres.

        Objects thicker than this need a multislice model (Tsai et al., Opt. Express 24,
        29089 (2016)).
        """
        return 5.2 * self.voxel_size_m ** 2 / self.wavelength_m

    def replace(self, **changes) -> "PtychoGeometry":
        return dataclasses.replace(self, **changes)

    def subset(self, indices) -> "PtychoGeometry":
        """The geometry of the angles at ``indices``."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size == 0 or idx.min() < -self.n_angles or idx.max() >= self.n_angles:
            raise fail("indices", f"angle indices in [0, {self.n_angles})", idx.tolist())
        return self.replace(angles=self.angles[idx])

    def downsampled(self, factor: int) -> "PtychoGeometry":
        """The same scan seen with pixels ``factor`` times larger (patterns cropped to ``Q / factor``).

        Cropping the diffraction patterns to their central ``Q / factor`` pixels keeps the
        probe window's field of view in metres and coarsens the real-space pixel (the seed's
        ×2 down-sampled approximant).
        """
        f = positive_int(factor, "downsample")
        z, y, x = self.volume_shape
        if self.pattern_size % f or min(z, y) < f:
            raise fail("downsample", f"a factor dividing the pattern size {self.pattern_size}", f)
        shape = (-(-z // f), -(-y // f), -(-x // f))
        pos = np.minimum(self.positions // f, np.array([shape[0] - 1, shape[2] - 1]))
        return self.replace(volume_shape=shape, positions=pos, pattern_size=self.pattern_size // f,
                            voxel_size=self.voxel_size * f)

    def describe(self) -> dict:
        deg = np.degrees(self.angles)
        z, y, x = self.volume_shape
        return {"type": "multislice ptycho-tomography", "n_angles": self.n_angles,
                "angles_deg": [round(float(deg.min()), 3), round(float(deg.max()), 3)],
                "angular_range_deg": round(float(np.ptp(deg)), 3), "positions_per_angle": self.n_positions,
                "pattern_size": self.pattern_size, "volume_shape": [z, y, x], "voxel_size": self.voxel_size,
                "unit": self.unit, "energy_kev": self.energy_kev, "wavelength_nm": self.wavelength_m * 1e9,
                "depth_of_field": self.depth_of_field_m / unit_metres(self.unit),
                "thickness_along_beam": y * self.voxel_size}
