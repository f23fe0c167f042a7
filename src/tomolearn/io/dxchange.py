"""Data Exchange HDF5 (APS): raw projections, flat and dark fields, angles in degrees."""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from .._files import make_user_readable, quiet_release
from .._checks import fail
from ..scan import Scan
from ._raw import scan_from_counts
from .lazy import LazyDataset, LazyProjections, averaged_fields_from_file


def load_dxchange(path, cor_offset: float | None = None, find_center: bool = True,
                  center_row: int | None = None, voxel_size: float = 1.0, unit: str = "px",
                  lazy: bool = True) -> Scan:
    """Read a Data Exchange file into a parallel-beam scan of line integrals.

    Reads ``exchange/data`` ``(A, V, U)``, ``exchange/data_white``, ``exchange/data_dark`` and
    ``exchange/theta`` (degrees), normalises by the flat and dark fields and takes -log. The
    centre of rotation is ``cor_offset`` if given; otherwise the row to search it on is
    recorded (``metadata["centre_search_row"]``) and :func:`tomolearn.load_scan` finds it.

    Parameters
    ----------
    path : Path
    cor_offset : float, optional
        Known centre-of-rotation offset in detector columns.
    find_center : bool
        Ask for a centre search when ``cor_offset`` is None (else assume the detector centre).
    center_row : int, optional
        Row used for the search; default the middle row.
    voxel_size, unit : float, str
        Pixel size and its unit, if known.
    lazy : bool
        Read projections on demand, slab by slab (:class:`~tomolearn.io.lazy.LazyProjections`);
        only the flat and dark fields are read now. False loads everything.

    Returns
    -------
    Scan

    Raises
    ------
    ValueError
        If the file lacks ``exchange/data`` or ``exchange/theta``, or shapes disagree.

    References
    ----------
    F. De Carlo et al., "Scientific data exchange: a schema for HDF5-based storage of raw and
    analyzed data", J. Synchrotron Rad. 21 (2014) 1224-1230.
    """
    path = Path(path)
    with h5py.File(path, "r") as f:
        if "exchange/data" not in f:
            raise fail("path", "a Data Exchange file with exchange/data", f"groups {list(f.keys())}")
        ds = f["exchange/data"]
        if ds.ndim != 3:
            raise fail("exchange/data", "projections (A, V, U): angle, detector row, column",
                       f"a {ds.ndim}D dataset of shape {ds.shape} in {path.name!r}",
                       "a single sinogram is (A, 1, U): add the row axis")
        if np.issubdtype(ds.dtype, np.integer) and "exchange/data_white" not in f:
            raise fail("exchange/data", "line integrals (float) or raw counts WITH flat fields (exchange/data_white)",
                       f"{ds.dtype} counts without flat fields in {path.name!r}",
                       "add the flat and dark fields, or store -log(I/I0) as float32")
        if lazy:  # flats and darks averaged block by block; projections read slab by slab later
            flat, _ = (averaged_fields_from_file(path, "exchange/data_white", np.arange(len(f["exchange/data_white"])),
                                                 None) if "exchange/data_white" in f else (None, None))
            _, dark = (averaged_fields_from_file(path, "exchange/data_dark", None, np.arange(len(f["exchange/data_dark"])))
                       if "exchange/data_dark" in f else (None, None))
            data = LazyProjections(path, "exchange/data", np.arange(f["exchange/data"].shape[0]), flat, dark)
            flats = darks = None
        else:
            flats = f["exchange/data_white"][...] if "exchange/data_white" in f else None
            darks = f["exchange/data_dark"][...] if "exchange/data_dark" in f else None
            data = f["exchange/data"][...].astype(np.float32)
        if "exchange/theta" not in f:
            raise fail("path", "angles in exchange/theta (degrees)", "no exchange/theta")
        try:
            theta_deg = np.asarray(f["exchange/theta"][...], dtype=np.float64).ravel()
        except (TypeError, ValueError) as err:
            raise fail("exchange/theta", f"rotation angles in degrees (numbers) in {path.name!r}",
                       f"{f['exchange/theta'].dtype} values ({err})") from None
        if not np.isfinite(theta_deg).all():
            raise fail("exchange/theta", f"finite angles in degrees in {path.name!r}", "NaN/inf values")
        arc_deg = _exposure_arc_attr(f)
        truth = None
        if "simulation/ground_truth" in f:
            truth = LazyDataset(path, "simulation/ground_truth") if lazy else f["simulation/ground_truth"][...]
        if "simulation" in f and cor_offset is None:
            cor_offset = 0.0  # tomolearn simulations put the axis at the detector centre
        n_flats = len(f["exchange/data_white"]) if "exchange/data_white" in f else 0
    scan = scan_from_counts(data, flats, darks, theta_deg, {"format": "dataexchange", "source": str(path),
                                                            "n_flats": n_flats},
                            cor_offset, find_center, center_row, voxel_size, unit)
    if truth is not None and truth.shape == scan.geometry.volume_shape_3d:
        scan = dataclasses.replace(scan, reference=truth)
    if arc_deg:
        scan = dataclasses.replace(scan, geometry=scan.geometry.replace(exposure_arc=np.deg2rad(arc_deg)),
                                   metadata={**scan.metadata, "exposure_arc_deg": arc_deg})
    return scan


def _exposure_arc_attr(f) -> float:
    """A fly scan's rotation per exposure (degrees) from ``exchange`` or the simulation's attributes; 0 if absent."""
    for group in ("exchange", "simulation/ground_truth"):
        if group in f and "exposure_arc_deg" in f[group].attrs:
            try:
                value = float(f[group].attrs["exposure_arc_deg"])
            except (TypeError, ValueError):  # "" when the simulation was a step scan
                continue
            if not (np.isfinite(value) and value >= 0):
                raise fail("exposure_arc_deg", "a rotation >= 0 degrees per exposure", value)
            return value
    return 0.0


class DataExchangeWriter:
    """Write a Data Exchange file slab by slab (detector rows), atomically.

    Datasets are created at their full shape, filled with :meth:`write_rows`, and the file is
    renamed into place only when the ``with`` block ends without error; so volumes larger than
    memory (e.g. 512^3 simulations) are written in chunks and nothing half-written remains.

    Parameters
    ----------
    path : path
    n_angles, n_rows, n_cols : int
        Projection shape ``(A, V, U)``.
    theta_deg : array_like, shape (A,)
    n_flats : int
        Flat and dark frames (0: the data are line integrals).
    with_ground_truth : bool
        Also hold ``simulation/ground_truth`` ``(V, U, U)``.
    attrs : dict, optional
        Attributes of the ground truth (scenario, seed, ...).
    overwrite : bool

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """

    def __init__(self, path, n_angles: int, n_rows: int, n_cols: int, theta_deg, n_flats: int = 0,
                 with_ground_truth: bool = False, attrs: dict | None = None, overwrite: bool = False) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"output: {str(self.path)!r} exists; choose another name or pass --overwrite")
        if not self.path.parent.exists():
            raise FileNotFoundError(f"output: folder {str(self.path.parent)!r} does not exist")
        theta = np.asarray(theta_deg, dtype=np.float64).ravel()
        if theta.size != n_angles:
            raise fail("theta_deg", f"{n_angles} angles, one per projection", f"{theta.size}")
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".h5", dir=self.path.parent)
        self._f = None
        try:  # anything (a signal, a full disk) before the `with` block owns the file must remove it
            os.close(fd)
            make_user_readable(self._tmp)
            self._f = h5py.File(self._tmp, "w")
            self._layout(n_angles, n_rows, n_cols, theta, n_flats, with_ground_truth, attrs)
        except BaseException:
            if self._f is not None:
                f, self._f = self._f, None
                try:
                    f.close()
                except Exception:
                    quiet_release(f)
            Path(self._tmp).unlink(missing_ok=True)
            raise

    def _layout(self, n_angles, n_rows, n_cols, theta, n_flats, with_ground_truth, attrs) -> None:
        f = self._f
        f.attrs["implements"] = "exchange:simulation" if with_ground_truth else "exchange"
        opts = {"compression": "gzip", "compression_opts": 3}
        f.create_dataset("exchange/data", (n_angles, n_rows, n_cols), np.float32, chunks=(1, min(n_rows, 64), n_cols), **opts)
        f.create_dataset("exchange/theta", data=theta).attrs["units"] = "degrees"
        if n_flats:
            f.create_dataset("exchange/data_white", (n_flats, n_rows, n_cols), np.float32)
            f.create_dataset("exchange/data_dark", (n_flats, n_rows, n_cols), np.float32)
        if with_ground_truth:
            g = f.create_dataset("simulation/ground_truth", (n_rows, n_cols, n_cols), np.float32,
                                 chunks=(1, n_cols, n_cols), **opts)
            for k, v in (attrs or {}).items():
                g.attrs[k] = v if isinstance(v, (int, float, str)) else str(v)

    def write_rows(self, start: int, projections, flats=None, darks=None, ground_truth=None) -> None:
        """Fill detector rows ``start .. start + V_chunk`` (projections ``(A, V_chunk, U)``)."""
        stop = start + np.shape(projections)[1]
        self._f["exchange/data"][:, start:stop] = projections
        if flats is not None:
            self._f["exchange/data_white"][:, start:stop] = flats
            self._f["exchange/data_dark"][:, start:stop] = darks
        if ground_truth is not None:
            self._f["simulation/ground_truth"][start:stop] = ground_truth

    def attrs(self, values: dict) -> None:
        """Attributes of the ``exchange`` group (provenance, e.g. which scan high-dose pairs belong to)."""
        for k, v in values.items():
            self._f["exchange"].attrs[k] = v if isinstance(v, (int, float, str)) else str(v)

    def __enter__(self) -> "DataExchangeWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._f.close()  # may raise itself (a full disk): the temporary file must still go
        except BaseException:
            Path(self._tmp).unlink(missing_ok=True)
            f, self._f = self._f, None
            quiet_release(f)
            raise
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            Path(self._tmp).unlink(missing_ok=True)


def save_dxchange(path, projections, theta_deg, flats=None, darks=None, ground_truth=None,
                  attrs: dict | None = None, overwrite: bool = False) -> Path:
    """Write a whole Data Exchange file at once (see :class:`DataExchangeWriter`).

    ``exchange/data`` ``(A, V, U)``: raw counts when ``flats``/``darks`` are given, else line
    integrals; ``exchange/theta`` in degrees; a simulation's ground truth in
    ``simulation/ground_truth`` ``(V, U, U)`` with ``attrs``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If the angles do not match the projections.
    """
    data = np.asarray(projections, dtype=np.float32)
    if data.ndim != 3:
        raise fail("projections", "an array (A, V, U)", f"shape {data.shape}")
    n_flats = 0 if flats is None else len(flats)
    with DataExchangeWriter(path, *data.shape, theta_deg, n_flats, ground_truth is not None, attrs, overwrite) as w:
        w.write_rows(0, data, flats, darks, ground_truth)
    return Path(path)
