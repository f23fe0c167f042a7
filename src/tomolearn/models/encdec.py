"""The encoder–decoder CNN of Yang et al. 2018 (seed 002) that enhances low-dose projections.

Encoder: 8 convolutions 3×3 (16 → 64 kernels, three with stride 2: W×H → W/8×H/8) and a
fully connected layer; decoder: the FC output reshaped to a W/8×H/8 image, then 9 transposed
convolutions 3×3 (64 → 1 kernels, three with stride 2: back to W×H), each scale's decoder
features concatenated ("merged") with the encoder's of the same scale; ReLU everywhere.
The fully connected layer fixes the patch size the network works on.
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import fail

#: (out channels, stride) of the 8 encoder convolutions
ENCODER = ((16, 1), (16, 2), (32, 1), (32, 2), (64, 1), (64, 2), (64, 1), (64, 1))
#: (out channels, stride) of the 9 decoder transposed convolutions (the last is the output image)
DECODER = ((64, 1), (64, 1), (64, 2), (32, 1), (32, 2), (16, 1), (16, 2), (16, 1), (1, 1))
#: decoder layer index -> encoder layer index whose features are concatenated to its input
MERGES = {0: 7, 3: 4, 5: 2, 7: 0}


def _tconv(cin: int, cout: int, stride: int) -> nn.ConvTranspose2d:
    # kernel 3, padding 1: stride 1 keeps the size, stride 2 (+ output_padding 1) doubles it
    return nn.ConvTranspose2d(cin, cout, 3, stride=stride, padding=1, output_padding=stride - 1)


class EncoderDecoder(nn.Module):
    """Yang et al.'s projection-enhancement CNN on square patches of side ``patch``.

    Parameters
    ----------
    patch : int
        Side of the input patch in pixels; a multiple of 8 (three stride-2 layers).
    fc_channels : int
        Images the fully connected layer's output is reshaped into at W/8 × H/8 (seed: 1).
    residual : bool
        Add the input patch to the output, so the network learns the noise to remove (residual
        learning as in DnCNN; not in the seed, whose network outputs the image itself).
    in_channels : int
        Input images (seed: 1); an odd number: the projection to enhance is the middle one and
        the others its neighbours in angle (what ``residual`` adds back is the middle one).

    Notes
    -----
    The output layer is linear (no ReLU) so a unit that starts negative still gets a
    gradient; the targets are min–max normalised to [0, 1] anyway.

    Input ``(B, in_channels, patch, patch)`` -> output ``(B, 1, patch, patch)``.

    Raises
    ------
    ValueError
        If ``patch`` is not a positive multiple of 8, ``fc_channels < 1`` or ``in_channels`` is
        not a positive odd number.

    References
    ----------
    X. Yang, V. De Andrade, W. Scullin, E. L. Dyer, N. Kasthuri, F. De Carlo, D. Gürsoy,
    "Low-dose x-ray tomography through a deep convolutional neural network", Sci. Rep. 8,
    2575 (2018), Fig. 9.
    """

    def __init__(self, patch: int = 32, fc_channels: int = 1, residual: bool = False, in_channels: int = 1) -> None:
        super().__init__()
        if isinstance(patch, bool) or int(patch) < 8 or int(patch) % 8:
            raise fail("patch", "a positive multiple of 8 (three stride-2 layers)", patch)
        if int(fc_channels) < 1:
            raise fail("fc_channels", "an integer >= 1", fc_channels)
        if isinstance(in_channels, bool) or int(in_channels) < 1 or int(in_channels) % 2 == 0:
            raise fail("in_channels", "a positive odd number (the projection and its neighbours on both sides)",
                       in_channels)
        self.patch, self.fc_channels, self.residual = int(patch), int(fc_channels), bool(residual)
        self.in_channels = int(in_channels)
        self.encoder = nn.ModuleList()
        cin = self.in_channels
        for cout, stride in ENCODER:
            self.encoder.append(nn.Conv2d(cin, cout, 3, stride=stride, padding=1))
            cin = cout
        small = self.patch // 8
        self.fc = nn.Linear(cin * small * small, self.fc_channels * small * small)
        self.decoder = nn.ModuleList()
        cin = self.fc_channels
        for i, (cout, stride) in enumerate(DECODER):
            merged = ENCODER[MERGES[i]][0] if i in MERGES else 0
            self.decoder.append(_tconv(cin + merged, cout, stride))
            cin = cout
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.patch, self.patch):
            raise fail("x", f"patches of {self.patch}×{self.patch} (the fully connected layer fixes it)",
                       f"shape {tuple(x.shape)}")
        features = []
        h = x
        for conv in self.encoder:
            h = self.act(conv(h))
            features.append(h)
        small = self.patch // 8
        h = self.act(self.fc(h.flatten(1))).view(x.shape[0], self.fc_channels, small, small)
        last = len(self.decoder) - 1
        for i, tconv in enumerate(self.decoder):
            if i in MERGES:
                h = torch.cat([h, features[MERGES[i]]], 1)
            h = tconv(h)
            if i < last:
                h = self.act(h)
        if not self.residual:
            return h
        mid = self.in_channels // 2
        return h + x[:, mid:mid + 1]


__all__ = ["DECODER", "ENCODER", "MERGES", "EncoderDecoder"]
