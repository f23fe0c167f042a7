"""Image-quality and segmentation metrics (scikit-image where it has them)."""
from __future__ import annotations

import numpy as np
from skimage.filters import threshold_otsu
from skimage.metrics import normalized_root_mse, peak_signal_noise_ratio, structural_similarity

from ._checks import fail


def _pair(reference, image):
    ref = np.asarray(reference, dtype=np.float64)
    img = np.asarray(image, dtype=np.float64)
    if ref.shape != img.shape:
        raise fail("image", f"the reference's shape {ref.shape}", f"shape {img.shape}")
    return ref, img


def _data_range(ref: np.ndarray) -> float:
    rng = float(ref.max() - ref.min())
    return rng if rng > 0 else 1.0


def psnr(reference, image, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; the peak is the reference's range unless given."""
    ref, img = _pair(reference, image)
    return float(peak_signal_noise_ratio(ref, img, data_range=data_range or _data_range(ref)))


def ssim(reference, image, data_range: float | None = None, return_map: bool = False):
    """Structural similarity (Wang et al. 2004), optionally with its map (same shape)."""
    ref, img = _pair(reference, image)
    out = structural_similarity(ref, img, data_range=data_range or _data_range(ref), full=return_map)
    return (float(out[0]), out[1].astype(np.float32)) if return_map else float(out)


def nrmse(reference, image) -> float:
    """Root-mean-square error over the reference's root-mean-square (Euclidean normalisation)."""
    ref, img = _pair(reference, image)
    return float(normalized_root_mse(ref, img, normalization="euclidean"))


def pcc(reference, image) -> float:
    """Pearson correlation coefficient."""
    ref, img = _pair(reference, image)
    if ref.std() == 0 or img.std() == 0:
        return 0.0
    return float(np.corrcoef(ref.ravel(), img.ravel())[0, 1])


def segment(image, threshold: float | str = "otsu") -> np.ndarray:
    """Binary segmentation by a global threshold (Otsu's by default)."""
    img = np.asarray(image, dtype=np.float64)
    t = threshold_otsu(img) if threshold == "otsu" else float(threshold)
    return img > t


def mcc(reference_mask, mask) -> float:
    """Matthews correlation coefficient of two binary masks (the HTC2022 score).

    Returns 0 when a class is empty in either mask (the score is undefined there).

    References
    ----------
    B. W. Matthews, Biochim. Biophys. Acta 405 (1975) 442-451.
    """
    a = np.asarray(reference_mask, dtype=bool).ravel()
    b = np.asarray(mask, dtype=bool).ravel()
    if a.shape != b.shape:
        raise fail("mask", f"{a.size} pixels like the reference", f"{b.size}")
    tp = float(np.sum(a & b)); tn = float(np.sum(~a & ~b))
    fp = float(np.sum(~a & b)); fn = float(np.sum(a & ~b))
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / den) if den > 0 else 0.0


def power_spectrum(image) -> np.ndarray:
    """Centred power spectrum ``|F(image)|^2`` of a 2D image (zero frequency in the middle).

    Returns
    -------
    ndarray, shape (Y, X), float64
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise fail("image", "a 2D image (Y, X)", f"shape {img.shape}")
    return np.abs(np.fft.fftshift(np.fft.fft2(img))) ** 2


def image_metrics(reference, image, data_range: float | None = None) -> dict:
    """PSNR, SSIM, NRMSE and PCC of ``image`` against ``reference`` in one dict."""
    return {"psnr": psnr(reference, image, data_range), "ssim": ssim(reference, image, data_range),
            "nrmse": nrmse(reference, image), "pcc": pcc(reference, image)}
