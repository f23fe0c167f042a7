import numpy as np
import pytest
from skimage.draw import disk

from tomolearn.geometry import FanGeometry, ParallelGeometry, uniform_angles
from tomolearn.metrics import psnr
from tomolearn.phantoms import ellipses_polygons, shepp_logan
from tomolearn.physics import RayTransform
from tomolearn.recon import FILTERS, cgls, fbp, sart, sirt, tv_pdhg

N = 96
PAR = ParallelGeometry(uniform_angles(180), 144, volume_shape=(N, N))
FAN = FanGeometry(uniform_angles(360, 2 * np.pi), 160, detector_spacing=1.3, source_origin=250, origin_detector=90,
                  volume_shape=(N, N), cor_offset=1.5)


@pytest.fixture(scope="module")
def phantom():
    return shepp_logan(N)


@pytest.mark.parametrize("g", [PAR, FAN], ids=["parallel", "fan"])
def test_fbp_psnr_floor(g, phantom):
    sino = RayTransform(g).forward(phantom)
    assert psnr(phantom, fbp(sino, g), data_range=1.0) > 27


@pytest.mark.parametrize("g", [PAR, FAN], ids=["parallel", "fan"])
def test_fbp_is_quantitative(g):
    """A flat off-centre disc of attenuation 2 per mm comes back as 2 per mm."""
    g = g.replace(voxel_size=0.05, detector_spacing=g.detector_spacing * 0.05, unit="mm",
                  **({"source_origin": g.source_origin * 0.05, "origin_detector": g.origin_detector * 0.05}
                     if isinstance(g, FanGeometry) else {}))
    x = np.zeros((N, N), np.float32)
    x[disk((40, 55), 22)] = 2.0
    rec = fbp(RayTransform(g).forward(x), g)
    assert rec[disk((40, 55), 14)].mean() == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize("name", FILTERS)
def test_every_filter_reconstructs(name, phantom):
    rec = fbp(RayTransform(PAR).forward(phantom), PAR, filter=name)
    assert psnr(phantom, rec, data_range=1.0) > 22


def test_unknown_filter():
    with pytest.raises(ValueError, match="filter"):
        fbp(np.zeros(PAR.projection_shape[::2], np.float32), PAR, filter="gauss")


def test_iterative_methods_on_limited_angle(phantom, rng):
    """60 degree arc with noise: all iterative methods beat FBP, TV beats SIRT."""
    g = PAR.arc(np.pi / 3, 0.4)
    sino = RayTransform(g).forward(phantom) + rng.normal(0, 0.3, (g.n_angles, g.n_detector)).astype(np.float32)
    scores = {"fbp": psnr(phantom, fbp(sino, g), data_range=1.0),
              "sirt": psnr(phantom, sirt(sino, g, 100), data_range=1.0),
              "sart": psnr(phantom, sart(sino, g, 10), data_range=1.0),
              "cgls": psnr(phantom, cgls(sino, g, 15), data_range=1.0),
              "tv": psnr(phantom, tv_pdhg(sino, g, weight=1.0, n_iter=150), data_range=1.0)}
    assert min(scores["sirt"], scores["sart"], scores["cgls"], scores["tv"]) > scores["fbp"]
    assert scores["tv"] > scores["sirt"]


def test_nonnegativity_and_callback(phantom):
    sino = RayTransform(PAR).forward(phantom)
    seen = []
    rec = sirt(sino, PAR, n_iter=50, callback=lambda k, x: seen.append(k) or k == 4)
    assert seen == [0, 1, 2, 3, 4]
    assert rec.min() >= 0


def test_stack_of_slices(phantom):
    g = PAR.replace(n_rows=2)
    vol = np.stack([phantom, phantom[::-1]])
    proj = RayTransform(g).forward(vol)
    rec = sirt(proj, g, 20)
    assert rec.shape == (2, N, N)
    assert np.allclose(rec[1], sirt(proj[:, 1], PAR, 20), atol=1e-5)


def test_nan_and_shape_errors():
    sino = np.zeros((PAR.n_angles, PAR.n_detector), np.float32)
    sino[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fbp(sino, PAR)
    with pytest.raises(ValueError, match="angles or detector"):
        sirt(np.zeros((10, PAR.n_detector), np.float32), PAR, 2)


def test_sart_uses_the_operator_it_is_given_for_its_subsets():
    """SART on fly-scan data with the fly-scan operator fits that operator (it used to swap in plain subsets)."""
    from tomolearn.physics import FlyScanTransform

    g = ParallelGeometry(uniform_angles(30), 48)
    fly = FlyScanTransform(g, np.deg2rad(6.0))
    x = ellipses_polygons(48, 5) * 0.05
    b = fly.forward(x)
    aware, naive = sart(b, fly, n_iter=10), sart(b, g, n_iter=10)
    misfit = lambda rec: np.linalg.norm(fly.forward(rec) - b) / np.linalg.norm(b)  # noqa: E731
    assert misfit(aware) < 0.7 * misfit(naive)
    assert np.linalg.norm(aware - x) < np.linalg.norm(naive - x)


def test_fan_beam_fbp_back_projects_with_the_operator_it_is_given():
    from tomolearn.geometry import FanGeometry
    from tomolearn.physics import RayTransform

    g = FanGeometry(uniform_angles(90, 2 * np.pi), 64, detector_spacing=1.4, source_origin=150, origin_detector=60,
                    volume_shape=(48, 48))
    sino = RayTransform(g).forward(ellipses_polygons(48, 2))

    class Counting(RayTransform):
        subsets = 0

        def subset(self, indices):
            Counting.subsets += 1
            return super().subset(indices)

    fbp(sino, Counting(g))
    assert Counting.subsets > 0  # each block of angles is back-projected by the caller's operator
    strip, line = fbp(sino, RayTransform(g, model="strip")), fbp(sino, g)
    assert not np.allclose(strip, line) and np.corrcoef(strip.ravel(), line.ravel())[0, 1] > 0.99


def test_tv_step_balance_leaves_balanced_problems_alone_and_converges_where_the_fixed_steps_stall():
    """Goldstein-style step balancing: the same iterates on a limited arc; far lower objective at heavy noise."""
    from tomolearn.geometry import ParallelGeometry, uniform_angles
    from tomolearn.phantoms import make_phantom
    from tomolearn.physics.projector import RayTransform
    from tomolearn.recon import tv_pdhg

    n = 64
    x = make_phantom("ellipses_polygons", n, 3).astype(np.float32) * 0.02

    def objective(img, sino, op, w):
        gy, gx = np.diff(img, axis=0, append=img[-1:]), np.diff(img, axis=1, append=img[:, -1:])
        return 0.5 * float(((op.forward_batch(img[None])[0] - sino) ** 2).sum()) + w * float(np.hypot(gx, gy).sum())

    arc = RayTransform(ParallelGeometry(uniform_angles(30, np.pi / 3), n, volume_shape=(n, n)))
    sino = arc.forward_batch(x[None])[0]
    same = tv_pdhg(sino, arc, weight=0.05, n_iter=60)  # A x̄ by linearity: equal up to float rounding
    np.testing.assert_allclose(same, tv_pdhg(sino, arc, weight=0.05, n_iter=60, balanced=False), rtol=0, atol=1e-6)
    # a detector wider than the grid: its outer rays miss it (no dual step there, no NaN in the residuals)
    full = RayTransform(ParallelGeometry(uniform_angles(180), 3 * n // 2, volume_shape=(n, n)))
    clean = full.forward_batch(x[None])[0]
    noisy = (clean + 0.3 * clean.max() * np.random.default_rng(0).standard_normal(clean.shape)).astype(np.float32)
    w = 3 * 180 * float(x.max())  # a strong weight, as heavy noise needs
    fixed = objective(tv_pdhg(noisy, full, weight=w, n_iter=100, balanced=False), noisy, full, w)
    balanced = objective(tv_pdhg(noisy, full, weight=w, n_iter=100), noisy, full, w)
    assert balanced < 0.85 * fixed, (balanced, fixed)  # measured 0.78
