"""MRC tilt series with a ``.rawtlt``/``.tlt`` angle file (electron tomography)."""
from __future__ import annotations

import warnings
from pathlib import Path

import mrcfile
import numpy as np

from .._checks import fail
from ._raw import read_angles_file
from ..geometry import ParallelGeometry
from ..scan import Scan


def load_mrc_tilt_series(path, angles_file=None, tilt_axis: str = "rows",
                         pixel_size: float | None = None, unit: str = "nm", angles_deg=None) -> Scan:
    """Read an MRC tilt series ``(tilt, row, col)`` and its tilt angles (degrees).

    Parameters
    ----------
    path : Path
    angles_file : path, optional
        Default: ``<stem>.rawtlt`` or ``<stem>.tlt`` beside the stack.
    tilt_axis : {"rows", "columns"}
        Direction of the tilt axis in the images: ``"rows"`` if it runs along the image rows
        (horizontal), ``"columns"`` if vertical. The projections are arranged so the axis runs
        along detector rows V (DESIGN convention), i.e. images are transposed for ``"rows"``.
    pixel_size : float, optional
        Default: the MRC header's voxel size (Angstrom) converted to ``unit`` if set, else 1 px.
    unit : str
    angles_deg : array_like, optional
        The tilt angles in degrees, one per image, instead of an angle file.

    Returns
    -------
    Scan
        Parallel-beam scan; values are the image intensities (HAADF is ~ linear in mass, so no
        -log is taken), shifted so that the background median is 0.

    Raises
    ------
    FileNotFoundError
        If no angle file is found.
    ValueError
        If the number of angles differs from the number of images, or ``tilt_axis`` is bad.
    """
    path = Path(path)
    if tilt_axis not in ("rows", "columns"):
        raise fail("tilt_axis", "'rows' or 'columns'", repr(tilt_axis))
    if angles_deg is not None and angles_file is not None:
        raise fail("angles_deg", "either angles or an angles file", "both")
    if angles_deg is not None:
        angles_deg = np.asarray(angles_deg, dtype=np.float64).ravel()
    elif angles_file is None:
        candidates = [path.with_suffix(s) for s in (".rawtlt", ".tlt")]
        found = [c for c in candidates if c.exists()]
        if not found:
            raise FileNotFoundError(f"angles_file: no {candidates[0].name} or {candidates[1].name} beside "
                                    f"{path.name}; pass --angles-file or --angles-deg (Python: angles_file=)")
        angles_file = found[0]
    if angles_deg is None:
        angles_deg = read_angles_file(angles_file)
    with warnings.catch_warnings():  # many instruments write non-standard headers
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            with mrcfile.open(path, permissive=True) as m:
                data = None if m.data is None else np.asarray(m.data, dtype=np.float32)
                header_px = float(m.voxel_size.x)
        except (ValueError, OSError, EOFError) as err:
            raise fail("path", "an MRC file (a header of 1024 bytes and image data)", f"{path.name!r} ({err})") from None
    if data is None or data.size == 0:
        raise fail("path", "an MRC file holding image data", "no data")
    if data.ndim != 3:
        raise fail("path", "a 3D MRC stack (tilt, row, col)", f"shape {data.shape}")
    if angles_deg.size != data.shape[0]:
        raise fail("angles_file" if angles_file is not None else "angles_deg", f"{data.shape[0]} angles (one per image)",
                   f"{angles_deg.size} angles")
    proj = np.ascontiguousarray(data.transpose(0, 2, 1)) if tilt_axis == "rows" else data
    proj = proj - np.median(proj)
    if pixel_size is None:
        # a header size of 0 or 1 Angstrom means "not set" in practice
        pixel_size, unit = (header_px / 10.0, "nm") if header_px > 1.0 else (1.0, "px")
    geometry = ParallelGeometry(np.deg2rad(angles_deg), n_detector=proj.shape[2], n_rows=proj.shape[1],
                                detector_spacing=pixel_size, voxel_size=pixel_size, unit=unit)
    return Scan(proj, geometry, metadata={"format": "mrc", "source": str(path), "angles_file": str(angles_file) if angles_file is not None else "(given)",
                                          "tilt_axis": tilt_axis})
