"""Network building blocks (2D and 3D through ``spatial_dims``)."""
from .unet import UNet

__all__ = ["UNet"]
