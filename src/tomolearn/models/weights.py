"""Weights on disk: ``safetensors`` tensors + a JSON model card beside them.

``NAME.safetensors`` holds only tensors (no code can run when it is read); ``NAME.json`` is
its :class:`~tomolearn.models.card.ModelCard`. Training checkpoints (Lightning ``.ckpt``) and
the project's earlier ``.pt`` generator files are read too — tensors only
(``torch.load(weights_only=True)``) — so old runs keep working.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file

from .._checks import fail
from .._files import make_user_readable
from .card import Architecture, GeometryRange, ModelCard, Pipeline


def card_path(weights) -> Path:
    """The card beside a weights file: same name, ``.json``."""
    return Path(weights).with_suffix(".json")


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        make_user_readable(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(network: torch.nn.Module, card: ModelCard, path, half: bool = True, overwrite: bool = False) -> Path:
    """Write ``network``'s weights as ``path`` (.safetensors) and ``card`` beside it (.json).

    Parameters
    ----------
    network : torch.nn.Module
        Of ``card.architecture``.
    card : ModelCard
    path : path
        Ending in ``.safetensors``.
    half : bool
        Store floating-point tensors as float16 (slim; loaded back as float32).
    overwrite : bool

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If ``path`` does not end in ``.safetensors``.
    FileExistsError
        If ``path`` or its card exists and ``overwrite`` is False.
    """
    p = Path(path)
    if p.suffix != ".safetensors":
        raise fail("path", "a file name ending in .safetensors", repr(p.name))
    for target in (p, card_path(p)):
        if target.exists() and not overwrite:
            raise FileExistsError(f"path: {str(target)!r} exists; choose another name or pass overwrite=True")
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in network.state_dict().items()}
    _atomic(p, lambda tmp: save_file(state, tmp, metadata={"format": card.format, "method": card.method}))
    text = json.dumps(card.model_dump(mode="json"), indent=2)
    _atomic(card_path(p), lambda tmp: Path(tmp).write_text(text))
    return p


def read_card(path) -> ModelCard:
    """The model card of a weights file (.safetensors + .json, .ckpt or legacy .pt).

    Raises
    ------
    FileNotFoundError
        If the file (or the card beside safetensors weights) is missing.
    ValueError
        If the file holds no readable card.
    """
    return _read(path)[1]


def load_weights(path, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, ModelCard]:
    """Network (eval mode, float32, on ``map_location``) and card from a weights file.

    Parameters
    ----------
    path : path
        ``.safetensors`` with its ``.json`` card; a tomolearn Lightning checkpoint ``.ckpt``;
        or an earlier tomolearn generator ``.pt``.
    map_location : str or torch.device

    Raises
    ------
    FileNotFoundError
        If the file or its card does not exist.
    ValueError
        If the file is not tomolearn weights or does not match its card.
    """
    state, card = _read(path)
    net = card.architecture.build()
    try:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as err:
        raise fail("weights", f"tensors of the card's architecture ({card.architecture.name})",
                   f"{Path(path).name!r} with other tensors ({str(err).splitlines()[0]})") from err
    return net.to(map_location).eval(), card


def _read(path) -> tuple[dict, ModelCard]:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"weights: no such file {str(p)!r}; train some with `tomolearn train` or `tomolearn run`")
    if p.suffix == ".safetensors":
        cp = card_path(p)
        if not cp.exists():
            raise FileNotFoundError(f"weights: the model card {str(cp)!r} beside {p.name!r} is missing; "
                                    "it was written with the weights, copy both")
        try:
            card = ModelCard.model_validate_json(cp.read_text())
        except ValidationError as err:
            e = err.errors()[0]
            raise fail("weights", "a valid model card", f"{cp.name!r} ({'.'.join(map(str, e['loc']))}: {e['msg']})") from None
        try:
            return load_file(p), card
        except Exception as err:  # safetensors raises its own error types on foreign bytes
            raise fail("weights", "a safetensors file", f"{p.name!r} ({type(err).__name__})") from err
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types on a foreign or code-carrying file
        raise fail("weights", "tomolearn weights (.safetensors + .json, .ckpt or .pt)",
                   f"{p.name!r} ({type(err).__name__})") from err
    if isinstance(payload, dict) and payload.get("format") == "tomolearn-generator-1":
        return payload["state_dict"], _legacy_irdm_card(payload["architecture"], payload.get("meta") or {},
                                                        payload.get("record") or {})
    if isinstance(payload, dict) and "hyper_parameters" in payload and "state_dict" in payload:
        return _from_checkpoint(payload, p.name)
    raise fail("weights", "tomolearn weights (.safetensors + .json, .ckpt or .pt)", repr(p.name))


def _from_checkpoint(payload: dict, name: str) -> tuple[dict, ModelCard]:
    """Weights and card of a tomolearn Lightning checkpoint (the network's tensors only)."""
    hp = payload["hyper_parameters"]
    sd = payload["state_dict"]
    if hp.get("card"):
        card = ModelCard.model_validate(hp["card"])
        prefix = "generator." if card.architecture.name == "unetpp" else "net."  # unet, rapid: "net."
    elif "adversarial_weight" in hp:  # IRDM checkpoints written before model cards
        card, prefix = _legacy_irdm_card(hp, hp.get("meta") or {}, {}), "generator."
    elif any(k.startswith("net.") for k in sd):  # post-processing U-Net checkpoints written before model cards
        card, prefix = _legacy_unet_card(hp), "net."
    else:
        raise fail("weights", "a tomolearn checkpoint (.ckpt)", f"{name!r} (another model)")
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}, card


def _legacy_irdm_card(arch: dict, meta: dict, record: dict) -> ModelCard:
    size = int(meta.get("size", 128))
    wedges = meta.get("wedge_range_deg")
    return ModelCard(
        method="missing_wedge",
        architecture=Architecture(name="unetpp", spatial_dims=arch["spatial_dims"], base_channels=arch["base_channels"],
                                  depth=arch["depth"]),
        pipeline=Pipeline(approximant="fbp", approximant_params={"filter": "ramp"}, canonical=True, working_size=size,
                          window=2 * size),
        geometry=GeometryRange(kinds=["parallel"], wedge_range_deg=tuple(wedges) if wedges else None),
        training={k: v for k, v in {**record, "families": meta.get("families"),
                                    "real_images": meta.get("real_images")}.items() if k != "validation"},
        metrics=record.get("validation", {}))


def _legacy_unet_card(hp: dict) -> ModelCard:
    meta = dict(hp.get("meta") or {})
    return ModelCard(
        method="learned",
        architecture=Architecture(name="unet", spatial_dims=hp.get("spatial_dims", 2), in_channels=hp.get("in_channels", 1),
                                  base_channels=hp.get("base_channels", 32), depth=hp.get("depth", 4)),
        pipeline=Pipeline(approximant=meta.get("approximant", "fbp"),
                          approximant_params=({"n_iter": int(meta.get("sirt_iter", 50))} if meta.get("approximant") == "sirt"
                                              else {"filter": meta.get("filter", "ramp")}),
                          canonical=bool(meta.get("canonical", True)),
                          voxel_size=meta.get("voxel_size"), grid_shape=meta.get("grid_shape"),
                          scale=float(hp.get("scale", 1.0)), window=int(meta.get("window", 256))),
        geometry=GeometryRange(arc_range_deg=meta.get("train_arcs_deg") or
                               ((meta["arc_deg"], meta["arc_deg"]) if "arc_deg" in meta else None)),
        training={k: v for k, v in meta.items() if k in ("trained_on", "arc_deg")})


__all__ = ["card_path", "load_weights", "read_card", "save_weights"]
