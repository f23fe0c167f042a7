"""Regenerate docs/phantoms.png: one example of every phantom family (seed 1).

    .venv/bin/python docs/make_phantom_figure.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tomolearn.phantoms import FAMILIES, FAMILIES_3D, make_phantom  # noqa: E402

names = [*FAMILIES, "shepp_logan"]
fig, axes = plt.subplots(2, 5, figsize=(15, 6.4))
for ax, name in zip(axes.ravel(), names):
    ax.imshow(make_phantom(name, 256, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_title(name, fontsize=10)
for ax, name in zip(axes.ravel()[len(names):], FAMILIES_3D):
    vol = make_phantom(name, 256, 1)
    z = vol.shape[0] // 2
    ax.imshow(vol[z] if name == "spheres_in_cube" else vol[:, vol.shape[1] // 2], cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{name} ({'slice Y-X' if name == 'spheres_in_cube' else 'layer Z-X'})", fontsize=10)
for ax in axes.ravel():
    ax.axis("off")
fig.tight_layout()
fig.savefig(Path(__file__).with_name("phantoms.png"), dpi=60)
