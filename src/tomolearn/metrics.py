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
    """Structural similarity (Wang et al. 2004), optionally with its map (same shape).

    Images thinner than the 7-pixel window (a 2-row projection) are scored row by row (1D SSIM
    along the long axis) and the rows averaged; volumes ``(Z, Y, X)`` of fewer than 7 slices
    slice by slice (2D SSIM), the slices averaged, as a 3D window cannot fit them.
    """
    ref, img = _pair(reference, image)
    dr = data_range or _data_range(ref)
    if ref.ndim == 3 and ref.shape[0] < 7 and min(ref.shape[1:]) >= 7:
        slices = [ssim(r, i, dr, return_map=True) for r, i in zip(ref, img)]
        score = float(np.mean([s[0] for s in slices]))
        return (score, np.stack([s[1] for s in slices])) if return_map else score
    if ref.ndim == 2 and min(ref.shape) < 7 and max(ref.shape) >= 7:
        if ref.shape[0] > ref.shape[1]:
            ref, img = ref.T, img.T
        rows = [structural_similarity(r, i, data_range=dr, full=True) for r, i in zip(ref, img)]
        score = float(np.mean([r[0] for r in rows]))
        if not return_map:
            return score
        smap = np.stack([r[1] for r in rows]).astype(np.float32)
        return score, (smap.T if np.shape(reference)[0] > np.shape(reference)[1] else smap)
    out = structural_similarity(ref, img, data_range=dr, full=return_map)
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


def stack_scores(reference, images: dict) -> dict:
    """PSNR, SSIM, NRMSE and PCC of image stacks ``(N, H, W)`` against one reference stack.

    PSNR, NRMSE and PCC over the whole stack, SSIM the mean of the N images' 2D SSIM (as seed
    002 scores whole reconstructed volumes); one data range, the reference stack's, for every
    image so the numbers compare across methods.

    Parameters
    ----------
    reference : ndarray, shape (N, H, W)
    images : dict of str -> ndarray, shape (N, H, W)

    Returns
    -------
    dict
        name -> {"psnr", "ssim", "nrmse", "pcc"}, rounded to 4 decimals.
    """
    ref = np.asarray(reference, np.float32)
    ref = ref[None] if ref.ndim == 2 else ref
    rng = float(ref.max() - ref.min()) or 1.0
    out = {}
    for name, stack in images.items():
        st = np.asarray(stack, np.float32).reshape(ref.shape)
        out[name] = {"psnr": psnr(ref, st, rng), "ssim": float(np.mean([ssim(r, im, rng) for r, im in zip(ref, st)])),
                     "nrmse": nrmse(ref, st), "pcc": pcc(ref, st)}
        out[name] = {k: round(float(v), 4) for k, v in out[name].items()}
    return out


def ms_ssim(reference, image, data_range: float | None = None) -> float:
    """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) of 2D images or 3D volumes (torchmetrics).

    The standard five scales (weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333) with an 11-pixel
    Gaussian window (σ = 1.5) need images of at least 161 pixels a side; smaller ones use as
    many leading scales as fit (weights renormalised), and images under 12 pixels (down to 5) a smaller
    window, so small test volumes are scored consistently.

    Parameters
    ----------
    reference, image : ndarray, shape (Y, X) or (Z, Y, X)
    data_range : float, optional
        Default: the reference's range.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        On mismatched shapes, or images other than 2D/3D or smaller than 8 pixels a side.
    """
    import torch
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    ref, img = _pair(reference, image)
    if ref.ndim not in (2, 3) or min(ref.shape) < 5:
        raise fail("image", "a 2D image or 3D volume at least 5 pixels a side", f"shape {ref.shape}")
    betas = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    side = min(ref.shape)
    # torchmetrics' Gaussian window spans 2·int(3.5σ + 0.5) + 1 pixels and is reflection-padded at
    # every scale, so the half-window must stay below the coarsest scale's side
    kernel = 11 if side >= 12 else max(3, side - 2 - (side % 2 == 0))  # largest odd size <= side - 2
    n = 1
    while n < len(betas) and side // 2 ** n > kernel - 1:  # torchmetrics: side > (kernel - 1)·2^(n-1)
        n += 1
    sigma = 1.5 if kernel == 11 else ((kernel - 1) / 2 - 0.5) / 3.5
    weights = tuple(b / sum(betas[:n]) for b in betas[:n])
    rng = data_range or _data_range(ref)
    lo = ref.min()  # shift both so the dynamic range starts at 0 (SSIM's constants assume it)
    # float32: torch's CPU conv3d unfolds float64 inputs (im2col), ~14 GB for a 64³ volume
    t = [torch.as_tensor((a - lo)[None, None], dtype=torch.float32) for a in (ref, img)]
    return float(msssim(t[1], t[0], data_range=rng, kernel_size=kernel, sigma=sigma, betas=weights,
                        normalize="relu"))


def mixture_fit(values, seed: int = 0, max_samples: int = 200_000) -> dict:
    """Two-component Gaussian mixture of voxel values by EM (scikit-learn): background and feature.

    Parameters
    ----------
    values : ndarray
        Any shape; a random subset of ``max_samples`` values is fitted (seeded).
    seed : int

    Returns
    -------
    dict
        ``means``, ``stds``, ``priors`` (p(0), p(1); component 1 has the larger mean) and
        ``threshold``: where ``p(x|0) p(0) = p(x|1) p(1)`` between the means (Bayes' rule).

    References
    ----------
    Z. Guo et al., eLight 3, 7 (2023), section 4.6 (thresholds and priors by EM).
    """
    from sklearn.mixture import GaussianMixture

    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size < 4 or not np.isfinite(x).all() or x.std() == 0:
        raise fail("values", "finite values with some spread (two classes)", f"{x.size} values, std {x.std():.3g}")
    rng = np.random.default_rng(seed)
    sample = x if x.size <= max_samples else rng.choice(x, max_samples, replace=False)
    mu, sd = sample.mean(), sample.std()  # standardise: sklearn's variance floor (reg_covar) is absolute
    gm = GaussianMixture(2, random_state=seed).fit(((sample - mu) / sd)[:, None])
    order = np.argsort(gm.means_.ravel())
    means = gm.means_.ravel()[order] * sd + mu
    stds = np.sqrt(gm.covariances_.ravel()[order]) * sd
    priors = gm.weights_[order]
    return {"means": means.tolist(), "stds": stds.tolist(), "priors": priors.tolist(),
            "threshold": bayes_threshold(means, stds, priors)}


def bayes_threshold(means, stds, priors) -> float:
    """Decision boundary of two Gaussian classes: where ``p(x|0) p(0) = p(x|1) p(1)``.

    Of the (up to two) solutions, the one nearest the midpoint of the means; the midpoint if
    there is none.
    """
    (m0, m1), (s0, s1), (p0, p1) = means, stds, priors
    s0, s1 = max(s0, 1e-30), max(s1, 1e-30)
    # log p0 - log s0 - (x-m0)^2/2s0^2 = log p1 - log s1 - (x-m1)^2/2s1^2  ->  a x^2 + b x + c = 0
    a = 1 / (2 * s1 ** 2) - 1 / (2 * s0 ** 2)
    b = m0 / s0 ** 2 - m1 / s1 ** 2
    c = m1 ** 2 / (2 * s1 ** 2) - m0 ** 2 / (2 * s0 ** 2) + np.log((p0 * s1) / (p1 * s0))
    scale = max(abs(b) * abs(m1 - m0), abs(c), 1e-300)
    if abs(a) * (m1 - m0) ** 2 < 1e-12 * scale:  # equal variances: one boundary
        return float(-c / b) if b != 0 else float((m0 + m1) / 2)
    roots = np.roots([a, b, c])
    real = roots[np.abs(roots.imag) <= 1e-9 * np.abs(roots).max()].real
    if real.size == 0:
        return float((m0 + m1) / 2)
    return float(real[np.argmin(np.abs(real - (m0 + m1) / 2))])  # the boundary between the classes


def dice(reference_mask, mask) -> float:
    """DICE (F1) of two binary masks: ``2 TP / (2 TP + FN + FP)`` (1 when both are empty)."""
    a, b = _masks(reference_mask, mask)
    tp = float(np.sum(a & b))
    den = 2 * tp + float(np.sum(a & ~b)) + float(np.sum(~a & b))
    return 2 * tp / den if den > 0 else 1.0


def ber(reference_mask, mask) -> float:
    """Bit error rate of two binary masks: ``(FP + FN) / N``."""
    a, b = _masks(reference_mask, mask)
    return float(np.mean(a != b))


def _masks(reference_mask, mask):
    a = np.asarray(reference_mask, dtype=bool)
    b = np.asarray(mask, dtype=bool)
    if a.shape != b.shape:
        raise fail("mask", f"the reference's shape {a.shape}", f"shape {b.shape}")
    return a, b


def _class_densities(values, priors, seed: int = 0, n_iter: int = 200, max_samples: int = 200_000):
    """Means and standard deviations of two Gaussian classes by EM with the priors held fixed.

    Starts from the split at the ``1 − p(1)`` quantile (the golden standard's share of
    feature voxels); scikit-learn's mixture cannot hold weights fixed, hence this loop.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size > max_samples:
        x = np.random.default_rng(seed).choice(x, max_samples, replace=False)
    p = np.asarray(priors, dtype=np.float64)
    cut = np.quantile(x, 1 - p[1])
    lo, hi = x[x <= cut], x[x > cut]
    if lo.size == 0 or hi.size == 0:  # ties at the quantile (a flat image): split at the mean instead
        lo, hi = x[x <= x.mean()], x[x > x.mean()]
    floor = 1e-6 * max(x.std(), abs(x.mean()), 1e-30)
    if lo.size == 0 or hi.size == 0:  # a constant image: one class, everything below the threshold
        return [float(x.mean()), float(x.mean()) + floor], [floor, floor]
    means = np.array([lo.mean(), hi.mean()])
    stds = np.maximum([lo.std(), hi.std()], floor)
    for _ in range(n_iter):
        logp = np.log(p) - np.log(stds) - 0.5 * ((x[:, None] - means) / stds) ** 2
        resp = np.exp(logp - logp.max(1, keepdims=True))
        resp /= resp.sum(1, keepdims=True)
        w = resp.sum(0)
        new = (resp * x[:, None]).sum(0) / w
        stds = np.maximum(np.sqrt((resp * (x[:, None] - new) ** 2).sum(0) / w), floor)
        if np.allclose(new, means, rtol=1e-7, atol=0):
            means = new
            break
        means = new
    order = np.argsort(means)
    return means[order].tolist(), stds[order].tolist()


def segmentation_scores(golden, image, seed: int = 0) -> dict:
    """DICE and BER of ``image`` against the golden standard, thresholds by EM and Bayes' rule.

    The golden standard is segmented at the Bayes threshold of its own two-component mixture
    (EM); the test volume's class densities are fitted by EM too, and it is segmented by
    Bayes' rule with the golden standard's priors ``p(0), p(1)`` (seed 001, section 4.6).

    Returns
    -------
    dict
        ``dice``, ``ber``, ``threshold_golden``, ``threshold_image``, ``priors``.
    """
    g = mixture_fit(golden, seed)
    means, stds = _class_densities(image, g["priors"], seed)
    thr = bayes_threshold(means, stds, g["priors"])
    ref_mask = np.asarray(golden) > g["threshold"]
    mask = np.asarray(image) > thr
    return {"dice": dice(ref_mask, mask), "ber": ber(ref_mask, mask), "threshold_golden": g["threshold"],
            "threshold_image": thr, "priors": g["priors"]}


def power_spectrum_planes(volume) -> dict:
    """Central planes of a volume's 3D power spectral density ``|F|²`` (zero frequency centred).

    Parameters
    ----------
    volume : ndarray, shape (Z, Y, X)

    Returns
    -------
    dict of ndarray
        ``"kz-kx"`` ``(Z, X)`` (at ky = 0), ``"kz-ky"`` ``(Z, Y)`` (kx = 0), ``"kx-ky"``
        ``(Y, X)`` (kz = 0), float64 — where a missing wedge of angles shows as an empty
        double cone.
    """
    v = np.asarray(volume, dtype=np.float64)
    if v.ndim != 3:
        raise fail("volume", "a 3D volume (Z, Y, X)", f"shape {v.shape}")
    psd = np.abs(np.fft.fftshift(np.fft.fftn(v - v.mean()))) ** 2
    cz, cy, cx = (s // 2 for s in v.shape)
    return {"kz-kx": psd[:, cy, :], "kz-ky": psd[:, :, cx], "kx-ky": psd[cz]}


def volume_scores(reference, image, golden=None, seed: int = 0) -> dict:
    """Seed 001's four scores of a volume: PCC, MS-SSIM, DICE and BER (segmentations against ``golden``,
    default the reference itself)."""
    seg = segmentation_scores(reference if golden is None else golden, image, seed)
    return {"pcc": pcc(reference, image), "ms_ssim": ms_ssim(reference, image), "dice": seg["dice"],
            "ber": seg["ber"]}
