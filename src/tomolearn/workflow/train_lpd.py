"""`tomolearn train lpd`: Learned Primal-Dual on the on-the-fly limited-angle library, validation per arc, export."""
from __future__ import annotations

import time

import numpy as np
import torch

from .. import __version__
from ..geometry import FanGeometry, ParallelGeometry
from ..methods import base as registry
from ..metrics import image_metrics
from ..models.card import Architecture, GeometryRange, ModelCard, Pipeline
from ..models.weights import load_weights
from ..recipes.unrolled import WEIGHTS_NAME, lpd_slices
from ..train.fit import fit, is_main_process, seeded
from ..train.unrolled import UnrolledModule, geometry_record
from ..train.unrolled_library import UnrolledLibrary
from .common import check_export, git_hash, prepare_run_dir, save_run_weights, write_json


def template_geometry(c):
    """The acquisition template of a :class:`~tomolearn.methods.lpd.LPDTraining` config (angles ignored).

    Raises
    ------
    ValueError
        If ``geometry_from`` names a scan without a slice geometry (e.g. a ptychography scan).
    """
    if c.geometry_from is None:
        return ParallelGeometry(np.zeros(1), c.size, volume_shape=(c.size, c.size))
    from ..io import load_scan

    g = getattr(load_scan(c.geometry_from), "geometry", None)
    if not isinstance(g, (ParallelGeometry, FanGeometry)):
        raise ValueError(f"--geometry-from: expected a scan with a parallel or fan geometry, got "
                         f"{type(g).__name__} from {str(c.geometry_from)!r}")
    return g.replace(n_rows=1, exposure_arc=0.0)


def library(c, template, n_objects: int, seed: int, fixed: bool = False, arcs=None) -> UnrolledLibrary:
    """The training (or, ``fixed``, validation) library of a config: ``n_objects`` objects in minibatches."""
    batch = c.batch_size if not fixed else n_objects
    return UnrolledLibrary(max(1, n_objects // batch), batch, template, c.families, arcs or c.arc_range,
                           c.step_deg, c.i0, c.attenuation, augment=True, seed=seed, fixed=fixed,
                           init=c.init, init_params=init_params(c))


def init_params(c) -> dict:
    """Parameters of the reconstruction the network starts from."""
    return {"n_iter": c.init_iter, "tv_relative": c.init_tv_relative} if c.init == "tv" else {}


def validate(net, card, val: UnrolledLibrary, arcs) -> dict:
    """Mean PSNR/SSIM/NRMSE/PCC of FBP, the starting reconstruction (if not FBP) and LPD per arc on the library's fixed held-out objects.

    The data range is each object's maximum (attenuation per unit of material value 1).
    """
    fbp = registry.build("fbp")
    start = registry.build(val.init, val.init_params) if val.init != "fbp" else None
    out = {}
    for arc in arcs:
        s = val.sample(0, arc_deg=float(arc))
        rec = lpd_slices(net, s["sinograms"], s["geometry"], card=card)
        rows = {"FBP": [], **({val.init.upper(): []} if start else {}), "LPD": []}
        for sino, truth, r in zip(s["sinograms"], s["targets"], rec):
            dr = float(truth.max()) or 1.0
            rows["FBP"].append(image_metrics(truth, fbp.image(sino, s["geometry"]), dr))
            if start:
                rows[val.init.upper()].append(image_metrics(truth, start.image(sino, s["geometry"]), dr))
            rows["LPD"].append(image_metrics(truth, r, dr))
        out[f"{float(arc):g}"] = {m: {k: round(float(np.mean([r[k] for r in v])), 4) for k in v[0]}
                                  for m, v in rows.items()}
    return out


def train_lpd(config, out_dir, overwrite: bool = False, resume: bool = False, device: str = "cpu",
              show_progress: bool = True, log=print, command: str = "", devices: int = 1,
              strategy: str = "auto", precision: str = "32-true") -> dict:
    """Train a Learned Primal-Dual network on fresh limited-angle scans and validate it per arc.

    Parameters
    ----------
    config : tomolearn.methods.lpd.LPDTraining
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
        On bad ranges, families or a scan without a slice geometry.
    FileExistsError
        If ``out_dir`` is not empty (without ``overwrite``/``resume``) or ``export`` exists.

    References
    ----------
    J. Adler and O. Öktem, "Learned Primal-Dual Reconstruction", IEEE TMI 37(6), 1322-1332 (2018).
    """
    c = config
    check_export(c.export, overwrite)
    template = template_geometry(c)
    train = library(c, template, c.samples_per_epoch, c.seed)
    val_arcs = [a for a in c.val_arcs if c.arc_range[0] <= a <= c.arc_range[1]] or [float(np.mean(c.arc_range))]
    val = library(c, template, c.n_val, c.seed + 10_000, fixed=True)  # objects the training never draws
    start = None
    if c.init_from is not None:  # fine-tuning: the starting weights' architecture and their record travel on
        from ..recipes.unrolled import load_default

        start, start_card = load_default(c.init_from)
        c = c.model_copy(update={"features": start_card.architecture.base_channels,
                                 "n_iter": start_card.architecture.n_blocks, "memory": start_card.architecture.memory})
    out = prepare_run_dir(out_dir, overwrite, resume)
    kind = "fan" if isinstance(template, FanGeometry) else "parallel"
    arch = Architecture(name="lpd", base_channels=c.features, n_blocks=c.n_iter, memory=c.memory)
    card = ModelCard(method="lpd", architecture=arch, pipeline=Pipeline(approximant=c.init, approximant_params=init_params(c),
                                                                        canonical=True),
                     geometry=GeometryRange(kinds=[kind], arc_range_deg=c.arc_range),
                     training={"geometry": geometry_record(template), "families": list(c.families),
                               "arc_range_deg": list(c.arc_range), "step_deg": list(c.step_deg), "i0": list(c.i0),
                               "attenuation": list(c.attenuation), "samples_per_epoch": c.samples_per_epoch,
                               "batch_size": c.batch_size, "seed": c.seed, "loss": c.loss,
                               "objects": "phantoms drawn from numpy Generators seeded (seed, step, epoch); "
                                          "simulated on a 2x finer grid and detector, binned, Poisson noise"})
    if start is not None:
        card.training["init_from"] = {"weights": str(c.init_from), "command": start_card.training.get("command"),
                                      "seconds": start_card.training.get("seconds"),
                                      "epochs": start_card.training.get("epochs"),
                                      "seed": start_card.training.get("seed")}
    with seeded(c.seed):  # the initial weights too, not only the training
        module = UnrolledModule(card.model_dump(mode="json"), c.lr, c.epochs, c.checkpointing, loss=c.loss)
    if start is not None:
        module.net.load_state_dict(start.state_dict())
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    t0 = time.perf_counter()
    last = fit(module, train, None, out, c.epochs, 1, c.seed, accelerator, show_progress,
               devices=devices, strategy=strategy, precision=precision)
    seconds = time.perf_counter() - t0
    if not is_main_process():
        return {}
    net, _ = load_weights(last, map_location=device)
    t0 = time.perf_counter()
    scores = validate(net, card, val, val_arcs)
    n_params = int(sum(p.numel() for p in net.parameters()))
    record = {"command": command, "tomolearn_version": __version__, "git": git_hash(), "seed": c.seed,
              "data": card.training,
              "training": {"epochs": c.epochs, "samples_per_epoch": c.samples_per_epoch, "batch_size": c.batch_size,
                           "loss": c.loss, "lr": c.lr, "parameters": n_params,
                           "architecture": arch.model_dump(mode="json"), "accelerator": accelerator,
                           "devices": devices, "seconds": round(seconds, 1), "threads": torch.get_num_threads(),
                           "seconds_per_object": round(seconds / max(c.epochs * c.samples_per_epoch, 1), 3)},
              "validation": {"objects_per_arc": c.n_val, "seconds": round(time.perf_counter() - t0, 1),
                             "scores_per_arc_deg": scores}}
    write_json(out / "training.json", record)
    card = card.model_copy(update={"training": {**card.training, "command": command, "seconds": round(seconds, 1),
                                                "epochs": c.epochs, "git": record["git"]},
                                   "metrics": {"validation_per_arc_deg": scores}})
    weights = save_run_weights(net, card, out, WEIGHTS_NAME, c.export, overwrite)
    lines = [f"held-out validation at {arc} deg: " + "; ".join(f"{m} PSNR {s['psnr']:.2f} SSIM {s['ssim']:.3f}"
                                                                for m, s in per.items())
             for arc, per in scores.items()]
    return {**record, "weights": weights, "summary_lines": lines}
