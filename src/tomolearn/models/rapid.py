"""RAPID's network: a 3D U-Net whose encoder levels start with the anisotropic atrous module."""
from __future__ import annotations

import torch
from torch import nn

from .._checks import fail
from .aspp import AnisotropicAtrousModule, _norm


class _ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv3d(cin, cout, 3, padding=1, bias=False), _norm(cout), nn.ReLU(inplace=True),
                         nn.Conv3d(cout, cout, 3, padding=1, bias=False), _norm(cout), nn.ReLU(inplace=True))


class RAPIDNet(nn.Module):
    """3D U-Net with an anisotropic atrous module at the start of every encoder level (seed 001, Fig. S1).

    Parameters
    ----------
    in_channels, out_channels : int
    base_channels : int
        Channels of the first level, doubled at each pooling.
    depth : int
        Poolings (2×2×2 max-pooling); inputs are padded to a multiple of ``2**depth`` inside.
    rates : tuple of int
        In-plane atrous rates of the planar ASPP modules (seed: 6, 12, 18).
    depth_rates : tuple of int
        Extra atrous rates along the depth axis (seed: 24, 30); empty for isotropic modules.
    depth_axis : int
        Tensor axis of the depth (beam at θ = 0): 1 (Y) for the project's volumes.
    atrous : bool
        False replaces the atrous modules by plain double convolutions (a 3D U-Net, variant A).
    planar : bool
        False keeps only the 3D branch of each atrous module.
    upsample : tuple of 3 int
        Output grid / input grid per axis (seed: an approximant 2× coarser in both lateral axes).
    residual_channel : int, optional
        Input channel added to the output (the network then learns a correction of it), e.g.
        a conventional reconstruction given beside the approximant; needs ``upsample`` 1.

    Input/Output
    ------------
    ``(B, C_in, D, H, W)`` -> ``(B, C_out, D·u0, H·u1, W·u2)``.

    References
    ----------
    Z. Guo et al., "Three-dimensional nanoscale reduced-angle ptycho-tomographic imaging with deep
    learning (RAPID)", eLight 3, 7 (2023), section 4.4.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base_channels: int = 8, depth: int = 3,
                 rates=(6, 12, 18), depth_rates=(24, 30), depth_axis: int = 1, atrous: bool = True,
                 planar: bool = True, upsample=(1, 1, 1), residual_channel: int | None = None) -> None:
        super().__init__()
        if depth < 1:
            raise fail("depth", "an integer >= 1", depth)
        if len(tuple(upsample)) != 3 or any(int(u) < 1 for u in upsample):
            raise fail("upsample", "three integer factors >= 1", upsample)
        self.depth = int(depth)
        self.upsample = tuple(int(u) for u in upsample)
        if residual_channel is not None:
            if not 0 <= int(residual_channel) < in_channels:
                raise fail("residual_channel", f"an input channel 0..{in_channels - 1}", residual_channel)
            if self.upsample != (1, 1, 1):
                raise fail("residual_channel", "no residual channel when the output grid is finer (upsample 1)",
                           f"upsample {self.upsample}")
        self.residual_channel = None if residual_channel is None else int(residual_channel)
        chans = [base_channels * 2 ** i for i in range(depth + 1)]
        enc, cin = [], in_channels
        for c in chans[:-1]:
            first = (AnisotropicAtrousModule(cin, c, rates, depth_rates, depth_axis, planar) if atrous
                     else _ConvBlock(cin, c))
            enc.append(nn.Sequential(first, _ConvBlock(c, c)))
            cin = c
        self.encoder = nn.ModuleList(enc)
        self.pool = nn.MaxPool3d(2)
        self.bottom = _ConvBlock(chans[-2], chans[-1])
        self.up = nn.ModuleList([nn.ConvTranspose3d(chans[i + 1], chans[i], 2, stride=2) for i in reversed(range(depth))])
        self.decoder = nn.ModuleList([_ConvBlock(2 * chans[i], chans[i]) for i in reversed(range(depth))])
        head = [nn.Conv3d(chans[0], out_channels, 1)]
        if self.upsample != (1, 1, 1):
            head = [nn.Upsample(scale_factor=self.upsample, mode="trilinear", align_corners=False),
                    nn.Conv3d(chans[0], chans[0], 3, padding=1), nn.ReLU(inplace=True)] + head
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise fail("x", "a batch of volumes (B, C, D, H, W)", f"shape {tuple(x.shape)}")
        m = 2 ** self.depth
        size = x.shape[2:]
        base = None if self.residual_channel is None else x[:, self.residual_channel:self.residual_channel + 1]
        pad = [(-s) % m for s in size]
        if any(pad):  # replicate-pad to the pooling multiple, crop after
            x = nn.functional.pad(x, (0, pad[2], 0, pad[1], 0, pad[0]), mode="replicate")
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, dec, skip in zip(self.up, self.decoder, reversed(skips)):
            x = dec(torch.cat([up(x), skip], dim=1))
        x = self.head(x)
        x = x[:, :, :size[0] * self.upsample[0], :size[1] * self.upsample[1], :size[2] * self.upsample[2]]
        return x if base is None else x + base


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of a network."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


__all__ = ["RAPIDNet", "count_parameters"]
