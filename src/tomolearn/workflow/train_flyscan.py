"""`tomolearn train flyscan`: RRDB on the on-the-fly fly-scan library, validation, export (seed 003)."""
from __future__ import annotations

import time

import numpy as np
import torch

from .. import __version__
from ..methods import base as registry
from ..metrics import image_metrics
from ..models.card import Architecture, GeometryRange, ModelCard, Pipeline
from ..models.weights import load_weights
from ..recipes.flyscan import flyscan_slice
from ..train.fit import fit, is_main_process, seeded
from ..train.flyscan_library import FlyScanLibrary
from ..train.module import CardModule
from .common import check_export, save_run_weights, git_hash, prepare_run_dir, write_json

WEIGHTS_NAME = "flyscan.safetensors"


def library(c, n: int, seed: int, fixed: bool = False) -> FlyScanLibrary:
    """The library of a :class:`~tomolearn.methods.flyscan.FlyScanTraining` config.

    Training draws crops of kept scans; validation (``fixed``) whole images of its own scans.
    """
    params = {"n_iter": c.mlem_iter, "n_subsets": c.mlem_subsets} if c.approximant == "mlem" else {}
    crops = {} if fixed else {"patch": c.patch or None, "n_scans": c.n_scans or None}
    return FlyScanLibrary(n, c.size, c.families, c.angles, c.speed_deg_s, c.exposure_s, c.i0,
                          approximant=c.approximant, approximant_params=params, seed=seed, fixed=fixed, **crops)


def validate(net, card, lib: FlyScanLibrary) -> dict:
    """Mean PSNR/SSIM/NRMSE/PCC of FBP, modified MLEM and the recipe on the library's fixed samples.

    The data range is each object's maximum (attenuation units), as in seed 003's Table 1.
    """
    from ..train.flyscan_library import fly_sinogram

    rows: dict[str, list] = {"FBP": [], "modified MLEM": [], "RRDB": []}
    for i in range(len(lib)):
        rng = np.random.default_rng([lib.seed, i, 0])
        s = lib.sample(i)
        sino, g = fly_sinogram(s["target"], s["n_angles"], s["exposure_arc_deg"], s["i0"], rng)
        dr = float(s["target"].max())
        rows["FBP"].append(image_metrics(s["target"], registry.build("fbp").image(sino, g.replace(exposure_arc=0.0)), dr))
        rows["modified MLEM"].append(image_metrics(s["target"], registry.build("mlem", {"n_iter": 20}).image(sino, g), dr))
        rows["RRDB"].append(image_metrics(s["target"], flyscan_slice(net, card, sino, g), dr))
    return {m: {k: round(float(np.mean([r[k] for r in v])), 4) for k in v[0]} for m, v in rows.items()}


def train_flyscan(config, out_dir, overwrite: bool = False, resume: bool = False, device: str = "cpu",
                  show_progress: bool = True, log=print, command: str = "", devices: int = 1,
                  strategy: str = "auto", precision: str = "32-true") -> dict:
    """Train the RRDB of seed 003 on fresh fly-scan samples and validate it on held-out ones.

    Parameters
    ----------
    config : tomolearn.methods.flyscan.FlyScanTraining
    out_dir : path
    overwrite, resume, device, show_progress, log, command, devices, strategy, precision
        As :func:`tomolearn.workflow.train_missing_wedge.train_missing_wedge`.

    Returns
    -------
    dict
        The training record (``training.json``), ``weights`` and ``summary_lines``.

    Raises
    ------
    ValueError
        On bad ranges or families.
    FileExistsError
        If ``out_dir`` is not empty (without ``overwrite``/``resume``) or ``export`` exists.

    References
    ----------
    Seed 003 (fly-scan nano-CT), Fig. 2a; X. Wang et al., ESRGAN, ECCV-W 2018 (RRDB, L1 loss).
    """
    c = config
    check_export(c.export, overwrite)
    train = library(c, c.samples_per_epoch, c.seed)
    val = library(c, c.n_val, c.seed + 10_000, fixed=True)  # objects and scans the training never draws
    out = prepare_run_dir(out_dir, overwrite, resume)
    arcs = (0.0, float(min(c.speed_deg_s[1] * c.exposure_s[1], 180.0 / c.angles[0])))
    arch = Architecture(name="rrdb", base_channels=c.features, growth=c.growth, n_blocks=c.n_blocks, depth=1)
    params = {"n_iter": c.mlem_iter, "n_subsets": c.mlem_subsets} if c.approximant == "mlem" else {}
    card = ModelCard(method="flyscan", architecture=arch,
                     pipeline=Pipeline(approximant=c.approximant, approximant_params=params, canonical=False,
                                       window=256, overlap=0.25),
                     geometry=GeometryRange(kinds=["parallel"]),
                     training={"size": c.size, "patch": c.patch, "n_scans": c.n_scans, "families": list(c.families), "angles": list(c.angles),
                               "speed_deg_s": list(c.speed_deg_s), "exposure_s": list(c.exposure_s),
                               "i0": list(c.i0), "exposure_arc_deg_range": list(arcs)})
    with seeded(c.seed):  # the initial weights too, not only the training
        module = CardModule(card.model_dump(mode="json"), "l1", c.lr, c.epochs)
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    t0 = time.perf_counter()
    last = fit(module, train, None, out, c.epochs, c.batch_size, c.seed, accelerator, show_progress,
               devices=devices, strategy=strategy, precision=precision)
    seconds = time.perf_counter() - t0
    if not is_main_process():
        return {}
    net, _ = load_weights(last, map_location=device)
    net.eval()
    t0 = time.perf_counter()
    scores = validate(net, card, val)
    record = {"command": command, "tomolearn_version": __version__, "git": git_hash(), "seed": c.seed,
              "data": card.training, "approximant": c.approximant,
              "training": {"epochs": c.epochs, "samples_per_epoch": c.samples_per_epoch, "batch_size": c.batch_size,
                           "loss": "l1", "lr": c.lr, "parameters": int(sum(p.numel() for p in net.parameters())),
                           "architecture": arch.model_dump(mode="json"), "accelerator": accelerator,
                           "devices": devices, "seconds": round(seconds, 1), "threads": torch.get_num_threads()},
              "validation": {"samples": c.n_val, "seconds": round(time.perf_counter() - t0, 1), "scores": scores}}
    write_json(out / "training.json", record)
    card = card.model_copy(update={"training": {**card.training, "command": command, "seconds": round(seconds, 1),
                                                "epochs": c.epochs, "git": record["git"]},
                                   "metrics": {"validation": scores}})
    weights = save_run_weights(net, card, out, WEIGHTS_NAME, c.export, overwrite)
    lines = [f"held-out validation, {m}: " + ", ".join(f"{k} {v:.3f}" for k, v in s.items()) for m, s in scores.items()]
    return {**record, "weights": weights, "summary_lines": lines}
