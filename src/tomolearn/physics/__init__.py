"""Forward models behind one interface (:mod:`.base`): the ray transform, the fly-scan
(blurred) transform; counting and Gaussian noise."""
from .base import OPERATORS, LinearOperator, Operator, ray_transform, register_operator
from .multislice import MultisliceOperator, PtychoGeometry
from .flyscan import FlyScanTransform, simulate_flyscan
from .noise import gaussian_noise, poisson_counts, poisson_noise
from .projector import RayTransform, make_operator

__all__ = ["Operator", "LinearOperator", "OPERATORS", "register_operator", "make_operator", "RayTransform",
           "ray_transform", "FlyScanTransform", "simulate_flyscan", "poisson_noise", "poisson_counts", "gaussian_noise", "MultisliceOperator", "PtychoGeometry"]
