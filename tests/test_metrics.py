import numpy as np
import pytest

from tomolearn.metrics import image_metrics, mcc, pcc, psnr, segment, ssim


def test_mcc_known_values():
    a = np.array([1, 1, 0, 0], bool)
    assert mcc(a, a) == pytest.approx(1.0)
    assert mcc(a, ~a) == pytest.approx(-1.0)
    b = np.array([1, 0, 1, 0], bool)  # tp=1 tn=1 fp=1 fn=1
    assert mcc(a, b) == pytest.approx(0.0)
    assert mcc(a, np.zeros(4, bool)) == 0.0


def test_image_metrics(rng):
    ref = rng.random((32, 32))
    assert psnr(ref, ref + 0.01) == pytest.approx(20 * np.log10((ref.max() - ref.min()) / 0.01), rel=1e-6)
    assert ssim(ref, ref) == pytest.approx(1.0)
    _, smap = ssim(ref, ref, return_map=True)
    assert smap.shape == ref.shape
    assert pcc(ref, 3 * ref + 1) == pytest.approx(1.0)
    assert set(image_metrics(ref, ref + 0.01)) == {"psnr", "ssim", "nrmse", "pcc"}


def test_otsu_segmentation():
    img = np.zeros((20, 20))
    img[5:10, 5:10] = 1.0
    assert segment(img + 0.05).sum() == 25


def test_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
