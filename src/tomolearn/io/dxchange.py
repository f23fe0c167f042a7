"""Data Exchange HDF5 (APS): raw projections, flat and dark fields, angles in degrees."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .._checks import fail
from ..geometry import ParallelGeometry
from ..preprocess import find_center_of_rotation, minus_log, normalize
from ..scan import Scan


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
    if data.ndim == 2:
        data = data[:, None]
    if theta_deg.size != data.shape[0]:
        raise fail("exchange/theta", f"{data.shape[0]} angles (one per projection)", f"{theta_deg.size} angles")
    if flats is not None:
        darks = np.zeros_like(flats) if darks is None else darks
        proj = minus_log(normalize(data, flats, darks))
    else:
        proj = data  # already line integrals
    geometry = ParallelGeometry(np.deg2rad(theta_deg), n_detector=proj.shape[2], n_rows=proj.shape[1],
                                voxel_size=voxel_size, detector_spacing=voxel_size, unit=unit)
    if cor_offset is None and find_center:
        row = proj.shape[1] // 2 if center_row is None else int(center_row)
        cor_offset = find_center_of_rotation(proj[:, row], geometry.replace(n_rows=1))
    geometry = geometry.replace(cor_offset=float(cor_offset or 0.0))
    meta = {"format": "dataexchange", "source": str(path), "cor_offset_px": geometry.cor_offset,
            "flat_dark_corrected": flats is not None}
    return Scan(proj, geometry, metadata=meta)
