"""Generated student submissions, for the batch grader's tests and benchmark (instructor-only).

A submission is what ``python -m cs231n.submission`` packs (``cs231n/`` and ``notebooks/``): the
release of this repository (``course.release``) with the textbook solutions pasted into its
regions (``course.textbook``: package regions from the ``contract`` engineer, notebook cells from
the ``release`` engineer; a region without a textbook solution keeps its stub). The notebooks are
marked as run (execution counts in order; no outputs). ``stub`` lists regions put back to the
release stub, ``replace`` gives other bodies (``{(path, key): code}``, keys of ``course.regions``;
a body starting with ``PREPEND`` goes before the region's textbook body instead of replacing it).
"""

import io
import json
import random
import zipfile
from functools import lru_cache
from pathlib import Path

from .regions import fill_regions, read_regions

REPO = Path(__file__).resolve().parents[1]
STUB = 'raise NotImplementedError("TODO: implement this region")'
PREPEND = "#prepend\n"


@lru_cache(maxsize=1)
def _release_texts():
    from .release import build_release
    files = build_release(REPO)["files"]
    return {rel: data.decode("utf-8") for rel, (data, _) in files.items()
            if (rel.startswith("cs231n/") and rel.endswith(".py")) or
            (rel.startswith("notebooks/") and rel.endswith(".ipynb"))}


def _mark_run(text):
    nb = json.loads(text)
    count = 0
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code" and "".join(cell.get("source", "")).strip():
            count += 1
            cell["execution_count"] = count
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


@lru_cache(maxsize=1)
def _solved():
    from .textbook import solutions
    table = solutions()
    out = {}
    for rel, text in _release_texts().items():
        known = {r.key for r in read_regions(text, rel)}
        bodies = {k: v for k, v in table.get(rel, {}).items() if k in known}
        text = fill_regions(text, rel, bodies) if bodies else text
        out[rel] = _mark_run(text) if rel.endswith(".ipynb") else text
    return out


def student_files():
    """``{rel: text}``: a complete submission (textbook solutions, notebooks marked as run)."""
    return dict(_solved())


def regions(files, notebooks=False):
    """``[(rel, key)]`` of every student region of ``files`` (only ``.py`` files by default)."""
    return [(rel, r.key) for rel, text in sorted(files.items())
            if rel.endswith(".py") or (notebooks and rel.endswith(".ipynb")) for r in read_regions(text, rel)]


def region_of(files, rel, function):
    """``(rel, key)`` of the first region of ``function`` (a plain or qualified name) in ``rel``."""
    for r in read_regions(files[rel], rel):
        name = r.key.split("#")[0]
        if name == function or name.rsplit(".", 1)[-1] == function:
            return rel, r.key
    raise KeyError(f"no student region in {function} ({rel})")


def submission_files(stub=(), replace=None, files=None):
    """A submission with the regions in ``stub`` stubbed and those in ``replace`` replaced."""
    files = dict(files if files is not None else student_files())
    changes = {}
    for rel, key in stub:
        changes.setdefault(rel, {})[key] = STUB + "\n"
    for (rel, key), body in (replace or {}).items():
        if body.startswith(PREPEND):
            current = {r.key: r.body for r in read_regions(files[rel], rel)}[key]
            body = body.removeprefix(PREPEND) + current
        changes.setdefault(rel, {})[key] = body
    for rel, bodies in changes.items():
        files[rel] = fill_regions(files[rel], rel, bodies)
    return files


def write_zip(path, files, top="a2"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, text in sorted(files.items()):
            zf.writestr(f"{top}/{rel}" if top else rel, text)
    Path(path).write_bytes(buf.getvalue())


def write_folder(path, files):
    for rel, text in files.items():
        target = Path(path) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def make_class(out_dir, n, seed=0, mutants=None):
    """Write ``n`` zips ``s000.zip`` ... into ``out_dir``: the textbook submission with one random
    region mutated (a textbook MUTANT when ``mutants`` has some and a coin says so, else the
    region stubbed); every fifth submission is left complete. Returns {id: what was mutated}."""
    rng = random.Random(seed)
    files = student_files()
    all_regions = regions(files)
    mutants = list((mutants or {}).items())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = {}
    for i in range(n):
        sid = f"s{i:03d}"
        sub, what = files, None
        if i % 5:
            if mutants and rng.random() < 0.5:
                name, (table, topic) = rng.choice(mutants)
                sub = submission_files(replace={(rel, key): code for rel, bodies in table.items()
                                                for key, code in bodies.items()}, files=files)
                what = f"mutant {name} ({topic})"
            else:
                region = rng.choice(all_regions)
                sub, what = submission_files(stub=[region], files=files), f"stub {region[0]}:{region[1]}"
        write_zip(out_dir / f"{sid}.zip", sub)
        plan[sid] = what
    return plan
