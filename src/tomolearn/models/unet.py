"""U-Net for 2D or 3D images, optionally residual (FBPConvNet)."""
from __future__ import annotations

import torch
from torch import nn

from ._checks import check_architecture, check_input


def _conv(spatial_dims: int):
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


def _norm(spatial_dims: int):
    return nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d


class _DoubleConv(nn.Sequential):
    def __init__(self, d: int, cin: int, cout: int) -> None:
        conv, norm = _conv(d), _norm(d)
        super().__init__(conv(cin, cout, 3, padding=1, bias=False), norm(cout), nn.ReLU(inplace=True),
                         conv(cout, cout, 3, padding=1, bias=False), norm(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """U-Net with ``depth`` poolings; ``residual=True`` adds the input (first channel) to the output.

    Parameters
    ----------
    spatial_dims : {2, 3}
    in_channels, out_channels : int
    base_channels : int
        Channels at the first level, doubled at each pooling.
    depth : int
        Number of max-poolings; inputs must be divisible by ``2**depth`` (checked).
    residual : bool
        Learn the correction to the approximant, as FBPConvNet does.
    dropout : float
        Channel dropout before each decoder block (0: none). With it the network can give
        Monte-Carlo-dropout uncertainty (``reconstruct --mc-dropout T``).

    Input/Output
    ------------
    ``(B, C_in, H, W)`` or ``(B, C_in, D, H, W)`` -> ``(B, C_out, ...)``.

    References
    ----------
    O. Ronneberger, P. Fischer, T. Brox, MICCAI 2015; K. H. Jin, M. T. McCann, E. Froustey,
    M. Unser, "Deep convolutional neural network for inverse problems in imaging", IEEE TIP 26
    (2017) 4509-4522 (FBPConvNet).
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 1,
                 base_channels: int = 32, depth: int = 4, residual: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        check_architecture(spatial_dims, depth)
        self.spatial_dims, self.depth, self.residual = spatial_dims, depth, residual
        conv = _conv(spatial_dims)
        up = nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d
        pool = nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d
        chans = [base_channels * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_DoubleConv(spatial_dims, in_channels, chans[0])] +
                                  [_DoubleConv(spatial_dims, chans[i], chans[i + 1]) for i in range(depth)])
        self.pool = pool(2)
        self.up = nn.ModuleList([up(chans[i + 1], chans[i], 2, stride=2) for i in reversed(range(depth))])
        self.dec = nn.ModuleList([_DoubleConv(spatial_dims, 2 * chans[i], chans[i]) for i in reversed(range(depth))])
        self.head = conv(chans[0], out_channels, 1)
        drop = nn.Dropout2d if spatial_dims == 2 else nn.Dropout3d
        # no parameters: weights trained without dropout load into a network with it, and back
        self.drop = drop(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.depth)
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else self.pool(h))
            skips.append(h)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips[:-1])):
            h = dec(self.drop(torch.cat([up(h), skip], dim=1)))
        out = self.head(h)
        return out + x[:, : out.shape[1]] if self.residual else out
