"""Run folders, records and the comparison methods shared by every study."""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import yaml

from .. import __version__
from .._files import make_user_readable
from .._ranks import is_main_process
from ..methods import base as registry


def prepare_run_dir(out_dir, overwrite: bool, resume: bool) -> Path:
    """Create the run folder; refuse to reuse a non-empty one unless told to.

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds files and neither ``overwrite`` nor ``resume`` is set, or is a file.
    ValueError
        If both ``overwrite`` and ``resume`` are set.
    """
    out = Path(out_dir)
    if overwrite and resume:
        raise ValueError("--resume/--overwrite: expected one of them (continue the run, or replace it), got both")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"out: {str(out)!r} is a file, not a run folder; choose another -o")
    if not is_main_process():  # a DDP worker re-running the command: rank 0 owns the folder
        out.mkdir(parents=True, exist_ok=True)
        return out
    if out.exists() and any(out.iterdir()):
        if overwrite:
            shutil.rmtree(out)
        elif not resume:
            raise FileExistsError(f"out: folder {str(out)!r} is not empty; pass --resume to continue "
                                  "its training, --overwrite to replace it, or choose another -o")
    out.mkdir(parents=True, exist_ok=True)
    return out


#: what a run folder holds before any work is done: its settings, nothing to resume from
RUN_RECORDS = {"config.yaml", "run.json"}


def discard_unused_run_dir(out) -> bool:
    """Delete a run folder that a failed command created and left holding only its records.

    A folder with anything else (a checkpoint, logs of an epoch) stays, for ``--resume``.
    Returns whether it was deleted.
    """
    out = Path(out)
    if not out.is_dir() or not is_main_process():
        return False
    if {p.name for p in out.iterdir()} - RUN_RECORDS:
        return False
    shutil.rmtree(out)
    return True


def check_export(export, overwrite: bool) -> None:
    """Refuse, before training, an ``--export`` path that exists (unless ``overwrite``).

    Raises
    ------
    FileExistsError
    """
    if export is not None and Path(export).exists() and not overwrite:
        raise FileExistsError(f"export: {str(export)!r} exists; choose another name or pass --overwrite")


def save_run_weights(net, card, out: Path, name: str, export=None, overwrite: bool = False) -> list[str]:
    """Write a training run's weights + card as ``out/name`` and, if given, to ``export``; their paths."""
    from ..models.weights import save_weights

    paths = [save_weights(net, card, out / name, overwrite=True)]
    if export is not None:
        paths.append(save_weights(net, card, export, overwrite=overwrite))
    return [str(p) for p in paths]


def git_hash() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_json(path: Path, data) -> None:
    """Atomic JSON write (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
        make_user_readable(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _flatten(d, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def write_run_record(out: Path, config, extra: dict | None = None) -> None:
    """Resolved config, seed, package version and git hash of the run.

    A resumed run (``config.yaml`` already there) must have the same study: a different one
    would mix two studies' files in one folder.

    Raises
    ------
    ValueError
        If the folder's ``config.yaml`` differs from ``config`` (the first differences named).
    """
    new = config.model_dump(mode="json")
    path = out / "config.yaml"
    if path.exists():
        old = _flatten(yaml.safe_load(path.read_text()) or {})
        cur = _flatten(new)
        diff = [f"{k}: {old.get(k)!r} -> {cur.get(k)!r}" for k in sorted(set(old) | set(cur)) if old.get(k) != cur.get(k)]
        if diff:
            raise ValueError(f"--resume: expected the study of {str(out)!r} (its config.yaml), got another one "
                             f"({'; '.join(diff[:3])}{'; ...' if len(diff) > 3 else ''}); use another -o or "
                             "the original study file")
    tmp = out / ".config.yaml.part"
    tmp.write_text(yaml.safe_dump(new, sort_keys=False))
    make_user_readable(tmp)
    os.replace(tmp, path)
    write_json(out / "run.json", {"tomolearn_version": __version__, "git": git_hash(), "seed": config.seed,
                                  **(extra or {})})


def comparison_methods(entries, score, level: float | None = None, device: str = "cpu",
                       log=print) -> tuple[dict, dict]:
    """Instances of a study's comparison methods, with their ``tune`` parameters chosen by ``score``.

    Parameters
    ----------
    entries : list of MethodEntry
        From the study file (``baselines.methods``).
    score : callable
        ``score(method_instance) -> float`` on validation data only (higher is better).
    level : float, optional
        The study's known attenuation level, given to methods with a ``level`` parameter that
        the study file leaves unset (the TV weight's intensity scale).
    device : str
    log : callable

    Returns
    -------
    methods : dict
        Display label -> method instance.
    chosen : dict
        Display label -> the parameters used.
    """
    methods, chosen = {}, {}
    for e in entries:
        cls = registry.get(e.method)
        base = dict(e.params)
        if level is not None and "level" in cls.Params.model_fields and "level" not in base:
            base["level"] = float(level)
        candidates = [dict(zip(e.tune, values)) for values in itertools.product(*e.tune.values())] or [{}]
        built = [registry.build(e.method, {**base, **c}, device=device) for c in candidates]
        if len(built) > 1:
            scores = [float(score(m)) for m in built]
            best = int(np.argmax(scores))  # the first of equal scores, in the order listed
            log(f"{e.display}: {candidates[best]} chosen on validation data "
                f"(scores {dict(zip(map(str, candidates), np.round(scores, 4)))})")
            built = [built[best]]
        methods[e.display] = built[0]
        chosen[e.display] = built[0].params.model_dump(mode="json")
    return methods, chosen


def summarise(rows: list[dict], keys: list[str]) -> dict:
    """Mean and standard deviation of each metric over the rows, per method."""
    out: dict = {}
    for method in sorted({r["method"] for r in rows}):
        sel = [r for r in rows if r["method"] == method]
        out[method] = {k: {"mean": float(np.mean([r[k] for r in sel])), "std": float(np.std([r[k] for r in sel]))}
                       for k in keys if k in sel[0]}
    return out


def trust_samples(method, cases, scale: float, options=True) -> dict:
    """Output, absolute error and trust maps (``reconstruct --trust``) of a method on cases with a known truth.

    Parameters
    ----------
    method : Method
        Prepared or unprepared (learned or classical) method.
    cases : list of (truth (Y, X), sinogram (A, U), geometry)
        The truth in the caller's units (volume / ``scale``).
    scale : float
        Divides the outputs and maps into the truth's units.
    options : True or TrustOptions
        The uncertainty kind (:class:`~tomolearn.workflow.reconstruct.TrustOptions`).

    Returns
    -------
    dict
        ``outputs`` and ``errors``: lists of (Y, X) arrays; ``maps``: name -> list of |map| (Y, X);
        ``data_residual_relative`` and ``data_residual_vs_fbp``: per case, the output's
        data-residual norm ``||A x - y|| / ||y||`` and that over FBP's.
    """
    from .reconstruct import geometry_operator, run_cropped

    out = {"outputs": [], "errors": [], "maps": {}, "data_residual_relative": [], "data_residual_vs_fbp": []}
    for truth, sino, g in cases:
        g1 = g.replace(n_rows=1)
        res = run_cropped(method.prepare(g1), np.asarray(sino, np.float32)[:, None], geometry_operator(g1),
                          0, 1, trust=options)
        img = res.volume[0] / scale
        out["outputs"].append(img)
        out["errors"].append(np.abs(img - truth))
        for key in ("data_residual_relative", "data_residual_vs_fbp"):
            out[key] += res.info.get(key, [])
        for name, m in res.maps.items():
            out["maps"].setdefault(name, []).append(np.abs(m[0]) / scale)
    return out


def _flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def calibration_scores(test: dict, validation: dict | None = None) -> dict:
    """How well each trust map ranks and bounds the error (seed 000's "to what degree can we trust it?").

    Parameters
    ----------
    test : dict
        :func:`trust_samples` of the cases scored.
    validation : dict, optional
        :func:`trust_samples` of other cases (never the test ones) to fit the ±2σ recalibration on.

    Returns
    -------
    dict
        Map -> ``spearman`` (map vs |error|), ``ause``, ``coverage_raw`` (of ``|error| <= 2 |map|``)
        and, with ``validation``, ``sigma_scale`` and ``coverage`` after recalibration; the
        ``data_residual`` row also ``norm`` (mean ``||A x - y|| / ||y||``) and ``norm_vs_fbp`` (the
        mean of that over FBP's on the same data; item 2 of issue 16), when ``test`` holds them.
    """
    from ..trust import coverage, sigma_scale, sparsification, spearman

    err = _flat(test["errors"])
    scores = {}
    for name, maps in test["maps"].items():
        u = _flat(maps)
        row = {"spearman": round(spearman(u, err), 3), "ause": sparsification(u, err)["ause"],
               "coverage_raw": round(coverage(u, err), 3)}
        if validation is not None and name in validation["maps"]:
            s = sigma_scale(_flat(validation["maps"][name]), _flat(validation["errors"]))
            row |= {"sigma_scale": round(s, 4), "coverage": round(coverage(u, err, s), 3)}
        scores[name] = row
    if test.get("data_residual_vs_fbp") and "data_residual" in scores:
        scores["data_residual"]["norm"] = round(float(np.mean(test["data_residual_relative"])), 5)
        scores["data_residual"]["norm_vs_fbp"] = round(float(np.mean(test["data_residual_vs_fbp"])), 4)
    return scores


def learned_trust(methods: dict, cases, scale: float, figure_path, title: str = "",
                  validation_cases=None, options: dict | None = None) -> tuple[dict, object]:
    """Trust maps of learned methods on cases with a known truth: their calibration and a figure.

    Parameters
    ----------
    methods : dict
        Label -> prepared or unprepared learned :class:`~tomolearn.methods.base.Method`.
    cases : list of (truth (Y, X), sinogram (A, U), geometry)
        The truth in the study's normalised units (volume / ``scale``).
    scale : float
        Divides the outputs and maps into the truth's units.
    figure_path : Path
        Where the figure of the first case goes (:func:`tomolearn.report.trust_figure`).
    title : str
    validation_cases : list, optional
        Cases like ``cases`` (validation, never test) on which the ±2σ recalibration is fitted.
    options : dict, optional
        Label -> :class:`~tomolearn.workflow.reconstruct.TrustOptions` (default: mirror uncertainty).

    Returns
    -------
    scores : dict
        Label -> map -> :func:`calibration_scores` over all cases.
    figure : Path
    """
    from ..report import trust_figure
    from ..trust import sparsification

    scores, rows = {}, {}
    for label, method in methods.items():
        kind = (options or {}).get(label, True)
        test = trust_samples(method, cases, scale, kind)
        val = trust_samples(method, validation_cases, scale, kind) if validation_cases else None
        scores[label] = calibration_scores(test, val)
        err = _flat(test["errors"])
        rows[label] = {"output": test["outputs"][0], "maps": {n: m[0] for n, m in test["maps"].items()},
                       "sparsification": {n: sparsification(_flat(m), err) for n, m in test["maps"].items()}}
    return scores, trust_figure(cases[0][0], rows, figure_path, title, vmax=1.0)


def write_ensemble(folder: Path, method: str, first: Path, train_member, size: int, seeds: list[int],
                   command: str) -> Path:
    """An ensemble run folder (as ``train --ensemble`` writes) for a study's networks; returns ``folder``.

    Member 0 is the study's own network ``first`` (weights + card, copied); member ``k``
    is trained by ``train_member(k, member_k_folder)`` unless a resumed run already holds it.
    ``--model folder`` then reconstructs with all of them.
    """
    from ..methods.ensemble import ENSEMBLE_FILE, ensemble_record, member_folder

    members = []
    for k in range(size):
        member = folder / member_folder(k)
        member.mkdir(parents=True, exist_ok=True)
        if k == 0:
            for suffix in (".safetensors", ".json"):
                (member / f"model{suffix}").write_bytes(Path(first).with_suffix(suffix).read_bytes())
        elif not (member / "model.safetensors").exists():
            train_member(k, member)
        members.append(f"{member.name}/model.safetensors")
    write_json(folder / ENSEMBLE_FILE, ensemble_record(method, size, seeds, members, command))
    return folder
