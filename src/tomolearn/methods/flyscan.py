"""flyscan (seed 003): approximant of a fly scan (FBP or modified MLEM) -> RRDB network."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..result import Result
from ..phantoms import FLYSCAN_FAMILIES
from .base import Method, Params, TrainingSpec, register


class FlyScanParams(Params):
    model: Path | None = Field(None, description="RRDB weights (.safetensors + .json card, a `train flyscan` run "
                                                 "folder or .ckpt); default: the shipped ones")
    network_input: Literal["mlem", "fbp"] | None = Field(
        None, description="which shipped weights: RRDB on modified MLEM (default; better in every family, about "
                          "3x slower) or on FBP (seed 003's workflow); with --model, checked against its card")
    self_ensemble: bool = Field(False, description="average the network over the 8 flips/quarter turns of its "
                                                   "input (8x the network's time)")


class FlyScanTraining(BaseModel):
    """Settings of ``tomolearn train flyscan`` (RRDB on the on-the-fly fly-scan library)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    size: int = Field(256, ge=32, description="simulated image side, pixels")
    patch: int = Field(128, ge=0, description="side of the crops trained on (0: whole images)")
    n_scans: int = Field(320, ge=0, description="distinct scans simulated once and reused with fresh crops and "
                                                "flips every epoch (0: a fresh scan per sample)")
    families: list[str] = Field(list(FLYSCAN_FAMILIES), description="phantom families of the library")
    angles: tuple[int, int] = Field((60, 180), description="projections over 180 deg drawn in training: LOW,HIGH")
    speed_deg_s: tuple[float, float] = Field((5.0, 40.0), description="rotation speeds, deg/s: LOW,HIGH")
    exposure_s: tuple[float, float] = Field((0.02, 0.1), description="exposure times, s: LOW,HIGH")
    i0: tuple[float, float] = Field((1e3, 1e5), description="photons per pixel (log-uniform): LOW,HIGH")
    approximant: Literal["fbp", "mlem"] = Field("fbp", description="network input: fbp (seed 003) or mlem "
                                                                   "(fly-scan-aware modified MLEM)")
    mlem_iter: int = Field(20, ge=1, description="mlem approximant: full passes")
    mlem_subsets: int = Field(10, ge=1, description="mlem approximant: ordered subsets")
    samples_per_epoch: int = Field(256, ge=1, description="training crops per epoch")
    n_val: int = Field(10, ge=1, description="fixed held-out validation samples")
    epochs: int = Field(30, ge=1, description="epochs (cosine-annealed learning rate)")
    batch_size: int = Field(8, ge=1, description="minibatch size")
    features: int = Field(24, ge=1, description="RRDB trunk features (ESRGAN: 64)")
    growth: int = Field(12, ge=1, description="dense-block growth channels (ESRGAN: 32)")
    n_blocks: int = Field(3, ge=1, description="RRDBs (seed 003: 3)")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate (ESRGAN: 2e-4)")
    seed: int = Field(0, description="random seed")
    export: Path | None = Field(None, description="also write the weights here (.safetensors, card beside)")

    @model_validator(mode="after")
    def _patch_fits(self):
        if self.patch > self.size:
            raise ValueError(f"--patch: expected a crop side <= --size {self.size} (or 0 for whole images), "
                             f"got {self.patch}")
        return self


@register
class FlyScan(Method):
    """Seed 003's learned fly-scan reconstruction: FBP (or modified MLEM) of the blurred scan -> RRDB.

    Reads the scan's exposure arc (``geometry.exposure_arc``: from the file, or
    ``reconstruct --speed-deg-s/--exposure-s``); warns when it lies outside the training range.
    """

    name = "flyscan"
    summary = "fly scan: FBP or modified MLEM -> RRDB network (seed 003; shipped weights)"
    Params = FlyScanParams
    kind = "learned"
    memory_factor = 8.0
    training = TrainingSpec(FlyScanTraining, "tomolearn.workflow.train_flyscan:train_flyscan",
                            "RRDB on the on-the-fly fly-scan library (blurred, noisy fly scans of seed 003's "
                            "families)")

    def setup(self, geometry) -> None:
        from ..recipes.flyscan import check_acquisition, load_default

        self.net, self.card = load_default(self.params.model, self.device, self.params.network_input)
        self.warnings = check_acquisition(self.card, geometry)

    def run(self, projections, op) -> Result:
        from ..recipes.flyscan import flyscan_slice

        vol = np.stack([flyscan_slice(self.net, self.card, s, op.geometry, self.params.self_ensemble)
                        for s in self.slices(projections)])
        return Result(vol, info={"model": str(self.params.model or "shipped"),
                                 "approximant": self.card.pipeline.approximant,
                                 "exposure_arc_deg": float(np.degrees(getattr(op.geometry, "exposure_arc", 0.0)))})

    @classmethod
    def contract_params(cls, folder) -> dict:
        """Tiny untrained RRDB weights for the contract tests."""
        from ..models.card import Architecture, ModelCard, Pipeline
        from ..models.weights import save_weights

        card = ModelCard(method="flyscan", architecture=Architecture(name="rrdb", base_channels=4, growth=2,
                                                                      n_blocks=1, depth=1),
                         pipeline=Pipeline(approximant="fbp", canonical=False, window=32))
        path = Path(folder) / "flyscan_contract.safetensors"
        if not path.exists():
            save_weights(card.architecture.build(), card, path, half=False)
        return {"model": str(path)}
