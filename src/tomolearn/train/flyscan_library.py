"""On-the-fly fly-scan training library (seed 003): (approximant of a blurred, noisy fly scan, object) pairs.

Each sample: an object from the seed's four families (heterogeneous, cracked particles, crack
network, radial cracks) or ellipses; a fly scan drawn from ranges of projection numbers,
rotation speeds, exposure times and photon counts (the exposure arc ``speed × exposure``
capped at the angular step); its projections simulated on a 2× finer grid as the average of
sub-angle projections with Poisson noise on the counts (seed 003, Eq. 5); flat-field
normalised and −log; the approximant (FBP, or the fly-scan-aware modified MLEM) computed with
the scan's fly-scan geometry — the same call inference makes.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import fail, positive_int
from ..models.card import input_scale
from ..phantoms import FLYSCAN_FAMILIES, make_phantom
from ..preprocess import minus_log, normalize
from ..scenario import Scenario, simulate
from .augment import dihedral


def fly_sinogram(obj: np.ndarray, n_angles: int, exposure_arc_deg: float, i0: float, seed) -> tuple:
    """Line integrals ``(A, U)`` of a fly scan of ``obj`` and its geometry (with the exposure arc).

    ``obj`` is attenuation per pixel ``(N, N)``; angles cover 180° without the endpoint, each the
    start of its exposure; Poisson noise at ``i0`` photons per pixel spread over the sub-angles.
    """
    scen = Scenario(n_angles=int(n_angles), i0=float(i0), exposure_arc_deg=float(exposure_arc_deg)).validated()
    sim = simulate(obj, scen, seed)
    line = minus_log(normalize(sim["projections"], sim["flats"], sim["darks"]))[:, 0]
    return line.astype(np.float32), sim["geometry"].replace(n_rows=1)


class FlyScanLibrary(Dataset):
    """Fresh (approximant, object) pairs of fly scans every epoch.

    Parameters
    ----------
    n_samples : int
        Samples per epoch.
    size : int
        Image side in pixels.
    families : sequence of str
    angles : (int, int)
        Range of projection numbers over 180°.
    speed_deg_s, exposure_s : (float, float)
        Ranges of rotation speed and exposure time; the exposure arc is their product, capped at
        the angular step (the sample cannot be in two exposures at once).
    i0 : (float, float)
        Range of photons per pixel (drawn log-uniformly).
    attenuation : float
        Line integral across the whole object of value 1 (sets the transmission range; the
        per-pixel attenuation is ``attenuation / size``).
    approximant : {"fbp", "mlem"}
        The network's input: FBP (the seed's) or the fly-scan-aware modified MLEM.
    approximant_params : dict, optional
        Its parameters (e.g. ``{"n_iter": 20, "n_subsets": 10}``).
    seed : int
    fixed : bool
        The same samples every epoch (validation).
    patch : int, optional
        Side of the square crop each item returns (default: the whole image). The network is
        convolutional: it learns from crops and runs on whole images.
    n_scans : int, optional
        Simulate only this many distinct scans, keep them in memory and return a fresh random
        crop and flip/rotation of one of them per item every epoch (default: every item a fresh
        scan). Simulating one 256² fly scan (2× finer grid, several sub-angles per exposure)
        costs about 100× a training step on it, so a CPU run reuses scans.

    Items are ``(input, target)`` tensors ``(1, patch, patch)``, both divided by
    :func:`~tomolearn.models.card.input_scale` of the WHOLE input image (the rule inference
    applies to the whole slice).

    Notes
    -----
    The blur is tangential, ``r·δ`` pixels at radius ``r`` for an exposure arc ``δ``: a crop sees
    the blur of its place in the slice, and the range of arcs drawn at one image size covers other
    sizes (a 256² library with arcs up to 3° holds the 6.7-pixel edge blur of 512² at 1.5°).
    Flips and quarter turns map a scan over 180° onto a scan of the turned object (angles shifted
    or reversed), so they are samples of the same physics.

    References
    ----------
    Seed 003 (fly-scan nano-CT with a TXM), Eq. 2–5 and its training library of four families.
    """

    def __init__(self, n_samples: int, size: int = 128, families=FLYSCAN_FAMILIES, angles=(60, 180),
                 speed_deg_s=(5.0, 40.0), exposure_s=(0.02, 0.1), i0=(1e3, 1e5), attenuation: float = 2.5,
                 approximant: str = "fbp", approximant_params: dict | None = None, seed: int = 0,
                 fixed: bool = False, patch: int | None = None, n_scans: int | None = None) -> None:
        self.n_samples = positive_int(n_samples, "n_samples")
        self.size = positive_int(size, "size")
        self.patch = None if patch is None else positive_int(patch, "patch")
        if self.patch is not None and self.patch > self.size:
            raise fail("patch", f"a crop side <= size {self.size}", self.patch)
        self.n_scans = None if n_scans is None else positive_int(n_scans, "n_scans")
        self._cache: dict[int, dict] = {}
        unknown = [f for f in families if f not in FLYSCAN_FAMILIES]
        if unknown or not families:
            raise fail("families", f"names from {', '.join(FLYSCAN_FAMILIES)}", list(families))
        for name, (lo, hi) in (("angles", angles), ("speed_deg_s", speed_deg_s), ("exposure_s", exposure_s),
                               ("i0", i0)):
            if not (0 <= lo <= hi) or (name in ("angles", "i0") and lo <= 0):
                raise fail(name, "a range LOW,HIGH with 0 < LOW <= HIGH", (lo, hi))
        if approximant not in ("fbp", "mlem"):
            raise fail("approximant", "fbp or mlem", repr(approximant))
        self.families = tuple(families)
        self.angles, self.speed, self.exposure, self.i0 = tuple(angles), tuple(speed_deg_s), tuple(exposure_s), tuple(i0)
        self.attenuation = float(attenuation)
        self.approximant, self.approximant_params = approximant, dict(approximant_params or {})
        self.seed, self.fixed, self.epoch = int(seed), bool(fixed), 0

    def __len__(self) -> int:
        return self.n_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def draw_scan(self, rng: np.random.Generator) -> dict:
        """The acquisition of one sample: projections, exposure arc (deg), photons."""
        n = int(rng.integers(self.angles[0], self.angles[1] + 1))
        arc = min(rng.uniform(*self.speed) * rng.uniform(*self.exposure), 180.0 / n)
        i0 = float(np.exp(rng.uniform(np.log(self.i0[0]), np.log(self.i0[1]))))
        return {"n_angles": n, "exposure_arc_deg": float(arc), "i0": i0}

    def sample(self, index: int) -> dict:
        """One sample as NumPy arrays: ``input`` (approximant), ``target`` (attenuation), and the acquisition."""
        from ..methods import base as registry

        rng = np.random.default_rng([self.seed, int(index), 0 if self.fixed else self.epoch])
        family = self.families[rng.integers(len(self.families))]
        obj = np.clip(make_phantom(family, self.size, rng), 0, None)
        obj = (obj / max(float(obj.max()), 1e-12) * self.attenuation / self.size).astype(np.float32)
        acq = self.draw_scan(rng)
        sino, g = fly_sinogram(obj, acq["n_angles"], acq["exposure_arc_deg"], acq["i0"], rng)
        approx = registry.build(self.approximant, self.approximant_params).image(sino, g)
        return {"input": approx.astype(np.float32), "target": obj, "family": family, **acq}

    def _scan(self, index: int) -> dict:
        """The (scaled input, scaled target) of item ``index``: simulated, or reused from memory."""
        if self.n_scans is None:
            return self._scaled(self.sample(index))
        key = (int(index) + self.epoch * self.n_samples) % self.n_scans  # epochs walk through all kept scans
        if key not in self._cache:
            epoch, self.epoch = self.epoch, 0  # a kept scan is the same whichever epoch first asks for it
            try:
                self._cache[key] = self._scaled(self.sample(key))
            finally:
                self.epoch = epoch
        return self._cache[key]

    @staticmethod
    def _scaled(s: dict) -> dict:
        scale = input_scale(s["input"])
        return {"input": (s["input"] / scale).astype(np.float32), "target": (s["target"] / scale).astype(np.float32)}

    def __getitem__(self, index: int):
        s = self._scan(index)
        inp, tgt = s["input"], s["target"]
        if self.patch is not None or self.n_scans is not None:
            rng = np.random.default_rng([self.seed, int(index), 0 if self.fixed else self.epoch, 1])
            if self.patch is not None:
                y, x = rng.integers(0, self.size - self.patch + 1, size=2)
                inp = inp[y:y + self.patch, x:x + self.patch]
                tgt = tgt[y:y + self.patch, x:x + self.patch]
            if self.n_scans is not None:
                k = int(rng.integers(8))
                inp, tgt = dihedral(inp, k), dihedral(tgt, k)
        return torch.from_numpy(np.ascontiguousarray(inp))[None].float(), torch.from_numpy(np.ascontiguousarray(tgt))[None].float()


__all__ = ["FLYSCAN_FAMILIES", "FlyScanLibrary", "fly_sinogram"]
