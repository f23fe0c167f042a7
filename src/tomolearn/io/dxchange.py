"""Data Exchange HDF5 (APS): raw projections, flat and dark fields, angles in degrees."""
from __future__ import annotations

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
    return scan_from_counts(data, flats, darks, theta_deg, {"format": "dataexchange", "source": str(path)},
                            cor_offset, find_center, center_row, voxel_size, unit)
