"""`tomolearn train rapid`: golden standard + approximant of one scan, region split, NPCC training, export."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from .._checks import fail
from ..metrics import volume_scores
from ..models.card import Architecture, GeometryRange, ModelCard, Pipeline
from ..models.weights import load_weights
from ..recon.ptycho import approximant, two_step
from ..recipes.rapid import apply_network, network_input
from ..train.fit import fit, is_main_process, seeded
from ..train.rapid import RAPIDModule
from ..train.regions import PatchPairs, region_split
from .common import check_export, save_run_weights, git_hash, prepare_run_dir, write_json

WEIGHTS_NAME = "rapid.safetensors"


SEED_REDUCED_ANGLES = 21  # seed 001's reduced scan: 21 of 349 angles over 140.8°


def reduced_indices(n_angles: int, n_reduced: int) -> np.ndarray:
    """``n_reduced`` angle indices spread evenly over ``n_angles`` (first and last included)."""
    if n_reduced > n_angles:
        raise fail("--reduced-angles", f"at most the scan's {n_angles} angles", n_reduced)
    return np.unique(np.round(np.linspace(0, n_angles - 1, n_reduced)).astype(int))


def same_sample(reduced, full, name: str = "--reduced-scan"):
    """``reduced`` if it can be a reduced-angle scan of ``full``'s sample, else a one-line error.

    The object grid, voxel size, energy, probe and scan positions must agree (the approximant's
    grid is the golden standard's), and so must the ground truths of two simulations.

    Raises
    ------
    ValueError
        If ``reduced`` is not a ptycho-tomography scan or was taken of another sample or setup.
    """
    if getattr(reduced, "kind", "") != "diffraction":
        raise fail(name, "a ptycho-tomography scan of the same sample", "a projection scan")
    g, r = full.geometry, reduced.geometry
    checks = (("object grid (Z, Y, X)", tuple(g.volume_shape), tuple(r.volume_shape)),
              ("voxel size", (g.voxel_size, g.unit), (r.voxel_size, r.unit)),
              ("energy in keV", g.energy_kev, r.energy_kev),
              ("pattern size", g.pattern_size, r.pattern_size))
    for what, want, got in checks:
        if want != got:
            raise fail(name, f"the scan's {what} {want}", got)
    if np.shape(g.positions) != np.shape(r.positions) or not np.allclose(g.positions, r.positions):
        raise fail(name, "the scan's probe positions", f"{len(r.positions)} different positions")
    if (full.reference is not None and reduced.reference is not None
            and not np.allclose(full.reference, reduced.reference, atol=1e-6)):
        raise fail(name, "a scan of the same sample", "a simulation of a different object (ground truths differ)")
    return reduced


def _digest(path) -> str:
    """The first MiB and the size identify a scan file (a re-simulated file differs)."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(1 << 20)).hexdigest()[:16] + str(Path(path).stat().st_size)


def _cached(path: Path, key: str, compute, log) -> tuple[np.ndarray, float]:
    """``compute()`` saved as ``path`` (.npy) with ``key`` and its compute time; reused when the key matches.

    Returns the array and the seconds it took to compute (also when reused, so resumed runs
    report the true cost).
    """
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if info.get("key") == key:
            log(f"reusing {path.name}")
            return np.load(path), float(info.get("seconds", float("nan")))
    t0 = time.perf_counter()
    value = np.asarray(compute(), np.float32)
    seconds = time.perf_counter() - t0
    tmp = path.with_name(f".{path.name}.part.npy")
    np.save(tmp, value)
    tmp.replace(path)
    write_json(meta, {"key": key, "seconds": round(seconds, 2)})
    return value, seconds


def affine_calibration(prediction: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(a, b)`` with ``a · prediction + b ≈ target`` (NPCC leaves scale and offset free)."""
    p = np.asarray(prediction, np.float64).ravel()
    t = np.asarray(target, np.float64).ravel()
    a, b = np.linalg.lstsq(np.stack([p, np.ones_like(p)], 1), t, rcond=None)[0]
    return float(a), float(b)


def _region(volume: np.ndarray, axis: int, rng: tuple[int, int]) -> np.ndarray:
    sl = [slice(None)] * 3
    sl[axis] = slice(*rng)
    return volume[tuple(sl)]


def train_rapid(config, out_dir, overwrite: bool = False, resume: bool = False, device: str = "cpu",
                show_progress: bool = True, log=print, command: str = "", devices: int = 1,
                strategy: str = "auto", precision: str = "32-true") -> dict:
    """Train RAPID on one region of a ptycho-tomography scan and score it on the other.

    Steps: the golden standard (two-step SART on all the scan's angles) and the approximant (of
    ``reduced_angles`` evenly chosen angles of the scan, or of ``reduced_scan`` — a separate
    reduced-angle scan of the same sample, e.g. 21 angles within a narrower range) are computed
    once and cached in the run folder;
    the volume is split by a plane (``train_region``), written to ``split.json``; the network is
    trained with NPCC on 50 %-overlapping patches of the training side (resumable Lightning
    checkpoints); an affine calibration of its output is fitted on the training side; the test
    side is scored (PCC, MS-SSIM, DICE, BER against the golden standard) for the approximant
    and RAPID; the weights are written with their model card.

    Parameters
    ----------
    config : tomolearn.methods.rapid.RAPIDTraining
    out_dir : path
    overwrite, resume, device, show_progress, log, command, devices, strategy, precision
        As :func:`tomolearn.workflow.train_missing_wedge.train_missing_wedge`.

    Returns
    -------
    dict
        The training record, ``weights`` and ``summary_lines``.

    Raises
    ------
    FileNotFoundError
        If the scan does not exist.
    ValueError
        If it is not a ptycho-tomography scan, or on a bad region or angle count, or if the
        reduced scan is not of the same sample and setup.
    FileExistsError
        If ``out_dir`` is not empty (without ``overwrite``/``resume``) or ``export`` exists.

    References
    ----------
    Z. Guo et al., "Three-dimensional nanoscale reduced-angle ptycho-tomographic imaging with deep
    learning (RAPID)", eLight 3, 7 (2023).
    """
    from ..io import load_scan

    c = config
    check_export(c.export, overwrite)
    scan = load_scan(c.scan)
    if getattr(scan, "kind", "") != "diffraction":
        raise fail("scan", "a ptycho-tomography scan (tomolearn simulate --modality ptycho)", repr(str(c.scan)))
    split = region_split(scan.geometry.volume_shape, c.patch, c.train_region)  # fails before any work
    measured = scan if c.reduced_scan is None else same_sample(load_scan(c.reduced_scan), scan)
    n_reduced = c.reduced_angles or (SEED_REDUCED_ANGLES if c.reduced_scan is None else measured.geometry.n_angles)
    idx = reduced_indices(measured.geometry.n_angles, n_reduced)
    out = prepare_run_dir(out_dir, overwrite, resume)
    write_json(out / "split.json", split.as_dict())
    digest = _digest(c.scan)
    reduced_digest = digest if c.reduced_scan is None else _digest(c.reduced_scan)
    golden, t_golden = _cached(out / "golden.npy", f"{digest}-sart{c.golden_iter}",
                               lambda: two_step(scan, "sart", n_iter=c.golden_iter, device=device,
                                                show_progress=show_progress)[0], log)
    params = {"n_iter": c.n_iter, "n_slabs": c.n_slabs, "downsample": c.downsample}
    reduced = measured.subset(idx)
    reduced_info = {"reduced_angles": int(idx.size),
                    "reduced_scan": None if c.reduced_scan is None else str(c.reduced_scan),
                    "reduced_range_deg": round(float(np.degrees(np.ptp(reduced.geometry.angles))), 2)}
    approx, t_approx = _cached(out / "approximant.npy", f"{reduced_digest}-{idx.tolist()}-{params}",
                               lambda: approximant(reduced, **params, device=device, show_progress=show_progress), log)
    second = None if c.two_step_input == "none" else c.two_step_input
    if second is not None:
        # the same settings as recipes.rapid.two_step_of, which inference uses
        two_step_vol, t_two_step = _cached(out / f"two_step_{second}.npy", f"{reduced_digest}-{idx.tolist()}-{second}10",
                                           lambda: two_step(reduced, second, n_iter=10, device=device,
                                                            show_progress=show_progress)[0], log)
        train_two = _region(two_step_vol, split.axis, split.train_range)
        two_stats = (float(train_two.mean()), float(train_two.std() or 1.0))
    else:
        two_step_vol, t_two_step, two_stats = None, 0.0, None
    train_in = _region(approx, split.axis, split.train_range)
    train_gt = _region(golden, split.axis, split.train_range)
    in_mean, in_std = float(train_in.mean()), float(train_in.std() or 1.0)
    gt_mean, gt_std = float(train_gt.mean()), float(train_gt.std() or 1.0)
    arch = Architecture(name="rapid", spatial_dims=3, base_channels=c.base_channels, depth=c.depth,
                        rates=tuple(c.rates), depth_rates=tuple(c.depth_rates), depth_axis=1, atrous=c.atrous,
                        planar=c.planar, in_channels=1 if second is None else 2,
                        residual_channel=None if second is None else 1)
    g = scan.geometry
    card = ModelCard(method="rapid", architecture=arch,
                     pipeline=Pipeline(approximant="approximant", approximant_params=params, canonical=False,
                                       voxel_size=g.voxel_size, input_mean=in_mean, input_std=in_std,
                                       output_affine=(gt_std, gt_mean), window_3d=tuple(split.patch), overlap=0.5,
                                       two_step_input=second, two_step_stats=two_stats),
                     geometry=GeometryRange(kinds=["ptycho"]),
                     training={"scan": str(c.scan), "train_region": c.train_region, **reduced_info,
                               "energy_kev": g.energy_kev, "voxel_size": g.voxel_size, "unit": g.unit})
    source = network_input(card, approx, two_step_vol)
    target = (golden - gt_mean) / gt_std
    bounds = [split.train_range if a == split.axis else (0, split.shape[a]) for a in range(3)]
    train = PatchPairs(source, target, split.train, split.patch, flips=True, seed=c.seed,
                       bounds=bounds if c.random_crops else None)
    steps = max(1, c.epochs * int(np.ceil(len(train) / c.batch_size)))
    with seeded(c.seed):  # the initial weights too, not only the training
        module = RAPIDModule(card.model_dump(mode="json"), c.lr_start, c.lr_end, 0.5, total_steps=steps)
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    t0 = time.perf_counter()
    last = fit(module, train, None, out, c.epochs, c.batch_size, c.seed, accelerator, show_progress,
               devices=devices, strategy=strategy, precision=precision)
    seconds = time.perf_counter() - t0
    if not is_main_process():
        return {}
    net, _ = load_weights(last, map_location=device)
    # NPCC fixes neither scale nor offset: calibrate on the training side (never on the test side)
    provisional = card.model_copy(update={"pipeline": card.pipeline.model_copy(update={"output_affine": (1.0, 0.0)})})
    t0 = time.perf_counter()
    raw = apply_network(net, provisional, approx, two_step=two_step_vol)
    t_infer = time.perf_counter() - t0
    a, b = affine_calibration(_region(raw, split.axis, split.train_range), train_gt)
    card = card.model_copy(update={"pipeline": card.pipeline.model_copy(update={"output_affine": (a, b)})})
    pred = (a * raw + b).astype(np.float32)
    test_gt = _region(golden, split.axis, split.test_range)
    inputs = {"approximant": approx, **({} if second is None else {f"two-step {second.upper()}": two_step_vol})}
    scores = {**{k: volume_scores(test_gt, _region(v, split.axis, split.test_range), seed=c.seed)
                 for k, v in inputs.items()},
              "RAPID": volume_scores(test_gt, _region(pred, split.axis, split.test_range), seed=c.seed)}
    if scan.reference is not None:
        truth = _region(scan.reference, split.axis, split.test_range)
        scores_truth = {"golden standard": volume_scores(truth, test_gt, seed=c.seed),
                        **{k: volume_scores(truth, _region(v, split.axis, split.test_range), seed=c.seed)
                           for k, v in inputs.items()},
                        "RAPID": volume_scores(truth, _region(pred, split.axis, split.test_range), seed=c.seed)}
    else:
        scores_truth = {}
    np.save(out / "rapid.npy", pred)
    record = {"command": command, "tomolearn_version": __version__, "git": git_hash(), "seed": c.seed,
              "data": {"scan": str(c.scan), "angles": g.n_angles, **reduced_info,
                       "train_region": c.train_region, "train_patches": len(split.train), "patch": list(split.patch),
                       "test_range": list(split.test_range), "axis": "zyx"[split.axis],
                       "two_step_input": c.two_step_input, "random_crops": c.random_crops},
              "training": {"epochs": c.epochs, "batch_size": c.batch_size, "steps": steps,
                           "parameters": int(sum(p.numel() for p in net.parameters())),
                           "architecture": arch.model_dump(mode="json"), "lr": [c.lr_start, c.lr_end, 0.5],
                           "accelerator": accelerator, "devices": devices, "seconds": round(seconds, 1),
                           "threads": torch.get_num_threads()},
              "timing_s": {"golden_standard": round(t_golden, 1), "approximant": round(t_approx, 1),
                           **({} if second is None else {"two_step_input": round(t_two_step, 1)}),
                           "inference": round(t_infer, 2),
                           "inference_voxels_per_s": round(approx.size / max(t_infer, 1e-9))},
              "test_vs_golden": scores, "test_vs_truth": scores_truth, "calibration": [a, b]}
    write_json(out / "training.json", record)
    card = card.model_copy(update={"training": {**card.training, **{k: v for k, v in record.items()
                                                                    if k not in ("test_vs_golden", "test_vs_truth")}},
                                   "metrics": {"test_vs_golden": scores, "test_vs_truth": scores_truth}})
    weights = save_run_weights(net, card, out, WEIGHTS_NAME, c.export, overwrite)
    lines = [f"test region vs golden standard, {m}: " + ", ".join(f"{k} {v:.3f}" for k, v in s.items())
             for m, s in scores.items()]
    return {**record, "weights": weights, "summary_lines": lines}
