"""SART: ordered-subset algebraic reconstruction on the scan's own operator."""
from __future__ import annotations

from pydantic import Field

from ..recon import sart
from ..result import Result
from .base import Method, Params, register


class SARTParams(Params):
    n_iter: int = Field(10, ge=1, description="full passes over the projections")
    n_subsets: int | None = Field(None, ge=1, description="ordered angle subsets (default min(A, 20))")
    relaxation: float = Field(1.0, gt=0, lt=2, description="step factor in (0, 2)")


@register
class SART(Method):
    """SART with ordered subsets (Andersen & Kak 1984)."""

    name = "sart"
    summary = "simultaneous algebraic reconstruction technique with ordered angle subsets"
    Params = SARTParams

    def run(self, projections, op) -> Result:
        p = self.params
        vol = sart(projections, op, n_iter=p.n_iter, n_subsets=p.n_subsets, relaxation=p.relaxation,
                   show_progress=self.show_progress)
        return Result(vol)
