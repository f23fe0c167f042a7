"""Contract tests run over every registered operator: register one and it is tested here."""
import numpy as np
import pytest
import torch

import tomolearn.physics  # noqa: F401  (registers the built-in operators)
from tomolearn.physics.base import OPERATORS, LinearOperator

EXAMPLES = [(name, i, op) for name, cls in OPERATORS.items() for i, op in enumerate(cls.examples())]
IDS = [f"{name}-{i}" for name, i, _ in EXAMPLES]


def test_the_built_in_operators_are_registered():
    assert {"ray_transform", "flyscan", "multislice"} <= set(OPERATORS)


@pytest.mark.parametrize("name, i, op", EXAMPLES, ids=IDS)
def test_shapes_and_dtypes(name, i, op):
    x = np.random.default_rng(0).random((3, *op.domain_shape), dtype=np.float32)
    y = op.apply(x)
    assert y.shape == (3, *op.range_shape) and y.dtype == op.range_dtype
    assert op.forward(x[0]).shape == tuple(op.range_shape)
    with pytest.raises(ValueError, match="shape"):
        op.apply(np.zeros((1, *[s + 1 for s in op.domain_shape]), np.float32))


@pytest.mark.parametrize("name, i, op", [e for e in EXAMPLES if e[2].linear], ids=[d for d, e in zip(IDS, EXAMPLES) if e[2].linear])
def test_adjoint(name, i, op: LinearOperator):
    rng = np.random.default_rng(1)
    x = rng.random((2, *op.domain_shape), dtype=np.float32)
    y = rng.random((2, *op.range_shape), dtype=np.float32)
    lhs, rhs = np.vdot(op.forward_batch(x), y), np.vdot(x, op.adjoint_batch(y))
    assert abs(lhs - rhs) / abs(lhs) < 1e-3
    assert op.adjoint(y[0]).shape == tuple(op.domain_shape)
    np.testing.assert_allclose(op.T.forward_batch(y), op.adjoint_batch(y))


@pytest.mark.parametrize("name, i, op", [e for e in EXAMPLES if e[2].linear], ids=[d for d, e in zip(IDS, EXAMPLES) if e[2].linear])
def test_subset_is_the_restriction_to_those_views(name, i, op: LinearOperator):
    x = np.random.default_rng(2).random((2, *op.domain_shape), dtype=np.float32)
    idx = np.arange(1, op.n_views, 3)
    sub = op.subset(idx)
    assert type(sub) is type(op) and sub.n_views == idx.size
    np.testing.assert_allclose(sub.forward_batch(x), op.forward_batch(x)[:, idx], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, i, op", [e for e in EXAMPLES if e[2].linear], ids=[d for d, e in zip(IDS, EXAMPLES) if e[2].linear])
def test_autograd_gradient_is_the_adjoint(name, i, op: LinearOperator):
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.random((2, 1, *op.domain_shape), dtype=np.float32), requires_grad=True)
    w = rng.random((2, 1, *op.range_shape), dtype=np.float32)
    y = op.apply(x)
    assert isinstance(y, torch.Tensor) and y.shape == (2, 1, *op.range_shape) and y.device == x.device
    (y * torch.from_numpy(w)).sum().backward()
    expected = op.adjoint_batch(w.reshape(2, *op.range_shape)).reshape(x.shape)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, i, op", [e for e in EXAMPLES if e[2].linear], ids=[d for d, e in zip(IDS, EXAMPLES) if e[2].linear])
def test_norm_bounds_the_operator(name, i, op: LinearOperator):
    s = op.norm(n_iter=20)
    assert s > 0
    x = np.random.default_rng(4).standard_normal((5, *op.domain_shape)).astype(np.float32)
    ratios = np.linalg.norm(op.forward_batch(x).reshape(5, -1), axis=1) / np.linalg.norm(x.reshape(5, -1), axis=1)
    assert ratios.max() <= 1.02 * s


@pytest.mark.parametrize("name, i, op", [e for e in EXAMPLES if not e[2].linear],
                         ids=[d for d, e in zip(IDS, EXAMPLES) if not e[2].linear])
def test_nonlinear_autograd_matches_finite_differences(name, i, op):
    """A nonlinear operator's torch path is differentiable and its gradient is the directional derivative."""
    rng = np.random.default_rng(5)
    x0 = torch.tensor(rng.random((1, *op.domain_shape)) * 1e-3, dtype=torch.float32)
    w = torch.tensor(rng.random((1, *op.range_shape)), dtype=torch.float32)
    d = torch.tensor(rng.standard_normal((1, *op.domain_shape)), dtype=torch.float32)
    x = x0.clone().requires_grad_(True)
    y = op.apply(x)
    assert isinstance(y, torch.Tensor) and y.shape == (1, *op.range_shape) and y.device == x.device
    (y * w).sum().backward()
    analytic = float((x.grad * d).sum())
    h = 1e-3 * float(x0.abs().max())
    numeric = float(((op.apply(x0 + h * d) - op.apply(x0 - h * d)) * w).sum()) / (2 * h)
    assert analytic == pytest.approx(numeric, rel=5e-2, abs=1e-6 * abs(analytic) + 1e-9)
    np.testing.assert_allclose(op.apply(x0.numpy()), y.detach().numpy(), rtol=1e-5, atol=1e-7)
