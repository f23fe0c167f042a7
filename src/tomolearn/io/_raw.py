"""Raw counts + flats/darks + angles -> a parallel-beam Scan (shared by the synchrotron readers)."""
from __future__ import annotations

import numpy as np

from .._checks import fail
from ..geometry import ParallelGeometry
from ..preprocess import minus_log, normalize, open_beam_counts
from ..scan import Scan


def parse_angles_deg(text: str, param: str = "--angles-deg") -> np.ndarray:
    """Angles in degrees from the command line: ``"a,b,c,..."`` or ``"START:STOP:N"`` (N evenly, both ends included).

    Examples
    --------
    >>> parse_angles_deg("-60:60:5").tolist()
    [-60.0, -30.0, 0.0, 30.0, 60.0]

    Raises
    ------
    ValueError
        If the text is neither form, N < 1, or a value is not finite.
    """
    t = str(text).strip()
    try:
        if ":" in t:
            start, stop, n = t.split(":")
            if int(n) < 1:
                raise ValueError
            out = np.linspace(float(start), float(stop), int(n))
        else:
            out = np.asarray([float(v) for v in t.replace(" ", "").split(",") if v], dtype=np.float64)
    except ValueError:
        raise fail(param, "angles in degrees as a,b,c,... or START:STOP:N (N angles, both ends included)",
                   repr(t)) from None
    if out.size == 0 or not np.isfinite(out).all():
        raise fail(param, "finite angles in degrees", repr(t))
    return out


def read_angles_file(path, param: str = "angles_file") -> np.ndarray:
    """Angles in degrees from a text file (one or more per line): a one-line error naming the file and line.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a line holds something other than numbers, or no angle is finite.
    """
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{param}: no such file {str(p)!r}")
    values = []
    for k, line in enumerate(p.read_text(errors="replace").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            values.extend(float(v) for v in text.replace(",", " ").split())
        except ValueError:
            raise fail(param, f"angles in degrees, numbers only, in {p.name!r}", f"{line.strip()[:40]!r} on line {k}",
                       "fix or remove that line") from None
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0 or not np.isfinite(arr).all():
        raise fail(param, f"finite angles in degrees in {p.name!r}", "none" if arr.size == 0 else "NaN/inf values")
    return arr


def scan_from_counts(data, flats, darks, theta_deg, metadata: dict, cor_offset: float | None = None,
                     find_center: bool = True, center_row: int | None = None, voxel_size: float = 1.0,
                     unit: str = "px") -> Scan:
    """Normalise raw projections ``(A, V, U)`` by flats/darks and take -log.

    Readers do not reconstruct: when the centre of rotation is neither given nor in the file
    and ``find_center`` is set, the row to search on is recorded as
    ``metadata["centre_search_row"]`` and :func:`tomolearn.load_scan` runs the search
    (:func:`tomolearn.alignment.find_center_of_rotation`).

    Parameters
    ----------
    data : ndarray, shape (A, V, U), or LazyProjections
        Raw counts (or line integrals when ``flats`` is None); a
        :class:`~tomolearn.io.lazy.LazyProjections` normalises its own slabs when read.
    flats, darks : ndarray or None
        Open-beam and dark frames ``(F, V, U)``; without flats the data are taken as line
        integrals; without darks a zero dark is assumed.
    theta_deg : array_like, shape (A,)
        Rotation angles in degrees.
    metadata : dict
        Reader facts, stored in the scan.
    cor_offset, find_center, center_row, voxel_size, unit
        As :func:`tomolearn.io.dxchange.load_dxchange`.

    Returns
    -------
    Scan

    Raises
    ------
    ValueError
        If the number of angles differs from the number of projections.
    """
    if not getattr(data, "lazy", False):
        data = np.asarray(data, dtype=np.float32)
        data = data[:, None] if data.ndim == 2 else data
    theta = np.asarray(theta_deg, dtype=np.float64).ravel()
    if theta.size != data.shape[0]:
        raise fail("angles", f"{data.shape[0]} angles (one per projection)", f"{theta.size} angles",
                   "check which entries of the angle list belong to the projections")
    beam, frames = None, 1
    if getattr(data, "lazy", False):
        proj = data  # normalised slab by slab when read (tomolearn.io.lazy)
        if data.flat is not None:
            beam = open_beam_counts(data.flat, data.dark, data.shape[1:])
            frames = max(1, int(metadata.get("n_flats", 1)))  # the reader counts them
    elif flats is not None:
        darks = np.zeros_like(flats) if darks is None else darks
        proj = minus_log(normalize(data, flats, darks))
        beam = open_beam_counts(flats, darks, data.shape[1:])
        frames = int(np.shape(flats)[0]) if np.ndim(flats) == 3 else 1
    else:
        proj = data
    geometry = ParallelGeometry(np.deg2rad(theta), n_detector=proj.shape[2], n_rows=proj.shape[1],
                                voxel_size=voxel_size, detector_spacing=voxel_size, unit=unit)
    geometry = geometry.replace(cor_offset=float(cor_offset or 0.0))
    meta = {**metadata, "cor_offset_px": geometry.cor_offset, "flat_dark_corrected": flats is not None}
    if cor_offset is None and find_center:
        meta["centre_search_row"] = proj.shape[1] // 2 if center_row is None else int(center_row)
    return Scan(proj, geometry, metadata=meta, open_beam=beam, open_beam_frames=frames)
