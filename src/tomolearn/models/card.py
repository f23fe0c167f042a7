"""Model cards: the typed record that travels beside every set of weights.

A card says what the network is (architecture), how a scan becomes its input and its output
comes back (the image-domain pipeline: approximant, canonical orientation, grid,
normalisation, windows), what it was trained on (data, geometry and wedge/arc range), how
(command, time) and how well (validation metrics). Inference reads only the card and the
weights; it never imports training code.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

CARD_FORMAT = "tomolearn-model-card-1"


class _Card(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Architecture(_Card):
    """Network shape: enough to rebuild the module before loading its weights."""

    name: Literal["unet", "unetpp", "rapid", "encdec", "rrdb", "lpd"]
    spatial_dims: Literal[2, 3] = 2
    in_channels: int = Field(1, ge=1)
    out_channels: int = Field(1, ge=1)
    base_channels: int = Field(16, ge=1)
    depth: int = Field(4, ge=1)
    residual: bool = True
    #: U-Net (``name="unet"``): channel dropout before each decoder block (Monte-Carlo dropout)
    dropout: float = Field(0.0, ge=0, lt=1)
    #: RAPID (``name="rapid"``): atrous rates, extra depth-axis rates, depth axis, variants, output factor
    rates: tuple[int, ...] = (6, 12, 18)
    depth_rates: tuple[int, ...] = (24, 30)
    depth_axis: int = Field(1, ge=0, le=2)
    atrous: bool = True
    planar: bool = True
    upsample: tuple[int, int, int] = (1, 1, 1)
    #: RAPID: input channel added to the output (a residual on a conventional reconstruction)
    residual_channel: int | None = Field(None, ge=0)
    #: encoder–decoder of seed 002 (``name="encdec"``): patch side and fully connected images
    patch: int = Field(32, ge=8)
    fc_channels: int = Field(1, ge=1)
    #: RRDB of seed 003 (``name="rrdb"``; ``base_channels`` are its trunk features): growth, blocks
    growth: int = Field(16, ge=1)
    n_blocks: int = Field(3, ge=1)
    res_scale: float = Field(0.2, gt=0, le=1)
    #: Learned Primal-Dual (``name="lpd"``; ``base_channels`` are the blocks' features, ``n_blocks``
    #: the unrolled iterations): channels of the primal and dual memories
    memory: int = Field(5, ge=1)

    def build(self):
        """A freshly initialised network of this architecture (``torch.nn.Module``)."""
        from .unet import UNet
        from .unetpp import UNetPlusPlus

        if self.name == "rrdb":
            from .rrdb import RRDBNet

            return RRDBNet(self.in_channels, self.base_channels, self.growth, self.n_blocks, self.res_scale,
                           global_residual=self.residual)
        if self.name == "lpd":
            from .lpd import LearnedPrimalDual

            return LearnedPrimalDual(self.n_blocks, self.base_channels, self.memory)
        if self.name == "encdec":
            from .encdec import EncoderDecoder

            return EncoderDecoder(self.patch, self.fc_channels, self.residual, self.in_channels)
        if self.name == "rapid":
            from .rapid import RAPIDNet

            return RAPIDNet(self.in_channels, self.out_channels, self.base_channels, self.depth, self.rates,
                            self.depth_rates, self.depth_axis, self.atrous, self.planar, self.upsample,
                            self.residual_channel)

        cls = UNet if self.name == "unet" else UNetPlusPlus
        if cls is UNet:
            return UNet(self.spatial_dims, self.in_channels, self.out_channels, self.base_channels, self.depth,
                        residual=self.residual, dropout=self.dropout)
        return cls(self.spatial_dims, self.in_channels, self.out_channels, self.base_channels, self.depth,
                   residual=self.residual)


class Pipeline(_Card):
    """How a sinogram becomes the network's input and the output returns to the scan's grid.

    Attributes
    ----------
    approximant : str
        The registered method whose reconstruction is fed to the network (``fbp``, which is
        WBP for tilt series; ``sirt``; ...).
    approximant_params : dict
        Its parameters (e.g. ``{"filter": "ramp"}``).
    canonical : bool
        Reconstruct with the measured arc centred at angle 0 (the missing wedge always points
        the same way) and rotate the output back.
    voxel_size, grid_shape : float, (int, int), optional
        A fixed grid the network was trained on (in the scan's unit); the approximant is
        computed there and the output resampled to the scan's grid.
    working_size : int, optional
        Otherwise: the longest side of the grid the network sees over the scan's own field
        of view (larger slices are reduced to it); None keeps the scan's grid.
    scale : float, optional
        A fixed divisor of input and output (e.g. the material's attenuation); None divides by
        the ``scale_percentile`` of each approximant (robust to unknown units).
    window : int
        Side of the sliding windows.
    overlap : float
        Fraction of a window shared by its neighbours.
    """

    approximant: str = "fbp"
    approximant_params: dict = {}
    canonical: bool = True
    voxel_size: float | None = Field(None, gt=0)
    grid_shape: tuple[int, int] | None = None
    working_size: int | None = Field(None, ge=16)
    scale: float | None = Field(None, gt=0)
    scale_percentile: float = Field(99.9, gt=0, le=100)
    window: int = Field(256, ge=16)
    overlap: float = Field(0.25, ge=0, lt=1)
    #: volume recipes (RAPID): input standardisation, output calibration ``a·y + b``, 3D window
    input_mean: float | None = None
    input_std: float | None = Field(None, gt=0)
    output_affine: tuple[float, float] | None = None
    window_3d: tuple[int, int, int] | None = None
    #: RAPID: a second input channel, the two-step reconstruction ("sart" or "fbp", 10 SART
    #: iterations) of the same reduced angles, standardised by ``two_step_stats`` (mean, std)
    two_step_input: Literal["sart", "fbp"] | None = None
    two_step_stats: tuple[float, float] | None = None
    #: low dose (seed 002): "paired" enhances projections (min–max normalised per projection),
    #: "noise2inverse" denoises slices from ``splits`` sub-reconstructions of interleaved angles,
    #: "count_split" denoises the reconstruction of all photons (trained on two binomial halves)
    mode: Literal["paired", "noise2inverse", "count_split"] | None = None
    splits: int | None = Field(None, ge=2)
    #: paired low dose: the low-dose training projections' (min, max); the seed's standardise-then-
    #: min–max normalisation equals a min–max, fixed per scan so every slab is normalised alike
    value_range: tuple[float, float] | None = None
    #: paired low dose: average the network over the 8 flips/rotations of each patch at inference
    self_ensemble: bool = False
    #: paired low dose: projections at this many neighbouring angles on each side (in angle
    #: order) are extra input channels of the network; 0 is the seed's single projection
    neighbours: int = Field(0, ge=0)
    #: paired low dose, parallel beam: shift each enhanced projection row so its sum over the
    #: detector is the low-dose scan's mean over angles (less ``U · mass_bias``, the mean
    #: low − high residual per pixel measured on the pairs), the zeroth Helgason–Ludwig condition
    consistent_mass: bool = False
    mass_bias: float = 0.0

    def input_scale(self, approximant: np.ndarray) -> float:
        """The divisor of this approximant (and of the network's output)."""
        return float(self.scale) if self.scale is not None else input_scale(approximant, self.scale_percentile)


class GeometryRange(_Card):
    """The acquisitions a model was trained for: outside them it is extrapolating."""

    kinds: list[Literal["parallel", "fan", "ptycho"]] = ["parallel"]
    arc_range_deg: tuple[float, float] | None = None
    wedge_range_deg: tuple[float, float] | None = None


class ModelCard(_Card):
    """Everything known about a set of weights; saved as JSON beside them.

    Attributes
    ----------
    method : str
        The registered method that runs these weights (``learned``, ``missing_wedge``).
    architecture : Architecture
    pipeline : Pipeline
    geometry : GeometryRange
    training : dict
        Data (families, real images, sizes), settings, seed, command, seconds, software.
    metrics : dict
        Validation metrics (e.g. PSNR/SSIM per wedge on held-out objects).
    """

    format: Literal["tomolearn-model-card-1"] = CARD_FORMAT
    method: str
    architecture: Architecture
    pipeline: Pipeline = Pipeline()
    geometry: GeometryRange = GeometryRange()
    training: dict = {}
    metrics: dict = {}


def input_scale(image: np.ndarray, percentile: float = 99.9) -> float:
    """The factor dividing an approximant (and its target) before the network: a high percentile.

    The same rule is applied in training and inference, so absolute attenuation units never
    reach the network; an image without positive values falls back to its largest magnitude.
    """
    s = float(np.percentile(image, percentile))
    return s if s > 1e-12 else max(float(np.abs(image).max()), 1e-12)


__all__ = ["CARD_FORMAT", "Architecture", "GeometryRange", "ModelCard", "Pipeline", "input_scale"]
