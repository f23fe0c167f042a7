import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import write_htc_limited
from tomolearn.cli import app
from tomolearn.io import load_volume

runner = CliRunner()

TINY = """
name: tiny
data: {size: 32, n_train: 12, n_val: 4, n_test: 2, n_full_angles: 60, arc_deg: 60}
model: {base_channels: 4, depth: 2}
train: {epochs: 1, batch_size: 4}
baselines:
  methods:
    - fbp
    - {method: sirt, params: {n_iter: 10}}
    - {method: tv, params: {n_iter: 10}, tune: {tv_relative: [0.01, 0.1]}}
    - {method: lpd, label: LPD}
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    study = folder / "tiny.yaml"
    study.write_text(TINY)
    out = folder / "run"
    res = runner.invoke(app, ["run", str(study), "-o", str(out), "--quiet", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return out


def test_default_run_in_reduced_size_writes_a_report(tiny_run):
    for name in ("config.yaml", "run.json", "split.json", "metrics.json", "report.html", "model.ckpt",
                 "model.safetensors", "model.json", "test_0.png"):
        assert (tiny_run / name).exists(), name
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert set(m["summary"]) == {"FBP", "SIRT", "TV", "LPD", "learned"}  # LPD: the shipped weights, untrained here
    assert m["baseline_parameters"]["TV"]["tv_relative"] in (0.01, 0.1)  # tuned on validation scans
    assert m["baseline_parameters"]["SIRT"]["n_iter"] == 10
    split = json.loads((tiny_run / "split.json").read_text())
    assert not set(split["test"]) & set(split["train"] + split["val"])
    assert (tiny_run / "trust_0.png").exists()
    for label in ("learned", "LPD"):  # every learned method's maps, with coverage after a validation-fitted scale
        scores = m["trust"]["scores"][label]
        assert set(scores) == {"uncertainty", "data_residual", "null_space"}
        for row in scores.values():
            assert -1 <= row["spearman"] <= 1 and row["ause"] >= 0 and row["sigma_scale"] > 0
            assert 0 <= row["coverage_raw"] <= 1 and 0 <= row["coverage"] <= 1
        assert scores["data_residual"]["norm_vs_fbp"] > 0  # the data residual's norm over FBP's


def test_the_default_study_scores_the_shipped_lpd_beside_the_baselines():
    from tomolearn.config import StudyConfig

    assert [e.display for e in StudyConfig().baselines.methods] == ["FBP", "SIRT", "TV", "LPD"]


def test_run_refuses_existing_folder(tiny_run, tmp_path):
    study = tmp_path / "t.yaml"
    study.write_text(TINY)
    res = runner.invoke(app, ["run", str(study), "-o", str(tiny_run), "--quiet"])
    assert res.exit_code != 0 and "--overwrite" in res.output and "Traceback" not in res.output


def test_bad_study_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {arc_deg: 400}\n")
    res = runner.invoke(app, ["run", str(bad), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "arc_deg" in res.output
    res = runner.invoke(app, ["run", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "no such file" in res.output


@pytest.fixture(scope="module")
def limited_file(tmp_path_factory):
    return write_htc_limited("htc2022_tc_full.mat", tmp_path_factory.mktemp("htc") / "htc2022_tc_limited.mat",
                             300, 421)


def test_reconstruct_htc_limited_file(limited_file, tmp_path):
    out = tmp_path / "fbp.h5"
    res = runner.invoke(app, ["reconstruct", str(limited_file), "--method", "fbp", "--segment", "-o", str(out)])
    assert res.exit_code == 0, res.output
    vol = load_volume(out)
    assert vol.shape == (1, 512, 512) and np.isfinite(vol).all()
    res = runner.invoke(app, ["reconstruct", str(limited_file), "--method", "fbp", "-o", str(out)])
    assert res.exit_code == 2 and "exists" in res.output


@pytest.mark.parametrize("weights", ["model.ckpt", "model.safetensors"])
def test_reconstruct_learned_with_run_model(limited_file, tiny_run, tmp_path, weights):
    out = tmp_path / "learned.h5"
    res = runner.invoke(app, ["reconstruct", str(limited_file), "--method", "learned",
                              "--model", str(tiny_run / weights), "-o", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert load_volume(out).shape == (1, 512, 512)


def test_reconstruct_errors(limited_file, tmp_path):
    res = runner.invoke(app, ["reconstruct", str(limited_file), "--method", "learned", "-o", str(tmp_path / "a.h5")])
    assert res.exit_code == 2 and "model" in res.output
    res = runner.invoke(app, ["reconstruct", str(tmp_path / "none.mat"), "-o", str(tmp_path / "b.h5")])
    assert res.exit_code == 2 and "no such file" in res.output
    res = runner.invoke(app, ["reconstruct", str(limited_file), "-o", str(tmp_path / "c.png")])
    assert res.exit_code == 2 and "path" in res.output
    assert not (tmp_path / "c.png").exists()
    # per-method options come from the registry: one that the method does not take is refused
    res = runner.invoke(app, ["reconstruct", str(limited_file), "--method", "fbp", "--refine", "-o", str(tmp_path / "d.h5")])
    assert res.exit_code == 2 and "--refine" in res.output and "missing_wedge" in res.output
    res = runner.invoke(app, ["reconstruct", str(limited_file), "--method", "sirt", "--n-iter", "zero",
                              "-o", str(tmp_path / "e.h5")])
    assert res.exit_code == 2 and "--n-iter" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["reconstruct", str(limited_file), "--method", "nope", "-o", str(tmp_path / "f.h5")])
    assert res.exit_code == 2 and "nope" in res.output


def test_info(limited_file):
    res = runner.invoke(app, ["info", str(limited_file)])
    assert res.exit_code == 0
    info = json.loads(res.output)
    assert info["projections_shape_AVU"] == [121, 1, 560] and info["geometry"]["kind"] == "FanGeometry"


def test_reconstruct_misaligned_tilt_series_with_the_missing_wedge_recipe(tmp_path):
    import mrcfile

    from tomolearn.io import load_volume
    from tomolearn.phantoms import ellipses_polygons
    from tomolearn.physics import RayTransform
    from tomolearn.train.library import wedge_geometry

    obj = np.stack([ellipses_polygons(64, s) for s in (1, 2, 3, 4)])  # (Z, Y, X) slices
    g = wedge_geometry(64, 40.0, 2.0).replace(n_rows=4)
    proj = np.moveaxis(RayTransform(g.replace(n_rows=1)).forward_slices(obj), 0, 1)  # (A, V, U)
    from scipy import ndimage

    shifts = np.random.default_rng(0).uniform(-2, 2, proj.shape[0])
    proj = np.stack([ndimage.shift(p, (0, s), order=1, mode="nearest") for p, s in zip(proj, shifts)])
    with mrcfile.new(tmp_path / "tilt.mrc") as m:
        m.set_data(np.ascontiguousarray(proj.transpose(0, 2, 1)).astype(np.float32))  # tilt axis along rows
    (tmp_path / "tilt.rawtlt").write_text("\n".join(f"{a:.3f}" for a in np.degrees(g.angles)))
    res = runner.invoke(app, ["reconstruct", str(tmp_path / "tilt.mrc"), "--method", "missing_wedge", "--align",
                              "-o", str(tmp_path / "v.h5"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "aligned" in res.output
    vol = load_volume(tmp_path / "v.h5")
    assert vol.shape == (4, 64, 64) and np.isfinite(vol).all()


def test_resume_with_another_study_is_refused_before_any_file_changes(tmp_path):
    import pytest

    from tomolearn.config import StudyConfig
    from tomolearn.workflow.common import write_run_record

    cfg = StudyConfig()
    write_run_record(tmp_path, cfg)
    before = (tmp_path / "config.yaml").read_text()
    write_run_record(tmp_path, cfg)  # the same study resumes
    other = cfg.model_copy(update={"seed": cfg.seed + 1})
    with pytest.raises(ValueError, match=r"--resume: expected the study .*seed: 0 -> 1"):
        write_run_record(tmp_path, other)
    assert (tmp_path / "config.yaml").read_text() == before


def test_a_study_repeats_to_the_same_figure(tiny_run, tmp_path):
    """Same study, same seed, another run: the learned method's scores are identical (its network
    starts from weights drawn from the seed, not from whatever ran earlier in the process)."""
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY)
    res = runner.invoke(app, ["run", str(study), "-o", str(tmp_path / "again"), "--quiet", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    first = json.loads((tiny_run / "metrics.json").read_text())["summary"]["learned"]
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())["summary"]["learned"]
    assert first == again
