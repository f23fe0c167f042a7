"""Slim generator weights: export from a training checkpoint, load for inference.

A Lightning checkpoint of the IRDM GAN holds both networks and optimiser states (~20 MB);
inference needs only the generator. The exported file holds its float16 state dict, its
shape, the training facts (``meta``) and a training record, and is what ships with the
package as the default of ``reconstruct --method missing_wedge``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .._checks import fail
from ..models import UNetPlusPlus

FORMAT = "tomolearn-generator-1"


def export_generator(module, path, record: dict | None = None, overwrite: bool = False) -> Path:
    """Write the generator of an :class:`~tomolearn.train.gan.IRDMModule` as slim weights.

    Parameters
    ----------
    module : IRDMModule
    path : path
        Output ``.pt`` file; written to a temporary name and renamed.
    record : dict, optional
        How the weights were made (command, data, time, validation metrics).
    overwrite : bool

    Returns
    -------
    Path

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"path: {str(p)!r} exists; choose another name or pass overwrite=True")
    hp = module.hparams
    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in module.generator.state_dict().items()}
    payload = {"format": FORMAT, "architecture": {"spatial_dims": hp.spatial_dims, "base_channels": hp.base_channels,
                                                  "depth": hp.depth},
               "meta": dict(hp.meta or {}), "record": dict(record or {}), "state_dict": state}
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".part")
    torch.save(payload, tmp)
    os.replace(tmp, p)
    return p


def load_generator(path, map_location: str | torch.device = "cpu") -> tuple[UNetPlusPlus, dict]:
    """Load a generator from exported weights or from an IRDM training checkpoint (``.ckpt``).

    Returns
    -------
    generator : UNetPlusPlus
        In eval mode, float32, on ``map_location``.
    meta : dict
        Training facts (``size``, ``wedge_range_deg``, ...) plus ``record`` for exported files.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is neither exported weights nor an IRDM checkpoint.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"weights: no such file {str(p)!r}; train some with `tomolearn train missing_wedge`")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types on a foreign file
        raise fail("weights", "tomolearn generator weights (.pt) or an IRDM checkpoint (.ckpt)",
                   f"{p.name!r} ({type(err).__name__})") from err
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        arch, state, meta = payload["architecture"], payload["state_dict"], dict(payload["meta"])
        meta["record"] = payload.get("record", {})
    elif isinstance(payload, dict) and "hyper_parameters" in payload and "state_dict" in payload:
        hp = payload["hyper_parameters"]
        if "adversarial_weight" not in hp:
            raise fail("weights", "an IRDM checkpoint (tomolearn train missing_wedge)", f"{p.name!r} (another model)")
        arch = {k: hp[k] for k in ("spatial_dims", "base_channels", "depth")}
        state = {k[len("generator."):]: v for k, v in payload["state_dict"].items() if k.startswith("generator.")}
        meta = dict(hp.get("meta") or {})
    else:
        raise fail("weights", "tomolearn generator weights (.pt) or an IRDM checkpoint (.ckpt)", repr(p.name))
    generator = UNetPlusPlus(arch["spatial_dims"], 1, 1, arch["base_channels"], arch["depth"], residual=True)
    generator.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return generator.to(map_location).eval(), meta
