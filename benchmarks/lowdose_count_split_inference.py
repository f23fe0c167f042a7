"""Count-split self-supervision: apply the network to all the photons, or average it over halves?

`tomolearn train lowdose --self-supervised --split counts` trains a U-Net to predict one binomial
half of a scan's photons from the other; `reconstruct --method lowdose` applies it to the FBP of
ALL the photons (it sees line integrals, not counts), a noise level half the training one. The
alternative keeps the training noise level: split the photons again at inference and average
the network's outputs over the halves (and over several draws). This scores both on the real
thinned scans of `benchmarks/lowdose.py`, with the networks that benchmark trained (nothing is
retrained), on the same slices and against the same full-count FBP reference.

    .venv/bin/python benchmarks/lowdose.py --work /tmp/ldfull --cases aps_tooth,i13_wire --n2i-only \
        --n2i-splits counts --n2i-epochs 12 --name lowdose_count_split_real     # trains the networks
    .venv/bin/python benchmarks/lowdose_count_split_inference.py --work /tmp/ldfull [--draws 4]
        [--synthetic DIR ...]   # also synthetic raw-count cases: lowdose.py --i0-levels I0 --work DIR

A synthetic case is scored against its noise-free FBP (Parzen), the seed's R_o, and its truth.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from lowdose import OUT, raw_i13, raw_tooth  # noqa: E402  (the same data loaders)


def thinned_scans(raw, fractions, seed: int = 0):
    """The full scan (centred), its FBP reference and the thinned scans, exactly as `lowdose.real` makes them."""
    from tomolearn.alignment import centre_scan
    from tomolearn.io._raw import scan_from_counts
    from tomolearn.physics.noise import thin_counts
    from tomolearn.workflow.reconstruct import reconstruct

    data, flats, darks, theta = raw
    full = centre_scan(scan_from_counts(data, flats, darks, theta, {}, find_center=True))
    cor = float(full.geometry.cor_offset)
    reference = reconstruct(full, "fbp", filter="parzen").volume
    dark = darks.mean(0)
    lows = []
    for k, frac in enumerate(fractions):
        rng = np.random.default_rng([seed, k])
        low_data = thin_counts(data, frac, rng, offset=dark)
        low_flats = thin_counts(flats, frac, rng, offset=dark)
        lows.append(scan_from_counts(low_data, low_flats, darks, theta, {}, cor_offset=cor))
    return reference, lows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/ldfull"))
    ap.add_argument("--draws", type=int, default=4, help="fresh binomial splits averaged at inference")
    ap.add_argument("--name", default="lowdose_count_split_inference")
    ap.add_argument("--synthetic", type=Path, nargs="*", default=[], help="--work folders of lowdose.py runs with "
                                                                         "--i0-levels (each I0 case is scored)")
    ap.add_argument("--no-real", action="store_true", help="only the --synthetic cases")
    args = ap.parse_args(argv)

    import torch

    from tomolearn.infer import sliding_window
    from tomolearn.metrics import stack_scores
    from tomolearn.recipes.lowdose import count_split_reconstructions, load_lowdose
    from tomolearn.recon import fbp
    from tomolearn.workflow.lowdose_study import scored_rows
    from tomolearn import load_scan
    from tomolearn.workflow.reconstruct import reconstruct, scan_operator

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    cases = {}
    jobs = []  # (label, low scan, reference, run folder)
    for name, loader in (() if args.no_real else (("aps_tooth", raw_tooth), ("i13_wire", raw_i13))):
        reference, lows = thinned_scans(loader(), (0.1, 1 / 30))
        jobs += [(f"{name} 1/{(10, 30)[k]}", low, reference, args.work / name / f"runs_{name}_{k}" / "count_split")
                 for k, low in enumerate(lows)]
    for work in args.synthetic:
        clean = load_scan(work / "synthetic" / "clean.h5").load()
        reference = reconstruct(clean, "fbp", filter="parzen").volume
        for low_path in sorted((work / "synthetic").glob("low_i0_*.h5")):
            tag = low_path.stem[len("low_"):]
            low = load_scan(low_path).load()
            jobs.append((f"synthetic {low.geometry.n_angles} angles, I0 {tag[3:]}", low, reference,
                         work / "synthetic" / f"runs_{tag}" / "count_split"))
    for label, low, reference, run in jobs:
        net, card = load_lowdose(run)
        p = card.pipeline
        rows, cut, ref, _ = scored_rows(low, reference, None, 24)
        op = scan_operator(cut)
        proj = np.asarray(cut.projections, np.float32)
        multiple = 2 ** card.architecture.depth

        def denoise(volume):
            x = volume / np.float32(p.scale)
            return np.stack([sliding_window(net, s, window=p.window, overlap=p.overlap, multiple=multiple)
                             for s in x]) * np.float32(p.scale)

        vols = {"FBP (noisy)": fbp(proj, op, filter="parzen")}
        vols["network on all photons (reconstruct)"] = denoise(vols["FBP (noisy)"])
        outs = []
        for d in range(args.draws):
            halves = count_split_reconstructions(proj, low.open_beam[rows], op, seed=[1000, d],
                                                 frames=low.open_beam_frames, approximant="fbp",
                                                 approximant_params={"filter": "parzen"})
            outs += [denoise(h) for h in halves]
            if d == 0:  # do the halves share noise? (photon noise splits independently, read-out noise does not)
                e0, e1 = (halves[0] - ref).ravel(), (halves[1] - ref).ravel()
                shared = float(np.corrcoef(e0 - e0.mean(), e1 - e1.mean())[0, 1])
                vols["network on 2 halves, mean"] = np.mean(outs, axis=0)
        vols[f"network on {2 * args.draws} halves ({args.draws} draws), mean"] = np.mean(outs, axis=0)
        cases[label] = {"rows": rows.tolist(), "scores": stack_scores(ref, vols), "halves_error_correlation": shared}
        print(label, {m: (round(s["psnr"], 2), round(s["ssim"], 3)) for m, s in cases[label]["scores"].items()},
              flush=True)
    extra = (" --synthetic " + " ".join(map(str, args.synthetic)) if args.synthetic else "") + \
        (" --no-real" if args.no_real else "") + f" --name {args.name}"
    rec = {"command": f".venv/bin/python benchmarks/lowdose_count_split_inference.py --work {args.work} "
                      f"--draws {args.draws}{extra}", "seconds": round(time.perf_counter() - t0, 1), "cases": cases}
    (OUT / f"{args.name}.json").write_text(json.dumps(rec, indent=2))
    lines = ["# Count split: the network on all photons or averaged over binomial halves", "",
             f"Command: `{rec['command']}` ({rec['seconds']} s; the networks `lowdose.py` trained, nothing "
             "retrained). PSNR (dB) / SSIM on the benchmark's slices against the full-count FBP (Parzen) of a real "
             "scan, or a synthetic scan's noise-free FBP (Parzen), the seed's R_o.", ""]
    methods = list(next(iter(cases.values()))["scores"])
    lines += ["| scan | " + " | ".join(methods) + " | halves' error correlation |", "|---" * (len(methods) + 2) + "|"]
    for label, c in cases.items():
        lines.append(f"| {label} | " + " | ".join(f"{c['scores'][m]['psnr']:.2f} / {c['scores'][m]['ssim']:.3f}"
                                                for m in methods) + f" | {c['halves_error_correlation']:.3f} |")
    lines += ["", "The last column: correlation of the two half reconstructions' errors against the reference "
              "(first draw); 0 for independent halves. A real reference holds its own noise and the object's "
              "true detail beyond the FBP, so the real rows are an upper bound on what the halves share."]
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return rec


if __name__ == "__main__":
    main()
