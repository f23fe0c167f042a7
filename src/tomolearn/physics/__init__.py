"""Forward models: the ray transform, the fly-scan (blurred) transform, counting and Gaussian noise."""
from .flyscan import FlyScanTransform, simulate_flyscan
from .noise import gaussian_noise, poisson_noise
from .projector import RayTransform, ray_transform

__all__ = ["RayTransform", "ray_transform", "FlyScanTransform", "simulate_flyscan",
           "poisson_noise", "gaussian_noise"]
