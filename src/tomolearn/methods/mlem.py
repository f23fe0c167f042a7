"""MLEM / OSEM: Poisson maximum likelihood; fly-scan-aware on a fly-scan operator."""
from __future__ import annotations

from pydantic import Field

from ..recon import mlem
from ..result import Result
from .base import Method, Params, register


class MLEMParams(Params):
    n_iter: int = Field(50, ge=1, description="full passes over the projections")
    n_subsets: int = Field(10, ge=1, description="ordered subsets (1 = plain MLEM)")


@register
class MLEM(Method):
    """MLEM (Shepp & Vardi 1982) / OSEM (Hudson & Larkin 1994); modified MLEM of seed 003 on a fly scan."""

    name = "mlem"
    summary = "maximum-likelihood EM with ordered subsets; models the blur of a fly scan's operator"
    Params = MLEMParams

    def run(self, projections, op) -> Result:
        p = self.params
        vol = mlem(projections, op, n_iter=p.n_iter, n_subsets=p.n_subsets, show_progress=self.show_progress)
        return Result(vol)
