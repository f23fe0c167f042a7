"""`Scan`: projections + geometry (+ flats/darks, reference, metadata)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ._checks import fail, positive_int


@dataclass(frozen=True, eq=False)
class Scan:
    """A tomographic measurement.

    Parameters
    ----------
    projections : ndarray, shape (A, V, U), float32, or LazyProjections
        Line integrals (after flat/dark normalisation and -log); a
        :class:`~tomolearn.io.lazy.LazyProjections` reads detector rows from its file on demand.
    geometry : ParallelGeometry or FanGeometry
        Must describe ``projections`` (same A and U; V = ``geometry.n_rows``).
    reference : ndarray or LazyDataset, shape (Z, Y, X), optional
        A reference volume on the geometry's grid (e.g. a full-data reconstruction or the
        ground truth of a simulation), never used for reconstruction.
    reference_segmentation : ndarray, shape (Z, Y, X), optional
        A binary reference segmentation on the same grid.
    metadata : dict
        Source file, instrument, units and anything a reader found.
    open_beam : ndarray, shape (V, U), optional
        Detected open-beam counts per detector pixel (flat minus dark, averaged over the flat
        frames), set by readers of raw counts: the counts behind the projections are
        ``open_beam · exp(-projections)`` above the dark level. None for line-integral files.
    open_beam_frames : int
        Number of flat frames behind ``open_beam`` (their photons are ``frames`` times it).

    Raises
    ------
    ValueError
        If the projections or the open beam do not match the geometry or hold NaN/inf.
    """

    projections: np.ndarray
    geometry: object
    reference: np.ndarray | None = None
    reference_segmentation: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    open_beam: np.ndarray | None = None
    open_beam_frames: int = 1

    #: what the scan holds: line-integral projections (a ptycho-tomography scan says "diffraction")
    kind = "projections"

    @property
    def lazy(self) -> bool:
        """True when the projections are read from their file on demand (slab by slab)."""
        return bool(getattr(self.projections, "lazy", False))

    def __post_init__(self) -> None:
        g = self.geometry
        if self.lazy:  # read on demand: shapes now, values slab by slab (checked when read)
            proj = self.projections
        else:
            proj = np.asarray(self.projections, dtype=np.float32)
            if proj.ndim == 2:
                proj = proj[:, None]
        if proj.ndim != 3 or tuple(proj.shape) != g.projection_shape:
            raise fail("projections", f"shape (A, V, U) = {g.projection_shape} to match the geometry",
                       f"shape {tuple(np.shape(self.projections))}",
                       "the number of angles or the detector size does not match the data")
        if not self.lazy and not np.isfinite(proj).all():
            raise fail("projections", "finite values", f"{int((~np.isfinite(proj)).sum())} NaN/inf entries",
                       "check flat/dark normalisation or mask bad pixels")
        object.__setattr__(self, "projections", proj)
        if self.open_beam is not None:
            beam = np.asarray(self.open_beam, dtype=np.float32)
            if beam.shape != tuple(g.projection_shape[1:]):
                raise fail("open_beam", f"open-beam counts of shape (V, U) = {tuple(g.projection_shape[1:])}",
                           f"shape {beam.shape}")
            if not np.isfinite(beam).all() or (beam < 0).any():
                raise fail("open_beam", "finite counts >= 0", f"range {float(np.nanmin(beam))}..{float(np.nanmax(beam))}")
            object.__setattr__(self, "open_beam", beam)
        object.__setattr__(self, "open_beam_frames", positive_int(self.open_beam_frames, "open_beam_frames"))
        for name in ("reference", "reference_segmentation"):
            ref = getattr(self, name)
            if getattr(ref, "lazy", False):  # read on demand, like the projections
                if tuple(ref.shape) != g.volume_shape_3d:
                    raise fail(name, f"shape (Z, Y, X) = {g.volume_shape_3d}", f"shape {tuple(ref.shape)}")
                continue
            if ref is not None:
                ref = np.asarray(ref, dtype=np.float32)
                ref = ref[None] if ref.ndim == 2 else ref
                if ref.shape != g.volume_shape_3d:
                    raise fail(name, f"shape (Z, Y, X) = {g.volume_shape_3d}", f"shape {ref.shape}")
                object.__setattr__(self, name, ref)

    def sinogram(self, row: int = 0) -> np.ndarray:
        """Sinogram ``(A, U)`` of detector row ``row``."""
        return self.projections[:, row]

    def subset(self, indices) -> "Scan":
        """The same scan restricted to the projections at ``indices``."""
        g = self.geometry.subset(indices)
        idx = np.asarray(indices)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx
        proj = self.projections.take_angles(idx) if self.lazy else self.projections[idx]
        return dataclasses.replace(self, projections=proj, geometry=g,
                                   metadata={**self.metadata, "subset": f"{idx.size} of {self.geometry.n_angles} angles"})

    def arc(self, range_rad: float, start_rad: float = 0.0) -> "Scan":
        """Limited-angle scan: the projections in ``[start, start + range]`` (radians)."""
        return self.subset(self.geometry.arc_indices(range_rad, start_rad))

    def sparse(self, n_angles: int) -> "Scan":
        """Sparse-view scan: ``n_angles`` projections spread over the scan."""
        return self.subset(self.geometry.sparse_indices(n_angles))

    def load(self) -> "Scan":
        """The same scan with every projection in memory (a no-op for in-memory scans)."""
        if not self.lazy:
            return self
        ref = self.reference
        return dataclasses.replace(self, projections=np.asarray(self.projections),
                                   reference=None if ref is None else np.asarray(ref))

    def describe(self) -> dict:
        # a lazy scan is described from its middle row: `info` must not read 30 GB
        sample = self.sinogram(self.geometry.n_rows // 2) if self.lazy else self.projections
        return {"projections_shape_AVU": list(self.projections.shape),
                "value_range" + ("_middle_row" if self.lazy else ""): [float(sample.min()), float(sample.max())],
                "lazy": self.lazy,
                "geometry": self.geometry.describe(),
                "has_reference": self.reference is not None,
                "has_reference_segmentation": self.reference_segmentation is not None,
                **{k: v for k, v in self.metadata.items() if isinstance(v, (str, int, float))}}


@dataclass(frozen=True, eq=False)
class PtychoScan:
    """A ptycho-tomography measurement.

    Parameters
    ----------
    patterns : ndarray, shape (A, J, Q, Q), float32
        Photon counts (or intensities when ``photons`` is None), zero frequency centred.
    geometry : tomolearn.geometry.PtychoGeometry
    probe : ndarray, shape (M, Q, Q), complex64
        Probe modes (total power 1 per position when ``photons`` is given).
    photons : float or None
        Incident photons per pattern: ``patterns / photons`` are intensities per unit power.
    reference : ndarray, shape (Z, Y, X), optional
        Ground-truth δ of a simulation (never used for reconstruction).
    metadata : dict

    Notes
    -----
    Its forward model is :meth:`tomolearn.physics.MultisliceOperator.from_scan`.

    Raises
    ------
    ValueError
        If the patterns do not match the geometry or the probe.
    """

    patterns: np.ndarray
    geometry: object
    probe: np.ndarray
    photons: float | None = None
    reference: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    kind = "diffraction"

    def __post_init__(self) -> None:
        g = self.geometry
        if tuple(np.shape(self.patterns)) != g.data_shape:
            raise fail("patterns", f"shape (A, J, Q, Q) = {g.data_shape} to match the angles, positions and "
                       "pattern size", f"shape {tuple(np.shape(self.patterns))}")
        q = g.pattern_size
        if np.ndim(self.probe) != 3 or np.shape(self.probe)[1:] != (q, q):
            raise fail("probe", f"modes (M, {q}, {q})", f"shape {np.shape(self.probe)}")
        if self.reference is not None and tuple(np.shape(self.reference)) != g.volume_shape:
            raise fail("reference", f"a volume of shape {g.volume_shape}", f"shape {np.shape(self.reference)}")

    def intensities(self, indices=None) -> np.ndarray:
        """Patterns per unit incident power ``(A', J, Q, Q)`` (what the operator predicts) of the angles at
        ``indices`` (all by default; read per batch by the per-angle algorithms)."""
        p = np.asarray(self.patterns if indices is None else self.patterns[indices], dtype=np.float32)
        return p / np.float32(self.photons) if self.photons else p

    def modes(self, n_modes: int | None = None) -> np.ndarray:
        """The first ``n_modes`` probe modes ``(M', Q, Q)`` (all by default).

        Raises
        ------
        ValueError
            If ``n_modes`` is not a positive integer.
        """
        return self.probe if n_modes is None else self.probe[:positive_int(n_modes, "n_modes")]

    def subset(self, indices) -> "PtychoScan":
        """The scan restricted to the angles at ``indices`` (e.g. a reduced-angle acquisition)."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        return PtychoScan(np.asarray(self.patterns)[idx], self.geometry.subset(idx), self.probe, self.photons,
                          self.reference, {**self.metadata, "angle_indices": idx.tolist()})

    def describe(self) -> dict:
        g = self.geometry
        return {**g.describe(), "patterns_shape": list(g.data_shape), "probe_modes": int(len(self.probe)),
                "photons_per_pattern": self.photons, "has_ground_truth": self.reference is not None,
                **{k: v for k, v in self.metadata.items() if isinstance(v, (str, int, float))}}
