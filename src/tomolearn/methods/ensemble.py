"""Deep ensembles: K independently seeded networks of one learned method, used as one.

``tomolearn train NAME --ensemble K -o RUN`` trains the members into ``RUN/member_k`` and lists
them in ``RUN/ensemble.json``; ``--model RUN`` then makes any learned method run every member
and return their mean, with their standard deviation as the ``uncertainty`` map (Lakshminarayanan
et al. 2017). It is not a method of its own: :func:`tomolearn.methods.base.build` wraps the
method the user named, so every learned method (present and future) gets ensembles without
code of its own.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._checks import fail
from ..result import Result
from .base import Method

#: the record an ensemble run folder holds
ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_FORMAT = "tomolearn-ensemble-1"


def ensemble_record(method: str, size: int, seeds: list[int], members: list[str], command: str) -> dict:
    """The content of ``ensemble.json``: ``members`` are weight files relative to the folder."""
    return {"format": ENSEMBLE_FORMAT, "method": method, "size": int(size), "seeds": list(seeds),
            "members": list(members), "command": command}


def member_folder(k: int) -> str:
    """Sub-folder of member ``k`` in an ensemble run folder."""
    return f"member_{k}"


def read_ensemble(folder) -> dict | None:
    """The ensemble record of a run folder, or ``None`` if ``folder`` is not an ensemble run.

    Raises
    ------
    ValueError
        If the record is damaged.
    """
    if folder is None:
        return None
    path = Path(folder) / ENSEMBLE_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if record.get("format") != ENSEMBLE_FORMAT or not isinstance(record.get("members"), list):
            raise ValueError
        int(record["size"]), str(record["method"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise fail("--model", f"a readable {ENSEMBLE_FILE} ({ENSEMBLE_FORMAT})", f"a damaged file {str(path)!r}",
                   "re-train the ensemble with `tomolearn train NAME --ensemble K`") from None
    return record


def ensemble_members(model, method: str) -> list[Path] | None:
    """Weight files of the members of the ensemble at ``model`` for ``method``; ``None`` if it is no ensemble.

    Raises
    ------
    ValueError
        If the ensemble belongs to another method, or its training has not finished every member.
    """
    record = read_ensemble(model) if model is not None and Path(model).is_dir() else None
    if record is None:
        return None
    if record["method"] != method:
        raise fail("--model", f"weights for method {method!r}", f"an ensemble of {record['method']!r} weights",
                   f"use --method {record['method']}")
    if len(record["members"]) < int(record["size"]):
        raise fail("--model", f"a finished ensemble of {record['size']} members",
                   f"{len(record['members'])} finished in {str(model)!r}",
                   f"continue its training: `{record.get('command', 'tomolearn train ...')} --resume`")
    return [Path(model) / m for m in record["members"]]


class Ensemble(Method):
    """A learned method run once per ensemble member: the mean as volume, the standard deviation as uncertainty.

    Members that report their own ``uncertainty`` add its mean variance (the mixture's total
    variance); other maps are left to :func:`~tomolearn.workflow.reconstruct.with_trust_maps`,
    which computes them on the mean.

    Parameters
    ----------
    cls : type[Method]
        The learned method.
    params : Params
        Its parameters; ``params.model`` is the ensemble folder, replaced by each member's weights.
    members : list of Path
        The members' weight files (:func:`ensemble_members`).
    device, show_progress
        As for any method.

    References
    ----------
    B. Lakshminarayanan, A. Pritzel and C. Blundell, "Simple and scalable predictive uncertainty
    estimation using deep ensembles", NeurIPS 2017.
    """

    name = "ensemble"
    summary = "K independently seeded networks of one learned method"

    def __init__(self, cls: type[Method], params, members: list[Path], device: str = "cpu",
                 show_progress: bool = False) -> None:
        super().__init__(params, device=device, show_progress=show_progress)
        if cls.kind != "learned":
            raise fail("--model", "an ensemble of a learned method's weights", f"one for {cls.name!r}")
        # the wrapped method's contract: the chunked executor plans and names outputs from these
        self.name, self.kind, self.execution, self.halo = cls.name, cls.kind, cls.execution, cls.halo
        self.geometries, self.memory_factor = cls.geometries, cls.memory_factor
        self.maps = tuple(dict.fromkeys((*cls.maps, "uncertainty")))
        self.members = [cls(params.model_copy(update={"model": Path(m)}), device=device, show_progress=show_progress)
                        for m in members]

    def setup(self, geometry) -> None:
        for member in self.members:
            member.prepare(geometry)

    def multislice_model(self) -> tuple[int, int | None]:
        """The members' multislice model (an ensemble of a ptycho-tomography method; they share one)."""
        return self.members[0].multislice_model()

    def run(self, projections, op) -> Result:
        results = [member.run(projections, op) for member in self.members]
        stack = np.stack([r.volume for r in results])
        variance = stack.var(0)
        own = [r.uncertainty for r in results if r.uncertainty is not None]
        if len(own) == len(results):  # members with their own σ: the mixture's variance (total variance)
            variance = variance + np.mean(np.square(own), axis=0)
        info = {**results[0].info, "model": str(self.params.model),
                "ensemble": {"size": len(self.members), "members": [str(m.params.model) for m in self.members]}}
        return Result(stack.mean(0), uncertainty=np.sqrt(variance), info=info)


__all__ = ["ENSEMBLE_FILE", "ENSEMBLE_FORMAT", "Ensemble", "ensemble_members", "ensemble_record", "member_folder",
           "read_ensemble"]
