"""Validate tomolearn's per-angle ptychography against Argonne's pty-chi on the same patterns.

The same diffraction patterns (tomolearn's simulation: 64² x 64 voxel `layered_ic` pillar, 1.5 keV,
3 nm pixels, 32² patterns, 3 probe modes, 144 positions, 1e6 photons per pattern) are
reconstructed by

* tomolearn: `recon.ptycho.ptychography` (parallel rPIE, 200 iterations), and with the 3-slab
  multislice refinement (`refine_multislice`, 50 iterations);
* pty-chi 2.2 LSQML (known probe modes and positions, Gaussian noise model, 1 slice and 3
  slices spaced like tomolearn's refinement), in a
  separate virtual environment (pty-chi's torchvision does not import beside the project's CPU
  torch build, see the README), run by this same script with ``--engine ptychi``.

Cases: a thin object (single-slice simulation) at 0°, and the thick plate (64-slab simulation)
at 0° and 70.4°. Score: PCC and relative L2 error of each phase map with the true phase
``k ∫δ dy`` on the object region, after removing the best-fitting plane ``a + b z + c x``
(the global phase and ramp that intensities cannot fix), for every engine alike.

    .venv/bin/python benchmarks/ptycho_vs_ptychi.py prepare  /tmp/pvp
    /tmp/ptychi-venv/bin/python benchmarks/ptycho_vs_ptychi.py ptychi /tmp/pvp
    .venv/bin/python benchmarks/ptycho_vs_ptychi.py score    /tmp/pvp

The pty-chi environment: ``python3 -m venv /tmp/ptychi-venv && /tmp/ptychi-venv/bin/pip install
torch==2.14.1 torchvision==0.29.1 ptychi==2.2.0`` (5.6 GB, a CUDA build run on the CPU).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"
CASES = {"thin object, 0°": (1, 0.0), "thick plate, 0°": (None, 0.0), "thick plate, 70.4°": (None, 70.4)}


def prepare(folder: Path) -> None:
    """Simulate the cases, run tomolearn's engines, store patterns and results (npz per case)."""
    import torch

    from tomolearn.io.ptycho import load_ptycho
    from tomolearn.physics.multislice import MultisliceOperator
    from tomolearn.recon.ptycho import ptychography, refine_multislice
    from tomolearn.workflow.simulate import simulate_ptycho_to_file

    torch.set_num_threads(2)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, (slabs, angle)) in enumerate(CASES.items()):
        path = folder / f"case{i}.h5"
        simulate_ptycho_to_file(path, n_angles=1, range_deg=1.0, start_deg=angle, n_slabs=slabs, overwrite=True)
        scan = load_ptycho(path)
        g = scan.geometry
        op = MultisliceOperator.from_scan(scan, 1)
        with torch.no_grad():
            true_phase = op.slab_phases(torch.as_tensor(scan.reference), float(g.angles[0]))[0].numpy()
        t0 = time.perf_counter()
        obj = ptychography(scan, 200)
        t_rpie = time.perf_counter() - t0
        t0 = time.perf_counter()
        refined = refine_multislice(scan, obj, 3, 50)
        t_ref = time.perf_counter() - t0
        p = g.pad
        np.savez(folder / f"case{i}.npz", name=name, patterns=np.asarray(scan.patterns[0]), probe=scan.probe,
                 photons=scan.photons, positions=g.positions, pattern_size=g.pattern_size, plane=g.plane_shape,
                 pad=p, pixel_m=g.voxel_size_m, thickness_m=g.volume_shape[1] * g.voxel_size_m, wavelength_m=g.wavelength_m, true_phase=true_phase,
                 tomolearn_rpie=np.angle(obj[0]), tomolearn_rpie_s=t_rpie,
                 tomolearn_refined=np.angle(refined[0]), tomolearn_refined_s=t_rpie + t_ref)
        print(f"{name}: tomolearn rPIE {t_rpie:.1f} s, + refinement {t_ref:.1f} s")


def run_ptychi(folder: Path, epochs: int = 100) -> None:
    """pty-chi LSQML on each case (this function runs in pty-chi's own environment)."""
    import torch

    import ptychi.api as api
    from ptychi.api.task import PtychographyTask

    torch.set_num_threads(2)
    torch.set_default_device("cpu")
    for path, n_slices in [(p, n) for p in sorted(folder.glob("case?.npz")) for n in (1, 3)]:
        d = dict(np.load(path))
        q = int(d["pattern_size"])
        zp, xp = (int(v) for v in d["plane"])
        options = api.LSQMLOptions()
        options.data_options.wavelength_m = float(d["wavelength_m"])
        options.data_options.fft_shift = True
        options.object_options.pixel_size_m = float(d["pixel_m"])
        if n_slices > 1:  # slabs as tomolearn's refinement spaces them: the thickness over the slab count
            options.object_options.slice_spacings_m = np.full(n_slices - 1, float(d["thickness_m"]) / n_slices)
        options.object_options.optimizable = True
        options.object_options.optimizer = api.Optimizers.SGD
        options.object_options.step_size = 1
        options.probe_options.optimizable = False
        centres = d["positions"].astype(np.float64) + q / 2 - np.array([zp, xp]) / 2  # relative to the plane centre
        options.probe_position_options.optimizable = False
        options.reconstructor_options.batch_size = 48
        options.reconstructor_options.noise_model = api.NoiseModels.GAUSSIAN
        options.reconstructor_options.num_epochs = epochs
        t0 = time.perf_counter()
        margin = 4  # pty-chi wants a little room beyond the outermost probe window
        task = PtychographyTask(
            options, diffraction_data=d["patterns"].astype(np.float32),
            object_data=torch.ones((n_slices, zp + 2 * margin, xp + 2 * margin), dtype=torch.complex64),
            probe_data=(d["probe"] * np.sqrt(float(d["photons"])))[None].astype(np.complex64),
            probe_position_y_px=centres[:, 0], probe_position_x_px=centres[:, 1])
        task.run()
        obj = task.get_data_to_cpu("object", as_numpy=True)[:, margin:-margin, margin:-margin]
        np.savez(path.with_name(f"{path.stem}_ptychi{n_slices}.npz"), phase=np.angle(obj).sum(0),
                 seconds=time.perf_counter() - t0, epochs=epochs, slices=n_slices)
        print(f"{path.stem}: pty-chi LSQML, {n_slices} slice(s), {time.perf_counter() - t0:.1f} s")


def _score(phase, truth, pad):
    """PCC and relative L2 error on the object region after removing the best plane (offset + ramp)."""
    from skimage.registration import phase_cross_correlation
    from skimage.restoration import unwrap_phase

    z, x = truth.shape
    region = unwrap_phase(np.asarray(phase, np.float64))
    shift, *_ = phase_cross_correlation(-truth, region[pad:pad + z, pad:pad + x], upsample_factor=1)
    sz, sx = (int(round(s)) for s in shift)  # engines may place the object a few pixels apart
    sz, sx = np.clip(sz, -pad, pad), np.clip(sx, -pad, pad)
    est = -region[pad - sz:pad - sz + z, pad - sx:pad - sx + x]
    zz, xx = np.mgrid[:z, :x]
    basis = np.stack([np.ones(z * x), zz.ravel(), xx.ravel()], 1)
    coef, *_ = np.linalg.lstsq(basis, (est - truth).ravel(), rcond=None)
    est = est - (basis @ coef).reshape(z, x)
    return {"pcc": float(np.corrcoef(est.ravel(), truth.ravel())[0, 1]),
            "rel_l2": float(np.linalg.norm(est - truth) / np.linalg.norm(truth)), "shift_px": [int(sz), int(sx)]}


def score(folder: Path) -> dict:
    rows = []
    for path in sorted(folder.glob("case?.npz")):
        d = dict(np.load(path))
        pad = int(d["pad"])
        row = {"case": str(d["name"])}
        row["tomolearn rPIE (200 it.)"] = {**_score(d["tomolearn_rpie"], d["true_phase"], pad),
                                           "seconds": round(float(d["tomolearn_rpie_s"]), 1)}
        row["tomolearn rPIE + 3-slab refinement"] = {**_score(d["tomolearn_refined"], d["true_phase"], pad),
                                                     "seconds": round(float(d["tomolearn_refined_s"]), 1)}
        for other in sorted(path.parent.glob(path.stem + "_ptychi*.npz")):
            o = dict(np.load(other))
            label = f"pty-chi LSQML, {int(o['slices'])} slice(s) ({int(o['epochs'])} epochs)"
            row[label] = {**_score(o["phase"], d["true_phase"], pad), "seconds": round(float(o["seconds"]), 1)}
        rows.append(row)
    rec = {"command": "benchmarks/ptycho_vs_ptychi.py prepare|ptychi|score", "results": rows}
    lines = ["# Per-angle ptychography: tomolearn vs pty-chi on the same patterns", "",
             "Commands: see the docstring of `benchmarks/ptycho_vs_ptychi.py` (2 CPU cores). Phase PCC and relative "
             "L2 error against the true phase `k ∫δ dy` on the object region, after removing the best plane "
             "(offset + ramp) for every engine alike.", "",
             "| case | engine | PCC | rel. L2 error | s |", "|---|---|---|---|---|"]
    for r in rows:
        for engine, v in r.items():
            if engine != "case":
                lines.append(f"| {r['case']} | {engine} | {v['pcc']:.4f} | {v['rel_l2']:.3f} | {v['seconds']} |")
    OUT.mkdir(exist_ok=True)
    (OUT / "ptycho_vs_ptychi.json").write_text(json.dumps(rec, indent=2))
    (OUT / "ptycho_vs_ptychi.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return rec


if __name__ == "__main__":
    stage, folder = sys.argv[1], Path(sys.argv[2])
    {"prepare": prepare, "ptychi": run_ptychi, "score": score}[stage](folder)
