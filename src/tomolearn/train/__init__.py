"""Training: paired datasets with augmentation, the Lightning module, and `fit`."""
from .datasets import PairedImages
from .fit import fit, load_model
from .module import PostProcessor

__all__ = ["PairedImages", "PostProcessor", "fit", "load_model"]
