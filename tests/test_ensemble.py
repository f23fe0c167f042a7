"""Deep ensembles: `train NAME --ensemble K` and `--model RUN` for any learned method."""
import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from tomolearn.cli import app
from tomolearn.methods import base as registry
from tomolearn.methods.ensemble import ENSEMBLE_FILE, Ensemble

runner = CliRunner()
TINY_LPD = ["--size", "32", "--epochs", "1", "--samples-per-epoch", "2", "--batch-size", "2", "--n-iter", "2",
            "--features", "4", "--n-val", "1", "--val-arcs", "60", "--arc-range", "40,90", "--step-deg", "3,3"]


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    out = folder / "run"
    r = runner.invoke(app, ["train", "lpd", "-o", str(out), "--ensemble", "2", "--quiet", *TINY_LPD])
    assert r.exit_code == 0, r.output
    scan = folder / "s.h5"
    r = runner.invoke(app, ["simulate", "-o", str(scan), "--size", "32", "--n-slices", "2", "--angles", "30",
                            "--range-deg", "60"])
    assert r.exit_code == 0, r.output
    return out, scan


def test_members_are_differently_seeded_trainings_listed_in_the_record(ensemble_run):
    out, _ = ensemble_run
    record = json.loads((out / ENSEMBLE_FILE).read_text())
    assert record["method"] == "lpd" and record["size"] == 2 and record["seeds"] == [0, 1]
    assert record["members"] == ["member_0/lpd.safetensors", "member_1/lpd.safetensors"]
    seeds = [json.loads((out / f"member_{k}" / "lpd.json").read_text())["training"]["seed"] for k in (0, 1)]
    assert seeds == [0, 1]
    a, b = ((out / m).read_bytes() for m in record["members"])
    assert a != b


def test_model_run_folder_gives_the_member_mean_and_their_spread(ensemble_run, tmp_path):
    out, scan = ensemble_run
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "lpd", "--model", str(out), "-o",
                            str(tmp_path / "e.h5")])
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "e.h5") as f:  # the spread is stored without --trust: it is what an ensemble is for
        mean, sigma = f["volume"][...], f["uncertainty"][...]
    members = []
    for k in (0, 1):
        path = tmp_path / f"m{k}.h5"
        r = runner.invoke(app, ["reconstruct", str(scan), "--method", "lpd", "--model",
                                str(out / f"member_{k}" / "lpd.safetensors"), "-o", str(path)])
        assert r.exit_code == 0, r.output
        with h5py.File(path) as f:
            members.append(f["volume"][...])
    np.testing.assert_allclose(mean, (members[0] + members[1]) / 2, atol=1e-5)
    np.testing.assert_allclose(sigma, np.abs(members[0] - members[1]) / 2, atol=1e-5)
    assert sigma.max() > 0
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "lpd", "--model", str(out), "--trust", "-o",
                            str(tmp_path / "t.h5")])
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "t.h5") as f:  # --trust keeps the ensemble's σ (not the mirror's) and adds the rest
        np.testing.assert_allclose(f["uncertainty"][...], sigma, atol=1e-5)
        assert {"data_residual", "null_space"} <= set(f)


def test_registry_builds_an_ensemble_with_the_wrapped_methods_contract(ensemble_run):
    out, _ = ensemble_run
    m = registry.build("lpd", {"model": str(out)})
    assert isinstance(m, Ensemble) and m.name == "lpd" and m.kind == "learned" and "uncertainty" in m.maps
    assert len(m.members) == 2
    with pytest.raises(ValueError, match="--method lpd"):
        registry.build("missing_wedge", {"model": str(out)})


def test_unfinished_or_damaged_ensembles_are_refused_with_the_fix(ensemble_run, tmp_path):
    out, scan = ensemble_run
    partial = tmp_path / "partial"
    partial.mkdir()
    record = json.loads((out / ENSEMBLE_FILE).read_text())
    (partial / ENSEMBLE_FILE).write_text(json.dumps({**record, "size": 3}))
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "lpd", "--model", str(partial), "-o",
                            str(tmp_path / "p.h5")])
    assert r.exit_code == 2 and "--model" in r.output and "--resume" in r.output
    assert not (tmp_path / "p.h5").exists()
    (partial / ENSEMBLE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="damaged"):
        registry.build("lpd", {"model": str(partial)})


def test_resume_skips_finished_members_and_bad_ensemble_options_exit_2(ensemble_run, tmp_path):
    out, _ = ensemble_run
    run = tmp_path / "run"
    run.mkdir()
    (run / "member_0").symlink_to(out / "member_0", target_is_directory=True)
    record = json.loads((out / ENSEMBLE_FILE).read_text())
    (run / ENSEMBLE_FILE).write_text(json.dumps({**record, "members": record["members"][:1]}))
    r = runner.invoke(app, ["train", "lpd", "-o", str(run), "--ensemble", "2", "--resume", "--quiet", *TINY_LPD])
    assert r.exit_code == 0, r.output
    assert "member 1 of 2 is done" in r.output
    assert json.loads((run / ENSEMBLE_FILE).read_text())["members"] == record["members"]
    for extra, word in ((["--ensemble", "0"], "--ensemble"), (["--ensemble", "2", "--export", str(tmp_path / "w.st")],
                                                             "--export"),
                        (["--ensemble", "3", "--resume"], "--ensemble")):
        target = run if "--resume" in extra else tmp_path / "bad"
        r = runner.invoke(app, ["train", "lpd", "-o", str(target), *extra, *TINY_LPD])
        assert r.exit_code == 2 and word in r.output, (extra, r.output)
        assert not (tmp_path / "bad").exists()


TINY_STUDY = """
name: tiny_kinds
data: {size: 32, n_train: 12, n_val: 4, n_test: 2, n_full_angles: 60, arc_deg: 60}
model: {base_channels: 4, depth: 2, dropout: 0.2, mc_samples: 4, ensemble: 2}
train: {epochs: 1, batch_size: 4}
baselines: {methods: [fbp]}
"""


def test_study_scores_every_uncertainty_kind_and_mc_dropout_runs_from_the_cli(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(TINY_STUDY)
    out = tmp_path / "run"
    r = runner.invoke(app, ["run", str(study), "-o", str(out), "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert "learned (ensemble of 2)" in m["summary"]
    scores = m["trust"]["scores"]
    assert {"learned", "learned, MC dropout", "learned (ensemble of 2)"} <= set(scores)
    for label in ("learned", "learned, MC dropout", "learned (ensemble of 2)"):
        assert scores[label]["uncertainty"]["sigma_scale"] > 0
    card = json.loads((out / "model.json").read_text())
    assert card["architecture"]["dropout"] == 0.2
    seeds = [json.loads((out / "ensemble" / f"member_{k}" / "model.json").read_text())["training"]["seed"]
             for k in (0, 1)]
    assert seeds == [0, 1]

    scan = tmp_path / "scan.h5"
    r = runner.invoke(app, ["simulate", "-o", str(scan), "--size", "32", "--n-slices", "2", "--angles", "20",
                            "--range-deg", "60"])
    assert r.exit_code == 0, r.output
    outs = []
    for name in ("a.h5", "b.h5"):  # seeded passes: the same map twice
        r = runner.invoke(app, ["reconstruct", str(scan), "--method", "learned", "--model", str(out / "model.safetensors"),
                                "--mc-dropout", "4", "-o", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
        with h5py.File(tmp_path / name) as f:
            outs.append(f["uncertainty"][...])
            assert {"data_residual", "null_space"} <= set(f)
    assert outs[0].max() > 0
    np.testing.assert_array_equal(outs[0], outs[1])
    # weights without dropout, a classical method, too few passes, a non-chunked output: one line each, no file
    plain = tmp_path / "plain.safetensors"
    from tomolearn.models.card import Architecture, ModelCard
    from tomolearn.models.weights import save_weights

    save_weights(Architecture(name="unet", base_channels=4, depth=2).build(),
                 ModelCard.model_validate({**card, "architecture": {**card["architecture"], "dropout": 0.0}}), plain)
    for args, word in (([ "--method", "learned", "--model", str(plain), "--mc-dropout", "4"], "dropout"),
                       (["--method", "fbp", "--mc-dropout", "4"], "learned"),
                       (["--method", "learned", "--model", str(out / "model.safetensors"), "--mc-dropout", "1"], "2"),):
        r = runner.invoke(app, ["reconstruct", str(scan), *args, "-o", str(tmp_path / "x.h5")])
        assert r.exit_code == 2 and "--mc-dropout" in r.output and word in r.output, r.output
        assert not (tmp_path / "x.h5").exists()
    r = runner.invoke(app, ["reconstruct", str(scan), "--method", "learned", "--model", str(out / "model.safetensors"),
                            "--mc-dropout", "4", "-o", str(tmp_path / "x.tif")])
    assert r.exit_code == 2 and "--mc-dropout" in r.output
