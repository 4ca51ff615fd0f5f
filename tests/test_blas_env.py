"""``import cs231n`` shortens OpenBLAS's spin wait, before numpy loads, and never overrides the user."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("FullyConnectedNets", "BatchNormalization", "Dropout", "ConvolutionalNetworks")
VAR = "OPENBLAS_THREAD_TIMEOUT"


def _fresh_python(code, **env_changes):
    env = {k: v for k, v in os.environ.items() if k != VAR}
    env.update(env_changes)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_import_sets_the_timeout_without_loading_numpy():
    # numpy must still be unloaded after `import cs231n`, or OpenBLAS would have read the
    # environment already and the setting would come too late
    out = _fresh_python("import os, sys, cs231n; print(os.environ.get('%s'), 'numpy' in sys.modules)" % VAR)
    assert out == "4 False"


def test_a_value_the_user_set_wins():
    assert _fresh_python("import os, cs231n; print(os.environ['%s'])" % VAR, **{VAR: "12"}) == "12"


def _loads_numpy(line):
    line = line.strip()
    return (line.startswith("%matplotlib") or line.startswith(("import numpy", "import matplotlib",
                                                                "from numpy", "from matplotlib"))
            or (line.startswith(("import ", "from ")) and not line.startswith(("import cs231n",
                                                                               "from cs231n"))
                and line.split()[1].split(".")[0] not in ("math", "time", "copy", "os", "sys")))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_setup_cell_imports_cs231n_before_numpy(name):
    path = ROOT / "notebooks" / f"{name}.ipynb"
    if not path.is_file():
        pytest.skip(f"{path.name} is not here")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    setup = "".join(next(c for c in cells if c["cell_type"] == "code")["source"]).splitlines()
    first_cs231n = next(i for i, line in enumerate(setup) if line.strip().startswith("import cs231n"))
    first_numpy = next(i for i, line in enumerate(setup) if _loads_numpy(line))
    assert first_cs231n < first_numpy, f"{name}: `import cs231n` must come before line {first_numpy + 1}"
