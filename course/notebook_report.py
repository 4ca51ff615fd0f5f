"""Read a student's submitted notebooks: were they run, did their checks pass, are the given cells
intact, what accuracy do the open-ended parts report. Instructor-only (``course/``).

Usage::

    python -m course.notebook_report SUBMISSION [--config items.json] [--json FILE]

SUBMISSION is an unpacked submission folder or a zip. The release's notebooks (built in memory
from this repository with ``course.release``, or read from ``--release DIR``) give the reference:
the hash of every given code cell (its source with the student regions' bodies left out, trailing
spaces ignored) and the inline questions.

Items, for each notebook of the release that the submission should contain (``PyTorch.ipynb``
only when the release has it):

- ``NB:present``      the notebook is in the submission and is valid JSON
- ``NB:ran``          every code cell has been run (an execution count), top to bottom
- ``NB:no_errors``    no cell has an error output (a failed check cell, an exception)
- ``NB:given_cells``  every given code cell of the release is there unchanged (edited check cells)
- ``NB:real_data``    the setup cell reports real CIFAR-10, not the synthetic smoke mode
- one item per row of ``RESULTS`` (e.g. ``FullyConnectedNets:fcnet_val``): the figure the
  notebook printed, compared with a floor.

Every figure is what the student's notebook printed (a ``RESULT: ... = 0.568`` line): it is a
report, not a measurement (``from_given_cell`` says whether the line came from an unchanged given
cell). Rerun the notebook to verify a figure that matters.

What an item is worth is the instructor's choice (``--config``, JSON)::

    {"items": {"*:ran": {"points": 1}, "FullyConnectedNets:fcnet_val": {"points": 5},
               "*:real_data": {"flag": true}, "Dropout:*": {"ignore": true}}}

Keys are item ids or shell patterns (the last matching key wins); ``points`` makes the item
graded (all or nothing), ``flag`` (the default) lists a failed item for review without points,
``ignore`` drops it. ``floor`` overrides a result's floor.
"""

import argparse
import fnmatch
import hashlib
import json
import re
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .edition import ANSWER_PLACEHOLDER
from .regions import STUDENT_BEGIN, STUDENT_END

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("FullyConnectedNets.ipynb", "BatchNormalization.ipynb", "Dropout.ipynb",
             "ConvolutionalNetworks.ipynb", "PyTorch.ipynb")
MAX_NOTEBOOK_BYTES = 20 * 2**20

# The figures the open-ended parts print, one row per item, with the floors the notebooks state.
# Adapt the patterns when a notebook changes what it prints; the first group of ``pattern`` is the
# number (a fraction or a percent).
RESULTS = (
    {"id": "FullyConnectedNets:twolayer_val", "notebook": "FullyConnectedNets.ipynb", "floor": 0.50,
     "title": "TwoLayerNet validation accuracy",
     "pattern": r"RESULT: TwoLayerNet validation accuracy = ([0-9.]+%?)"},
    {"id": "FullyConnectedNets:fcnet_val", "notebook": "FullyConnectedNets.ipynb", "floor": 0.50,
     "title": "best FullyConnectedNet validation accuracy",
     "pattern": r"RESULT: FullyConnectedNet validation accuracy = ([0-9.]+%?)"},
    {"id": "FullyConnectedNets:fcnet_test", "notebook": "FullyConnectedNets.ipynb", "floor": None,
     "title": "best FullyConnectedNet test accuracy",
     "pattern": r"RESULT: FullyConnectedNet test accuracy = ([0-9.]+%?)"},
    {"id": "BatchNormalization:bn_val", "notebook": "BatchNormalization.ipynb", "floor": None,
     "title": "six-layer network with batchnorm, best validation accuracy",
     "pattern": r"RESULT: six-layer batchnorm best val acc = ([0-9.]+%?)"},
    {"id": "Dropout:dropout_val", "notebook": "Dropout.ipynb", "floor": None,
     "title": "validation accuracy with dropout",
     "pattern": r"RESULT: validation accuracy with dropout[^=]*= ([0-9.]+%?)"},
    {"id": "ConvolutionalNetworks:overfit_train", "notebook": "ConvolutionalNetworks.ipynb", "floor": 0.75,
     "title": "ThreeLayerConvNet overfits 100 images (training accuracy)",
     "pattern": r"RESULT: ThreeLayerConvNet overfit train acc[^=]*= ([0-9.]+%?)"},
    {"id": "ConvolutionalNetworks:convnet_val", "notebook": "ConvolutionalNetworks.ipynb", "floor": 0.38,
     "title": "ThreeLayerConvNet one epoch (original recipe), validation accuracy",
     "pattern": r"RESULT: ThreeLayerConvNet one epoch, original recipe, val acc = ([0-9.]+%?)"},
    {"id": "ConvolutionalNetworks:convnet_better_val", "notebook": "ConvolutionalNetworks.ipynb", "floor": 0.50,
     "title": "ThreeLayerConvNet one epoch (better recipe), validation accuracy",
     "pattern": r"RESULT: ThreeLayerConvNet one epoch, better recipe, val acc = ([0-9.]+%?)"},
    {"id": "PyTorch:part5_val", "notebook": "PyTorch.ipynb", "floor": 0.70,
     "title": "Part V open-ended model, best validation accuracy",
     "pattern": r"RESULT: Part V best val acc = ([0-9.]+%?)"},
    {"id": "PyTorch:part5_test", "notebook": "PyTorch.ipynb", "floor": None,
     "title": "Part V open-ended model, test accuracy",
     "pattern": r"RESULT: Part V test acc = ([0-9.]+%?)"},
)
REAL_DATA = re.compile(r"Real mode")
ANY_RESULT = re.compile(r"^RESULT: (.+?) = ([0-9.]+%?)\s*$", re.MULTILINE)


@dataclass
class Item:
    id: str
    title: str
    notebook: str
    ok: bool
    message: str = ""
    value: float | None = None
    points: float = 0  # 0: flagged only
    graded: bool = False

    @property
    def earned(self):
        return self.points if (self.graded and self.ok) else 0

    def to_dict(self):
        return {**asdict(self), "earned": self.earned}


# ---------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------

def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


_BEGIN = (STUDENT_BEGIN, "### BEGIN SOLUTION")  # a release's markers, or the instructor source's
_END = (STUDENT_END, "### END SOLUTION")


def given_hash(source):
    """sha256 of a code cell's given part: region bodies left out, trailing spaces ignored."""
    kept, inside = [], False
    for line in source.splitlines():
        text = line.strip()
        if text in _BEGIN:
            inside = True
            kept.append(STUDENT_BEGIN)
        elif text in _END:
            inside = False
            kept.append(STUDENT_END)
        elif not inside and not text.startswith("# NBVAL_"):  # the release strips nbval comments
            kept.append(line.rstrip())
    while kept and not kept[-1]:
        kept.pop()
    return hashlib.sha256("\n".join(kept).encode("utf-8")).hexdigest()


def markdown_hash(source):
    """sha256 of a markdown cell's text, whitespace at the ends of lines and cell ignored."""
    text = "\n".join(line.rstrip() for line in source.strip().splitlines())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _outputs_text(cell):
    parts = []
    for out in cell.get("outputs", []) or []:
        if not isinstance(out, dict):
            continue
        if out.get("output_type") == "stream":
            parts.append(_source({"source": out.get("text", "")}))
        elif isinstance(out.get("data"), dict) and "text/plain" in out["data"]:
            parts.append(_source({"source": out["data"]["text/plain"]}))
    return "".join(parts)


def load_notebook(path):
    """The notebook at ``path`` as a dict with a list of cells; ValueError says what is wrong."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{path.name} is {size / 2**20:.0f} MB, over {MAX_NOTEBOOK_BYTES // 2**20} MB")
    try:
        nb = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path.name} is not a valid notebook ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or \
            not all(isinstance(c, dict) for c in nb["cells"]):
        raise ValueError(f"{path.name} is not a valid notebook (no list of cells)")
    return nb


# ---------------------------------------------------------------------------------------------
# The reference: the release's notebooks
# ---------------------------------------------------------------------------------------------

def reference_from_notebooks(notebooks):
    """``{name: notebook dict}`` of the release -> the reference (JSON-ready)."""
    ref = {}
    for name, nb in notebooks.items():
        given, answers, markdown = [], [], []
        for index, cell in enumerate(nb["cells"]):
            src = _source(cell)
            if cell.get("cell_type") == "code" and src.strip():
                first = next((l for l in src.splitlines() if l.strip()), "")
                given.append({"index": index, "hash": given_hash(src), "first_line": first[:80]})
            elif cell.get("cell_type") == "markdown":
                markdown.append(markdown_hash(src))
                if ANSWER_PLACEHOLDER in src:  # one cell may hold several questions
                    answers.append({"index": index, "segments": src.split(ANSWER_PLACEHOLDER)})
        ref[name] = {"given": given, "answers": answers, "markdown": markdown}
    return {"notebooks": ref}


def build_reference(release=None):
    """The reference from a release folder, or (default) from a release of this repository built
    in memory (``course.release``)."""
    notebooks = {}
    if release is not None:
        for name in NOTEBOOKS:
            path = Path(release) / "notebooks" / name
            if path.is_file():
                notebooks[name] = load_notebook(path)
    else:
        from .release import build_release
        files = build_release(REPO)["files"]
        for name in NOTEBOOKS:
            if f"notebooks/{name}" in files:
                notebooks[name] = json.loads(files[f"notebooks/{name}"][0].decode("utf-8"))
    if not notebooks:
        raise ValueError(f"no notebooks in the release {release or REPO}")
    return reference_from_notebooks(notebooks)


# ---------------------------------------------------------------------------------------------
# Reading one submission
# ---------------------------------------------------------------------------------------------

def find_notebook(root, name):
    """``root/notebooks/NAME``, else a single ``NAME`` anywhere under root (no symlinks)."""
    root = Path(root)
    direct = root / "notebooks" / name
    if direct.is_file() and not direct.is_symlink():
        return direct
    hits = [p for p in sorted(root.rglob(name)) if p.is_file() and not p.is_symlink()
            and ".ipynb_checkpoints" not in p.parts]
    return hits[0] if hits else None


def _number(text):
    value = float(text.rstrip("%"))
    return value / 100 if text.endswith("%") or value > 1.5 else value


def read_notebook(nb, ref):
    """Facts of one loaded notebook against its reference entry (a dict, JSON-ready)."""
    cells = nb["cells"]
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code" and _source(c).strip()]
    not_run = [i + 1 for i, c in code if c.get("execution_count") is None]
    counts = [c.get("execution_count") for _, c in code if isinstance(c.get("execution_count"), int)]
    in_order = all(a < b for a, b in zip(counts, counts[1:]))
    errors = []
    for i, c in code:
        for out in c.get("outputs", []) or []:
            if isinstance(out, dict) and out.get("output_type") == "error":
                errors.append(f"cell {i + 1}: {str(out.get('ename', ''))[:60]}: {str(out.get('evalue', ''))[:200]}")
    hashes = {}
    for i, c in code:
        hashes.setdefault(given_hash(_source(c)), []).append(i)
    missing = [g for g in ref["given"] if g["hash"] not in hashes]
    given_ids = {i for g in ref["given"] for i in hashes.get(g["hash"], [])}
    results = []
    for i, c in code:
        for m in ANY_RESULT.finditer(_outputs_text(c)):
            results.append({"label": m.group(1), "text": m.group(2), "cell": i + 1, "from_given_cell": i in given_ids})
    setup = _outputs_text(code[0][1]) if code else ""
    return {"cells": len(cells), "code_cells": len(code), "not_run": not_run, "in_order": in_order,
            "errors": errors, "edited_given": [f"cell {g['index'] + 1} of the release ({g['first_line']})" for g in missing],
            "results": results, "real_data": bool(REAL_DATA.search(setup))}


def _short(seq, n=5):
    seq = list(map(str, seq))
    return ", ".join(seq[:n]) + (f" and {len(seq) - n} more" if len(seq) > n else "")


def report(root, reference, config=None):
    """The notebook items of the submission at ``root`` (a folder), configured by ``config``."""
    items = []
    for name, ref in reference["notebooks"].items():
        stem = name.removesuffix(".ipynb")
        path = find_notebook(root, name) if root is not None else None
        try:
            if path is None:
                raise ValueError(f"{name} is not in the submission")
            facts = read_notebook(load_notebook(path), ref)
        except (ValueError, OSError) as exc:
            items.append(Item(f"{stem}:present", f"{name} submitted", name, False, str(exc)))
            for suffix, title in (("ran", "run to the end"), ("no_errors", "no errors"),
                                  ("given_cells", "given cells unchanged"), ("real_data", "real CIFAR-10")):
                items.append(Item(f"{stem}:{suffix}", f"{name} {title}", name, False, "notebook missing"))
            for row in RESULTS:
                if row["notebook"] == name:
                    items.append(Item(row["id"], row["title"], name, False, "notebook missing"))
            continue
        items.append(Item(f"{stem}:present", f"{name} submitted", name, True))
        ran_msg = f"{len(facts['not_run'])} code cells never run (cells {_short(facts['not_run'])})" if facts["not_run"] else ""
        if not facts["in_order"]:
            ran_msg = (ran_msg + "; " if ran_msg else "") + "cells were run out of order (restart and run all)"
        items.append(Item(f"{stem}:ran", f"{name} run to the end, in order", name,
                          not facts["not_run"] and facts["in_order"], ran_msg))
        items.append(Item(f"{stem}:no_errors", f"{name} has no error outputs", name, not facts["errors"],
                          "; ".join(facts["errors"][:5]) + (f" (+{len(facts['errors']) - 5} more)" if len(facts["errors"]) > 5 else "")))
        items.append(Item(f"{stem}:given_cells", f"{name} given cells unchanged", name, not facts["edited_given"],
                          ("edited or deleted: " + _short(facts["edited_given"], 3)) if facts["edited_given"] else ""))
        items.append(Item(f"{stem}:real_data", f"{name} ran on the real CIFAR-10", name, facts["real_data"],
                          "" if facts["real_data"] else "the setup cell does not report real data (smoke mode?)"))
        for row in RESULTS:
            if row["notebook"] != name:
                continue
            found = [r for r in facts["results"] if re.search(row["pattern"], f"RESULT: {r['label']} = {r['text']}")]
            if not found:
                items.append(Item(row["id"], row["title"], name, False, "no such RESULT line in the outputs"))
                continue
            r = found[-1]
            value = _number(r["text"])
            floor = row.get("floor")
            ok = floor is None or value >= floor
            msg = f"reported {value:.3f}" + (f" (floor {floor:.2f})" if floor is not None else "")
            msg += f", cell {r['cell']}" + ("" if r["from_given_cell"] else " (not an unchanged given cell)")
            items.append(Item(row["id"], row["title"], name, ok, msg, value))
    return configure(items, config)


def configure(items, config):
    """Apply the instructor's config (see the module docstring) to the items."""
    rules = (config or {}).get("items", {})
    out = []
    for item in items:
        rule = {}
        for pattern, r in rules.items():
            if fnmatch.fnmatchcase(item.id, pattern):
                rule = {**rule, **r}
        if rule.get("ignore"):
            continue
        if "floor" in rule and item.value is not None:
            item.ok = item.value >= float(rule["floor"])
            item.message = re.sub(r"\(floor [0-9.]+\)", f"(floor {float(rule['floor']):.2f})", item.message)
        if rule.get("points"):
            item.points, item.graded = float(rule["points"]), True
        out.append(item)
    return out


def load_config(path):
    if path is None:
        return None
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("items", {}), dict):
        raise ValueError(f"{path}: expected {{\"items\": {{pattern: {{...}}}}}}")
    for pattern, rule in data.get("items", {}).items():
        if not isinstance(rule, dict) or set(rule) - {"points", "flag", "ignore", "floor"}:
            raise ValueError(f"{path}: bad rule for {pattern!r}: {rule!r} (keys: points, flag, ignore, floor)")
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course.notebook_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", help="a submission folder or zip")
    parser.add_argument("--release", help="a release folder (default: build one in memory from this repository)")
    parser.add_argument("--config", help="JSON file: which items are graded (points), flagged or ignored")
    parser.add_argument("--json", metavar="FILE", help="also write the items as JSON")
    args = parser.parse_args(argv)
    from .submissions import SubmissionError, materialize
    try:
        config = load_config(args.config)
        reference = build_reference(args.release)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cs231n-nbreport-") as tmp:
        try:
            sub = materialize(args.submission, tmp)
        except (SubmissionError, OSError) as exc:
            print(f"error: {args.submission}: {exc}", file=sys.stderr)
            return 2
        items = report(sub.root or sub.copy, reference, config)
    for item in items:
        mark = "ok  " if item.ok else ("FAIL" if item.graded else "flag")
        pts = f"{item.earned:g}/{item.points:g}" if item.graded else "  -  "
        print(f"{mark} {pts:>7}  {item.id:<40} {item.message}")
    if args.json:
        Path(args.json).write_text(json.dumps([i.to_dict() for i in items], indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
