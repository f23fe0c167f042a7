"""`Result`, slab execution with a halo, and the registry's rules."""
import numpy as np
import pytest

from tomolearn.geometry import ParallelGeometry, uniform_angles
from tomolearn.methods import Method, Params, base, register
from tomolearn.result import Result
from tomolearn.scan import Scan
from tomolearn.workflow import reconstruct
from tomolearn.workflow.reconstruct import slabs


def test_result_checks_maps_and_joins_slabs():
    v = np.zeros((2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="uncertainty"):
        Result(v, uncertainty=np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="volume"):
        Result(np.zeros((4, 4)))
    a = Result(v, uncertainty=v + 1, info={"seconds": 1.0})
    b = Result(v + 2, uncertainty=v + 3, null_space=v, info={"seconds": 2.0})
    j = Result.concatenate([a, b])
    assert j.volume.shape == (4, 4, 4) and j.volume[2:].max() == 2
    assert set(j.maps) == {"uncertainty"}  # a map only some slabs have is dropped, not padded
    assert j.info["seconds"] == 3.0 and j.info["slabs"] == 2


def test_slabs_cover_every_row_once_with_their_halo():
    parts = slabs(10, 4, halo=2)
    kept = [r0 + k for r0, r1, k0, k1 in parts for k in range(k0, k1)]
    assert kept == list(range(10))
    assert all(r0 >= 0 and r1 <= 10 for r0, r1, _, _ in parts)
    assert parts[1] == (2, 10, 2, 6)


@pytest.fixture
def slab_method():
    seen = []

    class RowParams(Params):
        pass

    @register
    class RowIndex(Method):
        """Returns each row's index as its slice (tests the slab runner)."""

        name = "_test_row_index"
        summary = "test only"
        Params = RowParams
        execution = "slab"
        halo = 2

        def run(self, projections, op):
            seen.append(projections.shape[1])
            vol = np.broadcast_to(projections[0, :, :1, None], (projections.shape[1], *op.domain_shape))
            return Result(vol.copy())
    yield seen
    base._REGISTRY.pop("_test_row_index")


def test_slab_methods_get_their_halo_and_the_runner_crops_it(slab_method):
    g = ParallelGeometry(uniform_angles(8), 6, n_rows=11)
    proj = np.broadcast_to(np.arange(11, dtype=np.float32)[None, :, None], (8, 11, 6)).copy()
    res = reconstruct(Scan(proj, g), "_test_row_index", chunk_slices=4)
    assert np.array_equal(res.volume[:, 0, 0], np.arange(11))
    assert slab_method == [6, 8, 5]  # 4 rows + halo 2 (clipped at the ends)
    assert res.info["execution"] == "slab" and res.info["slabs"] == 3


def test_a_name_is_held_once():
    class Other(Method):
        """A second FBP."""

        name = "fbp"
        summary = "clash"

        def run(self, projections, op):
            raise AssertionError

    with pytest.raises(ValueError, match="fbp"):
        register(Other)
    with pytest.raises(TypeError, match="summary"):
        register(type("NoSummary", (Method,), {"name": "x", "run": lambda self, p, o: None}))
