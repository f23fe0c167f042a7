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


def _scan(kind: str) -> Scan:
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


@pytest.mark.parametrize("kind", ["parallel", "fan"])
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
    assert res.volume.shape == (2, 32, 32) and res.volume.dtype == np.float32 and np.isfinite(res.volume).all()
    assert res.volume.std() > 0
    for m in res.maps.values():
        assert m.shape == res.volume.shape
    assert res.info["method"] == name and res.info["seconds"] >= 0 and res.info["slabs"] == 2


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
    assert set(cls.geometries) <= {"parallel", "fan"} and cls.geometries
    assert cls.__doc__, "the class docstring names the method's paper"
