"""The released notebooks, as a student meets them (issue 12, acceptance).

- With the textbook solutions pasted in (``course.textbook.paste``: the package regions and the
  notebooks' student cells), the four released notebooks run to the end and pass under nbval, in
  smoke mode (CS231N_SMOKE=1: synthetic data, small sizes), from the release's own folder. This
  is what CI runs; the real-data runs of the instructor notebooks are the notebooks/ tests.
  With ``CS231N_RELEASE_NOTEBOOKS=real`` in the environment they run on the real CIFAR-10
  instead (skipped when it is missing; about 15 minutes on 2 idle cores), as an instructor
  checks a release before handing it out.
- Untouched, each released notebook stops at its first stub with
  ``NotImplementedError: TODO: implement <function> (<file>)``, naming a function that the named
  file of the release really defines.

Every notebook runs in a kernel whose ``cs231n`` is the release's (a probe cell checks it).
"""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from course import release
from course.textbook import package as textbook_package
from course.textbook import paste

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_NAMES = ("FullyConnectedNets", "BatchNormalization", "Dropout", "ConvolutionalNetworks")
STUB_MESSAGE = re.compile(r"^TODO: implement (?P<name>[A-Za-z_][\w.]*) \((?P<file>cs231n/[\w/]+\.py)\)$")


def _build(tmp_path_factory, name):
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True)
    extra = [] if tracked.returncode == 0 and tracked.stdout.strip() else ["--include-untracked"]
    out = tmp_path_factory.mktemp(name) / "a2"
    assert release.main([str(out), "--source", str(REPO), "-q", *extra]) == 0, "the release failed"
    return out


def _probe_cell(root):
    return {"cell_type": "code", "execution_count": None, "id": "release-probe", "metadata": {},
            "outputs": [], "source": [
                "import cs231n, pathlib\n",
                f"assert pathlib.Path(cs231n.__file__).resolve().is_relative_to(pathlib.Path({str(root)!r}).resolve()),"
                " cs231n.__file__"]}


REAL_DATA = os.environ.get("CS231N_RELEASE_NOTEBOOKS", "").strip().lower() == "real"


def _env(root):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "CS231N_SMOKE"))}
    env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", TQDM_DISABLE="1", PYTHONPATH=str(root),
               OPENBLAS_NUM_THREADS=env.get("OPENBLAS_NUM_THREADS", "1"))
    if REAL_DATA:
        from cs231n import data_utils  # the instructor package's view of where the data is
        env.update(CS231N_DATA_DIR=str(Path(data_utils.cifar10_dir()).parent),
                   OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", str(os.cpu_count() or 1)))
    else:
        env.update(CS231N_SMOKE="1")
    return env


@pytest.fixture(scope="module")
def pasted_release(tmp_path_factory):
    if not textbook_package.SOLUTIONS:
        pytest.skip("course/textbook/package.py has no SOLUTIONS yet (the student-contract work): "
                    "nothing to paste into the package's regions")
    root = _build(tmp_path_factory, "pasted")
    written = paste(root)
    assert any(p.startswith("notebooks/") for p in written), "no notebook solution was pasted"
    for name in NOTEBOOK_NAMES:
        path = root / "notebooks" / f"{name}.ipynb"
        nb = json.loads(path.read_text())
        nb["cells"].insert(0, _probe_cell(root))
        path.write_text(json.dumps(nb, indent=1))
    return root


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_pasted_release_notebook_passes_under_nbval_in_smoke_mode(pasted_release, name, tmp_path):
    if REAL_DATA:
        from cs231n import data_utils
        if not data_utils.cifar10_available():
            pytest.skip("CS231N_RELEASE_NOTEBOOKS=real needs the real CIFAR-10")
    report = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
         "--nbval-sanitize-with=notebooks/nbval_sanitize.cfg", f"--junitxml={report}", f"notebooks/{name}.ipynb"],
        cwd=pasted_release, capture_output=True, text=True, timeout=3600 if REAL_DATA else 1200,
        env=_env(pasted_release))
    tail = (proc.stdout[-4000:] + proc.stderr[-2000:])
    assert proc.returncode == 0, f"{name} failed under nbval with the textbook solutions:\n{tail}"
    cases = list(ET.parse(report).getroot().iter("testcase"))
    ran = [c for c in cases if not any(e.tag == "skipped" for e in c)]
    assert len(cases) >= 5 and len(ran) == len(cases), f"{name}: expected every cell to run, {len(ran)} of {len(cases)}"


def _execute_until_first_error(path, root):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    probe = _probe_cell(root)
    nb.cells.insert(0, nbformat.v4.new_code_cell("".join(probe["source"])))
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                return index, errors[0]
    return None, None


@pytest.fixture(scope="module")
def untouched_release(tmp_path_factory):
    return _build(tmp_path_factory, "untouched")


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_untouched_release_notebook_stops_at_its_first_stub(untouched_release, name, monkeypatch):
    path = untouched_release / "notebooks" / f"{name}.ipynb"
    for key, value in _env(untouched_release).items():
        monkeypatch.setenv(key, value)
    index, error = _execute_until_first_error(path, untouched_release)
    assert error is not None, f"{name} ran to the end: it reaches no student part"
    assert index > 0, f"the probe cell failed: {error.get('evalue')}"
    assert error["ename"] == "NotImplementedError", f"{name}: first error is {error['ename']}: {error['evalue']}"
    match = STUB_MESSAGE.match(error["evalue"])
    assert match, f"{name}: the message does not name a function and its file: {error['evalue']!r}"
    source = (untouched_release / match["file"]).read_text()
    assert re.search(rf"^\s*def {re.escape(match['name'].split('.')[-1])}\(", source, re.M), \
        f"{name}: {match['file']} defines no {match['name']}"
