"""learned: a post-processing network (residual U-Net) on the approximant, from a model file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from ..result import Result
from .base import Method, Params, register


class LearnedParams(Params):
    model: Path = Field(description="weights: model.safetensors (+ .json card) or model.ckpt from `tomolearn run`")


@register
class Learned(Method):
    """Learned post-processing of FBP/SIRT (FBPConvNet, Jin et al. 2017) in canonical arc orientation.

    The weights' model card fixes the approximant, grid, normalisation and windows; e.g. the
    HTC2022 study's ``model.safetensors``.
    """

    name = "learned"
    summary = "approximant -> trained residual U-Net (limited angle / sparse view); needs --model"
    Params = LearnedParams
    memory_factor = 8.0
    kind = "learned"
    needs = ("model",)

    @classmethod
    def contract_params(cls, folder) -> dict:
        """Parameters for the contract tests: an untrained tiny U-Net written to ``folder``."""
        from ..models.card import Architecture, ModelCard, Pipeline
        from ..models.weights import save_weights

        card = ModelCard(method="learned", architecture=Architecture(name="unet", base_channels=4, depth=2),
                         pipeline=Pipeline(window=32))
        return {"model": save_weights(card.architecture.build(), card, Path(folder) / "tiny.safetensors",
                                      overwrite=True)}

    def setup(self, geometry) -> None:
        from ..models.weights import load_weights  # torch only once a model is used

        self.network, self.card = load_weights(self.params.model, map_location=self.device)

    def run(self, projections, op) -> Result:
        from ..recipes.postprocess import postprocess_slice

        vol = np.stack([postprocess_slice(self.network, self.card, s, op.geometry) for s in self.slices(projections)])
        return Result(vol, info={"model": str(self.params.model), "model_card": self.card.model_dump(mode="json")})
