"""lowdose (seed 002): CNN-enhanced low-dose projections -> reconstruction; or self-supervised (Noise2Inverse, count split)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..result import Result
from .base import Method, Params, TrainingSpec, register


class LowDoseParams(Params):
    model: Path = Field(description="low-dose weights: a `tomolearn train lowdose` run folder or its "
                                    ".safetensors / checkpoint")
    reconstruction: str = Field("fbp", description="paired mode: the method that reconstructs the enhanced "
                                                   "projections (any registered classical method)")
    filter: str = Field("parzen", description="paired mode with fbp: the ramp filter's window (seed: Parzen, "
                                              "as gridrec)")


class LowDoseTraining(BaseModel):
    """`tomolearn train lowdose SCAN --pairs HIGH.h5 -o RUN` or `... --self-supervised`."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    scan: Path = Field(..., description="the low-dose scan (any format the readers load)",
                       json_schema_extra={"argument": True})
    pairs: Path | None = Field(None, description="high-dose projections of the same sample at a few of the scan's "
                                                 "angles (a scan file with its angles), matched by angle")
    pair_angles: tuple[float, ...] | None = Field(None, description="use only these pair angles in degrees "
                                                                    "(default: every angle in --pairs)")
    self_supervised: bool = Field(False, description="train on the scan alone, no pairs (--split: how)")
    split: Literal["angles", "counts"] = Field(
        "angles", description="self-supervised: 'angles' is Noise2Inverse (interleaved angle subsets, any scan); "
                              "'counts' splits every detected photon at random between two half-dose scans of all "
                              "angles (Noise2Noise; needs raw counts with flat fields)")
    gain: float = Field(1.0, gt=0, description="self-supervised, --split counts: detector counts per photon")
    read_noise: float = Field(0.0, ge=0, description="self-supervised, --split counts: read-out noise std per frame "
                                                     "in counts (the dark frames' spread); cancels the share of it "
                                                     "both halves get (0: none)")
    patch: int = Field(32, ge=8, description="paired: patch side, a multiple of 8 (fixed by the FC layer)")
    stride: int = Field(4, ge=1, description="paired: step between overlapping training patches")
    fc_channels: int = Field(1, ge=1, description="paired: images of the fully connected layer (seed: 1)")
    residual: bool = Field(False, description="paired: the network adds its input (learns the noise; not in the "
                                              "seed)")
    resample_noise: float = Field(0.0, ge=0.0, le=1.0,
                                  description="paired: share of training patches whose input is the high-dose "
                                              "patch plus fresh noise of the model measured on the pairs' "
                                              "low - high residual (0: the measured low-dose patches only, the "
                                              "seed)")
    neighbours: int = Field(0, ge=0, description="paired: projections at this many neighbouring angles on each "
                                                 "side are extra input channels (0: the projection alone, the "
                                                 "seed)")
    self_ensemble: bool = Field(True, description="paired: average each patch over its 8 flips/rotations at "
                                                  "inference (8x the network's time; --no-self-ensemble: the "
                                                  "seed's single pass)")
    consistent_mass: bool = Field(True, description="paired, parallel beam: shift each enhanced projection row to "
                                                    "the slice's mass from all low-dose projections (zeroth "
                                                    "Helgason-Ludwig condition; turn off for a truncated field of "
                                                    "view)")
    splits: int = Field(2, ge=2, description="self-supervised: interleaved angle subsets K (more subsets: fewer "
                                             "angles each, whose undersampling streaks no network can predict; "
                                             "2 measured best on every scan in benchmarks/results/"
                                             "lowdose_n2i_splits_*)")
    filter: str = Field("parzen", description="self-supervised: FBP window of the sub-reconstructions")
    window: int = Field(64, ge=16, description="self-supervised: training patch side")
    validation: float = Field(0.1, ge=0.0, le=0.5,
                              description="self-supervised: share of window-sized tiles held out of training; "
                                          "their Noise2Inverse loss picks the epoch whose weights are kept (0: the "
                                          "last epoch)")
    samples: int = Field(2048, ge=1, description="patches per epoch (drawn anew each epoch)")
    base_channels: int = Field(16, ge=1, description="self-supervised: U-Net channels of the first level")
    depth: int = Field(3, ge=1, description="self-supervised: U-Net poolings")
    epochs: int = Field(20, ge=1, description="training epochs")
    batch_size: int = Field(32, ge=1, description="patches per step")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    rows: int | None = Field(None, ge=1, description="self-supervised: train on this many detector rows spread "
                                                     "over the scan (default all)")
    seed: int = Field(0, description="random seed")
    export: Path | None = Field(None, description="also write the weights here (.safetensors + .json card)")


@register
class LowDose(Method):
    """Low-dose tomography: CNN enhancement of projections (Yang et al. 2018) or Noise2Inverse.

    X. Yang et al., "Low-dose x-ray tomography through a deep convolutional neural network",
    Sci. Rep. 8, 2575 (2018); A. A. Hendriksen et al., "Noise2Inverse", IEEE TCI 6 (2020).
    """

    name = "lowdose"
    summary = "low dose: CNN-enhanced projections (seed 002, pairs) or Noise2Inverse (no pairs); needs --model"
    Params = LowDoseParams
    kind = "learned"
    needs = ("model",)
    execution = "slab"
    halo = 16  # rows of context above and below a slab for the projection patches
    memory_factor = 8.0
    training = TrainingSpec(LowDoseTraining, "tomolearn.workflow.train_lowdose:train_lowdose",
                            "Train the low-dose network on high/low-dose pairs of a scan (--pairs) or on the scan "
                            "alone (--self-supervised)")

    def setup(self, geometry) -> None:
        from ..recipes.lowdose import load_lowdose
        from ..geometry import ParallelGeometry
        from . import base as registry

        self.net, self.card = load_lowdose(self.params.model, self.device)
        if self.card.pipeline.mode == "paired":
            values = {"filter": self.params.filter} if self.params.reconstruction == "fbp" else {}
            self.recon = registry.build(self.params.reconstruction, values).prepare(geometry)
        parallel = isinstance(geometry, ParallelGeometry)
        self.consistent_mass = self.card.pipeline.consistent_mass and parallel
        if self.card.pipeline.consistent_mass and not parallel:
            warnings.warn("lowdose: the weights' row-sum (mass) consistency holds in parallel beam only; not "
                          f"applied to this {type(geometry).__name__}", stacklevel=2)

    def run(self, projections, op) -> Result:
        from ..recipes.lowdose import SELF_SUPERVISED, enhance_projections, match_row_sums, noise2inverse

        info = {"model": str(self.params.model), "mode": self.card.pipeline.mode}
        if self.card.pipeline.mode in SELF_SUPERVISED:
            return Result(noise2inverse(self.net, self.card, projections, op, self.show_progress), info=info)
        enhanced = enhance_projections(self.net, self.card, projections, show_progress=self.show_progress,
                                       angles=op.geometry.angles)
        if self.consistent_mass:
            enhanced = match_row_sums(enhanced, projections, self.card.pipeline.mass_bias)
        return self.recon.run(enhanced, op).with_info(**info, reconstruction=self.params.reconstruction)

    @classmethod
    def contract_params(cls, folder) -> dict:
        """Tiny untrained paired weights for the contract tests."""
        from ..models.card import Architecture, ModelCard, Pipeline
        from ..models.weights import save_weights

        card = ModelCard(method="lowdose", architecture=Architecture(name="encdec", patch=16),
                         pipeline=Pipeline(mode="paired", value_range=(0.0, 1.0), window=16, overlap=0.5))
        path = Path(folder) / "lowdose_contract.safetensors"
        if not path.exists():
            save_weights(card.architecture.build(), card, path, half=False)
        return {"model": str(path)}
