"""Pack a student's work into one zip for submission (``collect_submission.sh`` runs this).

Usage, from the top of your assignment folder::

    bash collect_submission.sh            # or: python -m cs231n.submission
    bash collect_submission.sh -o my.zip  # another name
    python -m cs231n.submission --help

Before packing it checks that

- the four notebooks exist (``notebooks/FullyConnectedNets.ipynb``, ``BatchNormalization.ipynb``,
  ``Dropout.ipynb``, ``ConvolutionalNetworks.ipynb``), are valid notebooks, have been run to the
  end (every non-empty code cell has an execution count) and show no error output;
- the package files you edit exist and are valid Python (``cs231n/layers.py``,
  ``normalization.py``, ``optim.py``, ``classifiers/fc_net.py``, ``classifiers/cnn.py``).

Every problem is listed, then it stops with exit status 1 without writing anything. ``--force``
packs anyway (with a warning); use it only when you know what is missing.

The zip holds the package (everything under ``cs231n/``) and every notebook under ``notebooks/``;
datasets, checkpoints, caches, virtual environments, ``.git``, zips, saved arrays and any file
larger than ``--max-file-mb`` are left out (and listed). It is written under a temporary name
and renamed when complete. An existing zip of the same name is never replaced unless you pass
``--overwrite``. Nothing else is created, changed, moved or deleted.

Exit status: 0 packed, 1 problems found (nothing written), 2 bad usage or I/O error.

This file runs on its own (``python cs231n/submission.py``): it needs only the standard
library and never imports the rest of the package, so it works even when your code does not.
"""

import argparse
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

NOTEBOOKS = (
    "notebooks/FullyConnectedNets.ipynb",
    "notebooks/BatchNormalization.ipynb",
    "notebooks/Dropout.ipynb",
    "notebooks/ConvolutionalNetworks.ipynb",
)
PACKAGE_FILES = (
    "cs231n/layers.py",
    "cs231n/normalization.py",
    "cs231n/optim.py",
    "cs231n/classifiers/fc_net.py",
    "cs231n/classifiers/cnn.py",
)
DEFAULT_ZIP = "a2.zip"
DEFAULT_MAX_FILE_MB = 10.0

# Never packed: directories by name (at any depth) and files by suffix.
EXCLUDED_DIRS = {
    ".git", ".hg", ".svn", ".venv", "venv", "env", "__pycache__", ".ipynb_checkpoints",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", "node_modules", "build", "dist",
    "datasets", "data", "checkpoints", "html",
}
EXCLUDED_SUFFIXES = (
    ".pyc", ".pyo", ".so", ".zip", ".tar", ".gz", ".tgz", ".npz", ".npy", ".pkl", ".pickle",
    ".pt", ".pth", ".h5", ".part", ".tmp",
)
EXCLUDED_NAMES = {".DS_Store", "Thumbs.db"}


def notebook_problems(path, rel):
    """Return the problems of the notebook at ``path`` (shown as ``rel``): not run, errors, invalid."""
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{rel}: not a readable notebook ({exc})"]
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return [f"{rel}: not a Jupyter notebook (no list of cells)"]
    not_run, errors = [], []
    code_index = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        code_index += 1
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        if source.strip() and cell.get("execution_count") is None:
            not_run.append(code_index)
        for out in cell.get("outputs") or []:
            if isinstance(out, dict) and out.get("output_type") == "error":
                errors.append(f"code cell {code_index}: {out.get('ename', '?')}: {out.get('evalue', '')}"[:200])
    problems = []
    if not_run:
        shown = ", ".join(str(i) for i in not_run[:10]) + (" ..." if len(not_run) > 10 else "")
        problems.append(
            f"{rel}: {len(not_run)} code cell(s) never run (code cells {shown}); "
            "run the whole notebook (Kernel > Restart & Run All) and save it")
    for err in errors:
        problems.append(f"{rel}: error output in {err}")
    return problems


def python_problems(path, rel):
    """Return a problem if the file at ``path`` is not valid Python (compiled, never run)."""
    try:
        source = Path(path).read_bytes()
        compile(source, rel, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return [f"{rel}:{exc.lineno}: syntax error: {exc.msg}"]
    except (OSError, ValueError) as exc:
        return [f"{rel}: cannot be read as Python ({exc})"]
    return []


def check_tree(tree, max_file_bytes):
    """Return the problems that make ``tree`` unfit to submit (empty list when all is well)."""
    tree = Path(tree)
    problems = []
    for rel in NOTEBOOKS + PACKAGE_FILES:
        path = tree / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.stat().st_size > max_file_bytes:
            problems.append(
                f"{rel}: {_size(path.stat().st_size)}, over the {_size(max_file_bytes)} limit per file "
                "(clear large outputs, or raise --max-file-mb)")
        elif rel.endswith(".ipynb"):
            problems.extend(notebook_problems(path, rel))
        else:
            problems.extend(python_problems(path, rel))
    return problems


def _excluded(rel_parts):
    """True if a path (as a tuple of parts relative to the tree) is never packed."""
    name = rel_parts[-1]
    if any(part in EXCLUDED_DIRS or part.endswith(".egg-info") for part in rel_parts[:-1]):
        return True
    return name in EXCLUDED_NAMES or name.lower().endswith(EXCLUDED_SUFFIXES) or name.startswith(".~")


def select_files(tree, max_file_bytes, skip=()):
    """Files to pack: everything under cs231n/ and every notebook under notebooks/.

    Returns ``(files, left_out)``: sorted relative posix paths, and ``(rel, reason)`` pairs for
    files left out for their size. Paths in ``skip`` (absolute) are ignored, e.g. the zip itself.
    Symbolic links are not followed.
    """
    tree = Path(tree)
    skip = {os.path.realpath(p) for p in skip}
    files, left_out = [], []
    for top, keep in (("cs231n", lambda name: True), ("notebooks", lambda name: name.endswith(".ipynb"))):
        root = tree / top
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(tree).parts
            dirnames[:] = sorted(
                d for d in dirnames
                if not _excluded(rel_dir + (d, "x")) and not os.path.islink(os.path.join(dirpath, d)))
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                parts = rel_dir + (name,)
                if not keep(name) or _excluded(parts) or os.path.islink(full) or not os.path.isfile(full):
                    continue
                if os.path.realpath(full) in skip:
                    continue
                rel = "/".join(parts)
                size = os.path.getsize(full)
                if size > max_file_bytes:
                    left_out.append((rel, f"{_size(size)}, over the {_size(max_file_bytes)} limit"))
                else:
                    files.append(rel)
    return sorted(files), left_out


def write_zip(tree, files, out_path, overwrite):
    """Write ``files`` (relative to ``tree``) to ``out_path`` via a temporary file; return its size.

    The temporary file is created next to ``out_path`` and renamed at the end, so an interrupted
    run never leaves a half-written zip under the final name. Without ``overwrite`` an existing
    ``out_path`` is left untouched and FileExistsError is raised.
    """
    out_path = Path(out_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel in files:
                zf.write(Path(tree) / rel, arcname=rel)
        with zipfile.ZipFile(tmp) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise OSError(f"the zip just written is corrupt at {bad}")
        if overwrite:
            os.replace(tmp, out_path)
        else:
            # os.link fails if out_path exists: no race between checking and renaming.
            try:
                os.link(tmp, out_path)
            except FileExistsError:
                raise
            except OSError:  # file system without hard links
                if out_path.exists():
                    raise FileExistsError(out_path)
                os.replace(tmp, out_path)
            else:
                os.unlink(tmp)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)  # our own temporary file, never the student's
    return out_path.stat().st_size


def _size(n):
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} MB"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="collect_submission.sh",
        description="Check your assignment and pack it into one zip for submission. "
                    "Nothing in your folder is changed, moved or deleted.",
        epilog="Exit status: 0 packed, 1 problems found (nothing written), 2 bad usage or I/O error.")
    parser.add_argument("--tree", default=".", help="top of the assignment folder (default: the current folder)")
    parser.add_argument("-o", "--output", default=None,
                        help=f"zip to write (default: {DEFAULT_ZIP} at the top of the folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace the zip if it already exists")
    parser.add_argument("--force", action="store_true",
                        help="pack even if notebooks were not run, show errors or files are missing")
    parser.add_argument("--max-file-mb", type=float, default=DEFAULT_MAX_FILE_MB,
                        help=f"leave out files larger than this (default {DEFAULT_MAX_FILE_MB:g} MB)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    tree = Path(args.tree)
    if not tree.is_dir():
        print(f"error: {tree} is not a folder", file=sys.stderr)
        return 2
    if args.max_file_mb <= 0:
        print(f"error: --max-file-mb must be positive, got {args.max_file_mb}", file=sys.stderr)
        return 2
    max_file_bytes = int(args.max_file_mb * 1024 * 1024)
    out_path = Path(args.output) if args.output else tree / DEFAULT_ZIP
    if out_path.suffix.lower() != ".zip":
        print(f"error: the output name must end in .zip, got {out_path}", file=sys.stderr)
        return 2
    if out_path.is_dir() or not out_path.parent.is_dir():
        print(f"error: cannot write {out_path}: not a file in an existing folder", file=sys.stderr)
        return 2
    if out_path.exists() and not args.overwrite:
        print(f"error: {out_path} already exists; pass --overwrite to replace it, "
              "or -o to choose another name", file=sys.stderr)
        return 2

    problems = check_tree(tree, max_file_bytes)
    if problems:
        print(f"Found {len(problems)} problem(s) in {tree.resolve()}:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        if not args.force:
            print("Nothing was written. Fix these and run again (or pass --force to pack anyway).",
                  file=sys.stderr)
            return 1
        print("WARNING: --force given: packing anyway; this submission is probably incomplete.",
              file=sys.stderr)

    files, left_out = select_files(tree, max_file_bytes, skip=[out_path])
    if not files:
        print(f"error: nothing to pack under {tree.resolve()} (no cs231n/ or notebooks/)", file=sys.stderr)
        return 2
    try:
        total = write_zip(tree, files, out_path, args.overwrite)
    except FileExistsError:
        print(f"error: {out_path} appeared while packing; left it untouched", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: could not write {out_path}: {exc}", file=sys.stderr)
        return 2

    print(f"Packed {len(files)} file(s):")
    for rel in files:
        print(f"  {rel}  ({_size((tree / rel).stat().st_size)})")
    for rel, reason in left_out:
        print(f"  left out {rel}: {reason}")
    stubs = [rel for rel in PACKAGE_FILES if rel in files
             and 'raise NotImplementedError("TODO' in (tree / rel).read_text(encoding="utf-8", errors="replace")]
    for rel in stubs:
        print(f"note: {rel} still contains unimplemented TODO stubs")
    print(f"Wrote {out_path} ({_size(total)}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
