"""The RAPID study (``data.source: rapid_ic``): seed 001's experiment on a simulated IC, end to end.

Simulate a tall IC (full angle set) -> golden standard (two-step SART) and approximant (reduced
angles) -> train RAPID on one side of a plane -> score approximant, RAPID, two-step FBP and
two-step SART on the other side against the golden standard and the truth -> the same on an
IC never seen (another seed and wiring density) -> RAPID's trust maps on both, their
calibration on the test region (the ±2σ scale fitted on the unseen IC) -> ``metrics.json``,
figures (metric bars, layer-wise views, PSD planes, trust maps) and ``report.html``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..metrics import power_spectrum_planes, volume_scores
from .common import prepare_run_dir, write_json, write_run_record
from .study import register_study

METRICS = ("pcc", "ms_ssim", "dice", "ber")


def evaluate(scan, golden, net, card, region, seed: int = 0, device: str = "cpu") -> tuple[dict, dict, dict, dict]:
    """Approximant, RAPID, two-step FBP and SART of a reduced scan, scored on rows ``region`` of Z.

    Returns
    -------
    vs_golden, vs_truth : dict
        method -> PCC, MS-SSIM, DICE, BER (``vs_truth`` empty without a ground truth).
    seconds : dict
        method -> computation time (the two-step rows include the per-angle ptychography).
    volumes : dict
        method -> volume ``(Z, Y, X)``.
    """
    from ..recipes.rapid import apply_network, approximant_of, delta_scale
    from ..recon.ptycho import phase_projections, ptychography, refine_multislice, tomography

    vols, secs = {}, {}
    t0 = time.perf_counter()
    approx = approximant_of(scan, card, device)
    secs["approximant"] = time.perf_counter() - t0
    vols["approximant"] = approx
    # the two-step baselines first: weights trained with a two-step input channel reuse them
    # (same reduced angles, same settings as recipes.rapid.two_step_of), and pay their time
    two_step = {}
    t0 = time.perf_counter()
    proj = phase_projections(refine_multislice(scan, ptychography(scan, 200, device=device), 3, 50, device=device),
                             scan.geometry)
    t_ptycho = time.perf_counter() - t0
    for alg, label in (("fbp", "two-step FBP"), ("sart", "two-step SART")):
        t0 = time.perf_counter()
        two_step[alg] = (tomography(proj, scan.geometry, alg, 10), t_ptycho + time.perf_counter() - t0)
    second = card.pipeline.two_step_input
    t0 = time.perf_counter()
    vols["RAPID"] = apply_network(net, card, approx, scale=delta_scale(card, scan.geometry),
                                  two_step=None if second is None else two_step[second][0])
    secs["RAPID"] = secs["approximant"] + time.perf_counter() - t0 + (0.0 if second is None else two_step[second][1])
    for alg, label in (("fbp", "two-step FBP"), ("sart", "two-step SART")):
        vols[label], secs[label] = two_step[alg]
    z0, z1 = region
    vs_golden = {k: volume_scores(golden[z0:z1], v[z0:z1], seed=seed) for k, v in vols.items()}
    vs_truth = {}
    if scan.reference is not None:
        truth = scan.reference[z0:z1]
        vs_truth = {"golden standard": volume_scores(truth, golden[z0:z1], seed=seed),
                    **{k: volume_scores(truth, v[z0:z1], seed=seed) for k, v in vols.items()}}
    return vs_golden, vs_truth, secs, vols


def rapid_trust_maps(scan, vols: dict, net, card, model: Path, device: str = "cpu") -> dict:
    """RAPID's trust maps (as ``reconstruct --trust`` makes them) from the volumes :func:`evaluate` made.

    The mirror uncertainty reuses the approximant already computed; the data residual and null
    space come from :func:`~tomolearn.workflow.reconstruct.with_ptycho_trust_maps`.

    Returns
    -------
    dict
        Map name -> ``(Z, Y, X)`` float32 (``uncertainty``, ``data_residual``, ``null_space``).
    """
    from ..methods import base as registry
    from ..recipes.rapid import delta_scale, mirror_spread
    from ..result import Result
    from .reconstruct import TrustOptions, with_ptycho_trust_maps

    instance = registry.build("rapid", {"model": str(model)}, device=device).prepare(scan.geometry)
    second = card.pipeline.two_step_input
    res = Result(vols["RAPID"], uncertainty=mirror_spread(
        net, card, vols["approximant"], vols["RAPID"], scale=delta_scale(card, scan.geometry),
        two_step=None if second is None else vols[f"two-step {second.upper()}"]))
    return with_ptycho_trust_maps(res, scan, instance, TrustOptions()).maps


def trust_scores(test: tuple, validation: tuple, region: tuple[int, int]) -> tuple[dict, dict]:
    """Calibration of RAPID's maps on rows ``region`` of the test scan, the ±2σ scale fitted on ``validation``.

    ``test`` and ``validation`` are ``(RAPID volume, reference volume, maps)``; the validation
    volume is scored whole. Returns the scores (:func:`~tomolearn.workflow.common.calibration_scores`)
    and the test region's samples.
    """
    from .common import calibration_scores

    def samples(vol, ref, maps, z0, z1):
        return {"outputs": [vol[z0:z1]], "errors": [np.abs(vol[z0:z1] - ref[z0:z1])],
                "maps": {n: [np.abs(m[z0:z1])] for n, m in maps.items()}}

    t = samples(*test, *region)
    return calibration_scores(t, samples(*validation, 0, len(validation[0]))), t


def _trust_png(sample: dict, reference: np.ndarray, path: Path) -> Path:
    """Middle layer of the test region: RAPID, |error| against ``reference``, each map, sparsification."""
    from ..report import trust_figure
    from ..trust import sparsification

    k = reference.shape[0] // 2
    err = sample["errors"][0].ravel()
    row = {"output": sample["outputs"][0][k], "maps": {n: m[0][k] for n, m in sample["maps"].items()},
           "sparsification": {n: sparsification(m[0].ravel(), err) for n, m in sample["maps"].items()}}
    return trust_figure(reference[k], {"RAPID": row}, path, "RAPID trust maps, test region (middle layer) vs golden "
                        "standard")


def metric_bars(scores: dict, path: Path, title: str) -> Path:
    """Seed 001's Fig. 3a/b: one bar group per metric, one bar per method."""
    import matplotlib.pyplot as plt

    methods = list(scores)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.2 * len(METRICS), 3.2))
    for ax, m in zip(axes, METRICS):
        ax.bar(range(len(methods)), [scores[k][m] for k in methods], color=plt.cm.tab10(np.arange(len(methods))))
        ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right", fontsize=7)
        ax.set_title(m.upper().replace("_", "-"))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def layer_views(volumes: dict, path: Path, n_layers: int = 3) -> Path:
    """Seed 001's layer-wise views: (Z, X) sections at depths (Y) through the plate, per method."""
    import matplotlib.pyplot as plt

    ref = next(iter(volumes.values()))
    profile = np.abs(ref).mean(axis=(0, 2))
    inside = np.flatnonzero(profile > 0.3 * profile.max())
    ys = np.linspace(inside.min(), inside.max(), n_layers + 2)[1:-1].astype(int) if inside.size else [ref.shape[1] // 2]
    vmax = float(np.percentile(ref, 99.5) or 1.0)
    fig, axes = plt.subplots(len(ys), len(volumes), figsize=(1.9 * len(volumes), 2.2 * len(ys)), squeeze=False)
    for j, (name, v) in enumerate(volumes.items()):
        for i, y in enumerate(ys):
            axes[i, j].imshow(v[:, y, :], cmap="gray", vmin=0, vmax=vmax, aspect="auto")
            axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(name, fontsize=7)
            if j == 0:
                axes[i, j].set_ylabel(f"y = {y}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def psd_figure(volumes: dict, path: Path) -> Path:
    """Central planes (kz–kx, kz–ky, kx–ky) of each volume's power spectral density."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, len(volumes), figsize=(1.9 * len(volumes), 5.8), squeeze=False)
    for j, (name, v) in enumerate(volumes.items()):
        for i, (plane, p) in enumerate(power_spectrum_planes(v).items()):
            axes[i, j].imshow(np.log10(p + p.max() * 1e-8), cmap="magma", aspect="auto")
            axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(name, fontsize=7)
            if j == 0:
                axes[i, j].set_ylabel(plane, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


@register_study("rapid_ic")
def run(config, out_dir, overwrite: bool = False, resume: bool = False, device: str = "cpu",
        show_progress: bool = True, log=print) -> dict:
    """Seed 001's experiment on simulated ICs (see the module docstring); returns the summary.

    Raises
    ------
    FileExistsError
        If ``out_dir`` is not empty and neither ``overwrite`` nor ``resume`` is set.
    """
    from ..io.ptycho import load_ptycho
    from ..methods.rapid import RAPIDTraining
    from ..models.weights import load_weights
    from ..recon.ptycho import two_step
    from ..report import html_report
    from ..train.regions import region_split
    from .simulate import simulate_ptycho_to_file
    from .train_rapid import reduced_indices, train_rapid

    c, p = config, config.ptycho
    out = prepare_run_dir(out_dir, overwrite, resume)
    write_run_record(out, c)
    scan_path = out / "ic.h5"
    if not scan_path.exists():
        log(f"simulating the IC ({p.rows} x {p.size} x {p.size}, {p.angles} angles)")
        simulate_ptycho_to_file(scan_path, size=p.size, rows=p.rows, n_angles=p.angles, range_deg=p.range_deg,
                                seed=c.seed, show_progress=show_progress)
    tc = RAPIDTraining(scan=scan_path, train_region=p.train_region, reduced_angles=p.reduced_angles, patch=p.patch,
                       base_channels=c.model.base_channels, depth=c.model.depth, rates=p.rates,
                       depth_rates=p.depth_rates, epochs=c.train.epochs, batch_size=c.train.batch_size, seed=c.seed,
                       n_iter=p.approximant_iter, n_slabs=p.approximant_slabs, two_step_input=p.two_step_input)
    train_dir = out / "train"
    if not (train_dir / "rapid.safetensors").exists():
        train_rapid(tc, train_dir, resume=True, device=device, show_progress=show_progress, log=log,
                    command=f"tomolearn run (study {c.name})")
    net, card = load_weights(train_dir / "rapid.safetensors", map_location=device)
    full = load_ptycho(scan_path)
    idx = reduced_indices(full.geometry.n_angles, p.reduced_angles)
    golden = np.load(train_dir / "golden.npy")
    split = region_split(full.geometry.volume_shape, p.patch, p.train_region)
    log("scoring the test region")
    vs_golden, vs_truth, secs, vols = evaluate(full.subset(idx), golden, net, card, split.test_range, c.seed, device)
    other_path = out / "unseen_ic.h5"
    if not other_path.exists():
        simulate_ptycho_to_file(other_path, size=p.size, rows=p.size, n_angles=p.angles, range_deg=p.range_deg,
                                seed=p.generalisation_seed, density=p.generalisation_density,
                                show_progress=show_progress)
    other = load_ptycho(other_path)
    log("golden standard of the unseen IC")
    other_golden, _ = two_step(other, "sart", n_iter=10, device=device)
    gen_golden, gen_truth, _, gen_vols = evaluate(other.subset(idx), other_golden, net, card,
                                                  (0, other.geometry.volume_shape[0]), c.seed, device)
    z0, z1 = split.test_range
    log("trust maps of RAPID (reconstruct --trust)")
    model = train_dir / "rapid.safetensors"
    maps = rapid_trust_maps(full.subset(idx), vols, net, card, model, device)
    gen_maps = rapid_trust_maps(other.subset(idx), gen_vols, net, card, model, device)
    trust, trust_sample = trust_scores((vols["RAPID"], golden, maps), (gen_vols["RAPID"], other_golden, gen_maps),
                                       (z0, z1))
    trust_truth, _ = trust_scores((vols["RAPID"], full.reference, maps),
                                  (gen_vols["RAPID"], other.reference, gen_maps), (z0, z1))
    test = {"ground truth": full.reference[z0:z1], "golden standard": golden[z0:z1],
            **{k: v[z0:z1] for k, v in vols.items()}}
    figures = [metric_bars(vs_golden, out / "metrics_vs_golden.png", "test region vs golden standard"),
               metric_bars(gen_golden, out / "metrics_unseen_vs_golden.png", "unseen IC vs its golden standard"),
               layer_views(test, out / "layers_test_region.png"),
               psd_figure(test, out / "psd_test_region.png"),
               _trust_png(trust_sample, golden[z0:z1], out / "trust_test_region.png")]
    summary = {"test_region_vs_golden": vs_golden, "test_region_vs_truth": vs_truth,
               "seconds": {k: round(v, 1) for k, v in secs.items()},
               "unseen_ic_vs_golden": gen_golden, "unseen_ic_vs_truth": gen_truth,
               "split": {"region": p.train_region, "test_rows": list(split.test_range)},
               "trust": {"vs_golden": trust, "vs_truth": trust_truth,
                         "note": "RAPID's maps on the test region: Spearman(map, |error|), AUSE, coverage of "
                                 "|error| <= 2|map| raw and after a scale fitted on the unseen IC"}}
    write_json(out / "metrics.json", summary)
    table = {k: {m: {"mean": v[m], "std": 0.0} for m in METRICS} for k, v in vs_golden.items()}
    html_report(out, f"RAPID study {c.name}", table, figures,
                [f"Simulated IC {p.rows} x {p.size} x {p.size}, {p.angles} angles over {p.range_deg} deg for the golden "
                 f"standard, {idx.size} for the others; trained on {p.train_region}, scored on rows {z0}..{z1} "
                 "(never trained on). Table: test region against the golden standard (single volume: std 0).",
                 "RAPID's trust maps on the test region against the golden standard (coverage after a ±2σ scale "
                 "fitted on the unseen IC): " + "; ".join(
                     f"{m} Spearman {v['spearman']:.2f}, AUSE {v['ause']:.3f}, coverage {v['coverage_raw']:.2f} -> "
                     f"{v.get('coverage', float('nan')):.2f}" for m, v in trust.items()) + "."])
    return summary
