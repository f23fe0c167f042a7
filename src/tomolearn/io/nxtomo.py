"""NeXus NXtomo files (e.g. Diamond fly scans): image_key separates projections, flats, darks."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np

from .._checks import fail
from ..scan import Scan
from ._raw import scan_from_counts
from .lazy import LazyProjections, averaged_fields_from_file

DATA_PATHS = ("entry/imaging/data", "entry/data/data", "entry/instrument/detector/data", "entry1/tomo_entry/data/data")
KEY_PATHS = ("entry/instrument/imaging/image_key", "entry/instrument/detector/image_key", "entry/data/image_key",
             "entry1/tomo_entry/instrument/detector/image_key")
ANGLE_PATHS = ("entry/imaging/gts_theta_value", "entry/data/rotation_angle", "entry/sample/rotation_angle",
               "entry1/tomo_entry/data/rotation_angle")
COUNT_TIME_PATHS = ("entry/instrument/detector/count_time", "entry/instrument/imaging/count_time",
                    "entry1/tomo_entry/instrument/detector/count_time")
DURATION_PATHS = ("entry/diamond_scan/duration",)


def _scalar(f: h5py.File, paths: tuple[str, ...]) -> tuple[float | None, str]:
    for p in paths:
        try:
            if p in f and f[p].size == 1:
                units = f[p].attrs.get("units", "")
                units = units.decode() if isinstance(units, bytes) else str(units)
                return float(np.asarray(f[p][()]).ravel()[0]), units
        except (KeyError, OSError, TypeError, ValueError):
            continue
    return None, ""


def exposure_arc_deg(step_deg: float, count_time_s: float | None, frame_period_s: float | None) -> float:
    """Rotation during one exposure of a continuous scan: ``step × count_time / frame period``.

    Without the frame period the exposure is taken to fill the whole step (the most blur a
    continuous scan can have); without a count time the scan is taken as a step scan (0).
    """
    if count_time_s is None or count_time_s <= 0 or step_deg <= 0:
        return 0.0
    if frame_period_s is None or frame_period_s <= 0:
        return float(step_deg)
    return float(step_deg * min(1.0, count_time_s / frame_period_s))


def _first_path(f: h5py.File, paths: tuple[str, ...], what: str) -> str:
    """The first of ``paths`` present in ``f`` (the path in THIS file, even behind an external link)."""
    for p in paths:
        try:
            if p in f:
                f[p]  # resolve it now: a broken external link fails here
                return p
        except (KeyError, OSError):  # a broken external link
            continue
    raise fail("path", f"an NXtomo file with {what} at one of {', '.join(paths)}", "none found",
               "keep the folder layout of external links (e.g. k11-18014/*.h5 beside the .nxs)")


def _first(f: h5py.File, paths: tuple[str, ...], what: str):
    return f[_first_path(f, paths, what)]


def load_nxtomo(path, cor_offset: float | None = None, find_center: bool = True, center_row: int | None = None,
                voxel_size: float = 1.0, unit: str = "px", lazy: bool = True) -> Scan:
    """Read an NXtomo file: projections (image_key 0), flats (1), darks (2), angles in degrees.

    Per-frame angles are taken from the file (encoder readings in a fly scan), so an uneven
    rotation is represented exactly. The median angular step is stored in the metadata as
    ``angular_step_deg``; the geometry's ``exposure_arc`` (the rotation during one exposure,
    the blur of a fly scan) is ``step × count_time / frame period`` (:func:`exposure_arc_deg`),
    the frame period being the scan duration over the frames where the file has it.

    Parameters
    ----------
    path : Path
    cor_offset, find_center, center_row, voxel_size, unit, lazy
        As :func:`tomolearn.io.dxchange.load_dxchange`.

    Returns
    -------
    Scan

    Raises
    ------
    ValueError
        If data, image_key or angles are missing or their lengths disagree.

    References
    ----------
    NeXus NXtomo application definition, https://manual.nexusformat.org/classes/applications/NXtomo.html
    """
    path = Path(path)
    with h5py.File(path, "r") as f:
        data_path = _first_path(f, DATA_PATHS, "frames")
        data_ds = f[data_path]
        key = np.asarray(_first(f, KEY_PATHS, "image_key")[...]).ravel()
        angles = np.asarray(_first(f, ANGLE_PATHS, "rotation angles")[...], dtype=np.float64).ravel()
        if not (key.size == angles.size == data_ds.shape[0]):
            raise fail("path", "as many image_key entries and angles as frames",
                       f"{data_ds.shape[0]} frames, {key.size} keys, {angles.size} angles")
        proj_idx = np.flatnonzero(key == 0)
        n_flats, n_darks = int((key == 1).sum()), int((key == 2).sum())
        if lazy:  # flats and darks averaged block by block; projections read slab by slab later
            flat, dark = averaged_fields_from_file(path, data_path, np.flatnonzero(key == 1), np.flatnonzero(key == 2))
            data, flats, darks = LazyProjections(path, data_path, proj_idx, flat, dark), None, None
        else:
            flats = data_ds[np.flatnonzero(key == 1)] if n_flats else None
            darks = data_ds[np.flatnonzero(key == 2)] if n_darks else None
            data = data_ds[proj_idx[0]:proj_idx[-1] + 1][proj_idx - proj_idx[0]].astype(np.float32)
        count_time, _ = _scalar(f, COUNT_TIME_PATHS)
        duration, units = _scalar(f, DURATION_PATHS)
    theta = angles[proj_idx]
    step = float(np.median(np.abs(np.diff(theta)))) if theta.size > 1 else 0.0
    # Diamond's scan duration is in ms (no units attribute): the frame period is duration / frames
    period = None if duration is None else duration * (1e-3 if units in ("", "ms") else 1.0) / key.size
    arc = exposure_arc_deg(step, count_time, period)
    meta = {"format": "nxtomo", "source": str(path), "angular_step_deg": step,
            "n_flats": n_flats, "n_darks": n_darks, "count_time_s": count_time, "frame_period_s": period,
            "exposure_arc_deg": arc}
    scan = scan_from_counts(data, flats, darks, theta, meta, cor_offset, find_center, center_row, voxel_size, unit)
    return dataclasses.replace(scan, geometry=scan.geometry.replace(exposure_arc=np.deg2rad(arc)))
