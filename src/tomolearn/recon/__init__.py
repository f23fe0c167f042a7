"""Classical reconstruction: analytic (FBP) and iterative (SIRT, SART, CGLS, TV-PDHG, MLEM/OSEM)."""
from .analytic import FILTERS, fbp
from .iterative import cgls, mlem, poisson_log_likelihood, sart, sirt, tv_pdhg

__all__ = ["FILTERS", "fbp", "sirt", "sart", "cgls", "tv_pdhg", "mlem", "poisson_log_likelihood"]
