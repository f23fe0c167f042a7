"""Atrous spatial pyramid pooling in 3D: planar ASPP modules and RAPID's anisotropic atrous module.

Axes follow the project's volumes ``(Z, Y, X)`` = tensor dims ``(D, H, W)``: Z the rotation
axis, Y the beam at ``θ = 0`` (the *depth* of a plate scanned face-on: seed 001's ``z``, along
which the multislice approximant smears features across its slabs), X the other lateral axis.
Seed 001's planes map to ours as x–y → (Z, X), y–z → (Z, Y), x–z → (Y, X).

References
----------
L.-C. Chen, G. Papandreou, F. Schroff, H. Adam, "Rethinking atrous convolution for semantic image
segmentation", arXiv:1706.05587 (2017) (ASPP, rates 6, 12, 18).
Z. Guo et al., "Three-dimensional nanoscale reduced-angle ptycho-tomographic imaging with deep
learning (RAPID)", eLight 3, 7 (2023), section 4.4 and additional file Fig. S1.
"""
from __future__ import annotations

from torch import nn
import torch

from .._checks import fail

PLANES = {"zx": (0, 2), "zy": (0, 1), "yx": (1, 2)}


def _norm(channels: int) -> nn.Module:
    # group norm: RAPID trains with batches of 2, where batch statistics are noise
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def planar_conv(cin: int, cout: int, plane: tuple[int, int], dilation: tuple[int, int, int]) -> nn.Conv3d:
    """A 3×3 convolution in ``plane`` (two of the axes 0, 1, 2), size 1 along the third, with ``dilation``
    per axis; padded so the output has the input's size."""
    kernel = tuple(3 if a in plane else 1 for a in range(3))
    dil = tuple(int(d) if a in plane else 1 for a, d in enumerate(dilation))
    return nn.Conv3d(cin, cout, kernel, padding=tuple(d * (k // 2) for d, k in zip(dil, kernel)), dilation=dil,
                     bias=False)


class PlanarASPP(nn.Module):
    """ASPP acting in one plane of a volume: a 1×1 branch and 3×3 atrous branches, fused by 1×1.

    Parameters
    ----------
    cin, cout : int
    plane : {"zx", "zy", "yx"}
    rates : tuple of int
        Isotropic in-plane atrous rates (ASPP: 6, 12, 18; all 1 gives plain planar kernels).
    depth_rates : tuple of int
        Extra branches for planes that contain the depth axis: atrous rate ``a`` along the depth
        axis and 1 along the other in-plane axis (seed: 24 and 30).
    depth_axis : int
        The depth axis (1: Y).

    Input/Output
    ------------
    ``(B, cin, D, H, W)`` -> ``(B, cout, D, H, W)``.
    """

    def __init__(self, cin: int, cout: int, plane: str = "zx", rates=(6, 12, 18), depth_rates=(),
                 depth_axis: int = 1) -> None:
        super().__init__()
        if plane not in PLANES:
            raise fail("plane", f"one of {', '.join(PLANES)}", repr(plane))
        axes = PLANES[plane]
        self.plane = plane
        branches = [nn.Conv3d(cin, cout, 1, bias=False)]
        for r in rates:
            branches.append(planar_conv(cin, cout, axes, (r, r, r)))
        if depth_axis in axes:
            other = axes[0] if axes[1] == depth_axis else axes[1]
            for a in depth_rates:
                dil = [1, 1, 1]
                dil[depth_axis], dil[other] = int(a), 1
                branches.append(planar_conv(cin, cout, axes, tuple(dil)))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(nn.Conv3d(cout * len(branches), cout, 1, bias=False), _norm(cout),
                                     nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([b(x) for b in self.branches], dim=1))


class AnisotropicAtrousModule(nn.Module):
    """RAPID's anisotropic atrous module: planar ASPP in the three planes + a 3D branch, fused by 3×3×3.

    Parameters
    ----------
    cin, cout : int
    rates : tuple of int
        In-plane atrous rates of every planar ASPP.
    depth_rates : tuple of int
        Extra rates along the depth axis in the two planes that contain it (empty: the
        isotropic module, variant C/D of the seed's ablation).
    depth_axis : int
    planar : bool
        False keeps the 3D branch only (a plain 3D convolution, for ablations).

    Input/Output
    ------------
    ``(B, cin, D, H, W)`` -> ``(B, cout, D, H, W)``.
    """

    def __init__(self, cin: int, cout: int, rates=(6, 12, 18), depth_rates=(24, 30), depth_axis: int = 1,
                 planar: bool = True) -> None:
        super().__init__()
        self.planes = nn.ModuleList([PlanarASPP(cin, cout, p, rates, depth_rates, depth_axis) for p in PLANES]
                                    if planar else [])
        self.volume = nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1, bias=False), _norm(cout), nn.ReLU(inplace=True))
        n = len(self.planes) + 1
        self.fuse = nn.Sequential(nn.Conv3d(cout * n, cout, 3, padding=1, bias=False), _norm(cout),
                                  nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([m(x) for m in self.planes] + [self.volume(x)], dim=1))


def receptive_extent(module: nn.Module) -> tuple[int, int, int]:
    """Largest reach (voxels) of any single convolution of ``module`` along Z, Y, X: ``dilation·(k−1)+1``."""
    reach = [1, 1, 1]
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            for a in range(3):
                reach[a] = max(reach[a], m.dilation[a] * (m.kernel_size[a] - 1) + 1)
    return tuple(reach)


__all__ = ["AnisotropicAtrousModule", "PLANES", "PlanarASPP", "planar_conv", "receptive_extent"]
