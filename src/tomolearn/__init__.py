"""tomolearn: deep-learning-aided tomographic reconstruction from limited data."""
__version__ = "0.1.0"


def reconstruct(*args, **kwargs):
    """See :func:`tomolearn.workflow.reconstruct` (imported lazily to keep `import tomolearn` light)."""
    from .workflow import reconstruct as _reconstruct

    return _reconstruct(*args, **kwargs)


def load_scan(*args, **kwargs):
    """See :func:`tomolearn.io.load_scan`."""
    from .io import load_scan as _load_scan

    return _load_scan(*args, **kwargs)


__all__ = ["__version__", "reconstruct", "load_scan"]
