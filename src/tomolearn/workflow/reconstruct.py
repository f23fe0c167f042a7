"""`reconstruct`: any readable scan, any registered method, one call, one `Result`."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._checks import fail, positive_int
from ..geometry import FanGeometry
from ..methods import base as registry
from ..physics.projector import make_operator
from ..result import PER_SLICE_INFO, Result


def scan_operator(scan):
    """The slice-wise operator of a scan (:func:`geometry_operator` of its geometry)."""
    return geometry_operator(scan.geometry)


def geometry_operator(geometry):
    """The slice-wise operator of a geometry: its ray transform for one detector row.

    A fly scan (``geometry.exposure_arc > 0``) gets the blurred ray transform
    (:class:`~tomolearn.physics.flyscan.FlyScanTransform`, seed 003's Eq. 5, via
    :func:`~tomolearn.physics.projector.make_operator`), so every model-based method (MLEM
    becomes the seed's modified MLEM, SIRT, TV, ...) models the blur.
    """
    return make_operator(geometry.replace(n_rows=1))


def geometry_kind(geometry) -> str:
    """``"fan"``, ``"parallel"`` or ``"ptycho"``: the names methods declare in ``geometries``."""
    from ..physics.multislice import PtychoGeometry

    if isinstance(geometry, PtychoGeometry):
        return "ptycho"
    return "fan" if isinstance(geometry, FanGeometry) else "parallel"


def check_geometry(cls, geometry) -> None:
    """One-line error unless method class ``cls`` declares the scan's geometry kind."""
    kind = geometry_kind(geometry)
    if kind not in cls.geometries:
        what = "ptycho-tomography (diffraction) scans" if kind == "ptycho" else f"{kind}-beam scans"
        raise fail("method", f"a method for {what} ({cls.name!r} handles {', '.join(cls.geometries)})",
                   repr(cls.name), "pick another method (`tomolearn methods`)")


def mirrored(slab: np.ndarray, geometry):
    """The scan of the object mirrored left-right (``x[..., ::-1]``): angles ``-θ``, centre offset negated,
    detector rows reversed. ``A_{-θ}(x[:, ::-1]) = A_θ(x)[:, ::-1]`` for parallel and fan beam, so
    it is the same measurement seen in a mirror (``tests/test_trust_maps.py`` checks it)."""
    g = geometry.replace(angles=-np.asarray(geometry.angles), cor_offset=-geometry.cor_offset)
    return np.ascontiguousarray(slab[..., ::-1]), g


def mirror_uncertainty(instance, slab, op, volume) -> np.ndarray:
    """Per-voxel spread of a learned method under the one symmetry its canonical frames do not remove.

    The method reconstructs the mirrored scan (:func:`mirrored`); the spread of the two answers,
    ``|x - mirror(x')| / 2`` (their standard deviation), is large where the output depends on
    how the object happens to be oriented rather than on the data: test-time augmentation
    consistent with the geometry.
    """
    m_slab, m_geometry = mirrored(np.asarray(slab, np.float32), op.geometry)
    other = instance.run(m_slab, geometry_operator(m_geometry)).volume[..., ::-1]
    return (np.abs(volume - other) / 2).astype(np.float32)


@dataclass(frozen=True)
class TrustOptions:
    """What ``--trust`` computes for a learned method's ``uncertainty``.

    Attributes
    ----------
    uncertainty : {"mirror", "mc_dropout"}
        ``mirror``: test-time augmentation consistent with the geometry (:func:`mirror_uncertainty`,
        any weights); ``mc_dropout``: Monte-Carlo dropout (:func:`mc_dropout_uncertainty`, weights
        trained with dropout). An ensemble ``--model`` brings its own spread instead of either.
    samples : int
        Stochastic passes of ``mc_dropout`` (>= 2).

    Raises
    ------
    ValueError
        On another kind or fewer than 2 samples.
    """

    uncertainty: str = "mirror"
    samples: int = 8

    def __post_init__(self) -> None:
        if self.uncertainty not in ("mirror", "mc_dropout"):
            raise fail("uncertainty", "'mirror' or 'mc_dropout'", repr(self.uncertainty))
        if isinstance(self.samples, bool) or not isinstance(self.samples, (int, np.integer)) or self.samples < 2:
            raise fail("--mc-dropout", "2 or more stochastic passes", self.samples)


def trust_options(trust) -> TrustOptions | None:
    """``trust`` (False/True, a dict or :class:`TrustOptions`) as options, or None for no trust maps."""
    if isinstance(trust, TrustOptions):
        return trust
    if isinstance(trust, dict):
        return TrustOptions(**trust)
    return TrustOptions() if trust else None


def dropout_layers(instance) -> list:
    """The dropout layers of the networks a prepared method instance holds (any attribute)."""
    import torch.nn as nn

    nets = [v for v in vars(instance).values() if isinstance(v, nn.Module)]
    return [m for net in nets for m in net.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def checked_dropout_layers(instance) -> list:
    """:func:`dropout_layers` of a method instance, or a one-line error when it has none (before any work)."""
    layers = dropout_layers(instance)
    if not layers:
        raise fail("--mc-dropout", "weights trained with dropout (e.g. a study with model.dropout > 0)",
                   f"{instance.name!r} weights without dropout layers",
                   "use --trust alone (mirror uncertainty) or an ensemble (`train --ensemble K`)")
    return layers


def mc_dropout_uncertainty(instance, slab, op, samples: int = 8, seed: int = 0) -> np.ndarray:
    """Per-voxel standard deviation of ``samples`` passes of a learned method with its dropout switched on.

    Only the dropout layers are set to training mode (normalisation statistics stay frozen);
    the passes are seeded, so a slab gives the same map whatever ran before it.

    Raises
    ------
    ValueError
        If the method's networks have no dropout layers.

    References
    ----------
    Y. Gal and Z. Ghahramani, "Dropout as a Bayesian approximation: representing model
    uncertainty in deep learning", ICML 2016.
    """
    import torch

    layers = checked_dropout_layers(instance)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in layers:
            layer.train()
        try:
            passes = np.stack([instance.run(slab, op).volume for _ in range(int(samples))])
        finally:
            for layer in layers:
                layer.eval()
    return passes.std(0).astype(np.float32)


def with_trust_maps(result: Result, slab, op, instance=None, options: TrustOptions | None = None) -> Result:
    """``result`` with its trust maps (:mod:`tomolearn.trust`) filled in; maps the method made are kept.

    Any method gets ``data_residual`` (where the output contradicts the measured projections)
    and ``null_space`` (what it holds that those projections could not determine: seed 000's
    "where did the network guess?"); a learned ``instance`` also ``uncertainty``
    (:func:`mirror_uncertainty`, or :func:`mc_dropout_uncertainty` as ``options`` say). ``info``
    gains, per slice, ``data_residual_relative`` (``||A x - y|| / ||y||``) and
    ``data_residual_vs_fbp`` (that norm over FBP's on the same data: below 1 where the output
    explains the measured projections better than the classical reconstruction).
    """
    from dataclasses import replace

    from ..recon import fbp
    from ..trust import data_residual_map, null_space_map

    maps, info = {}, {}
    if result.data_residual is None:
        maps["data_residual"], rel = data_residual_map(result.volume, slab, op)
        classical = data_residual_map(fbp(np.asarray(slab, np.float32), op), slab, op)[1]
        info = {"data_residual_relative": [round(float(v), 6) for v in rel],
                "data_residual_vs_fbp": [round(float(v), 4) for v in rel / np.maximum(classical, 1e-30)]}
    if result.null_space is None:
        maps["null_space"] = null_space_map(result.volume, op)
    if result.uncertainty is None and instance is not None and instance.kind == "learned":
        options = options or TrustOptions()
        maps["uncertainty"] = (mc_dropout_uncertainty(instance, slab, op, options.samples)
                               if options.uncertainty == "mc_dropout"
                               else mirror_uncertainty(instance, slab, op, result.volume))
    return replace(result, **maps).with_info(**info)


def with_ptycho_trust_maps(result: Result, scan, instance, options: TrustOptions | None = None) -> Result:
    """:func:`with_trust_maps` for a ptycho-tomography scan: the physics is the multislice model, not a ray transform.

    ``data_residual`` is the step the multislice data term asks for at the output
    (:func:`~tomolearn.trust.ptycho_data_residual_map`, with the slabs and probe modes of the
    method's own model; ``info["data_residual_relative"]`` holds ``||I(δ) − g|| / ||g||``);
    ``null_space`` is the part of δ that the measured angles' projections do not determine
    (:func:`~tomolearn.trust.null_space_map` on the parallel-beam transform of the δ line
    integrals); a learned method's ``uncertainty`` is its spread over the mirror images of the
    measurement (its ``mirror_uncertainty``) or Monte-Carlo dropout, as ``options`` say.

    Raises
    ------
    ValueError
        If a learned method has no mirror uncertainty of ptycho scans (plug-ins: define
        ``mirror_uncertainty(scan, volume)``), or no dropout for ``mc_dropout``.
    """
    from dataclasses import replace

    from ..recon.ptycho import projection_geometry
    from ..trust import null_space_map, ptycho_data_residual_map

    maps, info = {}, {}
    n_slabs, n_modes = instance.multislice_model()
    if result.data_residual is None:
        maps["data_residual"], info["data_residual_relative"] = ptycho_data_residual_map(
            result.volume, scan, n_slabs=n_slabs, n_modes=n_modes, device=instance.device)
    if result.null_space is None:
        maps["null_space"] = null_space_map(result.volume, geometry_operator(projection_geometry(scan.geometry)))
    if result.uncertainty is None and instance.kind == "learned":
        options = options or TrustOptions()
        if options.uncertainty == "mc_dropout":
            maps["uncertainty"] = mc_dropout_uncertainty(instance, scan, None, options.samples)
        elif hasattr(instance, "mirror_uncertainty"):
            maps["uncertainty"] = instance.mirror_uncertainty(scan, result.volume)
        else:
            raise fail("method", "a learned ptycho-tomography method with a mirror_uncertainty(scan, volume)",
                       repr(instance.name), "use --mc-dropout or no --trust")
    return replace(result, **maps).with_info(**info)


def run_cropped(instance, slab, op, k0: int, k1: int, trust: bool | TrustOptions = False) -> Result:
    """Run a method on a slab ``(A, V, U)`` (rows with their halo) and keep output rows ``k0:k1``.

    ``info["seconds"]`` is the slab's time; ``trust`` (True or :class:`TrustOptions`) adds the
    trust maps (:func:`with_trust_maps`).

    Raises
    ------
    RuntimeError
        If the method returns another number of slices than it got rows.
    """
    t0 = time.perf_counter()
    res = instance.run(slab, op)
    if res.volume.shape[0] != slab.shape[1]:
        raise RuntimeError(f"method {instance.name!r} returned {res.volume.shape[0]} slices for {slab.shape[1]} rows")
    options = trust_options(trust)
    if options is not None:
        res = with_trust_maps(res, slab, op, instance, options)
    info = {**res.info, "seconds": round(time.perf_counter() - t0, 3),
            **{k: res.info[k][k0:k1] for k in PER_SLICE_INFO if k in res.info}}
    return Result(res.volume[k0:k1], info=info, **{n: m[k0:k1] for n, m in res.maps.items()})


def slabs(n_rows: int, size: int, halo: int = 0):
    """``(read_start, read_stop, keep_start, keep_stop)`` of each slab of detector rows.

    Rows ``read_start:read_stop`` go to the method (the slab and up to ``halo`` rows on each
    side); rows ``keep_start:keep_stop`` of its output (relative to ``read_start``) are kept.
    """
    out = []
    for start in range(0, n_rows, size):
        stop = min(start + size, n_rows)
        r0, r1 = max(0, start - halo), min(n_rows, stop + halo)
        out.append((r0, r1, start - r0, stop - r0))
    return out


def reconstruct(scan, method: str = "fbp", params=None, *, device: str = "cpu", op=None,
                chunk_slices: int | None = None, show_progress: bool = False, trust: bool | TrustOptions = False,
                **options) -> Result:
    """Reconstruct a scan with any registered method.

    Parameters
    ----------
    scan : Scan or PtychoScan
        From :func:`tomolearn.load_scan` or built in code; projections ``(A, V, U)``, or the
        diffraction patterns of a ptycho-tomography scan (methods of the ``"ptycho"`` geometry).
    method : str
        A registered method (``tomolearn methods`` lists them): ``fbp``, ``sirt``, ``sart``,
        ``cgls``, ``tv``, ``mlem``, ``learned``, ``missing_wedge``, plug-ins.
    params : dict or the method's Params, optional
        Its parameters; keyword ``options`` are merged in (``n_iter=50``, ``model=...``).
    device : str
        Torch device for learned methods ("cpu", "cuda", "cuda:1").
    op : LinearOperator, optional
        Slice-wise forward model (items ``(Y, X) -> (A, U)``); default the scan's ray transform.
        E.g. a :class:`~tomolearn.physics.FlyScanTransform` for modified MLEM.
    chunk_slices : int, optional
        Detector rows per slab handed to the method (default 32; whole volume for methods that
        declare ``execution="volume"``).
    show_progress : bool
    trust : bool or TrustOptions
        Also the ``data_residual`` and ``null_space`` maps of any method and a learned method's
        ``uncertainty`` (:func:`with_trust_maps`; :func:`with_ptycho_trust_maps` for a
        ptycho-tomography scan).

    Returns
    -------
    Result
        ``volume`` ``(Z, Y, X)`` float32 in attenuation per ``scan.geometry.unit``, the trust maps
        the method makes (and with ``trust`` the data-residual and null-space maps), and ``info`` (method, parameters, seconds).

    Raises
    ------
    ValueError
        On an unknown method, bad parameters, or a geometry the method does not handle.
    FileNotFoundError
        If a model file does not exist.
    """
    cls = registry.get(method)
    merged = params.model_dump() if isinstance(params, registry.Params) else dict(params or {})
    values = registry.parameters(method, {**merged, **options})
    check_geometry(cls, scan.geometry)
    instance = registry.build(method, values, device=device, show_progress=show_progress)
    t0 = time.perf_counter()
    instance.prepare(scan.geometry)
    options = trust_options(trust)
    if options is not None and options.uncertainty == "mc_dropout":
        checked_dropout_layers(instance)
    if geometry_kind(scan.geometry) == "ptycho":  # diffraction data: the method models its own physics
        result = instance.run(scan, op)
        if options is not None:
            result = with_ptycho_trust_maps(result, scan, instance, options)
        return result.with_info(method=method, parameters=values.model_dump(mode="json"), execution=cls.execution,
                                slabs=1, seconds=round(time.perf_counter() - t0, 3))
    op = op if op is not None else scan_operator(scan)
    n_rows = scan.projections.shape[1]
    size = n_rows if cls.execution == "volume" else positive_int(32 if chunk_slices is None else chunk_slices, "chunk_slices")
    parts = [run_cropped(instance, scan.projections[:, r0:r1], op, k0, k1, trust)
             for r0, r1, k0, k1 in slabs(n_rows, size, cls.halo if cls.execution == "slab" else 0)]
    result = Result.concatenate(parts)
    return result.with_info(method=method, parameters=values.model_dump(mode="json"), execution=cls.execution,
                            seconds=round(time.perf_counter() - t0, 3))


__all__ = ["TrustOptions", "check_geometry", "checked_dropout_layers", "dropout_layers", "geometry_kind",
           "geometry_operator", "mc_dropout_uncertainty", "mirror_uncertainty", "mirrored", "reconstruct", "run_cropped",
           "scan_operator", "slabs", "trust_options", "with_ptycho_trust_maps", "with_trust_maps"]
