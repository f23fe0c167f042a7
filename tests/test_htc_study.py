"""Reduced HTC2022 study end to end (slow: about 2.5 minutes; `make slow`)."""
import json

import pytest

from conftest import data_file
from tomolearn.config import StudyConfig
from tomolearn.workflow import run_study


@pytest.mark.slow
def test_htc_study_reduced(tmp_path):
    folder = data_file("htc2022")
    cfg = StudyConfig.model_validate({
        "name": "smoke",
        "data": {"source": "htc2022", "htc_dir": str(folder), "arcs_deg": [60], "grid": 128,
                 "n_real_per_phantom": 2, "n_synthetic": 12},
        "model": {"base_channels": 8, "depth": 3, "dropout": 0.1, "mc_samples": 3, "ensemble": 2},
        "train": {"epochs": 1, "finetune_epochs": 1, "patch": 64},
        "baselines": {"methods": ["fbp", {"method": "tv", "params": {"n_iter": 10}, "tune": {"tv_relative": [0.03]}}]}})
    result = run_study(cfg, tmp_path / "run", show_progress=False, log=lambda m: None)
    assert min(result["full_data_sirt_mcc"].values()) > 0.99
    for name in ("metrics.json", "table.md", "report.html", "model.safetensors", "model.json", "split.json"):
        assert (tmp_path / "run" / name).exists()
    folds = json.loads((tmp_path / "run" / "split.json").read_text())["folds"]
    assert all(f["held_out"] not in f["train_real"] for f in folds)
    trust = json.loads((tmp_path / "run" / "metrics.json").read_text())["trust"]
    assert set(trust["per_phantom"]) == set(result["phantoms"])
    assert set(trust["scores"]) == {"learned", "learned, MC dropout", "learned (ensemble of 2)"}
    for maps in trust["scores"].values():  # cross-fitted recalibration: every phantom has a scale from the others
        for row in maps.values():
            assert -1 <= row["spearman"] <= 1 and 0 <= row["coverage"] <= 1 and row["sigma_scale"] > 0
    assert "learned (ensemble of 2)" in result["table"]["60"]
    assert any(p.name.startswith("trust_") for p in (tmp_path / "run").glob("*.png"))
