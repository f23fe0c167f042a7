"""Training: paired datasets with augmentation, Lightning modules, and `fit` (resumable).

Inference never imports this package; trained networks reach it as weights + model card
(:mod:`tomolearn.models.weights`).
"""
from .datasets import PairedImages
from .fit import fit
from .module import PostProcessor

__all__ = ["PairedImages", "PostProcessor", "fit"]
