"""Workflows: the only code that strings stages together (studies, `reconstruct`, training)."""
from ..alignment import align_scan
from .reconstruct import reconstruct, scan_operator
from .study import run_study

__all__ = ["align_scan", "reconstruct", "run_study", "scan_operator"]
