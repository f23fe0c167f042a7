"""Contract tests run over every registered method: register one and it is tested here.

A method that needs a model file provides ``contract_params(folder)`` returning parameters that
point at small weights it writes there; every other method runs on its defaults.
"""
import warnings

import numpy as np
import pytest

from tomolearn.geometry import FanGeometry, ParallelGeometry, uniform_angles
from tomolearn.methods import available
from tomolearn.phantoms import ellipses_polygons
from tomolearn.physics import RayTransform
from tomolearn.result import Result
from tomolearn.scan import Scan
from tomolearn.workflow import reconstruct

METHODS = sorted(available())


def _ptycho_scan():
    """A tiny simulated ptycho-tomography scan (24^3 object, 4 angles, 16^2 patterns)."""
    from tomolearn.io.ptycho import PtychoScan
    from tomolearn.physics.multislice import MultisliceOperator, PtychoGeometry, make_probe, scan_positions
    from tomolearn.workflow.simulate import ptycho_object

    g = PtychoGeometry(np.radians([-60.0, -20.0, 20.0, 60.0]), (24, 24, 24), scan_positions(24, 24, 4), 16, 3.0)
    probe = make_probe(16, 2, 8)
    obj = ptycho_object(24, 0, g.energy_kev)
    return PtychoScan(MultisliceOperator(g, probe, n_slabs=4).apply(obj[None])[0], g, probe, reference=obj)


def _scan(kind: str) -> Scan:
    if kind == "ptycho":
        return _ptycho_scan()
    obj = np.stack([ellipses_polygons(32, s) for s in (1, 2)]) * 0.05
    if kind == "parallel":
        g = ParallelGeometry(uniform_angles(40), 32, n_rows=2)
    else:
        g = FanGeometry(uniform_angles(40, 2 * np.pi), 48, detector_spacing=1.5, source_origin=100, origin_detector=40,
                        volume_shape=(32, 32), n_rows=2)
    proj = np.moveaxis(RayTransform(g.replace(n_rows=1)).forward_batch(obj), 0, 1)  # (A, V, U)
    return Scan(proj, g)


def _params(name, tmp_path) -> dict:
    hook = getattr(available()[name], "contract_params", None)
    return hook(tmp_path) if hook else {}


@pytest.mark.parametrize("kind", ["parallel", "fan", "ptycho"])
@pytest.mark.parametrize("name", METHODS)
def test_method_returns_a_result_of_the_scan_shape(name, kind, tmp_path):
    cls = available()[name]
    scan = _scan(kind)
    if kind not in cls.geometries:
        with pytest.raises(ValueError, match="method"):
            reconstruct(scan, name, _params(name, tmp_path))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. a wedge outside a model's training range
        res = reconstruct(scan, name, _params(name, tmp_path), chunk_slices=1)
    assert isinstance(res, Result)
    shape = scan.geometry.volume_shape if kind == "ptycho" else (2, 32, 32)
    assert res.volume.shape == shape and res.volume.dtype == np.float32 and np.isfinite(res.volume).all()
    assert res.volume.std() > 0
    for m in res.maps.values():
        assert m.shape == res.volume.shape
    assert res.info["method"] == name and res.info["seconds"] >= 0 and res.info["slabs"] == (1 if kind == "ptycho" else 2)


@pytest.mark.parametrize(("name", "kind"), [(n, k) for n in METHODS for k in ("parallel", "ptycho")
                                             if k in available()[n].geometries])
def test_method_gives_trust_maps_on_every_geometry_it_takes(name, kind, tmp_path):
    """`reconstruct --trust`: data residual and null space of any method, uncertainty of a learned one."""
    cls = available()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = reconstruct(_scan(kind), name, _params(name, tmp_path), chunk_slices=1, trust=True)
    expected = {"data_residual", "null_space"} | ({"uncertainty"} if cls.kind == "learned" else set())
    assert expected <= set(res.maps)
    for m in res.maps.values():
        assert m.shape == res.volume.shape and np.isfinite(m).all()


@pytest.mark.parametrize("name", METHODS)
def test_method_rejects_bad_parameters_in_one_line(name, tmp_path):
    scan = _scan("parallel")
    with pytest.raises(ValueError, match=f"{name}.not_a_parameter") as err:
        reconstruct(scan, name, _params(name, tmp_path), not_a_parameter=1)
    assert "\n" not in str(err.value)
    cls = available()[name]
    for field, info in cls.Params.model_fields.items():
        if info.annotation in (int, float):
            with pytest.raises(ValueError, match=f"{name}.{field}"):
                reconstruct(scan, name, {**_params(name, tmp_path), field: "not a number"})


@pytest.mark.parametrize("name", METHODS)
def test_method_declares_what_users_see(name):
    cls = available()[name]
    assert cls.summary and "\n" not in cls.summary
    assert cls.kind in ("classical", "learned") and cls.execution in ("slice", "slab", "volume")
    assert set(cls.geometries) <= {"parallel", "fan", "ptycho"} and cls.geometries
    assert cls.__doc__, "the class docstring names the method's paper"
