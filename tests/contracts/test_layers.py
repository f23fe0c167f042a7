"""The layering rules of DESIGN.md that a grep or an import can check."""
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "tomolearn"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, timeout=300, check=True)
    return set(out.stdout.split())


def test_no_method_dispatch_by_name_in_the_package():
    for path in SRC.rglob("*.py"):
        assert "if method ==" not in path.read_text(), path


def test_readers_do_not_import_reconstruction():
    mods = _modules_after("import tomolearn.io, tomolearn.io.htc, tomolearn.io.dxchange, tomolearn.io.nxtomo, "
                          "tomolearn.io.mrc, tomolearn.io.tiffstack, tomolearn.io.volume, tomolearn.io.ptycho")
    assert not {m for m in mods if m.startswith(("tomolearn.recon", "tomolearn.alignment", "tomolearn.physics"))}


INFERENCE = """
import warnings
import numpy as np
import tomolearn.methods as m
from tomolearn.geometry import ParallelGeometry
from tomolearn.scan import Scan
from tomolearn.workflow import reconstruct
warnings.simplefilter("ignore")
m.available()
g = ParallelGeometry(np.deg2rad(np.arange(-60, 61, 2.0)), 64)
reconstruct(Scan(np.random.default_rng(0).random((g.n_angles, 1, 64), dtype=np.float32), g), "missing_wedge")
"""


def test_inference_does_not_import_training_code():
    mods = _modules_after(INFERENCE)
    assert "tomolearn.methods.missing_wedge" in mods
    assert not {m for m in mods if m.startswith(("lightning", "pytorch_lightning", "tomolearn.train"))}


def test_cli_and_classical_reconstruction_do_not_import_torch():
    """`tomolearn --help`, `methods` and classical methods stay quick: torch loads only with a network."""
    mods = _modules_after("import numpy as np\n"
                          "import tomolearn.cli\n"
                          "from tomolearn.geometry import ParallelGeometry, uniform_angles\n"
                          "from tomolearn.scan import Scan\n"
                          "from tomolearn.workflow import reconstruct\n"
                          "g = ParallelGeometry(uniform_angles(30), 32)\n"
                          "reconstruct(Scan(np.ones((30, 1, 32), np.float32), g), 'sart', n_iter=2)\n")
    assert "tomolearn.methods.missing_wedge" in mods and "torch" not in mods
