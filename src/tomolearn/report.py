"""Run reports: a figure grid, ``metrics.json`` and a self-contained HTML page."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def figure_grid(reference: np.ndarray, images: dict[str, np.ndarray], path: Path, title: str = "",
                vmax: float | None = None) -> Path:
    """Reference and each method (top row) with absolute-error maps (bottom row), as PNG."""
    n = 1 + len(images)
    vmax = float(vmax if vmax is not None else np.percentile(reference, 99.9) or 1.0)
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 5.4))
    axes[0, 0].imshow(reference, cmap="gray", vmin=0, vmax=vmax)
    axes[0, 0].set_title("reference")
    axes[1, 0].axis("off")
    for i, (name, img) in enumerate(images.items(), start=1):
        axes[0, i].imshow(img, cmap="gray", vmin=0, vmax=vmax)
        axes[0, i].set_title(name)
        axes[1, i].imshow(np.abs(img - reference), cmap="magma", vmin=0, vmax=vmax / 2)
        axes[1, i].set_title(f"|{name} - ref|", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([]); ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def trust_figure(reference: np.ndarray, rows: dict[str, dict], path: Path, title: str = "",
                 vmax: float | None = None) -> Path:
    """Per method: output, |error| and each trust map side by side, and the sparsification curves, as PNG.

    Parameters
    ----------
    reference : ndarray, shape (Y, X)
    rows : dict
        Method label -> ``{"output": image, "maps": {name: map}, "sparsification": {name: dict}}``
        (the dicts of :func:`tomolearn.trust.sparsification`).
    path : Path
    title : str
    vmax : float, optional
        Display maximum of the images (default: the reference's 99.9th percentile).
    """
    n_maps = max(len(r["maps"]) for r in rows.values())
    cols = 3 + n_maps
    vmax = float(vmax if vmax is not None else np.percentile(reference, 99.9) or 1.0)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.5 * cols, 2.6 * len(rows)), squeeze=False)
    for ax_row, (label, r) in zip(axes, rows.items()):
        ax_row[0].imshow(r["output"], cmap="gray", vmin=0, vmax=vmax)
        ax_row[0].set_title(label, fontsize=9)
        ax_row[1].imshow(np.abs(r["output"] - reference), cmap="magma", vmin=0, vmax=vmax / 2)
        ax_row[1].set_title("|error|", fontsize=9)
        for ax, (name, m) in zip(ax_row[2:], r["maps"].items()):
            a = np.abs(m)
            ax.imshow(a, cmap="magma", vmin=0, vmax=float(np.percentile(a, 99.5)) or 1.0)
            ax.set_title(name, fontsize=9)
        for ax in ax_row[2 + len(r["maps"]):-1]:
            ax.axis("off")
        curve_ax = ax_row[-1]
        for name, sp in r.get("sparsification", {}).items():
            curve_ax.plot(sp["fractions"], sp["curve"], label=f"{name} (AUSE {sp['ause']:.3f})")
        if r.get("sparsification"):
            first = next(iter(r["sparsification"].values()))
            curve_ax.plot(first["fractions"], first["oracle"], "k--", label="oracle")
            curve_ax.set_xlabel("fraction removed", fontsize=8)
            curve_ax.set_ylabel("rel. mean |error|", fontsize=8)
            curve_ax.legend(fontsize=6)
            curve_ax.set_title("sparsification", fontsize=9)
    for ax in axes[:, :-1].ravel():
        ax.set_xticks([]); ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _table(summary: dict) -> str:
    methods = list(summary)
    keys = list(next(iter(summary.values())))
    head = "".join(f"<th>{html.escape(k.upper())}</th>" for k in keys)
    rows = "".join(
        f"<tr><td>{html.escape(m)}</td>" + "".join(
            f"<td>{summary[m][k]['mean']:.4f} &plusmn; {summary[m][k]['std']:.4f}</td>" for k in keys) + "</tr>"
        for m in methods)
    return f"<table><tr><th>method</th>{head}</tr>{rows}</table>"


def html_report(out: Path, title: str, summary: dict, figures: list[Path], notes: list[str]) -> Path:
    """Write ``report.html`` with the metric table and the figures embedded (base64)."""
    imgs = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"/>'
        f"<figcaption>{html.escape(p.name)}</figcaption></figure>" for p in figures)
    body = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px;text-align:right}}img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>{body}<h2>Held-out metrics (mean &plusmn; std)</h2>{_table(summary)}
<h2>Figures</h2>{imgs}</body></html>"""
    path = out / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(path)
    return path


def sweep_figure(grids: dict, angles: list, second: list, second_name: str, path: Path) -> Path:
    """PSNR and SSIM maps (rows: metric, columns: method) over angles x a second axis."""
    methods = list(grids)
    fig, axes = plt.subplots(2, len(methods), figsize=(4.2 * len(methods), 7), squeeze=False)
    for j, m in enumerate(methods):
        for i, metric in enumerate(("psnr", "ssim")):
            ax = axes[i, j]
            g = np.asarray(grids[m][metric], dtype=float)
            im = ax.imshow(g, origin="lower", cmap="viridis", aspect="auto")
            for (a, b), v in np.ndenumerate(g):
                if np.isfinite(v):
                    ax.text(b, a, f"{v:.2f}" if metric == "ssim" else f"{v:.1f}", ha="center", va="center",
                            color="w", fontsize=8)
            ax.set_xticks(range(len(second)), [f"{s:g}" for s in second])
            ax.set_yticks(range(len(angles)), [str(a) for a in angles])
            ax.set_xlabel(second_name)
            ax.set_ylabel("projections over 180 deg")
            ax.set_title(f"{m} {metric.upper()}")
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
