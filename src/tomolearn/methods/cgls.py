"""CGLS: conjugate gradients on the least-squares problem."""
from __future__ import annotations

from pydantic import Field

from ..recon import cgls
from ..result import Result
from .base import Method, Params, register


class CGLSParams(Params):
    n_iter: int = Field(30, ge=1, description="iterations (few: CGLS fits noise early)")


@register
class CGLS(Method):
    """CGLS (Hestenes & Stiefel 1952), clipped at zero at the end."""

    name = "cgls"
    summary = "conjugate gradient least squares, early-stopped"
    Params = CGLSParams

    def run(self, projections, op) -> Result:
        vol = cgls(projections, op, n_iter=self.params.n_iter, show_progress=self.show_progress)
        return Result(vol)
