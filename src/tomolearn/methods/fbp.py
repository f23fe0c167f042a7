"""FBP: filtered back projection (parallel and fan beam)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..recon import fbp
from ..result import Result
from .base import Method, Params, register


class FBPParams(Params):
    filter: Literal["ramp", "shepp-logan", "cosine", "hamming", "hann", "parzen"] = Field(
        "ramp", description="apodisation window of the ramp filter")


@register
class FBP(Method):
    """Filtered back projection (Kak & Slaney 1988, ch. 3): the analytic baseline, WBP for tilt series."""

    name = "fbp"
    summary = "filtered back projection (WBP for tilt series); ramp filter with optional window"
    Params = FBPParams
    memory_factor = 2.0

    def run(self, projections, op) -> Result:
        vol = fbp(projections, op, filter=self.params.filter)
        return Result(vol)
