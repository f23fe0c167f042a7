"""Classical reconstruction: analytic (FBP) and iterative (SIRT, SART, CGLS, TV-PDHG, MLEM/OSEM).

Every solver takes the data and one operator (or a geometry, for its ASTRA ray transform).
"""
from .analytic import FILTERS, fbp
from .iterative import (cgls, intensity_level, mlem, ordered_subsets, poisson_log_likelihood, sart, sirt, tv_pdhg,
                        tv_weight)

__all__ = ["FILTERS", "fbp", "sirt", "sart", "cgls", "tv_pdhg", "mlem", "poisson_log_likelihood", "tv_weight",
           "intensity_level", "ordered_subsets"]
