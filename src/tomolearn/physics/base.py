"""The operator interface every forward model implements, and the registry the contract tests read.

An :class:`Operator` maps one *item* of shape ``domain_shape`` (a slice ``(Y, X)``, a volume
``(Z, Y, X)``) to one item of shape ``range_shape`` (a sinogram ``(A, U)``, a stack of
diffraction patterns), batched over one leading axis: ``apply`` takes ``(N, *domain_shape)``
and returns ``(N, *range_shape)``. NumPy in gives NumPy out (CPU); a torch tensor in gives a
tensor on the same device, differentiable. Nonlinear physics (multislice ptychography) is an
``Operator``; a :class:`LinearOperator` adds the adjoint, an operator-norm estimate,
restriction to a subset of views (for ordered subsets) and a torch autograd path built from
its forward and adjoint.

Solvers take an operator only; the acquisition geometry, where there is one, comes from
``op.geometry``.
"""
from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np

from .._checks import fail

if TYPE_CHECKING:  # torch is imported only when a tensor is met (see is_tensor)
    import torch


def is_tensor(x) -> bool:
    """True for a torch tensor; never imports torch (NumPy-only work stays free of it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)

#: registered operator classes, by name (the contract tests run over all of them)
OPERATORS: dict[str, type["Operator"]] = {}


def register_operator(cls: type["Operator"]) -> type["Operator"]:
    """Class decorator: add an operator to :data:`OPERATORS` under ``cls.name``.

    The class must provide ``examples()``, a classmethod returning small instances (a few
    angles, a few dozen pixels) on which the contract tests check shapes, the adjoint, subsets
    and autograd.

    Raises
    ------
    TypeError
        If ``cls`` is not an :class:`Operator` or has no ``examples``.
    ValueError
        If another class already holds the name.
    """
    if not (isinstance(cls, type) and issubclass(cls, Operator)):
        raise TypeError(f"register_operator: expected an Operator subclass, got {cls!r}")
    if not callable(getattr(cls, "examples", None)):
        raise TypeError(f"register_operator: {cls.__name__} needs a classmethod examples() for the contract tests")
    name = getattr(cls, "name", "") or cls.__name__
    if name in OPERATORS and OPERATORS[name] is not cls:
        raise fail("name", "a name no other operator holds", repr(name))
    OPERATORS[name] = cls
    return cls


class Operator(ABC):
    """A forward model ``y = F(x)``, applied item by item to a leading batch axis.

    Subclasses set ``domain_shape`` / ``range_shape`` (shapes of one item) and ``domain_dtype``
    / ``range_dtype`` (float32 or complex64), and implement :meth:`apply`.
    """

    name: ClassVar[str] = ""
    linear: ClassVar[bool] = False
    domain_dtype: ClassVar[np.dtype] = np.dtype(np.float32)
    range_dtype: ClassVar[np.dtype] = np.dtype(np.float32)

    @property
    @abstractmethod
    def domain_shape(self) -> tuple[int, ...]:
        """Shape of one input item."""

    @property
    @abstractmethod
    def range_shape(self) -> tuple[int, ...]:
        """Shape of one output item."""

    @abstractmethod
    def apply(self, x):
        """``F(x)`` of a batch: ``(N, *domain_shape)`` -> ``(N, *range_shape)``.

        NumPy in, NumPy out; a torch tensor in, a tensor on its device out (differentiable).
        """

    def forward(self, x):
        """``F(x)`` of one item ``domain_shape`` or a batch ``(N, *domain_shape)``."""
        single = tuple(np.shape(x)) == tuple(self.domain_shape)
        y = self.apply(x[None] if single else x)
        return y[0] if single else y

    def __call__(self, x):
        return self.forward(x)

    def check_batch(self, x, name: str, shape: tuple[int, ...]) -> None:
        """Raise a one-line ``ValueError`` unless ``x`` is ``(N, *shape)``."""
        if tuple(np.shape(x)[1:]) != tuple(shape) or np.ndim(x) != len(shape) + 1:
            raise fail(name, f"a batch of shape (N, {', '.join(map(str, shape))})", f"shape {tuple(np.shape(x))}",
                       "check the geometry's volume_shape / angles / n_detector")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({tuple(self.domain_shape)} -> {tuple(self.range_shape)})"


class LinearOperator(Operator):
    """A linear forward model ``A`` with its adjoint ``A^T``.

    Subclasses implement :meth:`forward_batch` and :meth:`adjoint_batch` on NumPy batches
    (``cuda=True`` asks for GPU kernels when the caller's data live on a CUDA device) and,
    where it means something, :meth:`subset`. The torch path (``apply`` on a tensor, or
    :func:`ray_transform`) is derived from them: the gradient of ``A`` is ``A^T``.
    """

    linear: ClassVar[bool] = True

    @abstractmethod
    def forward_batch(self, x: np.ndarray, cuda: bool = False) -> np.ndarray:
        """``A x`` of a NumPy batch ``(N, *domain_shape)`` -> ``(N, *range_shape)``."""

    @abstractmethod
    def adjoint_batch(self, y: np.ndarray, cuda: bool = False) -> np.ndarray:
        """``A^T y`` of a NumPy batch ``(N, *range_shape)`` -> ``(N, *domain_shape)``."""

    def apply(self, x):
        if is_tensor(x):
            return _linear_fn().apply(x, self, False)
        return self.forward_batch(x)

    def apply_adjoint(self, y):
        """``A^T y`` of a batch ``(N, *range_shape)``; NumPy or torch like :meth:`apply`."""
        if is_tensor(y):
            return _linear_fn().apply(y, self, True)
        return self.adjoint_batch(y)

    def adjoint(self, y):
        """``A^T y`` of one item ``range_shape`` or a batch ``(N, *range_shape)``."""
        single = tuple(np.shape(y)) == tuple(self.range_shape)
        x = self.apply_adjoint(y[None] if single else y)
        return x[0] if single else x

    @property
    def T(self) -> "LinearOperator":
        """The adjoint as an operator (``op.T.forward(y) == op.adjoint(y)``)."""
        return _Adjoint(self)

    @property
    def n_views(self) -> int:
        """Number of views (the first axis of ``range_shape``): what :meth:`subset` selects from."""
        return int(self.range_shape[0])

    def subset(self, indices) -> "LinearOperator":
        """The operator restricted to the views at ``indices`` (ordered subsets).

        Raises
        ------
        NotImplementedError
            For operators without views.
        """
        raise NotImplementedError(f"{type(self).__name__} has no subsets of views; ordered-subset solvers "
                                  "(SART, OSEM) need an operator that implements subset()")

    def norm(self, n_iter: int = 30, seed: int = 0) -> float:
        """Largest singular value ``||A||_2``, estimated by power iteration on ``A^T A``.

        Parameters
        ----------
        n_iter : int
            Power iterations (30 give ~1 % on a ray transform).
        seed : int
            Seed of the random start.
        """
        rng = np.random.default_rng(seed)
        x = rng.random((1, *self.domain_shape), dtype=np.float32)
        s = 0.0
        for _ in range(int(n_iter)):
            x /= max(float(np.linalg.norm(x)), 1e-30)
            x = self.adjoint_batch(self.forward_batch(x))
            s = float(np.linalg.norm(x))
        return float(np.sqrt(s))


class SliceOperator(LinearOperator):
    """A slice-wise tomographic operator of ``self.geometry``: items ``(Y, X) -> (A, U)``.

    Subclasses set ``self.geometry`` and implement ``forward_batch`` / ``adjoint_batch``;
    shapes and the Data Exchange ordering of whole volumes come from here: ``forward`` maps
    ``(Z, Y, X)`` to projections ``(A, Z, U)`` (a slice ``(Y, X)`` to a sinogram ``(A, U)``,
    a tensor ``(..., Y, X)`` to ``(..., A, U)`` with autograd) and ``adjoint`` back.
    """

    geometry: object

    @property
    def domain_shape(self) -> tuple[int, int]:
        return tuple(self.geometry.volume_shape)

    @property
    def range_shape(self) -> tuple[int, int]:
        return (self.geometry.n_angles, self.geometry.n_detector)

    @property
    def slice_shape(self) -> tuple[int, int]:
        return self.domain_shape

    @property
    def sinogram_shape(self) -> tuple[int, int]:
        return self.range_shape

    def forward_slices(self, volume: np.ndarray, cuda: bool = False) -> np.ndarray:
        """``(N, Y, X)`` -> ``(N, A, U)`` (:meth:`forward_batch` under the name of slices)."""
        return self.forward_batch(volume, cuda)

    def adjoint_slices(self, sinograms: np.ndarray, cuda: bool = False) -> np.ndarray:
        """``(N, A, U)`` -> ``(N, Y, X)`` (:meth:`adjoint_batch` under the name of slices)."""
        return self.adjoint_batch(sinograms, cuda)

    def forward(self, volume):
        """Projections of a volume.

        Parameters
        ----------
        volume : ndarray, shape (Z, Y, X) or (Y, X); or a tensor (..., Y, X)
            Attenuation per ``geometry.unit``.

        Returns
        -------
        ndarray, shape (A, Z, U) or (A, U); a tensor (..., A, U) for a tensor input
            Line integrals.

        Raises
        ------
        ValueError
            If the slice shape does not match ``geometry.volume_shape``.
        """
        if is_tensor(volume):
            return ray_transform(volume, self)
        arr = np.asarray(volume, dtype=np.float32)
        sino = self.forward_batch(arr[None] if arr.ndim == 2 else arr)
        return sino[0] if arr.ndim == 2 else np.moveaxis(sino, 0, 1)

    def adjoint(self, projections):
        """Back projection ``A^T``: ``(A, Z, U)`` or ``(A, U)`` to ``(Z, Y, X)`` or ``(Y, X)``."""
        if is_tensor(projections):
            return ray_transform(projections, self, adjoint=True)
        arr = np.asarray(projections, dtype=np.float32)
        vol = self.adjoint_batch(np.moveaxis(arr, 1, 0) if arr.ndim == 3 else arr[None])
        return vol[0] if arr.ndim == 2 else vol


class _Adjoint(LinearOperator):
    def __init__(self, op: LinearOperator) -> None:
        self.op = op

    @property
    def domain_shape(self):
        return self.op.range_shape

    @property
    def range_shape(self):
        return self.op.domain_shape

    def forward_batch(self, x, cuda=False):
        return self.op.adjoint_batch(x, cuda)

    def adjoint_batch(self, y, cuda=False):
        return self.op.forward_batch(y, cuda)

    @property
    def T(self) -> LinearOperator:
        return self.op


_FN = None


def _linear_fn():
    """The autograd Function ``A`` / ``A^T`` (built on first use, so importing physics needs no torch)."""
    global _FN
    if _FN is not None:
        return _FN
    import torch

    class LinearFn(torch.autograd.Function):
        """``A`` (or ``A^T``) on the trailing axes of a tensor; its gradient is the other one."""

        @staticmethod
        def forward(ctx, x, op: LinearOperator, adjoint: bool):
            ctx.op, ctx.adjoint = op, adjoint
            item = op.range_shape if adjoint else op.domain_shape
            k = len(item)
            if tuple(x.shape[x.ndim - k:]) != tuple(item):
                raise fail("x", f"a tensor of shape (..., {', '.join(map(str, item))})", f"shape {tuple(x.shape)}",
                           "check the geometry's volume_shape / angles / n_detector")
            lead = x.shape[:x.ndim - k]
            flat = x.detach().reshape(-1, *item).to("cpu", torch.float32).numpy()
            fn: Callable = op.adjoint_batch if adjoint else op.forward_batch
            y = fn(flat, cuda=x.is_cuda)
            return torch.from_numpy(np.ascontiguousarray(y)).reshape(*lead, *y.shape[1:]).to(x.device)

        @staticmethod
        def backward(ctx, grad):
            return LinearFn.apply(grad.contiguous(), ctx.op, not ctx.adjoint), None, None

    _FN = LinearFn
    return _FN


def ray_transform(x: torch.Tensor, op: LinearOperator, adjoint: bool = False) -> torch.Tensor:
    """Differentiable ``A x`` (or ``A^T x``) of a torch tensor; the result is on ``x``'s device.

    Parameters
    ----------
    x : Tensor, shape (..., *op.domain_shape) or, with ``adjoint=True``, (..., *op.range_shape)
        Any leading batch dimensions, e.g. ``(B, C)``; for a ray transform ``(..., Y, X)`` and
        ``(..., A, U)``.
    op : LinearOperator
    adjoint : bool
        Apply ``A^T`` instead of ``A``.

    Returns
    -------
    Tensor, shape (..., *op.range_shape) or (..., *op.domain_shape)

    Raises
    ------
    TypeError
        If ``x`` is not a tensor or ``op`` not a linear operator.
    ValueError
        If the trailing shape does not match the operator.
    """
    if not is_tensor(x):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if not isinstance(op, LinearOperator):
        raise TypeError(f"op: expected a LinearOperator (e.g. RayTransform), got {type(op).__name__}")
    return _linear_fn().apply(x, op, adjoint)


__all__ = ["OPERATORS", "Operator", "LinearOperator", "SliceOperator", "register_operator", "ray_transform"]
