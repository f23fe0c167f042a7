"""A folder of TIFF projections with flat/dark TIFFs and an angle list (one angle per line)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from .._checks import fail
from .errors import damaged
from ..scan import Scan
from ._raw import read_angles_file, scan_from_counts

TIFF = ("*.tif", "*.tiff")


def _files(folder: Path, prefix: str) -> list[Path]:
    return sorted(p for pattern in TIFF for p in folder.glob(prefix + pattern))


def _find(folder: Path, name: str) -> Path | None:
    for d in (folder, folder.parent):
        if (d / name).exists():
            return d / name
    return None


def _read_images(files, shape=None) -> np.ndarray:
    """The 2D images of ``files`` stacked ``(N, V, U)``; a damaged or odd-sized file is named in the error."""
    import logging

    log = logging.getLogger("tifffile")
    level = log.level
    log.setLevel(logging.CRITICAL)  # its warnings about damaged tags would print beside our one-line error
    try:
        images = []
        for p in files:
            try:
                img = np.asarray(tifffile.imread(p))
            except Exception as err:  # noqa: BLE001 - a damaged TIFF makes its codecs raise anything (zlib.error...)
                raise damaged(p, err, "TIFF") from None
            expected = shape if shape is not None else (images[0].shape if images else None)
            if img.ndim != 2 or (expected is not None and img.shape != tuple(expected)):
                raise fail("path", f"2D images of one size {tuple(expected) if expected else ''}".rstrip(),
                           f"{p.name!r} of shape {img.shape}", "check or remove that file")
            images.append(img)
        return np.stack(images)
    finally:
        log.setLevel(level)


def load_tiff_stack(folder, angles_file=None, angle_offset: int | None = None, projection_prefix: str = "raw_",
                    cor_offset: float | None = None, find_center: bool = True, center_row: int | None = None,
                    voxel_size: float = 1.0, unit: str = "px", angles_deg=None) -> Scan:
    """Read projections ``<prefix>*.tif(f)``, flats ``flat*``, darks ``dark*`` and angles (degrees).

    Flats, darks and ``angles.txt`` are looked for in the folder and its parent.

    Parameters
    ----------
    folder : Path
        Folder holding the projection TIFFs (sorted by name = acquisition order).
    angles_file : path, optional
        Text file with one angle in degrees per line; default ``angles.txt``.
    angle_offset : int, optional
        Index of the first projection's angle in that list, required when the list is longer
        than the projections (lists that also hold the angles of flat and dark frames, e.g.
        Diamond I13: 10).
    projection_prefix : str
    cor_offset, find_center, center_row, voxel_size, unit
        As :func:`tomolearn.io.dxchange.load_dxchange`.
    angles_deg : array_like, optional
        The angles in degrees, one per projection, instead of an angle file.

    Returns
    -------
    Scan

    Raises
    ------
    FileNotFoundError
        If no projections or no angle list are found.
    ValueError
        If the angle list is too short for the projections.
    """
    folder = Path(folder)
    files = _files(folder, projection_prefix)
    if not files:
        raise FileNotFoundError(f"folder: no {projection_prefix}*.tif(f) projections in {str(folder)!r}")
    if angles_deg is not None:
        if angles_file is not None:
            raise fail("angles_deg", "either angles or an angles file", "both")
        angles = np.asarray(angles_deg, dtype=np.float64).ravel()
        angles_path = Path("--angles-deg")
    else:
        angles_path = Path(angles_file) if angles_file else _find(folder, "angles.txt")
        if angles_path is None or not angles_path.exists():
            raise FileNotFoundError(f"angles_file: no angles.txt in {str(folder)!r} or its parent; pass --angles-file "
                                    "or --angles-deg (Python: angles_file=)")
        angles = read_angles_file(angles_path)
    if angle_offset is None:
        if angles.size != len(files):
            raise fail("angle_offset", f"the index of the first projection's angle, since {angles_path.name} "
                       f"lists {angles.size} angles for {len(files)} projections", "none",
                       "pass --angle-offset N (Python: load_scan(folder, angle_offset=N))")
        angle_offset = 0
    if angle_offset < 0 or angle_offset + len(files) > angles.size:
        raise fail("angle_offset", f"an offset with {len(files)} angles after it in {angles_path.name} "
                   f"({angles.size} angles)", angle_offset)
    data = _read_images(files).astype(np.float32)
    flat_files = [p for d in (folder, folder.parent) for p in _files(d, "flat")]
    dark_files = [p for d in (folder, folder.parent) for p in _files(d, "dark")]
    flats = _read_images(flat_files, data.shape[1:]) if flat_files else None
    darks = _read_images(dark_files, data.shape[1:]) if dark_files else None
    meta = {"format": "tiff", "source": str(folder), "angles_file": str(angles_path), "angle_offset": angle_offset,
            "n_flats": len(flat_files), "n_darks": len(dark_files)}
    return scan_from_counts(data, flats, darks, angles[angle_offset:angle_offset + len(files)], meta,
                            cor_offset, find_center, center_row, voxel_size, unit)
