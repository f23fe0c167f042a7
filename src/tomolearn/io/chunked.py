"""Volumes written slab by slab, resumable: chunked HDF5 (``/volume``) and OME-Zarr.

A reconstruction of 2048 slices writes each finished slab at once instead of holding the
volume. The output grows under a hidden partial name beside the target
(``.NAME.partial``); after each slab's data are flushed, its rows are marked done, so an
interrupted run (Ctrl-C, SIGKILL, a node lost) continues with ``resume=True`` from the first
unfinished slab and never takes half-written rows as finished. When every row is done the
partial output is renamed to the target in one step.

OME-Zarr outputs (``.zarr``) hold one multiscale level ``0`` ``(Z, Y, X)`` with the voxel size
as scale (napari and ``ome-zarr`` open them) and the trust maps as arrays beside it.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from .._files import make_user_readable

from .._checks import fail

CHUNKED_FORMATS = (".h5", ".hdf5", ".zarr")
PROGRESS = "tomolearn_rows_done.json"  # OME-Zarr partial outputs: finished row ranges
#: ``unit`` spellings -> OME-NGFF (UDUNITS-2) names; others (e.g. "px") are stored without a unit
OME_UNITS = {"nm": "nanometer", "um": "micrometer", "µm": "micrometer", "mm": "millimeter", "cm": "centimeter",
             "m": "meter", "angstrom": "angstrom", "Å": "angstrom"}


def partial_path(path) -> Path:
    """Where an unfinished output grows: ``.NAME.partial`` beside ``NAME``."""
    p = Path(path)
    return p.with_name(f".{p.name}.partial")


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()


class ChunkedVolume:
    """A volume ``(Z, Y, X)`` (and optional maps of the same shape) written slab by slab.

    Parameters
    ----------
    path : path
        ``.h5``/``.hdf5`` (datasets ``/volume`` and one per map) or ``.zarr`` (OME-Zarr).
    shape : (int, int, int)
    voxel_size, unit : float, str
    signature : dict
        What makes two runs the same (method, parameters, source, shape): a partial output is
        resumed only if it carries the same signature.
    maps : dict of str -> dtype
        Extra arrays of the volume's shape (trust maps float32, a segmentation uint8, ...).
    row_values : tuple of str
        Names of float32 arrays of one value per slice ``(Z,)`` (NaN until written), e.g. the
        data residual's norm per slice.
    attrs : dict
        Attributes stored with the volume (method, source, ...).
    chunk_rows : int
        Slices per storage chunk.
    overwrite, resume : bool

    Raises
    ------
    ValueError
        On an unknown extension, or a partial output from other settings.
    FileExistsError
        If ``path`` exists (without ``overwrite``) or a partial output exists (without
        ``resume`` or ``overwrite``).
    FileNotFoundError
        If the output folder does not exist.
    """

    def __init__(self, path, shape, voxel_size: float = 1.0, unit: str = "px", signature: dict | None = None,
                 maps: dict | None = None, attrs: dict | None = None, chunk_rows: int = 16,
                 overwrite: bool = False, resume: bool = False, row_values: tuple = ()) -> None:
        self.path = Path(path)
        self.kind = self.path.suffix.lower()
        if self.kind not in CHUNKED_FORMATS:
            raise fail("output", f"a chunked output ending in {', '.join(CHUNKED_FORMATS)}", repr(self.path.name))
        if not self.path.parent.exists():
            raise FileNotFoundError(f"output: folder {str(self.path.parent)!r} does not exist; create it first")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"output: {str(self.path)!r} exists; choose another name or pass --overwrite")
        self.shape = tuple(int(s) for s in shape)
        self.maps = dict(maps or {})
        self.row_values = tuple(row_values)
        self.signature = json.dumps(signature or {}, sort_keys=True, default=str)
        self.partial = partial_path(self.path)
        if self.partial.exists():
            if resume:
                self._open_existing()
                return
            if not overwrite:
                raise FileExistsError(f"output: an interrupted run left {str(self.partial)!r}; pass --resume to "
                                      "continue it or --overwrite to start again")
            _remove(self.partial)
        self._create(voxel_size, unit, attrs or {}, max(1, min(int(chunk_rows), self.shape[0])))

    # ---- storage ----------------------------------------------------------------------------
    def _create(self, voxel_size, unit, attrs, chunk_rows) -> None:
        chunks = (chunk_rows, *self.shape[1:])
        meta = {"voxel_size": float(voxel_size), "unit": unit, "axes": "ZYX",
                **{k: v if isinstance(v, (int, float, str)) else str(v) for k, v in attrs.items()}}
        if self.kind == ".zarr":
            import zarr

            self._root = zarr.open_group(str(self.partial), mode="w")
            self._arrays = {"volume": self._root.create_array("0", shape=self.shape, chunks=chunks, dtype="float32",
                                                              fill_value=0.0)}
            for name, dtype in self.maps.items():
                self._arrays[name] = self._root.create_array(name, shape=self.shape, chunks=chunks, dtype=dtype,
                                                             fill_value=0)
            for name in self.row_values:
                self._arrays[name] = self._root.create_array(name, shape=self.shape[:1], chunks=self.shape[:1],
                                                             dtype="float32", fill_value=np.nan)
            self._write_ome(voxel_size, unit)
            self._root.attrs.update({"tomolearn": {**meta, "signature": self.signature}})
            self._done = np.zeros(self.shape[0], bool)
            self._save_progress()
        else:
            import h5py

            self._root = h5py.File(self.partial, "w")
            self._arrays = {"volume": self._root.create_dataset("volume", self.shape, np.float32, chunks=chunks,
                                                               compression="gzip", compression_opts=1)}
            self._arrays["volume"].attrs.update(meta)
            for name, dtype in self.maps.items():
                self._arrays[name] = self._root.create_dataset(name, self.shape, dtype, chunks=chunks,
                                                               compression="gzip", compression_opts=1)
            for name in self.row_values:
                self._arrays[name] = self._root.create_dataset(name, self.shape[:1], np.float32, fillvalue=np.nan)
            self._root.attrs["tomolearn_signature"] = self.signature
            self._rows = self._root.create_dataset("progress/rows_done", (self.shape[0],), np.uint8)
            self._done = np.zeros(self.shape[0], bool)
            self._root.flush()

    def _write_ome(self, voxel_size, unit) -> None:
        from ome_zarr.writer import write_multiscales_metadata

        ome_unit = OME_UNITS.get(unit)
        axes = [{"name": a, "type": "space", **({"unit": ome_unit} if ome_unit else {})} for a in "zyx"]
        write_multiscales_metadata(self._root, [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [float(voxel_size)] * 3}]}], axes=axes, name="tomolearn reconstruction")

    def _open_existing(self) -> None:
        if self.kind == ".zarr":
            import zarr

            self._root = zarr.open_group(str(self.partial), mode="r+")
            stored = self._root.attrs.get("tomolearn", {}).get("signature")
            self._arrays = {"volume": self._root["0"], **{n: self._root[n] for n in (*self.maps, *self.row_values)}}
            self._done = np.zeros(self.shape[0], bool)
            progress = self.partial / PROGRESS
            for a, b in (json.loads(progress.read_text()) if progress.exists() else []):
                self._done[a:b] = True
        else:
            import h5py

            try:
                self._root = h5py.File(self.partial, "r+")
            except OSError as err:  # killed in the middle of an HDF5 write: the file cannot be trusted
                raise fail("--resume", "a readable partial output", f"{str(self.partial)!r} damaged ({err})",
                           "delete it or pass --overwrite to start again") from None
            stored = self._root.attrs.get("tomolearn_signature")
            self._arrays = {"volume": self._root["volume"],
                            **{n: self._root[n] for n in (*self.maps, *self.row_values)}}
            self._rows = self._root["progress/rows_done"]
            self._done = self._rows[...].astype(bool)
        if stored != self.signature or tuple(self._arrays["volume"].shape) != self.shape:
            self.close()
            raise fail("--resume", f"a partial output of the same reconstruction ({self.signature})",
                       f"one made with other settings ({stored})",
                       f"delete {str(self.partial)!r} or pass --overwrite to start again")

    def _save_progress(self) -> None:
        """The finished row ranges, replaced in one step (a kill leaves the old or the new record)."""
        tmp = self.partial / (PROGRESS + ".tmp")
        tmp.write_text(json.dumps(_ranges(self._done)))
        os.replace(tmp, self.partial / PROGRESS)

    # ---- progress ---------------------------------------------------------------------------
    @property
    def done(self) -> np.ndarray:
        """Rows ``(Z,)`` whose data are on disk."""
        return self._done.copy()

    def write(self, start: int, volume: np.ndarray, maps: dict | None = None, rows: dict | None = None) -> None:
        """Store rows ``start : start + len(volume)`` (and maps, and per-slice ``rows`` values), flush, then
        mark them done."""
        stop = start + volume.shape[0]
        self._arrays["volume"][start:stop] = np.asarray(volume, np.float32)
        for name, arr in {**(maps or {}), **(rows or {})}.items():
            if name in self._arrays:
                self._arrays[name][start:stop] = np.asarray(arr).astype(self._arrays[name].dtype)
        self._done[start:stop] = True
        if self.kind == ".zarr":  # data chunks are written; only then the record that says so
            self._save_progress()
        else:
            self._root.flush()
            self._rows[start:stop] = 1
            self._root.flush()

    def finish(self) -> Path:
        """Close and rename the partial output to its target (every row must be done).

        Raises
        ------
        RuntimeError
            If rows are missing.
        """
        if not self._done.all():
            missing = _ranges(~self._done)
            self.close()
            raise RuntimeError(f"output: rows {missing} were never written; rerun with --resume")
        if self.kind == ".zarr":
            (self.partial / PROGRESS).unlink()
        else:
            del self._root["progress"]
        self.close()
        for p in self.partial.rglob("*") if self.partial.is_dir() else [self.partial]:
            make_user_readable(p)
        if self.partial.is_dir():
            make_user_readable(self.partial)
        _remove(self.path)  # only reached with overwrite (checked at start)
        os.replace(self.partial, self.path)
        return self.path

    def discard_if_empty(self) -> bool:
        """Close and delete the partial output if no row was ever finished (a failure before the first slab).

        Nothing can be resumed from it, so nothing is left behind; a partial output with finished
        rows stays for ``--resume``. Returns whether it was deleted.
        """
        if self._done.any():
            return False
        self.close()
        _remove(self.partial)
        return True

    def close(self) -> None:
        root, self._root = getattr(self, "_root", None), None
        if root is not None and hasattr(root, "close"):
            root.close()


def _ranges(mask: np.ndarray) -> list[list[int]]:
    """``[[start, stop], ...]`` of the runs of True in ``mask``."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])]


def load_zarr_volume(path) -> np.ndarray:
    """Level ``0`` of an OME-Zarr volume written here (or any OME-Zarr image's first level)."""
    import zarr

    root = zarr.open_group(str(path), mode="r")
    ms = root.attrs.get("ome", {}).get("multiscales") or root.attrs.get("multiscales")
    first = ms[0]["datasets"][0]["path"] if ms else "0"
    return np.asarray(root[first][...])


__all__ = ["CHUNKED_FORMATS", "ChunkedVolume", "load_zarr_volume", "partial_path"]
