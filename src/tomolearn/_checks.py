"""Input validation helpers: every message names the parameter, what was expected, what came."""
from __future__ import annotations

import numpy as np


def fail(param: str, expected: str, got: object, fix: str = "") -> ValueError:
    """Build the one-line ValueError used for all bad input in tomolearn."""
    msg = f"{param}: expected {expected}, got {got}"
    return ValueError(msg + (f"; {fix}" if fix else ""))


def positive(value: float, param: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise fail(param, "a finite number > 0", value)
    return value


def start_angle_deg(value: float, param: str = "start_deg") -> float:
    """A start angle in degrees within +-3600.

    Angles are reduced modulo the period later; beyond a few turns float64 keeps no fraction of
    a degree (1e20 deg has none) and the simulation's reduction never ends.
    """
    value = float(value)
    if not np.isfinite(value) or abs(value) > 3600:
        raise fail(param, "a start angle within +-3600 degrees", value, "give it modulo 360")
    return value


def positive_int(value: int, param: str) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise fail(param, "an integer >= 1", value)
    return int(value)


def finite_array(array, param: str, ndim: tuple[int, ...] | int | None = None) -> np.ndarray:
    """Return `array` as float32, checking dimensionality and that it holds no NaN/inf."""
    arr = np.asarray(array, dtype=np.float32)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and arr.ndim not in allowed:
        raise fail(param, f"an array with {' or '.join(map(str, allowed))} dimensions",
                   f"shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise fail(param, "finite values", f"{bad} NaN/inf entries",
                   "clean or mask the data (e.g. check flat/dark normalisation) before reconstructing")
    return arr
