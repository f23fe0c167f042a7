"""`run_study`: dispatch a validated study config to its workflow."""
from __future__ import annotations

from ..config import StudyConfig


def run_study(config: StudyConfig, out_dir, overwrite: bool = False, resume: bool = False,
              device: str = "cpu", show_progress: bool = True, log=print) -> dict:
    """Run a study end to end and return its summary (also in ``out_dir/metrics.json``).

    Parameters
    ----------
    config : StudyConfig
    out_dir : path
        Run folder; must be empty unless ``overwrite`` or ``resume``.
    overwrite, resume : bool
    device : str
        "cpu", "cuda" or "cuda:N" for training and inference.
    show_progress : bool
    log : callable
        Receives one-line progress messages.

    Raises
    ------
    FileExistsError
        If ``out_dir`` is not empty and neither flag is set.
    """
    if config.data.source == "synthetic":
        from .synthetic import run_synthetic

        return run_synthetic(config, out_dir, overwrite, resume, device, show_progress, log)
    from .htc2022 import run_htc2022

    return run_htc2022(config, out_dir, overwrite, resume, device, show_progress, log)
