import os
from pathlib import Path

import numpy as np
import pytest

DATA = Path(os.environ.get("TOMOLEARN_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def data_file(*parts) -> Path:
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} (../shared/data is absent on this machine)")
    return p


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def write_htc_limited(full_name: str, out: Path, first: int, stop: int) -> Path:
    """An HTC2022 limited-angle file (CtDataLimited, the challenge's test format) cut from a full one."""
    import scipy.io

    src = scipy.io.loadmat(data_file("htc2022", full_name), squeeze_me=True, struct_as_record=False)["CtDataFull"]
    p = src.parameters
    params = {f: getattr(p, f) for f in p._fieldnames}
    params["angles"] = p.angles[first:stop]
    scipy.io.savemat(out, {"CtDataLimited": {"type": "limited", "sinogram": src.sinogram[first:stop],
                                             "parameters": params}})
    return out
