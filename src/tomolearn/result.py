"""`Result`: what every reconstruction method returns.

A volume and, where the method can say them, per-voxel maps of how far to trust it (seed 000:
"where did the network guess?"): an ``uncertainty`` (e.g. ensemble standard deviation), a
``data_residual`` (back-projected disagreement with the measured projections) and a
``null_space`` part (what the output holds that the measured angles do not determine). The
maps have the volume's shape; ``info`` holds facts of the run (iterations, timings, the model
card of learned methods).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ._checks import fail

MAPS = ("uncertainty", "data_residual", "null_space")
#: ``info`` entries holding one value per slice: joined when slabs are, cropped with them
PER_SLICE_INFO = ("data_residual_relative", "data_residual_vs_fbp")


@dataclass(frozen=True)
class Result:
    """A reconstructed volume ``(Z, Y, X)`` with optional trust maps of the same shape.

    Attributes
    ----------
    volume : ndarray, shape (Z, Y, X), float32
        Attenuation per ``geometry.unit`` (or what the method reconstructs, e.g. δ).
    uncertainty, data_residual, null_space : ndarray, shape (Z, Y, X), float32, optional
    info : dict
        JSON-serialisable facts: method, parameters, seconds, model card, ...

    Raises
    ------
    ValueError
        If ``volume`` is not 3D or a map's shape differs from it.
    """

    volume: np.ndarray
    uncertainty: np.ndarray | None = None
    data_residual: np.ndarray | None = None
    null_space: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        vol = np.asarray(self.volume, dtype=np.float32)
        if vol.ndim != 3:
            raise fail("volume", "a (Z, Y, X) array", f"shape {vol.shape}")
        object.__setattr__(self, "volume", vol)
        for name in MAPS:
            m = getattr(self, name)
            if m is None:
                continue
            m = np.asarray(m, dtype=np.float32)
            if m.shape != vol.shape:
                raise fail(name, f"a map of the volume's shape {vol.shape}", f"shape {m.shape}")
            object.__setattr__(self, name, m)

    @property
    def maps(self) -> dict[str, np.ndarray]:
        """The trust maps this result carries, by name."""
        return {n: getattr(self, n) for n in MAPS if getattr(self, n) is not None}

    def with_info(self, **info) -> "Result":
        """A copy with ``info`` extended."""
        return replace(self, info={**self.info, **info})

    @classmethod
    def concatenate(cls, parts: list["Result"]) -> "Result":
        """Join slabs along Z (in order). A map is kept only if every slab has it.

        ``info`` is the first slab's, with ``seconds`` summed, ``slabs`` counted and the
        per-slice entries (:data:`PER_SLICE_INFO`) joined.

        Raises
        ------
        ValueError
            If ``parts`` is empty.
        """
        if not parts:
            raise fail("parts", "at least one Result", "none")
        if len(parts) == 1:
            return parts[0]
        maps = {n: np.concatenate([getattr(p, n) for p in parts]) for n in MAPS
                if all(getattr(p, n) is not None for p in parts)}
        info = dict(parts[0].info)
        for key in PER_SLICE_INFO:
            if all(key in p.info for p in parts):
                info[key] = [v for p in parts for v in p.info[key]]
        if all("seconds" in p.info for p in parts):
            info["seconds"] = round(sum(float(p.info["seconds"]) for p in parts), 3)
        info["slabs"] = len(parts)
        return cls(np.concatenate([p.volume for p in parts]), info=info, **maps)


__all__ = ["MAPS", "PER_SLICE_INFO", "Result"]
