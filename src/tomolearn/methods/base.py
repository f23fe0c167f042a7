"""The method registry: every reconstruction method is one class that registers itself.

A method declares its name, a one-line summary, its typed parameters (a pydantic model with
defaults), what it needs (a model file, high-dose pairs, a GPU), which geometries it handles
and how it may be chunked (``"slice"``: slices are independent; ``"slab"``: slabs of rows
with a ``halo`` of extra rows on each side; ``"volume"``: the whole volume at once). It gets
the projections of a slab ``(A, V, U)`` and the slice-wise operator of the scan, and returns
one :class:`~tomolearn.result.Result`.

``reconstruct()``, the CLI's ``--method`` choices and options, ``tomolearn methods``, ``train``
subcommands and study files are all generated from this registry. Third-party packages add
methods through the entry-point group ``tomolearn.methods`` (the entry point names a module or
a class; importing it registers the methods).
"""
from __future__ import annotations

import importlib
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from .._checks import fail
from ..result import Result

ENTRY_POINT_GROUP = "tomolearn.methods"
#: modules of the built-in methods, imported on first use of the registry
BUILTIN = ("fbp", "sirt", "sart", "cgls", "tv", "mlem", "learned", "missing_wedge", "ptycho", "rapid", "lowdose", "flyscan", "lpd")

Execution = Literal["slice", "slab", "volume"]
_REGISTRY: dict[str, type["Method"]] = {}
_loaded = False


class Params(BaseModel):
    """Base of every method's parameters: unknown names are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


@dataclass(frozen=True)
class TrainingSpec:
    """How a trainable method is trained: ``tomolearn train NAME`` is generated from it.

    Attributes
    ----------
    config : type[pydantic.BaseModel]
        Typed training settings (each field becomes a ``--option``; tuples and lists are given
        as comma-separated values).
    target : str
        ``"module:function"`` called as ``function(config, out_dir, overwrite=, resume=,
        device=, show_progress=, log=, command=, devices=, strategy=, precision=)``; it returns
        a JSON-serialisable record (empty in the extra processes of a multi-process run) and is
        imported only when training runs (inference never imports training code).
    summary : str
        One line for ``tomolearn train --help``.
    """

    config: type[BaseModel]
    target: str
    summary: str = ""

    def load(self):
        module, _, func = self.target.partition(":")
        return getattr(importlib.import_module(module), func)


class Method(ABC):
    """A reconstruction method. Subclass, set the class attributes, implement :meth:`run`, register.

    Class attributes
    ----------------
    name : str
        What users type (``--method NAME``).
    summary : str
        One line for ``tomolearn methods``.
    Params : type[Params]
        Typed parameters with defaults.
    kind : {"classical", "learned"}
    needs : tuple of str
        Requirements shown to users, e.g. ``("model",)`` or ``("gpu",)``.
    geometries : tuple of str
        Geometry kinds handled: ``"parallel"``, ``"fan"`` (projections), or ``"ptycho"``
        (diffraction patterns of a :class:`~tomolearn.io.ptycho.PtychoScan`: ``run`` then gets
        the scan itself and ``op=None``).
    execution : {"slice", "slab", "volume"}
    halo : int
        Extra rows on each side of a slab (``execution="slab"``).
    maps : tuple of str
        The trust maps its results carry (``uncertainty``, ``data_residual``, ``null_space``),
        so chunked outputs can hold them.
    memory_factor : float
        Working memory in units of a slab's input + output bytes (iterates, gradients,
        activations): what ``--dry-run`` and the automatic slab size plan with.
    training : TrainingSpec or None
        Set for methods with ``tomolearn train NAME``.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params
    kind: ClassVar[Literal["classical", "learned"]] = "classical"
    needs: ClassVar[tuple[str, ...]] = ()
    geometries: ClassVar[tuple[str, ...]] = ("parallel", "fan")
    execution: ClassVar[Execution] = "slice"
    halo: ClassVar[int] = 0
    maps: ClassVar[tuple[str, ...]] = ()
    memory_factor: ClassVar[float] = 4.0
    training: ClassVar[TrainingSpec | None] = None

    def __init__(self, params: Params | None = None, device: str = "cpu", show_progress: bool = False) -> None:
        self.params = params if params is not None else self.Params()
        self.device = device
        self.show_progress = show_progress
        self._prepared = False

    def setup(self, geometry) -> None:
        """Prepare once before the first slab runs (load weights, check the scan's range). Default: nothing.

        ``geometry`` is the scan's (all rows); weights and models are loaded here, not in
        ``__init__``, so listing or validating methods stays cheap.
        """

    def prepare(self, geometry) -> "Method":
        """Call :meth:`setup` the first time only; returns ``self``."""
        if not self._prepared:
            self.setup(geometry)
            self._prepared = True
        return self

    @abstractmethod
    def run(self, projections: np.ndarray, op) -> Result:
        """Reconstruct a slab.

        Parameters
        ----------
        projections : ndarray, shape (A, V, U)
            Line integrals of ``V`` detector rows.
        op : LinearOperator
            The scan's slice-wise operator (items ``(Y, X) -> (A, U)``), with ``op.geometry``.

        Returns
        -------
        Result
            ``volume`` of shape ``(V, Y, X)``.
        """

    def image(self, sinogram: np.ndarray, op) -> np.ndarray:
        """One slice ``(Y, X)`` from one sinogram ``(A, U)`` (``op``: operator or geometry of the sinogram)."""
        from ..physics.projector import make_operator

        op = make_operator(op)
        return self.prepare(op.geometry).run(np.asarray(sinogram, dtype=np.float32)[:, None], op).volume[0]

    def slices(self, projections: np.ndarray):
        """The sinograms ``(A, U)`` of a slab, one per row (for per-slice methods)."""
        return (projections[:, v] for v in range(projections.shape[1]))


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: add a method to the registry under ``cls.name``.

    Raises
    ------
    TypeError
        If ``cls`` is not a :class:`Method` subclass or lacks a name or summary.
    ValueError
        If another class already holds the name.
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"register: expected a Method subclass, got {cls!r}")
    if not cls.name or not cls.summary:
        raise TypeError(f"register: {cls.__name__} needs class attributes name and summary")
    if cls.execution not in ("slice", "slab", "volume"):
        raise fail(f"{cls.__name__}.execution", "'slice', 'slab' or 'volume'", repr(cls.execution))
    held = _REGISTRY.get(cls.name)
    if held is not None and (held.__module__, held.__qualname__) != (cls.__module__, cls.__qualname__):
        raise fail("name", "a method name no other method holds", f"{cls.name!r} (held by {held.__module__})")
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in BUILTIN:
        importlib.import_module(f"{__package__}.{mod}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as err:  # a broken plug-in must not take the tool down
            warnings.warn(f"method plug-in {ep.name!r} ({ep.value}) failed to load: {type(err).__name__}: {err}",
                          stacklevel=2)


def available() -> dict[str, type[Method]]:
    """Every registered method (built-in and plug-ins), by name, built-ins first."""
    _load()
    return dict(_REGISTRY)


def get(name: str) -> type[Method]:
    """The method class registered as ``name``.

    Raises
    ------
    ValueError
        If no method has that name (the message lists those that exist).
    """
    methods = available()
    if name not in methods:
        raise fail("method", f"one of {', '.join(methods)}", repr(name), "`tomolearn methods` lists them")
    return methods[name]


def parameters(name: str, values: dict[str, Any] | Params | None = None) -> Params:
    """Validate ``values`` against a method's parameters (defaults fill the rest).

    Raises
    ------
    ValueError
        One line naming the method, the parameter, what it expects and what came.
    """
    cls = get(name)
    if isinstance(values, cls.Params):
        return values
    try:
        return cls.Params.model_validate(dict(values or {}))
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(map(str, e["loc"])) or "parameters"
        if e["type"] == "extra_forbidden":
            known = ", ".join(cls.Params.model_fields) or "none"
            raise fail(f"{name}.{loc}", f"a parameter of method {name!r} ({known})", "an unknown name") from None
        if e["type"] == "missing":
            field = cls.Params.model_fields.get(loc)
            raise fail(f"{name}.{loc}", f"a value ({field.description if field else 'required'})", "none",
                       f"pass it (--{loc.replace('_', '-')} on the command line)") from None
        expected = e["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
        raise fail(f"{name}.{loc}", expected, repr(e.get("input"))) from None


def build(name: str, values: dict[str, Any] | Params | None = None, device: str = "cpu",
          show_progress: bool = False) -> Method:
    """An instance of method ``name`` with validated parameters.

    A ``model`` parameter naming an ensemble run folder (``tomolearn train NAME --ensemble K``)
    gives an :class:`~tomolearn.methods.ensemble.Ensemble` of the method's members.

    Raises
    ------
    ValueError
        On an unknown method, bad parameters, or an unfinished or foreign ensemble.
    """
    from .ensemble import Ensemble, ensemble_members

    cls, params = get(name), parameters(name, values)
    members = ensemble_members(getattr(params, "model", None), name)
    if members:
        return Ensemble(cls, params, members, device=device, show_progress=show_progress)
    return cls(params, device=device, show_progress=show_progress)


def trainable() -> dict[str, type[Method]]:
    """The registered methods with a :class:`TrainingSpec`."""
    return {n: m for n, m in available().items() if m.training is not None}


def describe(cls: type[Method]) -> dict:
    """Name, kind, execution, needs, geometries, summary and parameters (defaults, types) of a method."""
    params = {}
    for fname, f in cls.Params.model_fields.items():
        params[fname] = {"default": None if f.is_required() else f.default, "required": f.is_required(),
                         "type": getattr(f.annotation, "__name__", None) or str(f.annotation).replace("typing.", ""),
                         "help": f.description or ""}
    return {"name": cls.name, "kind": cls.kind, "execution": cls.execution, "halo": cls.halo,
            "needs": list(cls.needs), "geometries": list(cls.geometries), "summary": cls.summary,
            "trainable": cls.training is not None, "parameters": params}


__all__ = ["ENTRY_POINT_GROUP", "Method", "Params", "TrainingSpec", "available", "build", "describe", "get",
           "parameters", "register", "trainable"]
