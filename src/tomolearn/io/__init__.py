"""Readers and writers: one module per format, one entry point each way.

``load_scan(path, **hints)`` picks the reader from the file; ``save_volume`` writes HDF5 or
TIFF volumes atomically.
"""
from __future__ import annotations

from pathlib import Path

from .._checks import fail
from ..scan import PtychoScan, Scan
from .errors import FILE_ERRORS, damaged
from .volume import load_volume, save_volume

READERS = {".mat": "htc", ".h5": "dxchange", ".hdf5": "dxchange", ".hdf": "dxchange",
           ".cxi": "dxchange", ".nxs": "nxtomo", ".mrc": "mrc", ".st": "mrc", ".ali": "mrc"}


def load_scan(path, **hints) -> Scan | PtychoScan:
    """Read a scan file into a :class:`~tomolearn.scan.Scan`.

    Parameters
    ----------
    path : str or Path
        HTC2022 ``.mat`` (full or limited), Data Exchange HDF5 (``.h5``), a ptycho-tomography
        HDF5 (``.h5`` with ``/ptycho``, :mod:`tomolearn.io.ptycho`), NXtomo (``.nxs``),
        an MRC tilt series (``.mrc``/``.st``/``.ali`` with a ``.rawtlt``/``.tlt`` beside it),
        or a folder of TIFF projections (with flats, darks and ``angles.txt``).
    **hints
        Passed to the reader, e.g. ``cor_offset=`` for Data Exchange / NXtomo / TIFF,
        ``angle_offset=`` for TIFF, ``angles_file=`` or ``tilt_axis=`` for MRC.

    Notes
    -----
    Readers do not reconstruct, so they do not search for the centre of rotation: a scan whose
    file does not state it carries ``metadata["centre_search_row"]``, and
    :func:`tomolearn.load_scan` (read + search) is what users call.

    Returns
    -------
    Scan or PtychoScan
        A :class:`~tomolearn.io.ptycho.PtychoScan` (``kind == "diffraction"``) for ptycho-tomography.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the format is unknown or the file's content does not form a valid scan.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path: no such file {str(p)!r}")
    kind = "tiff" if p.is_dir() else READERS.get(p.suffix.lower())
    if kind is None:
        raise fail("path", f"a folder of TIFFs or a scan file with one of the extensions {', '.join(sorted(READERS))}",
                   repr(p.name), "convert the data or add a reader in tomolearn.io")
    try:
        if kind == "htc":
            from .htc import load_htc as reader
        elif kind == "dxchange":
            from .ptycho import is_ptycho_file, load_ptycho

            reader = load_ptycho if is_ptycho_file(p) else None
            if reader is None:
                from .dxchange import load_dxchange as reader
        elif kind == "nxtomo":
            from .nxtomo import load_nxtomo as reader
        elif kind == "tiff":
            from .tiffstack import load_tiff_stack as reader
        else:
            from .mrc import load_mrc_tilt_series as reader
        _check_hints(reader, hints, kind, p)
        return reader(p, **hints)
    except FileNotFoundError:
        raise
    except FILE_ERRORS as err:
        raise damaged(p, err, kind) from err


def _check_hints(reader, hints: dict, kind: str, path: Path) -> None:
    """A reader option this format does not take is an error naming the option, not a TypeError."""
    import inspect

    accepted = inspect.signature(reader).parameters
    if any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        return
    takes = list(accepted)[1:]  # after the path
    for name in hints:
        if name not in takes:
            raise fail(f"--{name.replace('_', '-')}", "a scan whose format takes this option",
                       f"{path.name!r}, a {kind} file whose reader does not", "leave the option out for this file")


__all__ = ["load_scan", "save_volume", "load_volume"]
