"""Shared pytest setup.

- Tests marked ``realdata`` need the real CIFAR-10 in the data directory; without it they are
  skipped, with the reason and the fetch command in the skip message and in the summary.
- ``synthetic_cifar10``: a small data set in the CIFAR-10 file format (5 x 100 training images,
  100 test images), written once per session to a temporary folder.
"""

import pytest

from cs231n.data_utils import cifar10_available, cifar10_dir
from cs231n.download import FETCH_COMMAND
from cs231n.synthetic_cifar import write_synthetic_cifar10

_SKIPPED_REALDATA = []


def pytest_collection_modifyitems(config, items):
    if cifar10_available():
        return
    skip = pytest.mark.skip(reason=f"real CIFAR-10 not found in {cifar10_dir()}; fetch it with: {FETCH_COMMAND}")
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(skip)
            _SKIPPED_REALDATA.append(item.nodeid)


def pytest_terminal_summary(terminalreporter):
    if _SKIPPED_REALDATA:
        terminalreporter.write_line(
            f"{len(_SKIPPED_REALDATA)} realdata test(s) skipped: real CIFAR-10 not found in {cifar10_dir()} "
            f"(fetch it with: {FETCH_COMMAND})", yellow=True)


@pytest.fixture(scope="session")
def synthetic_cifar10(tmp_path_factory):
    """Path of a synthetic ``cifar-10-batches-py`` folder (seed 0, 100 images per batch)."""
    return write_synthetic_cifar10(tmp_path_factory.mktemp("synthetic"), per_batch=100, seed=0)
