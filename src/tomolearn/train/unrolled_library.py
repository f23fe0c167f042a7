"""On-the-fly training library for unrolled reconstruction (Learned Primal-Dual).

Every item is a whole minibatch that shares one acquisition, because the network applies the
ray transform of that acquisition inside: an arc drawn from a range (centre within ±45° of
angle 0, which with the recipe's exact quarter turns covers every start angle), an angular
step, a photon count and an attenuation scale. Objects come from the phantom families,
randomly augmented; projections are simulated on a 2x finer grid and detector and binned (no
inverse crime), with Poisson noise. Data, FBP initial image and target are normalised as the
recipe normalises a scan (:func:`tomolearn.recipes.unrolled.network_inputs`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import fail, positive_int
from ..phantoms import FAMILIES, make_phantom
from ..physics.noise import poisson_noise
from ..physics.projector import RayTransform
from ..recipes.unrolled import network_inputs
from ..scenario import binned_projections
from .augment import random_affine
from .library import normalise_object


def fine_geometry(geometry, factor: int = 2):
    """The same acquisition on a ``factor`` x finer grid and detector (for simulation without inverse crime)."""
    ny, nx = geometry.volume_shape
    return geometry.replace(volume_shape=(factor * ny, factor * nx), voxel_size=geometry.voxel_size / factor,
                            n_detector=factor * geometry.n_detector,
                            detector_spacing=geometry.detector_spacing / factor,
                            cor_offset=geometry.cor_offset * factor)


def arc_angles(centre: float, arc: float, step: float) -> np.ndarray:
    """Angles (rad) of a contiguous arc of width ``arc`` about ``centre`` at ``step`` spacing (endpoints included)."""
    n = max(2, int(round(arc / step)) + 1)
    return centre + np.linspace(-arc / 2, arc / 2, n)


class UnrolledLibrary(Dataset):
    """Fresh minibatches of limited-angle, noisy scans of random objects every epoch.

    Parameters
    ----------
    n_batches : int
        Items (minibatches) per epoch.
    batch_size : int
        Objects per item; they share the item's acquisition.
    template : ParallelGeometry or FanGeometry
        Detector, grid and distances of the scans (its angles are replaced).
    families : sequence of str
        Phantom families (:data:`tomolearn.phantoms.FAMILIES`).
    arc_range_deg : (float, float)
        Measured arcs drawn uniformly from this range, degrees.
    step_deg : (float, float)
        Angular steps drawn uniformly, degrees.
    i0 : (float, float)
        Photons per detector pixel, drawn log-uniformly.
    attenuation : (float, float)
        Line integral through the whole grid width of material of value 1 (e.g. 0.02 per pixel
        x 128 pixels = 2.56), drawn uniformly: with ``i0`` it sets the noise level.
    augment : bool
        Random affine maps of the objects (:func:`~tomolearn.train.augment.random_affine`).
    seed : int
    fixed : bool
        The same items every epoch (validation).
    init, init_params : str, dict
        The reconstruction that starts the network (:func:`~tomolearn.recipes.unrolled.network_inputs`).

    Items are ``(data (B, 1, A, U), init (B, 1, Y, X), target (B, 1, Y, X), angles (A,))``
    float32 tensors (angles float64), all but the angles divided by each scan's scale.

    Raises
    ------
    ValueError
        On empty or reversed ranges or unknown families.
    """

    def __init__(self, n_batches: int, batch_size: int, template, families=("ellipses_polygons",),
                 arc_range_deg=(30.0, 150.0), step_deg=(1.0, 1.0), i0=(3e3, 1e5), attenuation=(1.0, 4.0),
                 augment: bool = True, seed: int = 0, fixed: bool = False, init: str = "fbp",
                 init_params: dict | None = None) -> None:
        self.n_batches = positive_int(n_batches, "n_batches")
        self.batch_size = positive_int(batch_size, "batch_size")
        unknown = [f for f in families if f not in FAMILIES]
        if unknown or not families:
            raise fail("families", f"names from {', '.join(FAMILIES)}", list(families))
        for name, (lo, hi), low in (("arc_range", arc_range_deg, 0), ("step_deg", step_deg, 0), ("i0", i0, 0),
                                     ("attenuation", attenuation, 0)):
            if not (np.isfinite(lo) and np.isfinite(hi) and low < lo <= hi):
                raise fail(f"--{name.replace('_', '-')}", "LOW,HIGH with 0 < LOW <= HIGH", f"{lo},{hi}")
        if arc_range_deg[1] > np.degrees(template.period):
            raise fail("--arc-range", f"arcs of at most {np.degrees(template.period):.0f} degrees for this geometry",
                       f"{arc_range_deg[0]},{arc_range_deg[1]}")
        self.template, self.families = template, tuple(families)
        self.arc_range, self.step_range = tuple(map(float, arc_range_deg)), tuple(map(float, step_deg))
        self.i0_range, self.attenuation = tuple(map(float, i0)), tuple(map(float, attenuation))
        self.augment, self.seed, self.fixed, self.epoch = bool(augment), int(seed), bool(fixed), 0
        self._fine = fine_geometry(template)
        self.init, self.init_params = init, dict(init_params or {})

    def __len__(self) -> int:
        return self.n_batches

    def set_epoch(self, epoch: int) -> None:
        """Draw new items for ``epoch`` (ignored when ``fixed``)."""
        self.epoch = int(epoch)

    def acquisition(self, rng: np.random.Generator, arc_deg: float | None = None) -> dict:
        """One acquisition: angles (rad), arc and step (deg), photon count, attenuation."""
        arc = np.deg2rad(arc_deg if arc_deg is not None else rng.uniform(*self.arc_range))
        step = np.deg2rad(rng.uniform(*self.step_range))
        centre = rng.uniform(-np.pi / 4, np.pi / 4)
        i0 = float(np.exp(rng.uniform(*np.log(self.i0_range))))
        return {"angles": arc_angles(centre, arc, step), "arc_deg": float(np.degrees(arc)),
                "step_deg": float(np.degrees(step)), "i0": i0, "attenuation": float(rng.uniform(*self.attenuation))}

    def draw_object(self, rng: np.random.Generator) -> np.ndarray:
        """One object on the fine grid, values in [0, 1]."""
        n = self._fine.volume_shape[0]
        img = make_phantom(self.families[rng.integers(len(self.families))], n, rng)
        if self.augment:
            img = random_affine(img, rng)
        img = normalise_object(img)
        if self._fine.volume_shape[1] != n:  # non-square grids: crop or pad the square phantom
            out = np.zeros(self._fine.volume_shape, np.float32)
            w = min(n, out.shape[1])
            out[:, (out.shape[1] - w) // 2:(out.shape[1] - w) // 2 + w] = img[:, (n - w) // 2:(n - w) // 2 + w]
            img = out
        return img

    def sample(self, index: int, arc_deg: float | None = None) -> dict:
        """One minibatch as NumPy arrays: ``sinograms`` (B, A, U), ``targets`` (B, Y, X) in attenuation
        per unit, ``geometry`` and the acquisition's draws."""
        rng = np.random.default_rng([self.seed, int(index), 0 if self.fixed else self.epoch])
        acq = self.acquisition(rng, arc_deg)
        g = self.template.replace(angles=acq["angles"])
        fine = RayTransform(self._fine.replace(angles=acq["angles"]))
        width = self.template.volume_shape[1] * self.template.voxel_size
        mu = acq["attenuation"] / width  # attenuation per unit of material value 1
        sinos, targets = [], []
        for _ in range(self.batch_size):
            obj = self.draw_object(rng) * mu
            sino = binned_projections(obj, fine, 2)
            sinos.append(poisson_noise(sino, acq["i0"], rng))
            ny, nx = self.template.volume_shape
            targets.append(obj.reshape(ny, 2, nx, 2).mean((1, 3)))
        return {"sinograms": np.stack(sinos), "targets": np.stack(targets).astype(np.float32), "geometry": g, **acq}

    def __getitem__(self, index: int):
        s = self.sample(index)
        data, init, scale = network_inputs(s["sinograms"], s["geometry"], None, self.init, self.init_params)
        target = s["targets"][:, None] / scale[:, None, None, None]
        return (torch.from_numpy(data), torch.from_numpy(init), torch.from_numpy(target.astype(np.float32)),
                torch.from_numpy(np.asarray(s["angles"], dtype=np.float64)))


__all__ = ["UnrolledLibrary", "arc_angles", "fine_geometry"]
