"""Forward models: the ray transform, noise and (later) fly-scan and multislice physics."""
from .projector import RayTransform, ray_transform

__all__ = ["RayTransform", "ray_transform"]
