"""Volume writers (HDF5, TIFF) with atomic writes and no silent overwrite."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .._files import make_user_readable
from .._checks import fail

FORMATS = (".h5", ".hdf5", ".tif", ".tiff")


def _check_target(path: Path, overwrite: bool) -> None:
    if path.suffix.lower() not in FORMATS:
        raise fail("path", f"an output ending in {', '.join(FORMATS)}", repr(path.name))
    if path.exists() and not overwrite:
        raise FileExistsError(f"path: {str(path)!r} exists; choose another name or pass --overwrite")
    if not path.parent.exists():
        raise FileNotFoundError(f"path: folder {str(path.parent)!r} does not exist; create it first")


def save_volume(path, volume, voxel_size: float = 1.0, unit: str = "px", attrs: dict | None = None,
                overwrite: bool = False, extra: dict | None = None) -> Path:
    """Write a volume ``(Z, Y, X)`` or slice ``(Y, X)`` to HDF5 (``/volume``) or TIFF.

    The file is written under a temporary name in the same folder and renamed, so a crash
    never leaves a half-written output.

    Parameters
    ----------
    path : str or Path
        ``.h5``/``.hdf5`` or ``.tif``/``.tiff``.
    volume : ndarray
    voxel_size, unit : float, str
        Stored as attributes (HDF5) or resolution metadata (TIFF).
    attrs : dict, optional
        Extra HDF5 attributes of ``/volume`` (method, geometry, ...).
    overwrite : bool
    extra : dict of ndarray, optional
        HDF5 only: more datasets to store beside ``/volume`` (e.g. ``segmentation``).

    Returns
    -------
    Path

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        On an unknown extension.
    """
    path = Path(path)
    _check_target(path, overwrite)
    vol = np.asarray(volume)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    make_user_readable(tmp)
    try:
        if path.suffix.lower() in (".h5", ".hdf5"):
            import h5py

            with h5py.File(tmp, "w") as f:
                d = f.create_dataset("volume", data=vol, compression="gzip", compression_opts=3)
                d.attrs.update({"voxel_size": voxel_size, "unit": unit, "axes": "ZYX"[-vol.ndim:]})
                for k, v in (attrs or {}).items():
                    d.attrs[k] = v if isinstance(v, (int, float, str)) else str(v)
                for k, v in (extra or {}).items():
                    f.create_dataset(k, data=np.asarray(v), compression="gzip", compression_opts=3)
        else:
            import tifffile

            tifffile.imwrite(tmp, vol.astype(np.float32), imagej=True,
                             resolution=(1 / voxel_size, 1 / voxel_size),
                             metadata={"spacing": voxel_size, "unit": unit, "axes": "ZYX"[-vol.ndim:]})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_volume(path) -> np.ndarray:
    """Read ``/volume`` of an HDF5 file, level 0 of an OME-Zarr, or the pages of a TIFF."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path: no such file {str(path)!r}")
    if path.suffix.lower() == ".zarr":
        from .chunked import load_zarr_volume

        return load_zarr_volume(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            return f["volume"][...]
    import tifffile

    return tifffile.imread(path)
