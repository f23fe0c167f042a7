"""Limited-angle geometry for learned methods: canonical orientation and the approximant.

The approximant (FBP or SIRT) is reconstructed in a *canonical orientation*: all angles are
shifted so that the middle of the measured arc lies at angle 0. The missing wedge then
always points the same way in the network's input, whatever the arc's start angle, so the
network learns one artefact pattern instead of all rotations of it; the output is rotated
back. (The same trick was used by several HTC2022 entries.) The network stage itself is
:func:`tomolearn.recipes.postprocess.postprocess_slice`, shared by every post-processing model.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..geometry import covered_arc


def arc_centre(angles: np.ndarray, period: float) -> float:
    """Middle of the arc covered by ``angles`` (radians), robust to wrap-around."""
    start, span, _ = covered_arc(angles, period)
    return start + span / 2


def canonical(geometry, fixed_centre: bool = True):
    """Geometry with angles shifted so the arc centre is at 0, and the shift ``phi`` (rad)."""
    phi = arc_centre(geometry.angles, geometry.period) if fixed_centre else 0.0
    return geometry.replace(angles=geometry.angles - phi), phi


def rotate_back(image: np.ndarray, phi: float) -> np.ndarray:
    """Undo the canonical rotation: image reconstructed with angles ``theta - phi`` -> frame of ``theta``.

    Reconstructing with all angles reduced by ``phi`` turns the object by ``phi`` in the
    slice; this turns it back (``tests/test_recipes.py`` checks the sign on an asymmetric
    phantom).
    """
    return ndimage.rotate(image, np.degrees(phi), axes=(-1, -2), reshape=False, order=1, mode="constant")


def approximant(sinogram: np.ndarray, geometry, method: str = "fbp", params: dict | None = None,
                canonical_orientation: bool = True) -> tuple[np.ndarray, float]:
    """Classical reconstruction of one sinogram ``(A, U)`` in canonical orientation.

    Parameters
    ----------
    sinogram : ndarray, shape (A, U)
    geometry : ParallelGeometry or FanGeometry
    method : str
        Any registered method (``fbp``, ``sirt``, ``tv``, ...): the approximant a network is
        trained on and applied to.
    params : dict, optional
        Its parameters (e.g. ``{"filter": "hann"}``, ``{"n_iter": 50}``).
    canonical_orientation : bool
        Shift the angles so the arc's centre is at 0.

    Returns
    -------
    image : ndarray, shape (Y, X)
    phi : float
        The rotation to undo with :func:`rotate_back`.

    Raises
    ------
    ValueError
        On an unknown method or bad parameters.
    """
    from ..methods import base as registry  # the registry imports the recipes that use this module

    g, phi = canonical(geometry, canonical_orientation)
    return registry.build(method, params).image(sinogram, g), phi
