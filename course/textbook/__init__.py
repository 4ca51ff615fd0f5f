"""Textbook student solutions, region by region, to paste into a fresh student release.

They are written the way a good student of the original assignment writes them (temporaries,
loops where the original's hints suggest loops, the state left to the given store-back, the
student's own cache tuples), not the instructor's model answers. Instructor-only: the release
never contains ``course/``.

- ``package.SOLUTIONS``: ``{path: {region key: code}}`` for the ``.py`` files of ``cs231n/``.
- ``package.VARIANTS``: other correct solutions, ``{name: {path: {key: code}}}`` (overrides).
- ``package.MUTANTS``: known-wrong solutions, ``{name: ({path: {key: code}}, what it breaks)}``.
- ``notebooks.SOLUTIONS``: ``{path: {"cell#k": code}}`` for the notebooks' student cells.

Region keys are those of ``course.regions`` (function name, ``#2`` for a second region in the
same function; ``cell#k`` in notebooks).
"""

from pathlib import Path

from ..regions import fill_regions
from . import notebooks, package


def solutions():
    """All textbook solutions: ``{path: {key: code}}`` (package files and notebooks)."""
    merged = {}
    for table in (package.SOLUTIONS, notebooks.SOLUTIONS):
        for rel, bodies in table.items():
            merged.setdefault(rel, {}).update(bodies)
    return merged


def paste(tree, overrides=None, include_notebooks=True):
    """Fill the student regions of the release at ``tree`` with the textbook solutions.

    ``overrides`` (``{path: {key: code}}``) replace or add single regions, e.g. a variant or a
    mutant. Returns the list of paths written. Raises ``course.regions.RegionError`` if a key
    names no region of the release (the solutions and the release disagree).
    """
    tree = Path(tree)
    table = solutions() if include_notebooks else {k: dict(v) for k, v in package.SOLUTIONS.items()}
    for rel, bodies in (overrides or {}).items():
        table.setdefault(rel, {}).update(bodies)
    written = []
    for rel, bodies in sorted(table.items()):
        path = tree / rel
        text = path.read_text(encoding="utf-8")
        new = fill_regions(text, rel, bodies)
        if new != text:
            path.write_text(new, encoding="utf-8")
            written.append(rel)
    return written
