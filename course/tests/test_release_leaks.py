"""The student release gives nothing away (issue 12): build the real release and search every
shipped text file for the names and phrases listed in release_forbidden.txt beside this test.

Notebooks are searched in their cell sources and outputs; every other file as text. A failure
lists each leak as ``path: entry``.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from course import release

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = Path(__file__).with_name("release_forbidden.txt")


def forbidden_patterns(path=FORBIDDEN):
    """(entry, compiled regex, notebooks only) for each entry of the list (see its header)."""
    patterns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        body, notebooks_only = (entry[3:], True) if entry.startswith("nb:") else (entry, False)
        if body.startswith("re:"):
            rx = re.compile(body[3:])
        else:
            rx = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(body) + r"(?![A-Za-z0-9_])")
        patterns.append((body, rx, notebooks_only))
    return patterns


def release_texts(files):
    """{path: searchable text} of the released files ({rel: (bytes, mode)}); binaries skipped."""
    texts = {}
    for rel, (data, _) in files.items():
        if b"\0" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if rel.endswith(".ipynb"):
            cells = json.loads(text)["cells"]
            text = "\n".join("".join(c.get("source", [])) + "\n" + json.dumps(c.get("outputs", []))
                             for c in cells)
        texts[rel] = text
    return texts


def find_leaks(texts, patterns):
    return [f"{rel}: {entry}" for rel, text in sorted(texts.items()) for entry, rx, nb_only in patterns
            if (rel.endswith(".ipynb") or not nb_only) and rx.search(text)]


def _real_release_args():
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True)
    return tracked.returncode == 0 and bool(tracked.stdout.strip())


@pytest.fixture(scope="module")
def real_release_files():
    result = release.build_release(REPO, include_untracked=not _real_release_args())
    return result["files"]


def test_the_forbidden_list_is_sane():
    patterns = forbidden_patterns()
    assert len(patterns) >= 30
    entries = {e for e, _, _ in patterns}
    for name in ("conv_by_loops", "fc_tuned", "instructor edition", "momentum_by_hand"):
        assert name in entries
    # every plain entry can match: it finds itself in a text
    for entry, rx, _ in patterns:
        if not entry.startswith("re:"):
            assert rx.search(f"a {entry} b"), entry


def test_find_leaks_sees_a_planted_leak_and_word_boundaries():
    patterns = forbidden_patterns()
    texts = {"tests/test_x.py": "def conv_by_loops(x):\n    pass\n", "tests/test_softmax.py": "def test_softmax_loss():\n",
             "notebooks/N.ipynb": "x = 1\n# NBVAL_CHECK_OUTPUT\n", "README.md": "### BEGIN_SOLUTION\n",
             "setup.cfg": "# cells marked NBVAL_CHECK_OUTPUT are compared\n"}
    leaks = find_leaks(texts, patterns)
    assert "tests/test_x.py: conv_by_loops" in leaks
    assert not [leak for leak in leaks if leak.startswith("tests/test_softmax.py")]  # test_softmax_loss is fine
    assert "notebooks/N.ipynb: NBVAL_CHECK_OUTPUT" in leaks
    assert not [leak for leak in leaks if leak.startswith("setup.cfg")]  # nbval's config may name it
    assert any(leak.startswith("README.md: re:(?i)(BEGIN|END)") for leak in leaks)


@pytest.mark.slow
def test_the_instructor_source_holds_the_forbidden_names(real_release_files):
    # the list is not stale: most entries exist in the instructor source (so the test can fail)
    texts = {}
    for rel in ("notebooks/FullyConnectedNets.ipynb", "notebooks/ConvolutionalNetworks.ipynb",
                "notebooks/BatchNormalization.ipynb", "scripts/train_cifar.py"):
        texts[rel] = (REPO / rel).read_bytes(), 0o644
    found = {leak.split(": ", 1)[1] for leak in find_leaks(release_texts(texts), forbidden_patterns())}
    for entry in ("conv_by_loops", "max_pool_by_loops", "groupnorm_by_loops", "scores_by_hand",
                  "momentum_by_hand", "adam_by_hand", "fc_tuned", "instructor edition",
                  "NBVAL_CHECK_OUTPUT", "minus its component along", "The same thing written out directly"):
        assert entry in found, f"{entry!r} no longer appears in the instructor source: update the list"


@pytest.mark.slow
def test_real_release_has_no_forbidden_name_or_phrase(real_release_files):
    names = set(real_release_files)
    assert "README.md" in names and "notebooks/ConvolutionalNetworks.ipynb" in names
    assert not [n for n in names if n.startswith(("scripts/", "course/"))]
    leaks = find_leaks(release_texts(real_release_files), forbidden_patterns())
    assert not leaks, "the student release gives away:\n" + "\n".join(leaks)
