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
