"""TV: total-variation-regularised least squares (Chambolle-Pock)."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from ..recon import fbp, intensity_level, tv_pdhg, tv_weight
from ..result import Result
from .base import Method, Params, register


class TVParams(Params):
    n_iter: int = Field(200, ge=1, description="primal-dual iterations")
    tv_relative: float = Field(0.01, ge=0, description="TV weight relative to the data (see recon.tv_weight)")
    level: float | None = Field(None, gt=0, description="attenuation level for the weight; default the 99th "
                                                        "percentile of each slice's FBP")
    balanced: bool = Field(True, description="rebalance primal and dual steps by their residuals (Goldstein "
                                             "2015); false: the fixed preconditioned steps")


@register
class TV(Method):
    """Isotropic TV + non-negativity by diagonally preconditioned PDHG (Chambolle & Pock 2011; Sidky et al. 2012),
    its steps rebalanced by their residuals (Goldstein et al. 2015)."""

    name = "tv"
    summary = "total-variation-regularised least squares, non-negative (primal-dual)"
    Params = TVParams
    memory_factor = 8.0

    def run(self, projections, op) -> Result:
        p = self.params
        g = op.geometry
        slices, weights = [], []
        for sino in self.slices(projections):  # the weight follows each slice's own level
            level = p.level if p.level is not None else intensity_level(fbp(sino, op))
            weights.append(tv_weight(p.tv_relative, g, level))
            slices.append(tv_pdhg(sino, op, weight=weights[-1], n_iter=p.n_iter, show_progress=self.show_progress,
                                  balanced=p.balanced))
        return Result(np.stack(slices), info={"n_iter": p.n_iter, "weights": weights})
