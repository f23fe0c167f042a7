import numpy as np
import pytest
import torch
from skimage.transform import radon

from tomolearn.geometry import FanGeometry, ParallelGeometry, uniform_angles
from tomolearn.physics import RayTransform, ray_transform

GEOMETRIES = [
    ParallelGeometry(uniform_angles(60), 48, volume_shape=(40, 44)),
    ParallelGeometry(uniform_angles(60), 48, cor_offset=2.5, voxel_size=0.1, detector_spacing=0.1),
    FanGeometry(uniform_angles(90, 2 * np.pi), 64, detector_spacing=1.4, source_origin=150, origin_detector=60,
                volume_shape=(48, 48)),
    FanGeometry(uniform_angles(90, 2 * np.pi), 64, detector_spacing=0.2, voxel_size=0.15, source_origin=20,
                origin_detector=8, cor_offset=-1.5, volume_shape=(48, 48)),
]


@pytest.mark.parametrize("g", GEOMETRIES, ids=lambda g: type(g).__name__)
def test_adjoint(g, rng):
    A = RayTransform(g)
    x = rng.random((2, *g.volume_shape), dtype=np.float32)
    y = rng.random((2, *A.sinogram_shape), dtype=np.float32)
    lhs = np.vdot(A.forward_slices(x), y)
    rhs = np.vdot(x, A.adjoint_slices(y))
    assert abs(lhs - rhs) / abs(lhs) < 1e-3


@pytest.mark.parametrize("g", GEOMETRIES, ids=lambda g: type(g).__name__)
def test_centre_of_rotation_projects_to_cor_offset(g):
    p = np.zeros(g.volume_shape, np.float32)
    cy, cx = g.volume_shape[0] // 2, g.volume_shape[1] // 2
    p[cy - 1:cy + 1, cx - 1:cx + 1] = 1  # a 2x2 blob centred on the axis
    s = RayTransform(g).forward(p)
    u = np.arange(g.n_detector) - (g.n_detector - 1) / 2
    centroid = (s * u).sum(1) / s.sum(1)
    assert np.allclose(centroid, g.cor_offset, atol=0.05)


def test_matches_skimage_radon_conventions():
    """Off-centre point: same detector position as skimage.transform.radon at every angle."""
    n = 65
    img = np.zeros((n, n), np.float32)
    img[14, 45] = 1.0  # row 14 (above centre), column 45 (right of centre)
    theta = np.array([0, 30, 75, 90, 135, 170.0])
    ref = radon(img, theta, circle=False)  # (detector, angle), centre at len // 2
    ours = RayTransform(ParallelGeometry(np.deg2rad(theta), n)).forward(img)
    u_ref = [np.sum((np.arange(ref.shape[0]) - ref.shape[0] // 2) * ref[:, i]) / ref[:, i].sum() for i in range(theta.size)]
    u_ours = [np.sum((np.arange(n) - n // 2) * ours[i]) / ours[i].sum() for i in range(theta.size)]
    assert np.allclose(u_ref, u_ours, atol=0.6)
    x, y = 45 - 32, 14 - 32  # u = x cos(theta) - y sin(theta), rows counted downwards
    assert np.allclose(u_ours, x * np.cos(np.deg2rad(theta)) - y * np.sin(np.deg2rad(theta)), atol=0.6)


def test_torch_autograd_is_the_adjoint(rng):
    g = GEOMETRIES[0]
    A = RayTransform(g)
    x = torch.tensor(rng.random((2, 1, *g.volume_shape), dtype=np.float32), requires_grad=True)
    w = torch.tensor(rng.random((2, 1, *A.sinogram_shape), dtype=np.float32))
    (ray_transform(x, A) * w).sum().backward()
    expected = A.adjoint_slices(w.numpy().reshape(2, *A.sinogram_shape)).reshape(x.shape)
    assert np.allclose(x.grad.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_volume_stack_axis_order():
    g = ParallelGeometry(uniform_angles(10), 16, n_rows=3)
    A = RayTransform(g)
    vol = np.zeros(g.volume_shape_3d, np.float32)
    vol[1, 8, 8] = 1
    proj = A.forward(vol)
    assert proj.shape == (10, 3, 16)
    assert proj[:, 1].sum() > 0 and proj[:, 0].sum() == 0 and proj[:, 2].sum() == 0
    assert A.adjoint(proj).shape == (3, 16, 16)


def test_wrong_shape_is_reported():
    A = RayTransform(GEOMETRIES[0])
    with pytest.raises(ValueError, match="volume"):
        A.forward(np.zeros((10, 10), np.float32))
