"""`tomolearn train missing_wedge`: IRDM training on the on-the-fly library, validation, export."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..metrics import image_metrics
from ..models.card import Architecture, GeometryRange, ModelCard, Pipeline
from ..models.weights import load_weights
from ..recon import fbp
from ..recipes.missing_wedge import irdm_slice
from ..train.fit import fit, is_main_process, seeded
from ..train.gan import IRDMModule
from ..train.library import MissingWedgeLibrary, wedge_sinogram
from .common import check_export, save_run_weights, git_hash, prepare_run_dir, write_json

WEIGHTS_NAME = "missing_wedge_2d.safetensors"


def validate(generator, card: ModelCard, size: int, wedges_deg, n_objects: int, families, seed: int) -> dict:
    """Mean PSNR/SSIM/NRMSE/PCC of WBP and the recipe per wedge on fresh held-out phantoms.

    Held-out objects come from a seed the training never draws (``seed + 10_000``); the sinogram
    is simulated at a 1 degree step with 0.5 % Gaussian noise.
    """
    out = {}
    lib = MissingWedgeLibrary(n_objects, size, (0, 0), families, augment=True, seed=seed + 10_000, fixed=True)
    objects = [lib.draw_object(np.random.default_rng([seed + 10_000, i])) for i in range(n_objects)]
    for w in wedges_deg:
        rows = {"WBP": [], "IRDM": []}
        for i, obj in enumerate(objects):
            sino, g = wedge_sinogram(obj, w, 1.0, 0.5, [seed, i])
            rows["WBP"].append(image_metrics(obj, fbp(sino, g), data_range=1.0))
            rows["IRDM"].append(image_metrics(obj, irdm_slice(generator, card, sino, g), data_range=1.0))
        out[f"{w:g}"] = {m: {k: float(np.mean([r[k] for r in v])) for k in v[0]} for m, v in rows.items()}
    return out


def irdm_card(config, real_images: int) -> ModelCard:
    """The model card of a generator trained with ``config`` (before its training record)."""
    lo, hi = map(float, config.wedge_range)
    return ModelCard(
        method="missing_wedge",
        architecture=Architecture(name="unetpp", spatial_dims=2, base_channels=config.base_channels, depth=config.depth),
        pipeline=Pipeline(approximant="fbp", approximant_params={"filter": "ramp"}, canonical=True,
                          working_size=config.size,
                          window=2 * config.size),
        geometry=GeometryRange(kinds=["parallel"], wedge_range_deg=(lo, hi)),
        training={"families": list(config.families), "real_images": real_images, "size": config.size})


def _load_images(path: Path | None):
    if path is None:
        return None
    from ..io import load_volume

    return load_volume(path)


def train_missing_wedge(config, out_dir, overwrite: bool = False, resume: bool = False, device: str = "cpu",
                        show_progress: bool = True, log=print, command: str = "", devices: int = 1,
                        strategy: str = "auto", precision: str = "32-true") -> dict:
    """Train the IRDM generator (U-Net++ GAN) on the missing-wedge library and export its weights.

    Writes to ``out_dir``: Lightning checkpoints (resumable), ``missing_wedge_2d.safetensors``
    with its model card ``missing_wedge_2d.json``, and ``training.json`` (command, data, time,
    validation metrics); with ``config.export`` the weights and card are also written there.

    Parameters
    ----------
    config : tomolearn.methods.missing_wedge.MissingWedgeTraining
        Typed settings: image size, wedge range (degrees), families, real images, samples per
        epoch, epochs, network width, adversarial weight, seed, export path.
    out_dir : path
    overwrite, resume : bool
    device : str
        "cpu" or "cuda[:N]".
    show_progress : bool
    log : callable
    command : str
        The command line, recorded.
    devices, strategy, precision :
        Multi-process / multi-GPU training (Lightning DDP, mixed precision); see
        :func:`tomolearn.train.fit.fit`. Only the main process validates and writes weights.

    Returns
    -------
    dict
        The training record, plus ``weights`` (paths written) and ``summary_lines``.

    Raises
    ------
    FileExistsError
        If ``out_dir`` is not empty (without ``overwrite``/``resume``) or ``config.export``
        exists (without ``overwrite``).

    References
    ----------
    C. Wang et al., "0.71-A resolution electron tomography enabled by deep learning aided
    information recovery" (IRDM), seed 004.
    """
    c = config
    check_export(c.export, overwrite)
    images = _load_images(c.images)
    out = prepare_run_dir(out_dir, overwrite, resume)
    lo, hi = map(float, c.wedge_range)
    card = irdm_card(c, 0 if images is None else int(len(images)))
    train = MissingWedgeLibrary(c.samples_per_epoch, c.size, (lo, hi), c.families, images, seed=c.seed)
    val = MissingWedgeLibrary(c.n_val, c.size, (lo, hi), c.families, images, seed=c.seed + 1, fixed=True)
    with seeded(c.seed):  # the initial weights too, not only the training
        module = IRDMModule(2, c.base_channels, c.depth, not c.supervised, c.adversarial_weight, max_epochs=c.epochs,
                            card=card.model_dump(mode="json"))
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    t0 = time.perf_counter()
    last = fit(module, train, val, out, c.epochs, c.batch_size, c.seed, accelerator, show_progress,
               devices=devices, strategy=strategy, precision=precision)
    seconds = time.perf_counter() - t0
    if not is_main_process():  # the other DDP processes are done once training is
        return {}
    generator, _ = load_weights(last)  # tensors only: a checkpoint never runs code when read
    log(f"trained {c.epochs} epochs in {seconds:.0f} s; validating")
    wedges = sorted({lo, (lo + hi) / 2, hi, 60.0, 80.0})
    metrics = validate(generator, card, c.size, wedges, 16, c.families, c.seed)
    record = {"command": command, "tomolearn_version": __version__, "git": git_hash(), "seed": c.seed,
              "data": {"families": list(c.families), "real_images": card.training["real_images"], "size": c.size,
                       "wedge_range_deg": [lo, hi], "step_deg": list(train.step_range),
                       "noise_percent": list(train.noise_range), "samples_per_epoch": c.samples_per_epoch},
              "training": {"epochs": c.epochs, "batch_size": c.batch_size, "base_channels": c.base_channels,
                           "depth": c.depth, "adversarial": not c.supervised,
                           "adversarial_weight": c.adversarial_weight, "accelerator": accelerator,
                           "devices": devices, "strategy": strategy, "precision": precision,
                           "seconds": round(seconds, 1), "threads": torch.get_num_threads()},
              "validation": {"objects": "16 held-out library objects, 1 deg step, 0.5 % noise, data range 1",
                             "per_wedge_deg": metrics}}
    write_json(out / "training.json", record)
    card = card.model_copy(update={"training": {k: v for k, v in record.items() if k != "validation"},
                                   "metrics": record["validation"]})
    weights = save_run_weights(generator, card, out, WEIGHTS_NAME, c.export, overwrite)
    lines = [f"wedge {w} deg: " + ", ".join(f"{m} PSNR {v['psnr']:.2f} SSIM {v['ssim']:.3f}" for m, v in row.items())
             for w, row in metrics.items()]
    return {**record, "weights": weights, "summary_lines": lines}
