"""missing_wedge: the IRDM recipe (seed 004), WBP -> U-Net++ generator, optionally reconciled with the data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..phantoms import FAMILIES
from ..result import Result
from .base import Method, Params, TrainingSpec, register


class MissingWedgeParams(Params):
    model: Path | None = Field(None, description="generator weights (.safetensors + .json, IRDM .ckpt); "
                                                 "default: the shipped ones")
    refine: bool = Field(False, description="reconcile the network output with the data (TV + learned prior)")
    n_iter: int = Field(200, ge=1, description="iterations of the refinement")
    tv_relative: float = Field(0.01, ge=0, description="refinement: relative TV weight")
    prior_relative: float = Field(0.03, ge=0, description="refinement: weight of the network prior")


class MissingWedgeTraining(BaseModel):
    """Settings of ``tomolearn train missing_wedge`` (IRDM on the on-the-fly synthetic library)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    size: int = Field(128, ge=32, description="training image side, pixels")
    wedge_range: tuple[float, float] = Field((25.0, 85.0), description="missing wedges drawn in training, degrees: LOW,HIGH")
    families: list[str] = Field([*FAMILIES, "shepp_logan"], description="phantom families of the library")
    images: Path | None = Field(None, description="real reconstructed slices to add (volume .h5/.tif, (M, Y, X))")
    samples_per_epoch: int = Field(400, ge=1, description="fresh library samples per epoch")
    n_val: int = Field(16, ge=1, description="fixed validation samples")
    epochs: int = Field(30, ge=1, description="epochs (learning rates x0.1 at 75% and 92%)")
    batch_size: int = Field(8, ge=1, description="minibatch size")
    base_channels: int = Field(12, ge=1, description="generator width at full resolution")
    depth: int = Field(4, ge=1, le=6, description="generator poolings")
    supervised: bool = Field(False, description="L1 only, no discriminator (baseline)")
    adversarial_weight: float = Field(0.01, ge=0, description="RaLSGAN weight beside the L1 loss")
    seed: int = Field(0, description="random seed")
    export: Path | None = Field(None, description="also write the weights here (.safetensors, card beside)")


@register
class MissingWedge(Method):
    """IRDM (Wang et al., seed 004): U-Net++ GAN generator on the WBP of a missing-wedge scan.

    ``refine`` adds our data-consistent step (:func:`~tomolearn.recipes.missing_wedge.data_consistent`).
    A scan whose wedge lies outside the weights' training range gets a warning.
    """

    name = "missing_wedge"
    summary = "IRDM: WBP -> U-Net++ GAN generator (shipped weights); --refine reconciles it with the data"
    Params = MissingWedgeParams
    memory_factor = 8.0
    kind = "learned"
    training = TrainingSpec(MissingWedgeTraining, "tomolearn.workflow.train_missing_wedge:train_missing_wedge",
                            "IRDM U-Net++ GAN on the on-the-fly missing-wedge library")

    def setup(self, geometry) -> None:
        from ..recipes.missing_wedge import check_wedge, load_default  # torch only once a model is used

        self.generator, self.card = load_default(self.params.model, self.device)
        self.wedge_deg = check_wedge(geometry, self.card)

    def run(self, projections, op) -> Result:
        from ..recipes.missing_wedge import data_consistent, irdm_slice

        p = self.params
        g = op.geometry
        out = []
        for sino in self.slices(projections):
            img = irdm_slice(self.generator, self.card, sino, g)
            if p.refine:
                img = data_consistent(sino, g, img, p.tv_relative, p.prior_relative, p.n_iter)
            out.append(img)
        return Result(np.stack(out), info={"model": str(p.model or "shipped"), "refine": p.refine,
                                           "missing_wedge_deg": getattr(self, "wedge_deg", None),
                                           "model_card": self.card.model_dump(mode="json")})
