"""Ptycho-tomography scans: diffraction patterns per angle and scan position, in HDF5.

Layout (one file; the simulated ground truth where the other simulated scans keep it)::

    /ptycho/data             (A, J, Q, Q) float32  photon counts, zero frequency centred
    /ptycho/theta            (A,)  degrees
    /ptycho/positions        (J, 2) probe centres (z, x) in pixels of the projection plane
    /ptycho/probe            (M, Q, Q) complex64  probe modes at the object's entrance
    /ptycho                  attrs: energy_kev, voxel_size, unit, photons_per_pattern,
                                    volume_shape (Z, Y, X), scan_pattern
    /simulation/ground_truth (Z, Y, X) float32  δ (dimensionless), attrs: how it was simulated

Written angle by angle to a temporary file renamed into place at the end (nothing
half-written is ever left under the output's name).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from .._files import make_user_readable
from .._checks import fail
from ..geometry import PtychoGeometry
from ..scan import PtychoScan

GROUP = "ptycho"


def is_ptycho_file(path) -> bool:
    """True for an HDF5 file holding ``/ptycho/data``."""
    try:
        with h5py.File(path, "r") as f:
            return f"{GROUP}/data" in f
    except OSError:
        return False


class PtychoWriter:
    """Write a ptycho-tomography file angle by angle, atomically (see the module docstring).

    Parameters
    ----------
    path : path
    geometry : PtychoGeometry
    probe : ndarray, shape (M, Q, Q)
    photons : float or None
    ground_truth : ndarray, shape (Z, Y, X), optional
    attrs : dict, optional
        Attributes of the ground truth (how it was simulated).
    overwrite : bool

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        If the folder does not exist.
    """

    def __init__(self, path, geometry: PtychoGeometry, probe, photons: float | None = None, ground_truth=None,
                 attrs: dict | None = None, overwrite: bool = False, scan_pattern: str = "") -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".h5", ".hdf5"):
            raise fail("output", "an HDF5 file name ending in .h5", repr(self.path.name))
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"output: {str(self.path)!r} exists; choose another name or pass --overwrite")
        if not self.path.parent.exists():
            raise FileNotFoundError(f"output: folder {str(self.path.parent)!r} does not exist")
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".h5", dir=self.path.parent)
        os.close(fd)
        make_user_readable(self._tmp)
        try:
            self._f = h5py.File(self._tmp, "w")
            f = self._f
            f.attrs["implements"] = "ptycho_tomography" + (":simulation" if ground_truth is not None else "")
            grp = f.create_group(GROUP)
            a, j, q, _ = geometry.data_shape
            grp.create_dataset("data", (a, j, q, q), np.float32, chunks=(1, j, q, q), compression="gzip",
                               compression_opts=3)
            grp.create_dataset("theta", data=np.degrees(geometry.angles)).attrs["units"] = "degrees"
            grp.create_dataset("positions", data=geometry.positions).attrs["units"] = "pixel (z, x) of probe centre"
            grp.create_dataset("probe", data=np.asarray(probe, dtype=np.complex64))
            for k, v in {"energy_kev": geometry.energy_kev, "voxel_size": geometry.voxel_size, "unit": geometry.unit,
                         "photons_per_pattern": float(photons) if photons else 0.0,
                         "volume_shape": list(geometry.volume_shape), "scan_pattern": scan_pattern}.items():
                grp.attrs[k] = v
            if ground_truth is not None:
                gt = f.create_dataset("simulation/ground_truth", data=np.asarray(ground_truth, dtype=np.float32),
                                      chunks=(1, *geometry.volume_shape[1:]), compression="gzip", compression_opts=3)
                gt.attrs["quantity"] = "delta (refractive-index decrement)"
                gt.attrs["voxel_size"] = geometry.voxel_size
                gt.attrs["unit"] = geometry.unit
                for k, v in (attrs or {}).items():
                    gt.attrs[k] = v if isinstance(v, (int, float, str)) else str(v)
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        try:
            if getattr(self, "_f", None) is not None:
                self._f.close()
        finally:
            Path(self._tmp).unlink(missing_ok=True)

    def write_angles(self, start: int, patterns) -> None:
        """Store patterns ``(A_chunk, J, Q, Q)`` of the angles ``start .. start + A_chunk``."""
        data = np.asarray(patterns, dtype=np.float32)
        self._f[f"{GROUP}/data"][start:start + len(data)] = data

    def __enter__(self) -> "PtychoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            self._f.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            Path(self._tmp).unlink(missing_ok=True)
            raise


def load_ptycho(path) -> PtychoScan:
    """Read a ptycho-tomography HDF5 file (layout in the module docstring).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If a dataset or attribute is missing or inconsistent (named in the message).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path: no such file {str(p)!r}")
    with h5py.File(p, "r") as f:
        if GROUP not in f:
            raise fail("path", "a ptycho-tomography file with a /ptycho group", repr(p.name))
        grp = f[GROUP]
        for name in ("data", "theta", "positions", "probe"):
            if name not in grp:
                raise fail("path", f"a dataset /{GROUP}/{name}", f"a file without it ({p.name!r})")
        for name in ("energy_kev", "voxel_size", "unit", "volume_shape"):
            if name not in grp.attrs:
                raise fail("path", f"the attribute {name!r} of /{GROUP}", f"a file without it ({p.name!r})")
        attrs = dict(grp.attrs)
        geometry = PtychoGeometry(np.radians(grp["theta"][()]), tuple(int(s) for s in attrs["volume_shape"]),
                                  grp["positions"][()], int(grp["data"].shape[-1]), float(attrs["voxel_size"]),
                                  str(attrs["unit"]), float(attrs["energy_kev"]))
        patterns = grp["data"][()]
        probe = grp["probe"][()]
        reference = f["simulation/ground_truth"][()] if "simulation/ground_truth" in f else None
        meta = {"source": str(p), "scan_pattern": str(attrs.get("scan_pattern", ""))}
        if reference is not None:
            meta.update({f"simulation_{k}": (v.item() if hasattr(v, "item") else v)
                         for k, v in f["simulation/ground_truth"].attrs.items() if np.ndim(v) == 0})
    if not np.isfinite(patterns).all() or (patterns < 0).any():
        raise fail("patterns", "finite, non-negative counts", f"NaN/inf or negative values in {p.name!r}")
    photons = float(attrs.get("photons_per_pattern", 0.0)) or None
    return PtychoScan(patterns, geometry, probe, photons, reference, meta)


__all__ = ["PtychoScan", "PtychoWriter", "is_ptycho_file", "load_ptycho"]  # PtychoScan lives in tomolearn.scan
