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
