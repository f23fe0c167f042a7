"""Reconstruction methods as registered objects (see :mod:`tomolearn.methods.base`).

One short module per method; ``available()`` lists them all, plug-ins included.
"""
from .base import (ENTRY_POINT_GROUP, Method, Params, TrainingSpec, available, build, describe, get, parameters,
                   register, trainable)

__all__ = ["ENTRY_POINT_GROUP", "Method", "Params", "TrainingSpec", "available", "build", "describe", "get",
           "parameters", "register", "trainable"]
