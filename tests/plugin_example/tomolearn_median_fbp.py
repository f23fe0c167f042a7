"""A third-party method, as a package outside tomolearn would ship it (registered by entry point).

The test installs it through a ``tomolearn.methods`` entry point and checks it appears in
``tomolearn methods``, runs in ``reconstruct`` and in a study file, with no edit in tomolearn.
"""
import numpy as np
from pydantic import Field
from scipy import ndimage

from tomolearn.methods import Method, Params, register
from tomolearn.recon import fbp
from tomolearn.result import Result


class MedianFBPParams(Params):
    median_size: int = Field(3, ge=1, description="side of the median filter applied to each FBP slice")


@register
class MedianFBP(Method):
    """FBP followed by a median filter (a toy plug-in; Kak & Slaney 1988 for FBP)."""

    name = "median_fbp"
    summary = "FBP, then a median filter of each slice (plug-in example)"
    Params = MedianFBPParams

    def run(self, projections, op) -> Result:
        vol = fbp(projections, op)
        return Result(ndimage.median_filter(vol, size=(1, self.params.median_size, self.params.median_size)),
                      info={"median_size": self.params.median_size, "mean": float(np.mean(vol))})
