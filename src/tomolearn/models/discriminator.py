"""Conditional VGG-style discriminator of IRDM (seed 004)."""
from __future__ import annotations

import torch
from torch import nn

from .._checks import fail


class ConditionalDiscriminator(nn.Module):
    """Judges an image given its generator input (conditional GAN).

    Five "Conv Layers" of convolution, batch normalisation and LeakyReLU, each followed by
    max pooling (layers 1-4) or average pooling (layer 5), then a single convolution without
    activation: the output is a map of scores ``(B, 1, H / 32, W / 32)``.

    Parameters
    ----------
    spatial_dims : {2, 3}
    condition_channels, image_channels : int
        Channels of the generator input (e.g. WBP) and of the judged image.
    base_channels : int
        Channels of the first layer, doubled per layer up to ``8 * base_channels``.

    References
    ----------
    K. Simonyan and A. Zisserman, "Very deep convolutional networks for large-scale image
    recognition", ICLR 2015; C. Wang et al. (IRDM), seed 004, Supplementary Fig. 3.
    """

    def __init__(self, spatial_dims: int = 2, condition_channels: int = 1, image_channels: int = 1,
                 base_channels: int = 32) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise fail("spatial_dims", "2 or 3", spatial_dims)
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        norm = nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d
        maxpool = nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d
        avgpool = nn.AvgPool2d if spatial_dims == 2 else nn.AvgPool3d
        layers, cin = [], condition_channels + image_channels
        for k in range(5):
            cout = base_channels * min(2**k, 8)
            layers += [conv(cin, cout, 3, padding=1), norm(cout), nn.LeakyReLU(0.2, inplace=True),
                       maxpool(2) if k < 4 else avgpool(2)]
            cin = cout
        layers.append(conv(cin, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)
        self.spatial_dims = spatial_dims

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        if condition.shape[2:] != image.shape[2:]:
            raise fail("image", f"the condition's spatial shape {tuple(condition.shape[2:])}", tuple(image.shape[2:]))
        if any(s % 32 for s in image.shape[2:]):
            raise fail("image", "spatial sizes divisible by 32 (five poolings)", tuple(image.shape[2:]))
        return self.net(torch.cat([condition, image], dim=1))
