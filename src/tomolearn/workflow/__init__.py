"""Workflows: the only code that strings stages together (studies, `reconstruct`)."""
from .reconstruct import METHODS, align_scan, reconstruct
from .study import run_study

__all__ = ["METHODS", "align_scan", "reconstruct", "run_study"]
