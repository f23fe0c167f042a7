"""Workflows: the only code that strings stages together (studies, `reconstruct`)."""
from .reconstruct import METHODS, reconstruct
from .study import run_study

__all__ = ["METHODS", "reconstruct", "run_study"]
