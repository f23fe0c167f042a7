"""Network building blocks (2D and 3D through ``spatial_dims``)."""
from .discriminator import ConditionalDiscriminator
from .unet import UNet
from .unetpp import UNetPlusPlus

__all__ = ["UNet", "UNetPlusPlus", "ConditionalDiscriminator"]
