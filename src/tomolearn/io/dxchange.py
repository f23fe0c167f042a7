"""Data Exchange HDF5 (APS): raw projections, flat and dark fields, angles in degrees."""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from .._checks import fail
from ..scan import Scan
from ._raw import scan_from_counts


def load_dxchange(path, cor_offset: float | None = None, find_center: bool = True,
                  center_row: int | None = None, voxel_size: float = 1.0, unit: str = "px") -> Scan:
    """Read a Data Exchange file into a parallel-beam scan of line integrals.

    Reads ``exchange/data`` ``(A, V, U)``, ``exchange/data_white``, ``exchange/data_dark`` and
    ``exchange/theta`` (degrees), normalises by the flat and dark fields, takes -log, and
    finds the centre of rotation on one row unless ``cor_offset`` is given.

    Parameters
    ----------
    path : Path
    cor_offset : float, optional
        Known centre-of-rotation offset in detector columns.
    find_center : bool
        Search for the centre when ``cor_offset`` is None (else assume the detector centre).
    center_row : int, optional
        Row used for the search; default the middle row.
    voxel_size, unit : float, str
        Pixel size and its unit, if known.

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
        data = f["exchange/data"][...].astype(np.float32)
        flats = f["exchange/data_white"][...] if "exchange/data_white" in f else None
        darks = f["exchange/data_dark"][...] if "exchange/data_dark" in f else None
        if "exchange/theta" not in f:
            raise fail("path", "angles in exchange/theta (degrees)", "no exchange/theta")
        theta_deg = np.asarray(f["exchange/theta"][...], dtype=np.float64).ravel()
        truth = f["simulation/ground_truth"][...] if "simulation/ground_truth" in f else None
        if "simulation" in f and cor_offset is None:
            cor_offset = 0.0  # tomolearn simulations put the axis at the detector centre
    scan = scan_from_counts(data, flats, darks, theta_deg, {"format": "dataexchange", "source": str(path)},
                            cor_offset, find_center, center_row, voxel_size, unit)
    if truth is not None and truth.shape == scan.geometry.volume_shape_3d:
        scan = dataclasses.replace(scan, reference=truth)
    return scan


def save_dxchange(path, projections, theta_deg, flats=None, darks=None, ground_truth=None,
                  attrs: dict | None = None, overwrite: bool = False) -> Path:
    """Write a Data Exchange file: ``exchange/data`` ``(A, V, U)``, ``data_white``, ``data_dark``, ``theta``.

    With flats the data are raw counts; without, line integrals. A simulation's ground truth goes
    to ``simulation/ground_truth`` ``(Z, Y, X)`` with the scenario in its attributes. Written
    under a temporary name and renamed.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If the angles do not match the projections.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"output: {str(path)!r} exists; choose another name or pass --overwrite")
    if not path.parent.exists():
        raise FileNotFoundError(f"output: folder {str(path.parent)!r} does not exist")
    data = np.asarray(projections, dtype=np.float32)
    theta = np.asarray(theta_deg, dtype=np.float64).ravel()
    if data.ndim != 3 or theta.size != data.shape[0]:
        raise fail("theta_deg", f"{data.shape[0]} angles for projections (A, V, U)", f"{theta.size} for shape {data.shape}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".h5", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["implements"] = "exchange:simulation" if ground_truth is not None else "exchange"
            chunks = (1, *data.shape[1:])
            f.create_dataset("exchange/data", data=data, chunks=chunks, compression="gzip", compression_opts=3)
            f.create_dataset("exchange/theta", data=theta).attrs["units"] = "degrees"
            if flats is not None:
                f.create_dataset("exchange/data_white", data=np.asarray(flats, np.float32))
            if darks is not None:
                f.create_dataset("exchange/data_dark", data=np.asarray(darks, np.float32))
            if ground_truth is not None:
                g = f.create_dataset("simulation/ground_truth", data=np.asarray(ground_truth, np.float32),
                                     chunks=(1, *np.shape(ground_truth)[1:]), compression="gzip", compression_opts=3)
                for k, v in (attrs or {}).items():
                    g.attrs[k] = v if isinstance(v, (int, float, str)) else str(v)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
