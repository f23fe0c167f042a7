"""Helsinki Tomography Challenge 2022 ``.mat`` files (fan beam, 2D).

The files carry a MATLAB struct ``CtDataFull`` or ``CtDataLimited`` with ``.sinogram``
``(A, U)`` line integrals and ``.parameters`` (angles in degrees and the geometry). The
angles and detector order map onto ASTRA's fan-beam frame as given (checked against the
official full-data reconstruction: correlation 0.999, ``tests/test_io.py``). The
reconstruction grid is 512 x 512 pixels of the effective pixel size, centred on the axis,
the grid of the official reconstructions and segmentations.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from .._checks import fail
from ..geometry import FanGeometry
from ..scan import Scan

GRID = (512, 512)


#: the geometry fields of ``parameters`` the reader uses
FIELDS = ("angles", "effectivePixelSizePost", "pixelSizePost", "distanceUnit", "distanceSourceOrigin",
          "distanceSourceDetector")


def _loadmat(path: Path, what: str = "path") -> dict:
    """``scipy.io.loadmat`` with a one-line error for files that are not MATLAB files (text, truncated, HDF5 v7.3)."""
    try:
        return scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except (ValueError, TypeError, OSError, NotImplementedError, IndexError, KeyError, EOFError,
            scipy.io.matlab.MatReadError) as err:  # scipy raises any of these on a file it cannot parse
        raise fail(what, "a MATLAB .mat file (v5/v7, as HTC2022 ships)", f"{path.name!r} ({err})",
                   "check the download; v7.3 files are HDF5 and need converting") from None


def _struct(path: Path):
    data = _loadmat(path)
    for key in ("CtDataFull", "CtDataLimited"):
        if key in data:
            return key, data[key]
    keys = [k for k in data if not k.startswith("__")]
    raise fail("path", "an HTC2022 file with a CtDataFull or CtDataLimited struct", f"variables {keys}")


def load_htc(path, volume_shape: tuple[int, int] = GRID, with_reference: bool = True) -> Scan:
    """Read an HTC2022 full or limited-angle ``.mat`` file.

    Parameters
    ----------
    path : Path
    volume_shape : (int, int)
        Reconstruction grid (pixels of ``effectivePixelSizePost``).
    with_reference : bool
        Attach ``*_recon_fbp_seg.mat`` (segmentation) and ``*_recon_fbp.mat`` (converted to
        attenuation per mm) found beside a full-data file, when the grid is 512 x 512.

    Returns
    -------
    Scan
        Fan-beam scan, one detector row; volumes in attenuation per mm.

    Raises
    ------
    ValueError
        If the file is not a MATLAB file, or not an HTC2022 data file (struct or geometry
        fields missing).

    References
    ----------
    A. Meaney, Z. Purisha, S. Siltanen, "Helsinki Tomography Challenge 2022 open tomographic
    dataset", arXiv:2209.12723; doi:10.5281/zenodo.6984868.
    """
    path = Path(path)
    key, s = _struct(path)
    for name in ("sinogram", "parameters"):
        if not hasattr(s, name):
            raise fail("path", f"an HTC2022 {key} struct with .sinogram and .parameters", f"no .{name}")
    p = s.parameters
    missing = [f for f in FIELDS if not hasattr(p, f)]
    if missing:
        raise fail("path", f"{key}.parameters with the geometry fields {', '.join(FIELDS)}",
                   f"{path.name!r} without {', '.join(missing)}")
    sino = np.atleast_2d(np.asarray(s.sinogram, dtype=np.float32))
    angles = np.deg2rad(np.atleast_1d(np.asarray(p.angles, dtype=np.float64)))
    if sino.shape[0] != angles.size:
        raise fail("sinogram", f"{angles.size} rows (one per angle in parameters.angles)", f"shape {sino.shape}")
    voxel = float(p.effectivePixelSizePost)
    geometry = FanGeometry(angles=angles, n_detector=sino.shape[1], detector_spacing=float(p.pixelSizePost),
                           volume_shape=tuple(volume_shape), voxel_size=voxel, unit=str(p.distanceUnit),
                           source_origin=float(p.distanceSourceOrigin),
                           origin_detector=float(p.distanceSourceDetector - p.distanceSourceOrigin))
    ref = seg = None
    stem = path.name.removesuffix(".mat")
    if with_reference and tuple(volume_shape) == GRID:
        seg_file = path.with_name(stem + "_recon_fbp_seg.mat")
        rec_file = path.with_name(stem + "_recon_fbp.mat")
        if seg_file.exists():
            seg = _loadmat(seg_file, "reference")["reconFullFbpSeg"].astype(np.float32)
        if rec_file.exists():  # official values are per pixel: convert to per mm
            ref = _loadmat(rec_file, "reference")["reconFullFbp"].astype(np.float32) / voxel
    meta = {"format": "htc2022", "source": str(path), "struct": key, "project": str(p.projectName),
            "unit": "1/mm"}
    return Scan(sino[:, None], geometry, reference=ref, reference_segmentation=seg, metadata=meta)
