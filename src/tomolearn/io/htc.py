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


def _read_mat(path: Path) -> dict:
    """The variables of a .mat file; whatever scipy's parser raises on it means the file is unreadable."""
    try:
        return scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - damaged files make the parser raise anything (UnboundLocalError...)
        raise ValueError(f"{type(err).__name__}: {err}") from None


def _loadmat(path: Path, what: str = "path") -> dict:
    """``scipy.io.loadmat`` with a one-line error for files that are not MATLAB files (text, truncated, HDF5 v7.3).

    Where the platform can fork, the file is parsed in a child process: scipy's MATLAB reader
    can crash the interpreter (segmentation fault) on some damaged files (scipy issue 6072 and
    its kin; found again by ``benchmarks/fuzz_readers.py``), which must end in an error line,
    not in the loss of the caller.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    errors = (ValueError, OSError, MemoryError)  # _read_mat's, and the pool's own
    hint = "check the download; v7.3 files are HDF5 and need converting"
    try:
        if "fork" not in multiprocessing.get_all_start_methods():
            return _read_mat(path)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            return pool.submit(_read_mat, path).result()
    except BrokenProcessPool:
        raise fail(what, "a MATLAB .mat file (v5/v7, as HTC2022 ships)", f"{path.name!r}, which crashed the MATLAB "
                   "reader (damaged)", hint) from None
    except errors as err:
        raise fail(what, "a MATLAB .mat file (v5/v7, as HTC2022 ships)", f"{path.name!r} ({err})", hint) from None


def _numbers(value, field: str, path: Path) -> np.ndarray:
    """A field as a float64 array; a damaged file's text, struct or sparse matrix is a one-line error."""
    import scipy.sparse

    if scipy.sparse.issparse(value) or isinstance(value, (str, bytes)):
        raise fail(field, "a numeric array", f"a {type(value).__name__} in {path.name!r}")
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(field, "a numeric array", f"a {type(value).__name__} in {path.name!r}") from None
    if not np.isfinite(out).all():
        raise fail(field, "finite numbers", f"NaN/inf in {path.name!r}")
    return out


def _number(value, field: str, path: Path) -> float:
    out = _numbers(value, field, path)
    if out.size != 1:
        raise fail(field, "one number", f"{out.size} values in {path.name!r}")
    return float(out.ravel()[0])


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
    sino = np.atleast_2d(_numbers(s.sinogram, f"{key}.sinogram", path)).astype(np.float32)
    angles = np.deg2rad(np.atleast_1d(_numbers(p.angles, f"{key}.parameters.angles", path)))
    if sino.ndim != 2 or sino.shape[0] != angles.size or angles.ndim != 1:
        raise fail("sinogram", f"{angles.size} rows (one per angle in parameters.angles)", f"shape {sino.shape}")
    geo = {f: _number(getattr(p, f), f"{key}.parameters.{f}", path) for f in FIELDS if f not in ("angles", "distanceUnit")}
    voxel = geo["effectivePixelSizePost"]
    geometry = FanGeometry(angles=angles, n_detector=sino.shape[1], detector_spacing=geo["pixelSizePost"],
                           volume_shape=tuple(volume_shape), voxel_size=voxel, unit=str(p.distanceUnit),
                           source_origin=geo["distanceSourceOrigin"],
                           origin_detector=geo["distanceSourceDetector"] - geo["distanceSourceOrigin"])
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
