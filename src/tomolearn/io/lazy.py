"""Projections read on demand: an HDF5 dataset behind an array-like, normalised slab by slab.

A synchrotron scan (2048 x 2048 x 1800 projections) is 30 GB of float32 line integrals; a
:class:`LazyProjections` holds only the file name, the frame indices and the averaged
flat/dark fields ``(V, U)``, and reads the detector rows a reconstruction asks for
(``projections[:, r0:r1]``), applying flat/dark normalisation and ``-log`` to that slab only.
It pickles small, so dask workers on other machines read their own slabs from a shared file
system.
"""
from __future__ import annotations

import h5py
import numpy as np

from .._checks import fail
from .errors import FILE_ERRORS, damaged
from ..preprocess import minus_log, normalize


class LazyProjections:
    """Line integrals ``(A, V, U)`` of an HDF5 dataset, read on demand.

    Parameters
    ----------
    path : path
        HDF5 file.
    dataset : str
        Dataset of frames ``(F, V, U)`` (raw counts, or line integrals without flats).
    frames : array of int
        Frame index of each projection (``A`` entries, any order).
    flat, dark : ndarray, shape (V, U), optional
        Averaged flat (median) and dark (mean) fields; without a flat the frames are taken as
        line integrals.

    Attributes
    ----------
    reads : list of (int, int)
        Detector-row ranges read so far (what a test or a benchmark can check).
    """

    lazy = True
    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, path, dataset: str, frames, flat=None, dark=None) -> None:
        self.path, self.dataset = str(path), dataset
        self.frames = np.asarray(frames, dtype=np.int64).ravel()
        self.flat = None if flat is None else np.asarray(flat, np.float32)
        self.dark = None if dark is None else np.asarray(dark, np.float32)
        if self.flat is not None and self.dark is None:
            self.dark = np.zeros_like(self.flat)
        with h5py.File(self.path, "r") as f:
            _, v, u = f[dataset].shape
        self.shape = (self.frames.size, v, u)
        self.reads: list[tuple[int, int]] = []
        self._gather = None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * 4

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"LazyProjections({self.path!r}:{self.dataset}, shape={self.shape})"

    def take_angles(self, indices) -> "LazyProjections":
        """A view of the projections at ``indices`` (nothing is read)."""
        view = object.__new__(LazyProjections)
        view.__dict__.update(self.__dict__)
        view.frames = self.frames[np.asarray(indices)]
        view.shape = (view.frames.size, *self.shape[1:])
        view.reads = self.reads
        view._gather = None
        return view

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Line integrals of detector rows ``start:stop`` for every projection: ``(A, stop - start, U)``.

        Raises
        ------
        ValueError
            If the rows are out of range or the slab holds NaN/inf after normalisation.
        """
        if not 0 <= start < stop <= self.shape[1]:
            raise fail("rows", f"a range within 0..{self.shape[1]}", f"{start}:{stop}")
        if self._gather is None:  # h5py reads increasing indices: the sorted frames and the way back, once
            order = np.argsort(self.frames, kind="stable")
            self._gather = (order, *np.unique(self.frames[order], return_inverse=True))
        order, unique, inverse = self._gather
        try:
            with h5py.File(self.path, "r") as f:
                raw = f[self.dataset][unique, start:stop, :].astype(np.float32)  # h5py wants increasing indices
        except FILE_ERRORS as err:  # damaged after the header was read: name the file, not h5py's internals
            raise damaged(self.path, err) from err
        data = np.empty((self.frames.size, stop - start, self.shape[2]), np.float32)
        data[order] = raw[inverse]
        self.reads.append((start, stop))
        if self.flat is not None:
            data = minus_log(normalize(data, self.flat[start:stop], self.dark[start:stop]))
        if not np.isfinite(data).all():
            raise fail("projections", "finite values", f"NaN/inf in detector rows {start}:{stop}",
                       "check flat/dark normalisation or mask bad pixels")
        return data

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (3 - len(key))
        angles, rows, cols = key
        if isinstance(rows, (int, np.integer)):
            r = int(rows) % self.shape[1]
            out = self.rows(r, r + 1)[:, 0]
        elif isinstance(rows, slice) and rows.step in (None, 1):
            start, stop, _ = rows.indices(self.shape[1])
            out = self.rows(start, stop) if stop > start else np.zeros((self.shape[0], 0, self.shape[2]), np.float32)
        else:
            raise TypeError("LazyProjections: rows must be an index or a contiguous slice (read slabs, not scattered rows)")
        return out[angles][..., cols]

    def __array__(self, dtype=None, copy=None):
        out = self.rows(0, self.shape[1])
        return out.astype(dtype) if dtype is not None else out


class LazyDataset:
    """A float32 HDF5 dataset read on demand (e.g. a simulation's ground truth ``(Z, Y, X)``).

    Indexing reads only the selection; ``np.asarray`` reads everything.
    """

    lazy = True
    dtype = np.dtype(np.float32)

    def __init__(self, path, dataset: str) -> None:
        self.path, self.dataset = str(path), dataset
        with h5py.File(self.path, "r") as f:
            self.shape = tuple(f[dataset].shape)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        try:
            with h5py.File(self.path, "r") as f:
                return np.asarray(f[self.dataset][key], dtype=np.float32)
        except FILE_ERRORS as err:
            raise damaged(self.path, err) from err

    def __array__(self, dtype=None, copy=None):
        out = self[...]
        return out.astype(dtype) if dtype is not None else out


def averaged_fields_from_file(path, dataset: str, flat_frames, dark_frames,
                              block_rows: int = 64) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Median flat and mean dark ``(V, U)`` of frames of an HDF5 dataset, read in blocks of rows.

    Memory stays at ``F x block_rows x U`` whatever the detector height (a 2048-row detector
    with 50 flats would otherwise need 800 MB at once).
    """
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        _, v, u = ds.shape

        def reduce(frames, fn):
            if frames is None or len(frames) == 0:
                return None
            idx = np.sort(np.asarray(frames))
            out = np.empty((v, u), np.float32)
            for r0 in range(0, v, block_rows):
                out[r0:r0 + block_rows] = fn(ds[idx, r0:r0 + block_rows, :].astype(np.float32), axis=0)
            return out
        return reduce(flat_frames, np.median), reduce(dark_frames, np.mean)


__all__ = ["LazyDataset", "LazyProjections", "averaged_fields_from_file"]
