"""lpd: Learned Primal-Dual (Adler & Öktem 2018), unrolled reconstruction with the ray transform inside."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..phantoms import FAMILIES
from ..result import Result
from .base import Method, Params, TrainingSpec, register


class LPDParams(Params):
    model: Path | None = Field(None, description="Learned Primal-Dual weights (.safetensors + .json card, a "
                                                 "`train lpd` run folder or .ckpt); default: the shipped ones")
    batch: int = Field(8, ge=1, description="slices per network call")
    init_iter: int | None = Field(None, ge=1, description="iterations of the TV start (weights that start from TV); "
                                                          "default: the weights' card")


class LPDTraining(BaseModel):
    """Settings of ``tomolearn train lpd`` (Learned Primal-Dual on the on-the-fly limited-angle library)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    size: int = Field(128, ge=16, description="parallel-beam slice side, pixels (detector: as many columns)")
    geometry_from: Path | None = Field(None, description="train for the geometry of this scan instead (e.g. an "
                                                         "HTC2022 .mat: fan beam); its own grid and detector")
    families: list[str] = Field(["ellipses_polygons", "holed_disc"], description="phantom families of the library")
    arc_range: tuple[float, float] = Field((30.0, 150.0), description="measured arcs drawn, degrees: LOW,HIGH")
    step_deg: tuple[float, float] = Field((0.7, 1.5), description="angular steps drawn, degrees: LOW,HIGH")
    i0: tuple[float, float] = Field((3e3, 1e5), description="photons per pixel (log-uniform): LOW,HIGH")
    attenuation: tuple[float, float] = Field((1.0, 4.0), description="line integral across the grid through "
                                                                     "material of value 1: LOW,HIGH")
    samples_per_epoch: int = Field(320, ge=1, description="training objects per epoch")
    batch_size: int = Field(4, ge=1, description="objects per step (they share one acquisition)")
    epochs: int = Field(20, ge=1, description="epochs (cosine-annealed learning rate)")
    n_iter: int = Field(10, ge=1, description="unrolled iterations (Adler & Öktem: 10)")
    features: int = Field(32, ge=1, description="channels of the primal and dual blocks (paper: 32)")
    memory: int = Field(5, ge=1, description="primal and dual memory channels (paper: 5)")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (paper: 1e-3)")
    loss: Literal["mse", "psnr"] = Field("mse", description="mse (the paper), or psnr: the mean over objects of "
                                                            "10 log10 MSE, so narrow arcs with large errors do not "
                                                            "drown wide arcs with small ones")
    init: Literal["fbp", "tv"] = Field("fbp", description="reconstruction the network starts from: fbp, or tv "
                                                          "(the network learns what to add to TV)")
    init_iter: int = Field(100, ge=1, description="tv start: primal-dual iterations")
    init_tv_relative: float = Field(0.03, gt=0, description="tv start: TV weight relative to the data")
    checkpointing: bool = Field(False, description="gradient checkpointing (large slices within CPU memory)")
    val_arcs: list[float] = Field([30.0, 60.0, 90.0, 120.0, 150.0], description="arcs of the held-out validation, deg")
    n_val: int = Field(8, ge=1, description="held-out validation objects per arc")
    seed: int = Field(0, description="random seed")
    init_from: Path | None = Field(None, description="start from these LPD weights (file or `train lpd` run folder; "
                                                     "their architecture is kept): fine-tuning")
    export: Path | None = Field(None, description="also write the weights here (.safetensors, card beside)")

    @model_validator(mode="after")
    def _known_families(self):
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ValueError(f"--families: expected names from {', '.join(FAMILIES)}, got {','.join(self.families)}")
        return self


@register
class LPD(Method):
    """Learned Primal-Dual (Adler & Öktem, IEEE TMI 2018) on any parallel or fan slice geometry.

    Ten unrolled primal-dual iterations, each applying the scan's ray transform and its adjoint
    with small CNNs in between, so the output is fitted to the measured projections inside the
    network. Limited arcs are turned to a canonical orientation by exact quarter turns
    (:mod:`tomolearn.recipes.unrolled`). Warns when the scan's arc or beam lies outside the
    weights' training range.
    """

    name = "lpd"
    summary = "Learned Primal-Dual: unrolled network with the ray transform inside (shipped weights)"
    Params = LPDParams
    kind = "learned"
    memory_factor = 30.0  # primal/dual memories and block activations
    training = TrainingSpec(LPDTraining, "tomolearn.workflow.train_lpd:train_lpd",
                            "Learned Primal-Dual on the on-the-fly limited-angle library (arcs, photon counts)")

    def setup(self, geometry) -> None:
        from ..recipes.unrolled import check_geometry, load_default

        self.net, self.card = load_default(self.params.model, self.device)
        self.warnings = check_geometry(self.card, geometry)

    def _init_params(self) -> dict | None:
        if self.params.init_iter is None:
            return None
        if self.card.pipeline.approximant != "tv":
            raise ValueError(f"--init-iter: expected weights that start from TV, got weights that start from "
                             f"{self.card.pipeline.approximant!r}")
        return {"n_iter": self.params.init_iter}

    def run(self, projections, op) -> Result:
        from ..recipes.unrolled import lpd_slices

        vol = lpd_slices(self.net, np.moveaxis(np.asarray(projections, np.float32), 1, 0), op.geometry,
                         self.params.batch, card=self.card, init_params=self._init_params())
        return Result(vol, info={"model": str(self.params.model or "shipped"),
                                 "n_iter": self.card.architecture.n_blocks,
                                 "starts_from": self.card.pipeline.approximant,
                                 "start_params": {**self.card.pipeline.approximant_params,
                                                  **(self._init_params() or {})},
                                 "trained_arcs_deg": list(self.card.geometry.arc_range_deg or ())})

    @classmethod
    def contract_params(cls, folder) -> dict:
        """Tiny untrained weights for the contract tests."""
        from ..models.card import Architecture, GeometryRange, ModelCard
        from ..models.weights import save_weights

        card = ModelCard(method="lpd", architecture=Architecture(name="lpd", base_channels=4, n_blocks=2, memory=2),
                         geometry=GeometryRange(kinds=["parallel", "fan"]))
        path = Path(folder) / "lpd_contract.safetensors"
        if not path.exists():
            save_weights(card.architecture.build(), card, path, half=False)
        return {"model": str(path)}
