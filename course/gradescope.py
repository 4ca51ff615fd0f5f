"""Gradescope autograder: build ``autograder.zip``, and grade one submission inside Gradescope.

Usage::

    python -m course.gradescope build autograder.zip [--check-timeout 20] [--memory-mb 2048]
        [--submission-timeout 900] [--notebook-config items.json] [--overwrite]
    python -m course.gradescope run [--root /autograder]     # what run_autograder does

The zip holds, at its top (Gradescope's specification: it unpacks the zip into
``/autograder/source`` and runs ``setup.sh`` once as root when it builds the image):

- ``setup.sh``: installs Python >= 3.11 with venv (apt), creates ``/autograder/venv`` with the
  pinned ``requirements.txt`` (the versions installed where the zip was built), and the tools
  of the grader's sandbox (``unshare``, ``mount``: it runs as root on Gradescope, so the student's
  code runs in fresh namespaces under a throw-away uid, see ``course/sandbox.py``).
- ``run_autograder``: runs ``python -m course.gradescope run`` from ``/autograder/source``.
- ``course/``: the grader and its hidden checks (no tests, no textbook solutions); ``cs231n/``:
  the instructor's package (the grader's reference values and the public checks; the sandboxed
  student code never sees it); ``release/``: the pristine student release (the given code the
  grader restores, the notebooks' given cells); ``gradescope_config.json``: the limits and the
  notebook items' config.

``run`` grades ``ROOT/submission`` (a folder, Gradescope unpacks an uploaded zip into it; a single
zip inside is unpacked too) exactly as ``course.batch`` grades one student, then writes
``ROOT/results/results.json`` in Gradescope's format: ``score``, ``execution_time``, ``output``
(problems with the submission), ``stdout_visibility`` (hidden: the log may hold student output)
and ``tests``: one per check (``name``, ``number``, ``score``, ``max_score``, ``status``,
``output``, ``visibility`` as the check declares it) and one per notebook item (graded items with
their points, flagged ones with ``max_score`` 0). A results.json is written whatever happens
(an unreadable zip, a grader error): score 0 and the reason. ``ROOT`` defaults to
``$AUTOGRADER_ROOT`` or ``/autograder``.
"""

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
# Left out of the autograder's copy of course/: instructor tests, textbook solutions, generators.
COURSE_EXCLUDE = ("tests", "textbook", "fakeclass.py", "__pycache__")
# The runtime dependencies of the grader and of the student's package, pinned at build time.
REQUIREMENTS = ("numpy", "matplotlib", "imageio", "pillow", "tqdm", "threadpoolctl")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip
PY=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    # Ubuntu 22.04 ships 3.10: take 3.11 from its repositories (24.04 needs nothing more)
    apt-get install -y -q python3.11 python3.11-venv
    PY=python3.11
fi
"$PY" -m venv /autograder/venv
/autograder/venv/bin/pip install --no-cache-dir -q -r /autograder/source/requirements.txt
# the grader's sandbox (course/sandbox.py) needs unshare and mount, from util-linux and mount
apt-get install -y -q util-linux mount
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes $ROOT/results/results.json.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
[ -x "$PY" ] || PY=python3
cd "$ROOT/source" || exit 1
exec "$PY" -B -m course.gradescope run --root "$ROOT"
"""


# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------

def pinned_requirements():
    lines = ["# pinned by python -m course.gradescope build (the versions of the instructor's environment)"]
    for name in REQUIREMENTS:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(name)
    return "\n".join(lines) + "\n"


def _package_files(folder, exclude=()):
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not path.is_symlink() and not any(p in exclude for p in rel.parts) \
                and path.suffix not in (".pyc", ".pyo"):
            yield rel.as_posix(), path.read_bytes()


def autograder_files(config, release_files):
    """``{path in the zip: (bytes, mode)}``."""
    files = {"setup.sh": (SETUP_SH.encode(), 0o755), "run_autograder": (RUN_AUTOGRADER.encode(), 0o755),
             "requirements.txt": (pinned_requirements().encode(), 0o644),
             "gradescope_config.json": (json.dumps(config, indent=1).encode() + b"\n", 0o644)}
    for rel, data in _package_files(REPO / "course", COURSE_EXCLUDE):
        files[f"course/{rel}"] = (data, 0o644)
    for rel, data in _package_files(REPO / "cs231n", ("__pycache__",)):
        files[f"cs231n/{rel}"] = (data, 0o644)
    for rel, (data, mode) in release_files.items():
        files[f"release/{rel}"] = (data, mode)
    return files


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel, (data, mode) in sorted(files.items()):
            info = zipfile.ZipInfo(rel, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, data)
    return buf.getvalue()


def build(out, config, overwrite=False):
    from .release import build_release
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    release_files = build_release(REPO)["files"]
    data = zip_bytes(autograder_files(config, release_files))
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


# ---------------------------------------------------------------------------------------------
# Run (inside Gradescope)
# ---------------------------------------------------------------------------------------------

def _visibility(v):
    return v if v in VISIBILITIES else "visible"


def results_json(row, seconds):
    """Gradescope's results.json (a dict) from a graded row (``course.gradebook.summarize``)."""
    tests = []
    for n, c in enumerate(row["checks"], start=1):
        status = {"pass": "passed"}.get(c["status"], "failed")
        output = c["message"] if c["status"] == "pass" else f"{c['status'].upper()}: {c['message']}".rstrip(": ")
        tests.append({"name": f"{c.get('part') or ''} {c['title']}".strip(), "number": f"{n}",
                      "score": c["earned"], "max_score": c["points"], "status": status,
                      "output": output[:8000], "visibility": _visibility(c.get("visibility"))})
    for i in row["notebook_items"]:
        tests.append({"name": f"Notebook: {i['title']}", "score": i["earned"],
                      "max_score": i["points"] if i["graded"] else 0,
                      "status": "passed" if i["ok"] else "failed",
                      "output": ("ok" if i["ok"] else ("" if i["graded"] else "to review: ")) + (i["message"] or ""),
                      "visibility": "visible"})
    lines = []
    if row["status"] != "graded":
        lines.append("Your submission could not be graded:")
    lines += [f"- {p}" for p in row["problems"] + row.get("notes", [])]
    if row["flags"]:
        lines.append("Notebook items for the course staff to review: " + ", ".join(row["flags"]))
    return {"score": row["total"], "execution_time": int(round(seconds)), "output": "\n".join(lines),
            "output_format": "text", "test_output_format": "text", "stdout_visibility": "hidden",
            "tests": tests}


def run(root):
    """Grade ``root/submission`` into ``root/results/results.json``; always writes a result."""
    from .batch import Batch, prepare
    from .gradebook import summarize
    root = Path(root)
    started = time.monotonic()
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).resolve().parents[1]
    try:
        config = json.loads((source / "gradescope_config.json").read_text(encoding="utf-8"))
        options = {"check_timeout": config["check_timeout"], "memory_mb": config["memory_mb"],
                   "total_timeout": 0.8 * config["submission_timeout"], "release": str(source / "release"),
                   "notebook_config": config.get("notebook_config"), "limits": config.get("limits", {})}
        scratch = Path(tempfile.mkdtemp(prefix="cs231n-gradescope-"))
        try:
            batch = Batch(results, scratch, prepare(options, scratch), 1, config["submission_timeout"], log=print)
            row = batch.run_one("submission", root / "submission", None, 1)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        doc = results_json(summarize(row), time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - Gradescope must get a results.json in every case
        traceback.print_exc()
        doc = {"score": 0, "execution_time": int(time.monotonic() - started), "stdout_visibility": "hidden",
               "output": f"The autograder failed ({type(exc).__name__}); the course staff has been told. "
                         "Your submission was not graded.", "tests": []}
    tmp = results / "results.json.part"
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(results / "results.json")
    print(f"score {doc['score']:g}; wrote {results / 'results.json'}")
    return 0


def validate(doc):
    """The problems of a results.json dict against Gradescope's documented fields ([] if none)."""
    problems = []
    num = (int, float)
    if not isinstance(doc, dict):
        return ["results.json is not an object"]
    if "score" not in doc and not all("score" in t for t in doc.get("tests", [])):
        problems.append("score missing (required unless every test has one)")
    for key, kind in (("score", num), ("execution_time", num), ("output", str), ("tests", list),
                      ("visibility", str), ("stdout_visibility", str), ("extra_data", dict)):
        if key in doc and (not isinstance(doc[key], kind) or isinstance(doc[key], bool)):
            problems.append(f"{key} has type {type(doc[key]).__name__}")
    for key in ("visibility", "stdout_visibility"):
        if key in doc and doc[key] not in VISIBILITIES:
            problems.append(f"{key} {doc[key]!r} not one of {VISIBILITIES}")
    for n, t in enumerate(doc.get("tests", [])):
        if not isinstance(t, dict):
            problems.append(f"tests[{n}] is not an object")
            continue
        for key, kind in (("score", num), ("max_score", num), ("name", str), ("output", str),
                          ("visibility", str), ("status", str), ("number", str)):
            if key in t and (not isinstance(t[key], kind) or isinstance(t[key], bool)):
                problems.append(f"tests[{n}].{key} has type {type(t[key]).__name__}")
        if "visibility" in t and t["visibility"] not in VISIBILITIES:
            problems.append(f"tests[{n}].visibility {t['visibility']!r} not one of {VISIBILITIES}")
        if "status" in t and t["status"] not in ("passed", "failed"):
            problems.append(f"tests[{n}].status {t['status']!r} not passed/failed")
        if isinstance(t.get("score"), num) and isinstance(t.get("max_score"), num) and t["score"] > t["max_score"]:
            problems.append(f"tests[{n}] score {t['score']} above max_score {t['max_score']}")
    return problems


def main(argv=None):
    from .batch import DEFAULTS
    from .notebook_report import load_config
    parser = argparse.ArgumentParser(prog="python -m course.gradescope", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write autograder.zip")
    b.add_argument("out", help="the zip to write, e.g. autograder.zip")
    b.add_argument("--check-timeout", type=float, default=DEFAULTS["check_timeout"])
    b.add_argument("--memory-mb", type=int, default=DEFAULTS["memory_mb"])
    b.add_argument("--submission-timeout", type=float, default=900.0,
                   help="seconds for the whole submission (keep it below Gradescope's own limit)")
    b.add_argument("--notebook-config", help="JSON: which notebook items are graded or flagged")
    b.add_argument("--overwrite", action="store_true")
    r = sub.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json (run_autograder)")
    r.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.root)
    for name in ("check_timeout", "submission_timeout"):
        if not 0 < getattr(args, name) < float("inf"):
            print(f"error: --{name.replace('_', '-')} must be positive", file=sys.stderr)
            return 2
    try:
        config = {"check_timeout": args.check_timeout, "memory_mb": args.memory_mb,
                  "submission_timeout": args.submission_timeout,
                  "notebook_config": load_config(args.notebook_config)}
        out = build(args.out, config, args.overwrite)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {out} ({out.stat().st_size / 2**20:.1f} MB): upload it as the autograder of the assignment.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
