"""tomolearn: deep-learning-aided tomographic reconstruction from limited data."""
__version__ = "0.1.0"


def reconstruct(*args, **kwargs):
    """See :func:`tomolearn.workflow.reconstruct` (imported lazily to keep `import tomolearn` light)."""
    from .workflow import reconstruct as _reconstruct

    return _reconstruct(*args, **kwargs)


def load_scan(path, find_center: bool = True, **hints):
    """Read a scan (:func:`tomolearn.io.load_scan`) and find its centre of rotation if the file does not say it.

    ``find_center=False`` skips the search (the axis is then taken at the detector centre);
    other ``hints`` go to the reader. See :func:`tomolearn.alignment.centre_scan`.
    """
    from .alignment import centre_scan
    from .io import load_scan as _read

    scan = _read(path, **hints)
    if getattr(scan, "kind", "projections") == "diffraction":  # ptycho-tomography: no detector rows to centre
        return scan
    if find_center:
        return centre_scan(scan)
    from dataclasses import replace

    return replace(scan, metadata={k: v for k, v in scan.metadata.items() if k != "centre_search_row"})


__all__ = ["__version__", "reconstruct", "load_scan"]
