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


def test_ms_ssim_2d_and_3d_is_one_for_identity_and_falls_with_noise():
    from tomolearn.metrics import ms_ssim

    rng = np.random.default_rng(0)
    vol = np.zeros((32, 32, 32), np.float32)
    vol[8:24, 10:20, 4:28] = 1
    assert ms_ssim(vol, vol) == pytest.approx(1.0, abs=1e-6)
    noisy = [ms_ssim(vol, vol + s * rng.standard_normal(vol.shape)) for s in (0.05, 0.2, 0.5)]
    assert 1 > noisy[0] > noisy[1] > noisy[2]
    assert ms_ssim(vol[16], vol[16] + 0.1 * rng.standard_normal((32, 32))) < 1
    with pytest.raises(ValueError, match="image"):
        ms_ssim(np.zeros((4, 4)), np.zeros((4, 4)))  # under 5 pixels a side


def test_dice_and_ber_count_the_confusion_matrix():
    from tomolearn.metrics import ber, dice

    a = np.array([1, 1, 1, 0, 0, 0, 0, 0], bool)
    b = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)  # TP 2, FN 1, FP 1, TN 4
    assert dice(a, b) == pytest.approx(4 / 6)
    assert ber(a, b) == pytest.approx(2 / 8)
    assert dice(a, a) == 1 and ber(a, a) == 0


def test_bayes_threshold_and_em_segmentation():
    from tomolearn.metrics import bayes_threshold, mixture_fit, segmentation_scores

    assert bayes_threshold([0, 2], [1, 1], [0.5, 0.5]) == pytest.approx(1.0)
    assert bayes_threshold([0, 2], [1, 1], [0.9, 0.1]) > 1.0  # a rare class needs more evidence
    rng = np.random.default_rng(1)
    truth = rng.random((24, 24, 24)) < 0.2
    golden = truth * 1.0 + 0.1 * rng.standard_normal(truth.shape)
    fit = mixture_fit(golden)
    assert fit["priors"][1] == pytest.approx(0.2, abs=0.02) and 0.3 < fit["threshold"] < 0.7
    good = segmentation_scores(golden, truth * 2.0 + 0.5 + 0.2 * rng.standard_normal(truth.shape))
    bad = segmentation_scores(golden, rng.standard_normal(truth.shape))
    assert good["dice"] > 0.95 and good["ber"] < 0.02
    assert bad["dice"] < 0.5 and bad["ber"] > 0.1


def test_power_spectrum_planes_show_the_missing_wedge():
    from tomolearn.metrics import power_spectrum_planes

    rng = np.random.default_rng(2)
    vol = rng.standard_normal((16, 32, 32))
    planes = power_spectrum_planes(vol)
    assert planes["kz-kx"].shape == (16, 32) and planes["kz-ky"].shape == (16, 32) and planes["kx-ky"].shape == (32, 32)
    # remove a double wedge of (ky, kx) directions: the kx-ky plane goes dark there
    f = np.fft.fftshift(np.fft.fftn(vol))
    ky, kx = np.meshgrid(np.arange(32) - 16, np.arange(32) - 16, indexing="ij")
    wedge = np.abs(ky) > 2 * np.abs(kx)
    f[:, wedge] = 0
    cut = np.fft.ifftn(np.fft.ifftshift(f)).real
    p = power_spectrum_planes(cut)["kx-ky"]
    assert p[wedge].max() < 1e-12 * p.max() + 1e-9


def test_ssim_of_thin_images_is_computed_row_by_row():
    from tomolearn.metrics import ssim

    rng = np.random.default_rng(0)
    a = rng.random((2, 300))
    b = a + 0.05 * rng.random((2, 300))
    score, smap = ssim(a, b, data_range=1.0, return_map=True)
    assert 0 < score < 1 and smap.shape == (2, 300)
    assert ssim(a.T, b.T, data_range=1.0) == score
    assert ssim(a, a, data_range=1.0) == 1.0


def test_ssim_of_a_volume_thinner_than_the_window_is_the_mean_over_its_slices():
    rng = np.random.default_rng(0)
    ref = rng.random((3, 32, 32)).astype(np.float32)
    img = (ref + 0.2 * rng.standard_normal(ref.shape)).astype(np.float32)
    per_slice = [ssim(r, i, 1.0) for r, i in zip(ref, img)]
    assert ssim(ref, img, 1.0) == pytest.approx(np.mean(per_slice))
    score, smap = ssim(ref, img, 1.0, return_map=True)
    assert smap.shape == ref.shape and score == pytest.approx(np.mean(per_slice))
