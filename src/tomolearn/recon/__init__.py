"""Classical reconstruction: analytic (FBP) and iterative (SIRT, SART, CGLS, TV-PDHG)."""
from .analytic import FILTERS, fbp
from .iterative import cgls, sart, sirt, tv_pdhg

CLASSICAL_METHODS = ("fbp", "sirt", "sart", "cgls", "tv")

__all__ = ["FILTERS", "fbp", "sirt", "sart", "cgls", "tv_pdhg", "CLASSICAL_METHODS"]
