"""Study types as a registry: the study file's ``data.source`` picks the runner.

A study type is one module with a function ``run(config, out_dir, overwrite, resume, device,
show_progress, log) -> dict`` decorated by ``@register_study("name")``.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from .._checks import fail
from ..config import StudyConfig
from .common import discard_unused_run_dir

#: study type -> runner
STUDIES: dict[str, Callable] = {}
BUILTIN = {"synthetic": "synthetic", "htc2022": "htc2022", "rapid_ic": "rapid_study"}


def register_study(name: str):
    """Decorator: make ``run`` the runner of study type ``name`` (``data.source: name``)."""
    def wrap(run: Callable) -> Callable:
        STUDIES[name] = run
        return run
    return wrap


def study_runner(name: str) -> Callable:
    """The runner of a study type.

    Raises
    ------
    ValueError
        If no study type has that name.
    """
    if name not in STUDIES and name in BUILTIN:
        importlib.import_module(f"{__package__}.{BUILTIN[name]}")
    if name not in STUDIES:
        raise fail("data.source", f"a study type ({', '.join(sorted(set(BUILTIN) | set(STUDIES)))})", repr(name))
    return STUDIES[name]


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
    ValueError
        If ``config.data.source`` names no study type.
    """
    runner = study_runner(config.data.source)
    out = Path(out_dir)
    fresh = not out.exists() or not any(out.iterdir())
    try:
        return runner(config, out_dir, overwrite, resume, device, show_progress, log)
    except Exception:
        if fresh:
            discard_unused_run_dir(out)  # e.g. the data were missing: no half-made run folder to trip over
        raise


__all__ = ["STUDIES", "register_study", "run_study", "study_runner"]
