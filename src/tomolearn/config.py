"""Study files: pydantic models of the YAML that `tomolearn run STUDY.yaml` reads."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    source: str = Field("synthetic", description="study type (tomolearn.workflow.study.STUDIES): synthetic, htc2022, "
                        "rapid_ic")
    family: Literal["ellipses_polygons", "holed_disc"] = "ellipses_polygons"
    size: int = Field(128, ge=32, le=2048, description="slice size in pixels (synthetic; at most 2048)")
    n_train: int = Field(320, ge=1)
    n_val: int = Field(16, ge=1)
    n_test: int = Field(16, ge=1)
    n_full_angles: int = Field(180, ge=2, description="angles of the full parallel scan over 180 deg")
    arc_deg: float = Field(60.0, gt=0, le=180, description="measured arc (synthetic)")
    mu_max: float = Field(0.02, gt=0, description="attenuation per pixel of phantom value 1")
    i0: float | None = Field(1e4, gt=0, description="photons per pixel; null = noise free")
    trust_images: int = Field(3, ge=1, description="held-out (and validation) images whose trust maps are scored "
                                                   "(synthetic)")
    # htc2022
    htc_dir: str = "../shared/data/htc2022"
    arcs_deg: list[float] = [90, 80, 70, 60, 50, 40, 30]
    train_arcs_deg: tuple[float, float] = (30.0, 90.0)
    grid: int = Field(256, ge=16, le=2048, description="network grid (HTC: 512 / grid binning)")
    n_real_per_phantom: int = Field(120, ge=0, description="random arcs drawn from each real training phantom")
    n_synthetic: int = Field(600, ge=0, description="synthetic holed discs")
    solid_fraction: float = Field(0.0, ge=0, le=1, description="fraction of synthetic discs without holes")
    eval_starts: int = Field(2, ge=1, description="arc start angles evaluated per phantom and arc")


class ModelConfig(_Strict):
    base_channels: int = Field(16, ge=4)
    depth: int = Field(3, ge=1, le=6)
    approximant: str = Field("fbp", description="registered method whose output the network refines")
    approximant_params: dict = Field({}, description="its parameters, e.g. {filter: hann} or {n_iter: 50}")
    dropout: float = Field(0.0, ge=0, lt=1, description="U-Net channel dropout; > 0 adds a Monte-Carlo-dropout "
                                                        "uncertainty to the study's trust scores")
    mc_samples: int = Field(8, ge=2, description="stochastic passes of Monte-Carlo dropout")
    ensemble: int = Field(1, ge=1, description="independently seeded U-Nets; > 1 adds the ensemble (mean "
                                               "and spread) to the study's methods and trust scores")

    @model_validator(mode="after")
    def _known(self) -> "ModelConfig":
        from .methods import base as registry

        registry.parameters(self.approximant, self.approximant_params)
        return self


class TrainConfig(_Strict):
    epochs: int = Field(12, ge=1)
    batch_size: int = Field(4, ge=1)
    lr: float = Field(2e-3, gt=0)
    patch: int | None = Field(None, description="random square crops for training (None: whole images)")
    finetune_epochs: int = Field(3, ge=0, description="HTC: epochs of fine-tuning on the real phantoms per fold")
    finetune_lr: float = Field(5e-4, gt=0)
    devices: int = Field(1, ge=1, description="processes / GPUs (Lightning); >1 with strategy ddp (synthetic study)")
    strategy: str = Field("auto", description="auto | ddp | ddp_spawn (Lightning)")
    precision: str = Field("32-true", description="32-true | bf16-mixed | 16-mixed (GPU)")


class MethodEntry(_Strict):
    """One method of a study's comparison: a registered method, its parameters, what to tune.

    In YAML either a bare name (``- fbp``) or a mapping::

        - method: tv
          params: {n_iter: 200}
          tune: {tv_relative: [0.01, 0.03, 0.1]}   # tried on validation data, best kept
    """

    method: str
    label: str | None = Field(None, description="name in tables and figures (default: FBP, SIRT, TV, ...)")
    params: dict = Field({}, description="the method's parameters (`tomolearn methods NAME`)")
    tune: dict[str, list] = Field({}, description="parameter -> values tried on validation data")

    @model_validator(mode="after")
    def _known(self) -> "MethodEntry":
        from .methods import base as registry

        registry.parameters(self.method, self.params)  # unknown method / bad parameters: one line
        for name, values in self.tune.items():
            if not values:
                raise ValueError(f"tune.{name}: expected at least one value")
            for v in values:
                registry.parameters(self.method, {**self.params, name: v})
        return self

    @property
    def display(self) -> str:
        return self.label or self.method.upper()


def _entries(value):
    return [{"method": v} if isinstance(v, str) else v for v in value] if isinstance(value, list) else value


class BaselineConfig(_Strict):
    methods: list[MethodEntry] = Field(
        [MethodEntry(method="fbp"), MethodEntry(method="sirt", params={"n_iter": 200}),
         MethodEntry(method="tv", params={"n_iter": 200}, tune={"tv_relative": [0.01, 0.03, 0.1]}),
         MethodEntry(method="lpd", label="LPD")],
        description="methods compared with the study's own network in the same run (any registered method; "
                    "lpd: the shipped Learned Primal-Dual weights)")

    _as_entries = field_validator("methods", mode="before")(_entries)


class PtychoStudyConfig(_Strict):
    """The RAPID study (``data.source: rapid_ic``): simulated IC, region split, generalisation."""

    size: int = Field(64, ge=16, description="slice (Y, X) of the simulated IC in voxels")
    rows: int = Field(160, ge=16, description="height of the IC along the rotation axis Z")
    angles: int = Field(81, ge=3, description="angles of the full scan (golden standard) over range_deg")
    range_deg: float = Field(140.8, gt=0, le=180, description="angular range (seed 001: 140.8)")
    reduced_angles: int = Field(21, ge=2, description="angles of the reduced scan (seed 001: 21)")
    train_region: str = Field("z<0.8", description="training side of a plane (AXIS<F or AXIS>F)")
    patch: tuple[int, int, int] = Field((16, 64, 32), description="training patch (Z, Y, X)")
    rates: tuple[int, ...] = (6, 12, 18)
    depth_rates: tuple[int, ...] = (24, 30)
    approximant_iter: int = Field(15, ge=0, description="approximant gradient steps (seed 001: 2)")
    approximant_slabs: int = Field(10, ge=1, description="approximant slabs along the beam (seed 001: 5)")
    two_step_input: Literal["none", "sart", "fbp"] = Field(
        "sart", description="two-step reconstruction of the reduced angles as a second network input (not in the "
        "seed; none: the seed's approximant alone)")
    generalisation_seed: int = Field(7, description="seed of the unseen IC")
    generalisation_density: float = Field(0.4, gt=0, le=1, description="wiring density of the unseen IC")


class StudyConfig(_Strict):
    name: str = "synthetic_limited_angle"
    seed: int = 0
    data: DataConfig = DataConfig()
    ptycho: PtychoStudyConfig = PtychoStudyConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    baselines: BaselineConfig = BaselineConfig()


def load_study(path) -> StudyConfig:
    """Read and validate a YAML study file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        On YAML syntax errors or invalid/unknown fields (the first problem, in one line).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"study: no such file {str(p)!r}")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"study: expected valid YAML, got a syntax error in {p.name}: {err}".replace("\n", " ")) from err
    if not isinstance(raw, dict):
        raise ValueError(f"study: expected a YAML mapping of sections (name, data, model, train, baselines) in "
                         f"{p.name}, got a {type(raw).__name__}")
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(map(str, e["loc"]))
        msg = e["msg"].removeprefix("Value error, ")
        raise ValueError(f"study: field {loc!r}: {msg} (got {e.get('input')!r})".replace("\n", " ")) from None
