"""`tomolearn train missing_wedge`: IRDM training on the on-the-fly library, validation, export."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..metrics import image_metrics
from ..recon import fbp
from ..recipes.missing_wedge import irdm_slice
from ..train.export import export_generator
from ..train.fit import fit
from ..train.gan import IRDMModule
from ..train.library import DEFAULT_FAMILIES, MissingWedgeLibrary, wedge_sinogram
from .common import git_hash, prepare_run_dir, write_json


def validate(generator, meta: dict, size: int, wedges_deg, n_objects: int, families, seed: int) -> dict:
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
            rows["IRDM"].append(image_metrics(obj, irdm_slice(generator, meta, sino, g), data_range=1.0))
        out[f"{w:g}"] = {m: {k: float(np.mean([r[k] for r in v])) for k in v[0]} for m, v in rows.items()}
    return out


def train_missing_wedge(out_dir, size: int = 128, wedge_range_deg=(25.0, 85.0), families=DEFAULT_FAMILIES,
                        images: np.ndarray | None = None, n_train: int = 400, n_val: int = 16, epochs: int = 30,
                        batch_size: int = 8, base_channels: int = 12, depth: int = 4, adversarial: bool = True,
                        adversarial_weight: float = 0.01, seed: int = 0, accelerator: str = "cpu",
                        export: Path | None = None, overwrite: bool = False, resume: bool = False,
                        command: str = "", show_progress: bool = True, log=print) -> dict:
    """Train the IRDM generator (U-Net++ GAN) on the missing-wedge library and export its weights.

    Writes to ``out_dir``: Lightning checkpoints (resumable), ``missing_wedge_2d.pt`` (slim
    generator weights) and ``training.json`` (command, data, time, validation metrics); with
    ``export`` the weights are also written there.

    Parameters
    ----------
    out_dir : path
    size : int
        Training image side, pixels.
    wedge_range_deg : (float, float)
        Missing wedges drawn during training, degrees.
    families, images :
        Objects of the library (see :class:`~tomolearn.train.library.MissingWedgeLibrary`).
    n_train, n_val : int
        Fresh samples per epoch; fixed validation samples.
    epochs, batch_size, base_channels, depth, adversarial, adversarial_weight, seed :
        Training and network settings (see :class:`~tomolearn.train.gan.IRDMModule`).
    accelerator : str
        "cpu" or "gpu".
    export : path, optional
        Second copy of the weights (e.g. the package's default).
    overwrite, resume : bool
    command : str
        The command line, recorded.

    Returns
    -------
    dict
        The training record.

    Raises
    ------
    FileExistsError
        If ``out_dir`` is not empty (without ``overwrite``/``resume``) or ``export`` exists
        (without ``overwrite``).

    References
    ----------
    C. Wang et al., "0.71-A resolution electron tomography enabled by deep learning aided
    information recovery" (IRDM), seed 004.
    """
    if export is not None and Path(export).exists() and not overwrite:
        raise FileExistsError(f"export: {str(export)!r} exists; choose another name or pass --overwrite")
    out = prepare_run_dir(out_dir, overwrite, resume)
    lo, hi = map(float, wedge_range_deg)
    meta = {"recipe": "missing_wedge", "size": int(size), "wedge_range_deg": [lo, hi], "approximant": "wbp",
            "canonical": True, "families": list(families), "real_images": 0 if images is None else int(len(images))}
    train = MissingWedgeLibrary(n_train, size, (lo, hi), families, images, seed=seed)
    val = MissingWedgeLibrary(n_val, size, (lo, hi), families, images, seed=seed + 1, fixed=True)
    module = IRDMModule(2, base_channels, depth, adversarial, adversarial_weight, max_epochs=epochs, meta=meta)
    t0 = time.perf_counter()
    last = fit(module, train, val, out, epochs, batch_size, seed, accelerator, show_progress)
    seconds = time.perf_counter() - t0
    module = IRDMModule.load_from_checkpoint(last, map_location="cpu", weights_only=False).eval()
    log(f"trained {epochs} epochs in {seconds:.0f} s; validating")
    wedges = sorted({lo, (lo + hi) / 2, hi, 60.0, 80.0})
    metrics = validate(module.generator, meta, size, wedges, 16, families, seed)
    record = {"command": command, "tomolearn_version": __version__, "git": git_hash(), "seed": seed,
              "data": {"families": list(families), "real_images": meta["real_images"], "size": size,
                       "wedge_range_deg": [lo, hi], "step_deg": list(train.step_range),
                       "noise_percent": list(train.noise_range), "samples_per_epoch": n_train},
              "training": {"epochs": epochs, "batch_size": batch_size, "base_channels": base_channels,
                           "depth": depth, "adversarial": adversarial, "adversarial_weight": adversarial_weight,
                           "accelerator": accelerator, "seconds": round(seconds, 1),
                           "threads": torch.get_num_threads()},
              "validation": {"objects": "16 held-out library objects, 1 deg step, 0.5 % noise, data range 1",
                             "per_wedge_deg": metrics}}
    write_json(out / "training.json", record)
    export_generator(module, out / "missing_wedge_2d.pt", record, overwrite=True)
    if export is not None:
        export_generator(module, export, record, overwrite=overwrite)
    return record
