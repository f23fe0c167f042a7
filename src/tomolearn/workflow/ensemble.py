"""`tomolearn train NAME --ensemble K`: K independently seeded trainings of one recipe in one run folder."""
from __future__ import annotations

import shutil
from pathlib import Path

from .._checks import fail, positive_int
from ..methods.ensemble import ENSEMBLE_FILE, ensemble_record, member_folder, read_ensemble
from .common import prepare_run_dir, write_json


def train_ensemble(method: str, train, config, out, size: int, *, overwrite: bool = False, resume: bool = False,
                   log=print, command: str = "", devices: int = 1, **kwargs) -> dict:
    """Train ``size`` members of a recipe with seeds ``seed, seed + 1, ...`` into ``out/member_k``.

    Each member is the recipe's own training (its record, checkpoints and ``--resume``);
    ``out/ensemble.json`` lists the finished members, written after each one, so an
    interrupted ensemble continues with ``--resume`` at the first unfinished member.
    ``--model out`` then runs all of them (:class:`~tomolearn.methods.ensemble.Ensemble`).

    Parameters
    ----------
    method : str
        The registered method the members are trained for.
    train : callable
        Its training workflow (:class:`~tomolearn.methods.base.TrainingSpec` target).
    config : pydantic.BaseModel
        Its validated training settings (with ``seed`` and ``export`` fields).
    out : Path
        The ensemble's run folder.
    size : int
        Members, >= 2.
    overwrite, resume, log, command, devices, **kwargs
        As for the recipe's training; ``devices`` must be 1 (members train one after another).

    Returns
    -------
    dict
        ``summary_lines`` (every member's, prefixed) and ``weights`` (the run folder).

    Raises
    ------
    ValueError
        On ``size < 2``, ``--export``, several devices, or ``--resume`` with another size or recipe.
    """
    size = positive_int(size, "--ensemble")
    if size < 2:
        raise fail("--ensemble", "2 or more members (1 is a plain training)", size)
    if getattr(config, "export", None) is not None:
        raise fail("--export", "no export with --ensemble", str(config.export),
                   "pass the run folder as --model; its members stay in member_K")
    if devices != 1:
        raise fail("--devices", "1 with --ensemble (members train one after another)", devices)
    out = Path(out)
    new_folder = not out.exists()
    out = prepare_run_dir(out, overwrite, resume)
    record = read_ensemble(out) if resume else None
    if record is not None and (record["method"], int(record["size"])) != (method, size):
        raise fail("--ensemble", f"{record['size']} members of {record['method']!r} (the interrupted run's)",
                   f"{size} of {method!r}")
    record = record or ensemble_record(method, size, [config.seed + k for k in range(size)], [], command)
    lines = []
    try:
        for k in range(size):
            folder = out / member_folder(k)
            if any(Path(m).parts[0] == folder.name for m in record["members"]):
                log(f"member {k + 1} of {size} is done; skipping it")
                continue
            log(f"ensemble member {k + 1} of {size} (seed {config.seed + k})")
            member = train(config.model_copy(update={"seed": config.seed + k}), folder, overwrite=False,
                           resume=resume and folder.exists(), log=log, command=f"{command} [member {k}]",
                           devices=devices, **kwargs)
            weights = Path(member["weights"][0]).resolve()
            record["members"].append(str(weights.relative_to(out.resolve())))
            write_json(out / ENSEMBLE_FILE, record)
            lines += [f"member {k}: {line}" for line in member.get("summary_lines", [])]
    except BaseException:
        if new_folder and not record["members"] and not any(p.name != ENSEMBLE_FILE for p in out.iterdir()):
            shutil.rmtree(out, ignore_errors=True)  # nothing was trained: leave no folder behind
        raise
    return {"summary_lines": lines + [f"ensemble of {size} in {out} (use it as --model)"], "weights": [str(out)]}


__all__ = ["member_folder", "train_ensemble"]
