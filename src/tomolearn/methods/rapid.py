"""RAPID (seed 001): approximant -> anisotropic-ASPP 3D U-Net, trained on a region of the sample."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..result import Result
from .base import Params, TrainingSpec, register
from .ptycho import _Ptycho


class RAPIDParams(Params):
    model: Path | None = Field(None, description="RAPID weights (.safetensors with its .json card, or a training "
                                                 ".ckpt); default: the shipped weights")


class RAPIDTraining(BaseModel):
    """`tomolearn train rapid SCAN.h5 --train-region z<0.8 ...`"""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    scan: Path = Field(..., description="ptycho-tomography scan with the full angle set (golden standard)",
                       json_schema_extra={"argument": True})
    train_region: str = Field("z<0.8", description="training side of a plane: AXIS<F or AXIS>F (axis z, y, x)")
    reduced_angles: int | None = Field(None, ge=2, description="angles of the reduced scan (evenly chosen) for the "
                                        "approximant (default 21; with --reduced-scan, all of its angles)")
    reduced_scan: Path | None = Field(None, description="a separate reduced-angle scan of the SAME sample for the "
                                      "approximant (e.g. 21 angles within a narrower range; seed Fig. 2c, d)")
    n_iter: int = Field(15, ge=0, description="approximant gradient steps (seed: 2; 15 with 10 slabs lifts RAPID's "
                                               "test PCC from 0.65 to 0.73, benchmarks/results/rapid_ic.md)")
    n_slabs: int = Field(10, ge=1, description="approximant slabs along the beam (seed: 5; at most the coarse grid's "
                                               "Y voxels)")
    downsample: int = Field(2, ge=1, description="approximant down-sampling (seed: 2)")
    two_step_input: Literal["none", "sart", "fbp"] = Field(
        "sart", description="also give the network the two-step reconstruction (per-angle ptychography, then 10 "
        "SART iterations or FBP) of the same reduced angles as a second channel and learn a correction of it (not "
        "in the seed; lifts the test PCC from 0.73 to 0.945, benchmarks/results/rapid_ic_two_step.md); none: the "
        "seed's approximant alone")
    golden_iter: int = Field(10, ge=1, description="SART iterations of the golden standard (seed: 10)")
    patch: tuple[int, int, int] = Field((16, 64, 32), description="training patch (Z, Y, X), 50 % overlap")
    base_channels: int = Field(8, ge=1, description="channels of the first U-Net level")
    depth: int = Field(2, ge=1, description="U-Net poolings")
    rates: tuple[int, ...] = Field((6, 12, 18), description="in-plane atrous rates (seed: 6,12,18)")
    depth_rates: tuple[int, ...] = Field((24, 30), description="extra atrous rates along the beam axis (seed: 24,30)")
    atrous: bool = Field(True, description="anisotropic atrous modules (false: a plain 3D U-Net, ablation A)")
    planar: bool = Field(True, description="planar ASPP branches (false: only the 3D branch)")
    random_crops: bool = Field(False, description="shift every training patch by a random offset (up to a quarter "
                               "patch, inside the training side) each epoch instead of the fixed 50 %-overlap grid")
    epochs: int = Field(100, ge=1, description="training epochs (seed: 200)")
    batch_size: int = Field(2, ge=1, description="patches per step (seed: 2)")
    lr_start: float = Field(2e-4, gt=0, description="initial learning rate (seed: 2e-4)")
    lr_end: float = Field(5e-5, gt=0, description="final learning rate (seed: 5e-5)")
    seed: int = Field(0, description="random seed")
    export: Path | None = Field(None, description="also write the weights here (.safetensors + .json card)")


@register
class RAPID(_Ptycho):
    """RAPID: multislice approximant -> 3D U-Net with anisotropic atrous modules (NPCC-trained).

    Guo et al., "Three-dimensional nanoscale reduced-angle ptycho-tomographic imaging with deep
    learning (RAPID)", eLight 3, 7 (2023).
    """

    name = "rapid"
    summary = "ptycho-tomography: approximant -> anisotropic-ASPP 3D U-Net (RAPID, seed 001; shipped weights)"
    kind = "learned"
    Params = RAPIDParams
    training = TrainingSpec(RAPIDTraining, "tomolearn.workflow.train_rapid:train_rapid",
                            "Train RAPID on one region of a ptycho-tomography scan (golden standard from all "
                            "angles, approximant from a reduced set)")

    def setup(self, geometry) -> None:
        from ..recipes.rapid import load_default

        self.net, self.card = load_default(self.params.model, self.device)

    def run(self, scan, op=None) -> Result:
        from ..recipes.rapid import rapid

        vol, approx, second = rapid(scan, self.net, self.card, self.device, self.show_progress)
        self._last = (scan, approx, vol, second)  # the scan itself is held, so `is` below cannot match a new one
        return Result(vol, info={"model": str(self.params.model or "shipped"),
                                 "approximant": self.card.pipeline.approximant_params,
                                 "two_step_input": self.card.pipeline.two_step_input})

    def multislice_model(self) -> tuple[int, int | None]:
        a = self.card.pipeline.approximant_params or {}
        return int(a.get("n_slabs", 5)), a.get("n_modes")

    def mirror_uncertainty(self, scan, volume) -> np.ndarray:
        """Spread of the network over the mirror images of the scan's approximant (``--trust``).

        :func:`~tomolearn.recipes.rapid.mirror_spread`; the approximant of the last :meth:`run`
        on the same scan is reused, otherwise it is computed again.
        """
        from ..recipes.rapid import approximant_of, delta_scale, mirror_spread, two_step_of

        last = getattr(self, "_last", None)
        if last is not None and last[0] is scan and last[2] is volume:
            approx, second = last[1], last[3]
        else:
            approx = approximant_of(scan, self.card, self.device, self.show_progress)
            second = two_step_of(scan, self.card, self.device, self.show_progress)
        return mirror_spread(self.net, self.card, approx, volume, self.show_progress,
                             delta_scale(self.card, scan.geometry), second)

    @classmethod
    def contract_params(cls, folder) -> dict:
        """Tiny untrained RAPID weights for the contract tests."""
        from ..models.card import Architecture, ModelCard, Pipeline
        from ..models.weights import save_weights

        arch = Architecture(name="rapid", spatial_dims=3, base_channels=2, depth=1, rates=(2,), depth_rates=(3,))
        card = ModelCard(method="rapid", architecture=arch,
                         pipeline=Pipeline(approximant="approximant", approximant_params={"n_iter": 1, "n_slabs": 2},
                                           input_mean=0.0, input_std=1e-4, output_affine=(1e-4, 0.0),
                                           window_3d=(16, 16, 16), overlap=0.5))
        path = Path(folder) / "rapid_contract.safetensors"
        if not path.exists():
            save_weights(arch.build(), card, path, half=False)
        return {"model": str(path)}
