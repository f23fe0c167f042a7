"""U-Net++ (nested dense skip pathways) for 2D or 3D images: the IRDM generator (seed 004)."""
from __future__ import annotations

import torch
from torch import nn

from ._checks import check_architecture, check_input


def _block(d: int, cin: int, cout: int) -> nn.Sequential:
    """IRDM "Conv Layer": two alternating stacks of convolution, batch norm and SELU."""
    conv = nn.Conv2d if d == 2 else nn.Conv3d
    norm = nn.BatchNorm2d if d == 2 else nn.BatchNorm3d
    return nn.Sequential(conv(cin, cout, 3, padding=1), norm(cout), nn.SELU(inplace=True),
                         conv(cout, cout, 3, padding=1), norm(cout), nn.SELU(inplace=True))


class UNetPlusPlus(nn.Module):
    """U-Net++ with ``depth`` max-poolings; only the final full-resolution node is output.

    Node ``X[i][j]`` (level ``i``, column ``j``) sees all earlier nodes of its level and the
    upsampled ``X[i+1][j-1]`` (dense skip pathways). As in IRDM, the loss is taken from the
    last node ``X[0][depth]`` only (no deep supervision).

    Parameters
    ----------
    spatial_dims : {2, 3}
    in_channels, out_channels : int
    base_channels : int
        Channels at level 0, doubled per level.
    depth : int
        Number of poolings (IRDM: 4); inputs must be divisible by ``2**depth``.
    residual : bool
        Add the input to the output (learn a correction of the WBP).

    Input/Output
    ------------
    ``(B, C_in, H, W)`` or ``(B, C_in, D, H, W)`` -> same spatial shape with ``C_out``.

    References
    ----------
    Z. Zhou et al., "UNet++: A Nested U-Net Architecture for Medical Image Segmentation",
    DLMIA 2018; C. Wang et al., "0.71-A resolution electron tomography enabled by deep learning
    aided information recovery" (IRDM), seed 004.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 1,
                 base_channels: int = 32, depth: int = 4, residual: bool = False) -> None:
        super().__init__()
        check_architecture(spatial_dims, depth)
        self.spatial_dims, self.depth, self.residual = spatial_dims, depth, residual
        ch = [base_channels * 2**i for i in range(depth + 1)]
        self.pool = (nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d)(2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear" if spatial_dims == 2 else "trilinear",
                              align_corners=False)
        self.nodes = nn.ModuleDict()
        for i in range(depth + 1):
            self.nodes[f"{i}_0"] = _block(spatial_dims, in_channels if i == 0 else ch[i - 1], ch[i])
        for j in range(1, depth + 1):
            for i in range(depth + 1 - j):
                self.nodes[f"{i}_{j}"] = _block(spatial_dims, ch[i] * j + ch[i + 1], ch[i])
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.head = conv(ch[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.depth)
        X: dict[tuple[int, int], torch.Tensor] = {}
        for i in range(self.depth + 1):
            X[i, 0] = self.nodes[f"{i}_0"](x if i == 0 else self.pool(X[i - 1, 0]))
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                inputs = [X[i, k] for k in range(j)] + [self.up(X[i + 1, j - 1])]
                X[i, j] = self.nodes[f"{i}_{j}"](torch.cat(inputs, dim=1))
        out = self.head(X[0, self.depth])
        return out + x[:, : out.shape[1]] if self.residual else out
