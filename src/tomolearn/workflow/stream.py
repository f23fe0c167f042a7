"""Reconstruction streamed to a chunked file, in one process or as dask tasks, resumable.

The scan's detector rows are cut into slabs (with the method's halo); each slab is read (a lazy
scan reads only those rows), reconstructed and written to the output as soon as it is done.
With a scheduler the slabs are dask tasks: ``threads`` / ``processes`` start a
``LocalCluster``, any other value is the address of a running cluster (e.g. one started by
``dask-jobqueue`` on SLURM); the client writes each result as it arrives. ``plan`` answers,
before any work, what a run will need: sizes, slab size, peak memory per worker, time.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from .._checks import positive_int
from ..io.chunked import ChunkedVolume
from ..methods import base as registry
from ..result import PER_SLICE_INFO, Result
from .reconstruct import (TrustOptions, check_geometry, geometry_operator, run_cropped, scan_operator, slabs,
                          trust_options)

#: the maps ``--trust`` adds to any method's output (:func:`~tomolearn.workflow.reconstruct.with_trust_maps`)
TRUST_MAPS = ("data_residual", "null_space")

#: fraction of the available memory a run plans to use (the rest is the OS, caches, dask)
MEMORY_BUDGET = 0.5
GB = 1024**3


def _trust_map_names(cls) -> tuple[str, ...]:
    """The maps ``--trust`` adds to a method's output: the data residual, the null space and, if learned, σ."""
    return TRUST_MAPS + (("uncertainty",) if cls.kind == "learned" else ())


def _n_maps(cls, trust: bool) -> int:
    """Maps stored beside the volume: the method's own and, with ``--trust``, the trust maps."""
    return len(set(cls.maps) | set(_trust_map_names(cls) if trust else ()))


def _row_bytes(scan, cls, trust: bool = False) -> tuple[int, int]:
    """Bytes of one detector row of input (all angles) and of one output slice (+ maps)."""
    a, _, u = scan.projections.shape
    y, x = scan.geometry.volume_shape
    return a * u * 4, y * x * 4 * (1 + _n_maps(cls, trust))


def choose_chunk(scan, method: str, workers: int = 1, available_bytes: int | None = None, trust: bool = False) -> int:
    """Rows per slab that fit ``MEMORY_BUDGET`` of the available memory on ``workers`` workers.

    A slab needs its input and output rows (and trust maps with ``trust``) times the method's
    declared ``memory_factor`` (its working copies: iterates, gradients, network activations),
    plus the halo rows.
    """
    cls = registry.get(method)
    if cls.execution == "volume":
        return scan.projections.shape[1]
    if available_bytes is None:
        import psutil

        available_bytes = psutil.virtual_memory().available
    row_in, row_out = _row_bytes(scan, cls, trust)
    per_row = (row_in + row_out) * cls.memory_factor
    rows = int(MEMORY_BUDGET * available_bytes / max(workers, 1) / per_row) - 2 * cls.halo
    return int(np.clip(rows, 1, scan.projections.shape[1]))


@dataclass(frozen=True)
class Plan:
    """What a streamed reconstruction will need (``--dry-run``)."""

    method: str
    input_shape: tuple
    output_shape: tuple
    input_bytes: int
    output_bytes: int
    chunk_slices: int
    n_slabs: int
    workers: int
    peak_bytes_per_worker: int
    seconds_per_row: float | None
    lazy: bool

    @property
    def estimated_seconds(self) -> float | None:
        if self.seconds_per_row is None:
            return None
        return self.seconds_per_row * self.output_shape[0] / max(self.workers, 1)

    def lines(self) -> list[str]:
        est = self.estimated_seconds
        return [f"method: {self.method}",
                f"input: projections (A, V, U) = {self.input_shape}, {self.input_bytes / GB:.2f} GB"
                + (" (read on demand, slab by slab)" if self.lazy else " (in memory)"),
                f"output: volume (Z, Y, X) = {self.output_shape}, {self.output_bytes / GB:.2f} GB",
                f"slabs: {self.n_slabs} of {self.chunk_slices} rows on {self.workers} worker(s)",
                f"peak memory per worker: about {self.peak_bytes_per_worker / GB:.2f} GB",
                "time: " + (f"{self.seconds_per_row:.3f} s per row (measured) -> about {est / 60:.1f} min"
                            if est is not None else "not measured")]


def plan(scan, method: str, params=None, chunk_slices: int | None = None, workers: int = 1, device: str = "cpu",
         measure: bool = True, trust=False) -> Plan:
    """Sizes, slab size, peak memory per worker and (measured on one row) time of a reconstruction.

    Parameters
    ----------
    scan : Scan
    method : str
    params : dict, optional
    chunk_slices : int, optional
        Default :func:`choose_chunk`.
    workers : int
    device : str
    measure : bool
        Reconstruct the middle row once to time it (loads a model if the method has one).
    trust : bool or TrustOptions
        Plan (and time) the trust maps too: their outputs and their extra passes.

    Raises
    ------
    ValueError
        On an unknown method or bad parameters.
    """
    cls = registry.get(method)
    values = registry.parameters(method, params)
    a, v, u = scan.projections.shape
    z, (y, x) = v, scan.geometry.volume_shape
    chunk = positive_int(chunk_slices, "chunk_slices") if chunk_slices is not None else choose_chunk(
        scan, method, workers, trust=bool(trust))
    row_in, row_out = _row_bytes(scan, cls, bool(trust))
    rows = min(chunk + 2 * cls.halo, v)
    seconds = None
    if measure:
        row = v // 2
        instance = registry.build(method, values, device=device).prepare(scan.geometry)
        op = scan_operator(scan)
        sample = np.asarray(scan.projections[:, row:row + 1], dtype=np.float32)
        t0 = time.perf_counter()
        run_cropped(instance, sample, op, 0, 1, trust)
        seconds = time.perf_counter() - t0
    return Plan(method, (a, v, u), (z, y, x), a * v * u * 4, z * y * x * 4 * (1 + _n_maps(cls, bool(trust))), min(chunk, v),
                len(slabs(v, min(chunk, v), cls.halo)), workers, int(rows * (row_in + row_out) * cls.memory_factor),
                seconds, bool(getattr(scan.projections, "lazy", False)))


# ---- slab tasks (run in this process or on a dask worker) -----------------------------------------
_CACHE: dict = {}


def _prepared(method: str, params_json: str, device: str, geometry):
    """The method instance and operator of this process, built once per (method, parameters, device, geometry)."""
    key = (method, params_json, device, json.dumps(geometry.describe(), sort_keys=True, default=str))
    if key not in _CACHE:
        _CACHE.clear()  # one reconstruction at a time per process: do not keep old models
        instance = registry.build(method, json.loads(params_json), device=device).prepare(geometry)
        _CACHE[key] = (instance, geometry_operator(geometry))
    return _CACHE[key]


def run_slab(method: str, params_json: str, device: str, geometry, projections, r0: int, r1: int,
             k0: int, k1: int, trust=False) -> tuple[int, Result]:
    """Reconstruct detector rows ``r0:r1`` and keep output rows ``k0:k1`` of them (a dask task).

    ``projections`` is the scan's (a lazy one is read here, on the worker) or the slab itself
    (``r0:r1`` then index into it from 0).

    Returns
    -------
    (int, Result)
        The first output row and the slab's result.
    """
    instance, op = _prepared(method, params_json, device, geometry)
    slab = projections[:, r0:r1] if getattr(projections, "lazy", False) else projections
    return r0 + k0, run_cropped(instance, np.asarray(slab, dtype=np.float32), op, k0, k1, trust)


def _client(scheduler: str, workers: int):
    from dask.distributed import Client, LocalCluster

    if scheduler in ("threads", "processes"):
        cluster = LocalCluster(n_workers=1 if scheduler == "threads" else workers,
                               threads_per_worker=workers if scheduler == "threads" else 1,
                               processes=scheduler == "processes", dashboard_address=None)
        return Client(cluster), cluster
    return Client(scheduler), None


def reconstruct_to_file(scan, method: str, output, params=None, *, chunk_slices: int | None = None,
                        scheduler: str | None = None, workers: int = 1, device: str = "cpu", resume: bool = False,
                        overwrite: bool = False, segment: bool = False, attrs: dict | None = None,
                        log=print, trust=False) -> dict:
    """Reconstruct ``scan`` slab by slab into a chunked ``output`` (.h5 or OME-Zarr .zarr).

    Parameters
    ----------
    scan : Scan
        In memory or lazy (only each slab's rows are read, on the worker that needs them).
    method : str
        A registered method.
    output : path
        ``.h5``/``.hdf5`` or ``.zarr``.
    params : dict, optional
        The method's parameters.
    chunk_slices : int, optional
        Rows per slab; default from the available memory (:func:`choose_chunk`).
    scheduler : {None, "threads", "processes"} or str
        None runs in this process; otherwise dask (a LocalCluster, or a cluster's address).
    workers : int
        LocalCluster size.
    device : str
    resume : bool
        Continue an interrupted run (finished slabs are not recomputed).
    overwrite : bool
    segment : bool
        Also store an Otsu segmentation per slice (``segmentation``, uint8).
    attrs : dict, optional
        Stored with the volume.
    log : callable
    trust : bool or TrustOptions
        Also store the ``data_residual`` and ``null_space`` maps of every slab (any method) and,
        for a learned method, its ``uncertainty`` (mirror test-time augmentation), and per slice
        ``data_residual_relative`` and ``data_residual_vs_fbp`` (arrays ``(Z,)``). A ``model``
        that is an ensemble run (``train --ensemble K``) stores the members' spread as
        ``uncertainty`` with or without ``trust``.

    Returns
    -------
    dict
        ``output``, ``slabs`` (total), ``computed`` (this run), ``skipped`` (already done),
        ``seconds``, ``chunk_slices``.

    Raises
    ------
    ValueError
        On bad parameters, a geometry the method does not handle, or a partial output from
        other settings.
    FileExistsError
        If the output (or an interrupted partial output) exists without ``overwrite``/``resume``.
    """
    cls = registry.get(method)
    values = registry.parameters(method, params)
    check_geometry(cls, scan.geometry)
    workers = positive_int(workers, "workers")
    n_rows = scan.projections.shape[1]
    chunk = n_rows if cls.execution == "volume" else (
        positive_int(chunk_slices, "chunk_slices") if chunk_slices is not None
        else choose_chunk(scan, method, workers, trust=bool(trust)))
    params_json = json.dumps(values.model_dump(mode="json"), sort_keys=True)
    trust_maps = _trust_map_names(cls)
    from ..methods.ensemble import ensemble_members

    own = cls.maps + (("uncertainty",) if ensemble_members(getattr(values, "model", None), method) else ())
    options = trust_options(trust)
    maps = ({m: "float32" for m in own} | ({m: "float32" for m in trust_maps} if options else {})
            | ({"segmentation": "uint8"} if segment else {}))
    signature = {"method": method, "parameters": json.loads(params_json), "chunk_slices": chunk,
                 "trust": bool(options) if options in (None, TrustOptions()) else asdict(options),
                 "source": scan.metadata.get("source", ""), "projections": list(scan.projections.shape),
                 "geometry": scan.geometry.describe()}
    g = scan.geometry
    per_slice = PER_SLICE_INFO if options else ()  # the data residual's norm, alone and over FBP's
    writer = ChunkedVolume(output, g.volume_shape_3d, g.voxel_size, g.unit, signature, maps,
                           {"method": method, "parameters": params_json, **(attrs or {})}, chunk, overwrite, resume,
                           row_values=per_slice)
    try:
        parts = slabs(n_rows, chunk, cls.halo if cls.execution == "slab" else 0)
        done = writer.done
        pending = [p for p in parts if not done[p[0] + p[2]:p[0] + p[3]].all()]
        if len(pending) < len(parts):
            log(f"resuming: {len(parts) - len(pending)} of {len(parts)} slabs already done")
        t0 = time.perf_counter()
        for start, res in _results(scan, method, params_json, device, pending, scheduler, workers, options):
            extra = dict(res.maps)
            if segment:
                from ..metrics import segment as otsu

                extra["segmentation"] = np.stack([otsu(s) for s in res.volume]).astype(np.uint8)
            writer.write(start, res.volume, extra, {k: res.info[k] for k in per_slice if k in res.info})
        path = writer.finish()
    except BaseException:
        writer.discard_if_empty()  # failed before any slab was done (bad data, weights): leave no file
        raise
    finally:
        writer.close()
    return {"output": str(path), "slabs": len(parts), "computed": len(pending), "skipped": len(parts) - len(pending),
            "chunk_slices": chunk, "seconds": round(time.perf_counter() - t0, 3)}


def _results(scan, method, params_json, device, pending, scheduler, workers, trust=False):
    """(first output row, Result) of each pending slab, in completion order."""
    lazy = getattr(scan.projections, "lazy", False)

    def source(r0, r1):
        return scan.projections if lazy else np.ascontiguousarray(scan.projections[:, r0:r1])

    if scheduler is None:
        for r0, r1, k0, k1 in pending:
            yield run_slab(method, params_json, device, scan.geometry, source(r0, r1), r0, r1, k0, k1, trust)
        return
    from dask.distributed import as_completed

    client, cluster = _client(scheduler, workers)
    try:
        futures = [client.submit(run_slab, method, params_json, device, scan.geometry, source(r0, r1),
                                 r0, r1, k0, k1, trust, pure=False) for r0, r1, k0, k1 in pending]
        for fut in as_completed(futures):
            yield fut.result()
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = ["Plan", "choose_chunk", "plan", "reconstruct_to_file", "run_slab"]
