"""SIRT: simultaneous iterative reconstruction technique."""
from __future__ import annotations

from pydantic import Field

from ..recon import sirt
from ..result import Result
from .base import Method, Params, register


class SIRTParams(Params):
    n_iter: int = Field(200, ge=1, description="iterations")
    nonneg: bool = Field(True, description="project onto x >= 0 after each update")


@register
class SIRT(Method):
    """SIRT (Gilbert 1972) on the scan's operator."""

    name = "sirt"
    summary = "simultaneous iterative reconstruction technique, non-negative"
    Params = SIRTParams

    def run(self, projections, op) -> Result:
        vol = sirt(projections, op, n_iter=self.params.n_iter, nonneg=self.params.nonneg,
                   show_progress=self.show_progress)
        return Result(vol)
