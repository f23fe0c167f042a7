"""Sliding-window inference with overlap blending; device follows the model."""
from __future__ import annotations

import numpy as np
import torch

from ._checks import fail


def _hann_taper(shape) -> np.ndarray:
    """Separable Hann taper over a window of any dimension (+1e-3 so edges still count)."""
    taper = np.ones((), np.float64)
    for size in shape:
        taper = np.multiply.outer(taper, np.hanning(size + 2)[1:-1])
    return taper.astype(np.float32) + 1e-3


def _starts(length: int, window: int, step: int) -> list[int]:
    if length <= window:
        return [0]
    s = list(range(0, length - window, step)) + [length - window]
    return sorted(set(s))


class SelfEnsemble:
    """A 2D network averaged over the 8 flips/quarter turns of its square input (geometric self-ensemble).

    Where the data have no preferred orientation (detector noise and the local features of a
    projection; a slice of a full-arc scan, whose turned or mirrored version is the scan at
    shifted or reversed angles) the 8 predictions differ only by the network's own errors,
    and their mean has less variance. Not for inputs with a direction, such as a missing
    wedge.

    References
    ----------
    R. Timofte, R. Rothe, L. Van Gool, "Seven ways to improve example-based single image
    super resolution", CVPR 2016.
    """

    def __init__(self, net) -> None:
        self.net = net

    def parameters(self):
        return self.net.parameters()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = 0
        for k in range(8):
            t = torch.rot90(x, k % 4, dims=(-2, -1))
            t = t.flip(-1) if k >= 4 else t
            y = self.net(t)
            y = y.flip(-1) if k >= 4 else y
            out = out + torch.rot90(y, -(k % 4), dims=(-2, -1))
        return out / 8


@torch.no_grad()
def sliding_window(model: torch.nn.Module, image: np.ndarray, window: int = 256, overlap: float = 0.25,
                   batch_size: int = 4, multiple: int = 16) -> np.ndarray:
    """Apply a 2D network to a large image in overlapping windows, blended with a Hann taper.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, C, h, w)`` to ``(B, 1, h, w)``; runs on the device of its parameters.
    image : ndarray, shape (C, H, W) or (H, W)
    window : int
        Window size (reduced to the image size, rounded up to ``multiple`` by reflection padding).
    overlap : float
        Fraction of the window shared by neighbours, in [0, 1).
    batch_size : int
    multiple : int
        The network's size divisor (``2**depth``).

    Returns
    -------
    ndarray, shape (H, W), float32

    Raises
    ------
    ValueError
        On a bad overlap or image dimensionality.
    """
    if not 0 <= overlap < 1:
        raise fail("overlap", "a fraction in [0, 1)", overlap)
    img = np.asarray(image, dtype=np.float32)
    img = img[None] if img.ndim == 2 else img
    if img.ndim != 3:
        raise fail("image", "(C, H, W) or (H, W)", f"shape {np.shape(image)}")
    _, H, W = img.shape
    win = min(window, max(H, W))
    win = int(np.ceil(win / multiple) * multiple)
    pad_h, pad_w = max(win - H, 0), max(win - W, 0)
    padded = np.pad(img, ((0, 0), (0, pad_h), (0, pad_w)), mode="reflect" if min(H, W) > max(pad_h, pad_w) else "edge")
    Hp, Wp = padded.shape[1:]
    step = max(1, int(win * (1 - overlap)))
    weight = _hann_taper((win, win))
    out = np.zeros((Hp, Wp), np.float32)
    norm = np.zeros((Hp, Wp), np.float32)
    device = next(model.parameters()).device
    coords = [(r, c) for r in _starts(Hp, win, step) for c in _starts(Wp, win, step)]
    for i in range(0, len(coords), batch_size):
        chunk = coords[i:i + batch_size]
        batch = np.stack([padded[:, r:r + win, c:c + win] for r, c in chunk])
        pred = model(torch.from_numpy(batch).to(device)).float().cpu().numpy()[:, 0]
        for (r, c), p in zip(chunk, pred):
            out[r:r + win, c:c + win] += p * weight
            norm[r:r + win, c:c + win] += weight
    return (out / norm)[:H, :W]


@torch.no_grad()
def sliding_window_3d(model: torch.nn.Module, volume, window=(32, 64, 64), overlap: float = 0.5,
                      batch_size: int = 1, upsample=(1, 1, 1), show_progress: bool = False) -> np.ndarray:
    """Apply a 3D network to a volume in overlapping windows, blended with a 3D Hann taper.

    Only one batch of windows and the output accumulators are in memory (the input may be a
    memory-mapped or HDF5-backed array read window by window); the device follows the model.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 1, d, h, w)`` to ``(B, 1, d·u0, h·u1, w·u2)``.
    volume : array_like, shape (Z, Y, X)
    window : tuple of 3 int
        Window size (clipped to the volume).
    overlap : float
        Fraction of a window shared by neighbours, in [0, 1) (seed 001: 0.5).
    batch_size : int
    upsample : tuple of 3 int
        The network's output / input grid factors.
    show_progress : bool

    Returns
    -------
    ndarray, shape (Z·u0, Y·u1, X·u2), float32

    Raises
    ------
    ValueError
        On a bad overlap or a volume that is not 3D.
    """
    from .progress import progress

    if not 0 <= overlap < 1:
        raise fail("overlap", "a fraction in [0, 1)", overlap)
    if len(np.shape(volume)) not in (3, 4):
        raise fail("volume", "a 3D volume (Z, Y, X) or channels of one (C, Z, Y, X)", f"shape {np.shape(volume)}")
    channels = len(np.shape(volume)) == 4
    shape = tuple(int(s) for s in np.shape(volume)[-3:])
    win = tuple(min(int(w), s) for w, s in zip(window, shape))
    u = tuple(int(f) for f in upsample)
    out_win = tuple(w * f for w, f in zip(win, u))
    weight = _hann_taper(out_win)
    out = np.zeros(tuple(s * f for s, f in zip(shape, u)), np.float32)
    norm = np.zeros_like(out)
    starts = [_starts(s, w, max(1, int(w * (1 - overlap)))) for s, w in zip(shape, win)]
    coords = [(z, y, x) for z in starts[0] for y in starts[1] for x in starts[2]]
    device = next(model.parameters()).device
    for i in progress(range(0, len(coords), batch_size), "inference", show_progress):
        chunk = coords[i:i + batch_size]
        windows = [np.asarray(volume[..., z:z + win[0], y:y + win[1], x:x + win[2]], np.float32) for z, y, x in chunk]
        batch = np.stack(windows) if channels else np.stack(windows)[:, None]
        pred = model(torch.from_numpy(batch).to(device)).float().cpu().numpy()[:, 0]
        for (z, y, x), p in zip(chunk, pred):
            sl = tuple(slice(a * f, a * f + w) for a, f, w in zip((z, y, x), u, out_win))
            out[sl] += p * weight
            norm[sl] += weight
    return out / norm
