"""`simulate_to_file`: phantom family + scenario -> a Data Exchange file readable by every command."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .._checks import fail, positive_int
from ..io.dxchange import DataExchangeWriter
from ..phantoms import FAMILIES_3D, make_phantom
from ..scenario import Scenario, simulate


def simulate_to_file(out, family: str, size: int, scenario: Scenario, n_slices: int = 1, seed: int = 0,
                     mu_max: float = 0.02, oversample: int = 2, overwrite: bool = False,
                     chunk_rows: int = 16, pairs_deg=None, pairs_i0: float | None = None,
                     pairs_out=None) -> Path:
    """Simulate ``n_slices`` seeded phantoms of ``family`` under ``scenario`` and write them.

    Parameters
    ----------
    out : path
        Output ``.h5`` (Data Exchange; ground truth in ``simulation/ground_truth``).
    family : str
        Phantom family (:func:`tomolearn.phantoms.make_phantom`).
    size : int
        Slice size in pixels.
    scenario : Scenario
    n_slices : int
        Slices of a 2D family (one phantom each, seeds ``seed, seed + 1, ...``); 3D families
        (``spheres_in_cube``, ``layered_ic``) give ``size`` slices.
    seed : int
    mu_max : float
        Attenuation per pixel of phantom value 1 (sets the transmission range).
    oversample : int
        Simulation grid refinement (no inverse crime).
    overwrite : bool
    chunk_rows : int
        Slices simulated and written at a time (bounds memory: a 512^3 volume needs ~2 GB).
        Noise in chunk ``k`` is drawn from ``default_rng([seed, first_row])``. Gaussian noise
        (``noise_percent``) is a percentage of the whole scan's maximum (a first, noise-free
        pass finds it when the scan spans several chunks).
    pairs_deg : sequence of float, optional
        Angles (degrees, each one of the scan's) at which high-dose projections of the same
        object are also written, to ``pairs_out``: the training pairs of the low-dose recipe
        (seed 002). They are noise-free, or Poisson at ``pairs_i0`` photons per pixel (with
        their own flat and dark fields).
    pairs_i0 : float, optional
    pairs_out : path, optional
        The pairs' Data Exchange file (required with ``pairs_deg``).

    Returns
    -------
    Path

    Raises
    ------
    FileExistsError
        If ``out`` (or ``pairs_out``) exists and ``overwrite`` is False.
    ValueError
        On an unknown family or an impossible scenario, pair angles that are not scan angles, or
        a simulation that needs more memory or disk than there is (:func:`check_resources`).

    References
    ----------
    X. Yang et al., "Low-dose x-ray tomography through a deep convolutional neural network",
    Sci. Rep. 8, 2575 (2018): high-dose projections at 0° and 45° beside a low-dose scan.
    """
    n = positive_int(size, "size")
    pair_angles = _pair_angles(scenario, pairs_deg, pairs_i0, pairs_out, out, overwrite)
    is_3d = family in FAMILIES_3D
    n_rows = n if is_3d else positive_int(n_slices, "n_slices")
    check_resources(Path(out).parent if str(Path(out).parent) else Path("."), scenario.n_angles or 180, n_rows, n,
                    is_3d, chunk_rows, oversample)
    volume = make_phantom(family, n, seed) * mu_max if is_3d else None  # 3D: its Z slices are detector rows
    geometry = scenario.validated().geometry(n, n_rows)
    attrs = {"family": family, "seed": seed, "mu_max": mu_max, "oversample": oversample, "chunk_rows": chunk_rows,
             **{k: ("" if v is None else v) for k, v in dataclasses.asdict(scenario).items()}}
    n_flats = 10 if scenario.i0 is not None else 0

    def chunks():
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            yield start, volume[start:stop] if is_3d else np.stack(
                [make_phantom(family, n, seed + i) for i in range(start, stop)]) * mu_max

    peak = None
    if scenario.noise_percent and n_rows > chunk_rows:  # the noise is a % of the whole scan's maximum
        clean = dataclasses.replace(scenario, noise_percent=None)
        peak = max(float(np.abs(simulate(c, clean, 0, oversample)["projections"]).max()) for _, c in chunks())
    with DataExchangeWriter(out, geometry.n_angles, n_rows, n, np.degrees(geometry.angles), n_flats, True, attrs,
                            overwrite) as writer:
        for start, chunk in chunks():
            sim = simulate(chunk, scenario, np.random.default_rng([seed, start]), oversample, n_flats or 10,
                           noise_maximum=peak)
            writer.write_rows(start, sim["projections"], sim["flats"], sim["darks"], sim["ground_truth"])
        if scenario.exposure_arc_deg:  # a fly scan: readers give its geometry the exposure arc
            writer.attrs({"exposure_arc_deg": float(scenario.exposure_arc_deg)})
    if pair_angles is not None:
        high = Scenario(n_angles=scenario.n_angles, range_deg=scenario.range_deg, start_deg=scenario.start_deg,
                        i0=pairs_i0, exposure_arc_deg=scenario.exposure_arc_deg)
        n_pf = 10 if pairs_i0 is not None else 0
        pair_attrs = {"pairs_of": str(Path(out).name), "pairs_i0": pairs_i0 if pairs_i0 is not None else "noise-free"}
        with DataExchangeWriter(pairs_out, pair_angles.size, n_rows, n, np.degrees(pair_angles), n_pf, False,
                                overwrite=overwrite) as writer:
            for start, chunk in chunks():
                sim = simulate(chunk, high, np.random.default_rng([seed, start, 1]), oversample, n_pf or 10,
                               angles=pair_angles)
                writer.write_rows(start, sim["projections"], sim["flats"], sim["darks"])
            writer.attrs(pair_attrs)
    return Path(out)


def check_resources(folder, n_angles: int, n_rows: int, size: int, is_3d: bool, chunk_rows: int = 16,
                    oversample: int = 2, available_bytes: int | None = None, free_disk: int | None = None) -> dict:
    """Refuse a simulation that cannot fit, before any work: memory for the phantom and one slab, disk for the file.

    Returns
    -------
    dict
        ``memory_bytes`` and ``file_bytes`` estimated.

    Raises
    ------
    ValueError
        If the estimate exceeds the available memory or the free disk space (the message
        gives both numbers and what to reduce).
    """
    import shutil

    import psutil

    gib = 2.0**30
    fine = (size * oversample) ** 2 * 4.0  # one oversampled slice
    slab = min(chunk_rows, n_rows) * (n_angles * size * oversample * 4.0 * 3 + fine * 2)
    memory = (size**3 * 4.0 * 2 if is_3d else 0.0) + slab
    file_bytes = n_angles * n_rows * size * 4.0 + n_rows * size * size * 4.0  # projections + ground truth
    available = psutil.virtual_memory().available if available_bytes is None else available_bytes
    if memory > 0.8 * available:
        raise fail("--size/--angles", f"a simulation that fits in memory ({0.8 * available / gib:.1f} GiB available)",
                   f"about {memory / gib:.1f} GiB for size {size} and {n_angles} angles",
                   "reduce --size or --angles")
    free = shutil.disk_usage(folder).free if free_disk is None else free_disk
    if file_bytes > free:
        raise fail("--size/--angles", f"an output that fits on the disk ({free / gib:.1f} GiB free)",
                   f"about {file_bytes / gib:.1f} GiB (uncompressed)", "free space, or reduce --size or --angles")
    return {"memory_bytes": memory, "file_bytes": file_bytes}


def _pair_angles(scenario: Scenario, pairs_deg, pairs_i0, pairs_out, out, overwrite: bool):
    """The scan angles (radians) of the requested high-dose pairs, after checking the options."""
    from .._checks import fail, positive

    if pairs_deg is None:
        if pairs_i0 is not None or pairs_out is not None:
            raise fail("--pairs-deg", "the angles of the high-dose pairs with --pairs-i0/--pairs-out", "none")
        return None
    if pairs_out is None:
        raise fail("--pairs-out", "a file for the high-dose pairs (e.g. high.h5)", "none")
    if Path(pairs_out).resolve() == Path(out).resolve():
        raise fail("--pairs-out", "a file other than the scan's -o", repr(str(pairs_out)))
    if Path(pairs_out).exists() and not overwrite:
        raise FileExistsError(f"--pairs-out: {str(pairs_out)!r} exists; choose another name or pass --overwrite")
    if pairs_i0 is not None:
        positive(pairs_i0, "--pairs-i0")
    if scenario.i0 is not None and pairs_i0 is not None and pairs_i0 <= scenario.i0:
        raise fail("--pairs-i0", f"a higher dose than the scan's --i0 {scenario.i0:g}", pairs_i0)
    scan_deg = np.degrees(scenario.geometry(8).angles)
    wanted = np.asarray([float(a) for a in np.atleast_1d(pairs_deg)], dtype=np.float64)
    if wanted.size == 0 or not np.isfinite(wanted).all():
        raise fail("--pairs-deg", "finite angles in degrees, e.g. 0,45", list(np.atleast_1d(pairs_deg)))
    picked = []
    for a in wanted:
        k = int(np.argmin(np.abs(scan_deg - a)))
        if abs(scan_deg[k] - a) > 1e-6 + 1e-9 * abs(a):
            raise fail("--pairs-deg", "angles of the scan (its step is "
                       f"{(scan_deg[-1] - scan_deg[0]) / max(len(scan_deg) - 1, 1):.4g} deg)", f"{a:g}",
                       f"the nearest scan angle is {scan_deg[k]:.6g}")
        picked.append(k)
    if len(set(picked)) != len(picked):
        raise fail("--pairs-deg", "distinct angles", wanted.tolist())
    return np.deg2rad(scan_deg[np.asarray(picked)])


#: δ of copper at 8.8 keV (seed 001's energy); δ scales as λ², i.e. as 1 / E²
COPPER_DELTA_8P8KEV = 2.19e-5


def copper_delta(energy_kev: float) -> float:
    """Refractive-index decrement δ of copper at a photon energy in keV (``∝ 1 / E²`` away from edges)."""
    from .._checks import positive

    return COPPER_DELTA_8P8KEV * (8.8 / positive(energy_kev, "energy_kev")) ** 2


def cylinder_mask(n: int) -> np.ndarray:
    """The disc inscribed in an ``n × n`` slice ``(Y, X)``: what stays inside the grid at every rotation."""
    yy, xx = np.mgrid[:n, :n]
    c = (n - 1) / 2
    return (yy - c) ** 2 + (xx - c) ** 2 <= (n / 2) ** 2


def load_object(path) -> np.ndarray:
    """δ volume ``(Z, Y, X)`` from ``/volume`` of an HDF5 file (a user's own object for ``simulate``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it has no ``/volume``, the volume is not 3D with a square slice, holds NaN/inf or
        negative δ, or reaches outside the cylinder inscribed in its slice.
    """
    import h5py

    from .._checks import fail, finite_array

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--object: no such file {str(p)!r}")
    try:
        with h5py.File(p, "r") as f:
            if "volume" not in f:
                raise fail("--object", "an HDF5 file with a (Z, Y, X) dataset /volume of delta", f"{p.name!r} without /volume")
            vol = f["volume"][()]
    except OSError as err:
        raise fail("--object", "an HDF5 file with /volume", f"{p.name!r} ({err})") from None
    vol = finite_array(vol, "--object /volume", 3)
    if vol.shape[1] != vol.shape[2]:
        raise fail("--object /volume", "a square slice (Y == X)", f"shape {vol.shape}", "pad it along Y or X")
    if (vol < 0).any():
        raise fail("--object /volume", "delta >= 0 (refractive-index decrement)", f"minimum {float(vol.min())}")
    outside = float(np.abs(vol[:, ~cylinder_mask(vol.shape[1])]).sum()) / max(float(np.abs(vol).sum()), 1e-30)
    if outside > 0.01:
        raise fail("--object /volume", "delta inside the cylinder inscribed in the (Y, X) square (it must stay in "
                   "the grid when rotated)", f"{100 * outside:.1f} % outside", "pad the volume along Y and X")
    return vol


def ptycho_object(size: int, seed: int, energy_kev: float, plate_fraction: float = 0.5, rows: int | None = None,
                  density: float = 0.55) -> np.ndarray:
    """The default object: a ``layered_ic`` plate (13 layers, seed 001) milled to a pillar, as δ.

    Metal has copper's δ at the energy, the dielectric 0.15 of it; the plate is cut to the
    cylinder inscribed in the slice, like a sample milled into a pillar for
    ptycho-tomography, so every rotation keeps it in the grid. ``rows`` sets its height along
    the rotation axis Z (default ``size``), ``density`` the fraction of wiring tracks present.
    """
    from ..phantoms import layered_ic

    vol = layered_ic(size, seed, plate_fraction=plate_fraction, n_rows=rows, density=density)
    vol *= np.float32(copper_delta(energy_kev))
    vol[:, ~cylinder_mask(size)] = 0.0
    return vol.astype(np.float32)


def simulate_ptycho_to_file(out, obj: np.ndarray | None = None, size: int = 64, n_angles: int = 21,
                            range_deg: float = 140.8, start_deg: float | None = None, energy_kev: float = 1.5,
                            voxel_size: float = 3.0, unit: str = "nm", pattern_size: int = 32,
                            probe_diameter: float | None = None, n_modes: int = 3, step: float = 6.0,
                            scan_pattern: str = "snake", photons: float | None = 1e6, n_slabs: int | None = None,
                            seed: int = 0, overwrite: bool = False, device: str = "cpu",
                            show_progress: bool = False, rows: int | None = None, density: float = 0.55) -> Path:
    """Simulate a multislice ptycho-tomography scan and write it (:mod:`tomolearn.io.ptycho`).

    Parameters
    ----------
    out : path
        Output ``.h5``; the ground-truth δ goes to ``/simulation/ground_truth``.
    obj : ndarray, shape (Z, Y, X), optional
        δ of the object (``Y == X``); default :func:`ptycho_object` of ``size`` voxels.
    size : int
        Edge of the default object in voxels.
    n_angles : int
        Rotation angles, evenly spread over ``range_deg``.
    range_deg : float
        Angular range in degrees (seed 001: 140.8).
    start_deg : float, optional
        First angle in degrees (default ``-range_deg / 2``: the plate is crossed face-on at 0).
    energy_kev : float
        Photon energy. Default 1.5 keV, not the seed's 8.8 keV: on a 64-voxel grid this keeps
        the seed's regime (a phase of tenths of a radian through the plate, a plate as thick as
        the depth of field ``5.2 v² / λ`` or thicker); at 8.8 keV that regime needs the seed's
        ~300 voxels along the beam (``--energy-kev 8.8 --voxel-size 14 --size 320``).
    voxel_size : float
        Voxel (and probe pixel) edge in ``unit`` (default 3 nm).
    unit : str
    pattern_size : int
        ``Q``: probe window and diffraction pattern in pixels.
    probe_diameter : float, optional
        In pixels (default ``pattern_size / 2``).
    n_modes : int
        Probe modes (partial coherence).
    step : float
        Scan step in pixels; must be smaller than the probe (overlap).
    scan_pattern : {"snake", "raster"}
    photons : float or None
        Incident photons per pattern (Poisson noise); None writes noise-free intensities.
    n_slabs : int, optional
        Slabs of the simulation (default one per voxel along the beam: the accurate model).
    rows : int, optional
        Height of the default object along Z (default ``size``).
    density : float
        Wiring density of the default object (fraction of tracks present).
    seed : int
        Seeds the phantom, the probe and the noise.
    overwrite : bool
    device : str
        Torch device of the simulation.
    show_progress : bool

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        On non-positive energy, voxel size, step or photon count; a probe larger than the
        object; a step not smaller than the probe (no overlap); a bad object.
    FileExistsError
        If ``out`` exists and ``overwrite`` is False.
    """
    import torch

    from .._checks import fail, positive, positive_int, start_angle_deg
    from ..io.ptycho import PtychoWriter
    from ..physics.multislice import MultisliceOperator, PtychoGeometry, make_probe, probe_diameter as measured
    from ..physics.multislice import scan_positions
    from ..physics.noise import poisson_counts
    from ..progress import progress

    positive(energy_kev, "energy_kev")
    positive(voxel_size, "voxel_size")
    positive(step, "step")
    if photons is not None:
        positive(photons, "photons")
    range_deg = positive(range_deg, "range_deg")
    n_angles = positive_int(n_angles, "angles")
    user_object = obj is not None
    if obj is None:
        if not 0 < density <= 1:
            raise fail("wiring_density", "a fraction of wiring tracks in (0, 1]", density)
        obj = ptycho_object(positive_int(size, "size"), seed, energy_kev, rows=rows, density=density)
    z, y, x = obj.shape
    q = positive_int(pattern_size, "pattern_size")
    probe = make_probe(q, n_modes, probe_diameter, np.random.default_rng([seed, 1]))
    d = measured(probe)
    if d >= min(z, x):
        raise fail("probe_diameter", f"a probe smaller than the object's {z} x {x} pixel projection", f"{d:.1f} px")
    if step >= d:
        raise fail("step", f"a scan step smaller than the probe diameter {d:.1f} px (overlapping positions)", step)
    first = -range_deg / 2 if start_deg is None else start_angle_deg(start_deg)
    angles = np.radians(first + (np.arange(n_angles) * range_deg / (n_angles - 1) if n_angles > 1 else np.zeros(1)))
    geometry = PtychoGeometry(angles, (z, y, x), scan_positions(z, x, step, scan_pattern), q, voxel_size, unit,
                              energy_kev)
    op = MultisliceOperator(geometry, probe, n_slabs=n_slabs or y)
    attrs = {"object": "user volume" if user_object else f"layered_ic pillar, wiring density {density}",
             "seed": seed, "simulation_slabs": op.n_slabs,
             "probe_diameter_px": round(d, 2), "step_px": step, "range_deg": range_deg, "start_deg": first}
    rng = np.random.default_rng([seed, 2])
    delta = torch.as_tensor(obj, device=device)
    with PtychoWriter(out, geometry, probe, photons, obj, attrs, overwrite, scan_pattern) as writer:
        with torch.no_grad():
            for a in progress(range(n_angles), "simulating", show_progress):
                inten = op.intensities(delta, [a]).cpu().numpy()
                writer.write_angles(a, poisson_counts(inten, photons, rng) if photons else inten)
    return Path(out)
