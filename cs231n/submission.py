"""Check a student's assignment and pack it into one zip for submission.

Usage, from the top of your assignment folder::

    bash collect_submission.sh             # or, without bash: python -I -B cs231n/submission.py
    bash collect_submission.sh -o my.zip   # another name
    bash collect_submission.sh --help

What it checks, and what each finding does:

- **Blocks** (nothing is written, exit status 1; ``--force`` packs anyway): a required file is
  missing, unreadable, a link that leads outside the assignment folder, or not valid Python/JSON
  (the notebooks ``FullyConnectedNets``, ``BatchNormalization``, ``Dropout``,
  ``ConvolutionalNetworks`` and ``cs231n/layers.py``, ``normalization.py``, ``optim.py``,
  ``classifiers/fc_net.py``, ``classifiers/cnn.py``); a required notebook was never run (no code
  cell has run) or is over the size limit.
- **Warns** (the zip is written, the warnings are listed at the end; ``--strict`` makes them
  block): a cell that ended in an error (for example a failed accuracy floor: the rest of your
  work still counts), code cells that never ran, inline answers left as ``_fill this in_``,
  ``TODO`` stubs left in the package, files left out, and the optional
  ``notebooks/PyTorch.ipynb`` missing or never run.

The zip holds the package (everything under ``cs231n/``) and every notebook under ``notebooks/``;
datasets, checkpoints, caches, virtual environments, ``.git``, zips, saved arrays and files larger
than ``--max-file-mb`` are left out and listed. A symbolic link is packed (its content, under the
link's name) only when it leads to a place inside the assignment folder; any other link is left
out and reported, for files and folders alike. The zip is written under a temporary name, renamed
when complete, and never replaces an existing zip unless you pass ``--overwrite``. Nothing of
yours is created, changed, moved or deleted, and no ``__pycache__`` is written.

Exit status: 0 packed (maybe with warnings), 1 problems found (nothing written), 2 bad usage or I/O error.

This file needs only the standard library and imports nothing from your folder (run as a file,
its own folder is taken off the module path), so it works even when your code does not.
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the student's tree from anything imported below
if __name__ == "__main__" and __spec__ is None and not (sys.flags.isolated or getattr(sys.flags, "safe_path", 0)):
    del sys.path[0]  # run as a file: cs231n/ must not shadow the standard library

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

NOTEBOOKS = (
    "notebooks/FullyConnectedNets.ipynb",
    "notebooks/BatchNormalization.ipynb",
    "notebooks/Dropout.ipynb",
    "notebooks/ConvolutionalNetworks.ipynb",
)
OPTIONAL_NOTEBOOKS = ("notebooks/PyTorch.ipynb",)
PACKAGE_FILES = (
    "cs231n/layers.py",
    "cs231n/normalization.py",
    "cs231n/optim.py",
    "cs231n/classifiers/fc_net.py",
    "cs231n/classifiers/cnn.py",
)
REQUIRED = NOTEBOOKS + PACKAGE_FILES
ANSWER_PLACEHOLDER = "*Your answer:* _fill this in_"  # what the student release puts in each answer
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
_RUN_ALL = "run it (Kernel > Restart & Run All) and save it"


class SourceReadError(OSError):
    """A file to pack could not be read (not a problem with the zip being written)."""

    def __init__(self, rel, err):
        super().__init__(f"cannot read {_show(rel)}: {err.strerror or err}")
        self.rel = rel


def _show(text):
    """``text`` printable whatever its encoding (file names need not be UTF-8)."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _inside(tree_real, path):
    """Real path of ``path`` when it lies inside the tree, else None."""
    real = os.path.realpath(path)
    try:
        return real if os.path.commonpath([tree_real, real]) == tree_real else None
    except ValueError:  # another drive (Windows)
        return None


# --- notebooks -------------------------------------------------------------------------------

def _source(cell):
    source = cell.get("source", "")
    return "".join(s for s in source if isinstance(s, str)) if isinstance(source, list) else str(source)


def _title(text):
    """The question an answer cell belongs to: the last heading above its first placeholder."""
    lines = [line.strip() for line in text.split(ANSWER_PLACEHOLDER)[0].splitlines() if line.strip()]
    headings = [line for line in lines if line.startswith("#") or "question" in line.lower()]
    for line in reversed(headings) if headings else lines[:1]:
        return line.lstrip("#").strip().strip("*_").strip()[:60]
    return "an inline question"


def _cells(numbers):
    return ", ".join(str(i) for i in numbers[:10]) + (" ..." if len(numbers) > 10 else "")


def notebook_findings(path, rel, required=True):
    """``(problems, warnings)`` of the notebook at ``path``, shown as ``rel``."""
    block = (lambda msg: ([msg], [])) if required else (lambda msg: ([], [msg]))
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except OSError as exc:
        return block(f"{rel}: cannot be read ({exc.strerror or exc})")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return block(f"{rel}: not a valid notebook ({str(exc)[:100]})")
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return block(f"{rel}: not a Jupyter notebook (no list of cells)")
    code, not_run, errors, blank = 0, [], [], []
    for index, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            continue
        if cell.get("cell_type") == "markdown":
            text = _source(cell)
            count = text.count(ANSWER_PLACEHOLDER)
            if count:
                blank += [f"cell {index} ({_title(text)}{f', {count} answers' if count > 1 else ''})"] * count
            continue
        if cell.get("cell_type") != "code" or not _source(cell).strip():
            continue
        code += 1
        outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
        if cell.get("execution_count") is None and not outputs:
            not_run.append(code)
        for out in outputs:
            if isinstance(out, dict) and out.get("output_type") == "error":
                errors.append((code, f"{out.get('ename', '?')}: {out.get('evalue', '')}".strip()[:160]))
    blank = [f"{rel}: {len(blank)} inline answer(s) still blank: " + "; ".join(dict.fromkeys(blank))] if blank else []
    if code and len(not_run) == code:
        problems, warnings = block(f"{rel}: never run (none of its {code} code cells has run); {_RUN_ALL}")
        return problems, warnings + blank
    warnings = [f"{rel}: code cell {i} ended in an error: {msg}" for i, msg in errors]
    if not_run:
        after_error = errors and not_run[0] > errors[0][0]
        why = f" (the run stopped at the error in code cell {errors[0][0]})" if after_error else ""
        warnings.append(f"{rel}: {len(not_run)} code cell(s) never ran{why}: code cells {_cells(not_run)}")
    return [], warnings + blank


def python_problems(path, rel):
    """Return a problem if the file at ``path`` is not valid Python (compiled, never run)."""
    try:
        source = Path(path).read_bytes()
    except OSError as exc:
        return [f"{rel}: cannot be read ({exc.strerror or exc})"]
    try:
        compile(source, rel, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return [f"{rel}:{exc.lineno}: syntax error: {exc.msg}"]
    except ValueError as exc:
        return [f"{rel}: not valid Python ({exc})"]
    return []


def check_tree(tree, max_file_bytes):
    """``(problems, warnings)`` of the tree: problems block the submission, warnings do not."""
    tree = Path(tree)
    tree_real = os.path.realpath(tree)
    problems, warnings = [], []
    for rel in REQUIRED + OPTIONAL_NOTEBOOKS:
        required = rel in REQUIRED
        path = tree / rel
        real = _inside(tree_real, path)
        if not os.path.lexists(path) or (real is not None and not os.path.exists(real)):
            if required:
                problems.append(f"{rel}: missing")
            else:
                warnings.append(f"{rel} (optional) is not there: fine if you skipped it; it is not packed")
            continue
        if real is None:
            (problems if required else warnings).append(
                f"{rel}: a link to {_show(os.path.realpath(path))}, outside your assignment folder, so it "
                "cannot be packed: put the file itself there")
            continue
        if not os.path.isfile(real):
            (problems if required else warnings).append(f"{rel}: not a file")
            continue
        size = os.path.getsize(real)
        if size > max_file_bytes:
            (problems if required else warnings).append(
                f"{rel}: {_size(size)}, over the {_size(max_file_bytes)} limit per file "
                "(clear large outputs, or raise --max-file-mb)")
        elif rel.endswith(".ipynb"):
            found = notebook_findings(real, rel, required)
            problems.extend(found[0])
            warnings.extend(found[1])
        else:
            found = python_problems(real, rel)
            problems.extend(found)
            if not found and 'raise NotImplementedError("TODO' in _text(real):
                warnings.append(f"{rel} still contains unimplemented TODO stubs")
    return problems, warnings


def _text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# --- choosing the files ----------------------------------------------------------------------

def _excluded(rel_parts):
    """True if a path (as a tuple of parts relative to the tree) is never packed."""
    name = rel_parts[-1]
    if any(part in EXCLUDED_DIRS or part.endswith(".egg-info") for part in rel_parts[:-1]):
        return True
    return name in EXCLUDED_NAMES or name.lower().endswith(EXCLUDED_SUFFIXES) or name.startswith(".~")


def _readable(real):
    try:
        with open(real, "rb") as f:
            f.read(1)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def select_files(tree, max_file_bytes, skip=()):
    """Files to pack: everything under cs231n/ and every notebook under notebooks/.

    Returns ``(files, left_out)``: sorted ``(rel, real_path)`` pairs (``rel`` the name in the zip,
    ``real_path`` where its content is read), and ``(rel, reason)`` pairs for what was left out
    and must be reported (too large, unreadable, a link leading outside the tree, a name that is
    not UTF-8). A link is followed only when it leads inside the tree (and not into a loop).
    Paths in ``skip`` (e.g. the zip itself) are ignored.
    """
    tree_real = os.path.realpath(tree)
    skip = {os.path.realpath(p) for p in skip}
    files, left_out = [], []

    def visit(path, parts, ancestors, keep):
        rel = "/".join(parts)
        real = _inside(tree_real, path)
        wanted = os.path.isdir(path) or (keep(parts[-1]) and not _excluded(parts))  # would be packed
        if real is None:
            if wanted:
                left_out.append((rel, f"a link to {_show(os.path.realpath(path))}, outside your assignment folder"))
            return
        if wanted and real not in skip:
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                left_out.append((rel, "its name is not valid UTF-8: rename it to plain letters and digits"))
                return
        if os.path.isdir(real):
            if real in ancestors:
                left_out.append((rel, "a link to a folder that contains it (a loop)"))
                return
            try:
                names = sorted(os.listdir(path))
            except OSError as exc:
                left_out.append((rel + "/", f"cannot be read ({exc.strerror or exc})"))
                return
            for name in names:
                if not _excluded(parts + (name, "x")) or not os.path.isdir(os.path.join(path, name)):
                    visit(os.path.join(path, name), parts + (name,), ancestors | {real}, keep)
            return
        if not wanted or real in skip:
            return
        if not os.path.isfile(real):
            if os.path.islink(path):
                left_out.append((rel, "a broken link"))
            return  # sockets, pipes, devices: not part of an assignment
        size = os.path.getsize(real)
        reason = (f"{_size(size)}, over the {_size(max_file_bytes)} limit" if size > max_file_bytes
                  else _readable(real))
        if reason:
            left_out.append((rel, reason if size > max_file_bytes else f"cannot be read ({reason})"))
        else:
            files.append((rel, real))

    for top, keep in (("cs231n", lambda name: True), ("notebooks", lambda name: name.endswith(".ipynb"))):
        if os.path.lexists(os.path.join(tree, top)):
            visit(os.path.join(tree, top), (top,), frozenset(), keep)
    return sorted(files), sorted(left_out)


# --- writing ---------------------------------------------------------------------------------

def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_zip(files, out_path, overwrite):
    """Write ``files`` (``(rel, real_path)`` pairs) to ``out_path`` via a temporary file; return its size.

    The temporary file is created next to ``out_path`` with the permissions of any new file of
    the user (umask) and renamed at the end, so an interrupted run never leaves a half-written
    zip under the final name. Without ``overwrite`` an existing ``out_path`` is left untouched
    and FileExistsError is raised. A file that cannot be read raises SourceReadError.
    """
    out_path = Path(out_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel, real in files:
                _add(zf, rel, real)
        with zipfile.ZipFile(tmp) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise OSError(f"the zip just written is corrupt at {bad}")
        if overwrite:
            os.replace(tmp, out_path)
        else:
            try:  # os.link fails if out_path exists: no race between checking and renaming
                os.link(tmp, out_path)
            except FileExistsError:
                raise
            except OSError:  # file system without hard links
                if out_path.exists():
                    raise FileExistsError(out_path) from None
                os.replace(tmp, out_path)
            else:
                os.unlink(tmp)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)  # our own temporary file, never the student's
    return out_path.stat().st_size


def _add(zf, rel, real):
    try:
        info = zipfile.ZipInfo.from_file(real, arcname=rel)
        src = open(real, "rb")
    except OSError as exc:
        raise SourceReadError(rel, exc) from None
    info.compress_type = zipfile.ZIP_DEFLATED
    with src, zf.open(info, "w") as dest:
        while True:
            try:
                chunk = src.read(1 << 20)
            except OSError as exc:
                raise SourceReadError(rel, exc) from None
            if not chunk:
                break
            dest.write(chunk)


def _size(n):
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} MB"


# --- command line ----------------------------------------------------------------------------

def _megabytes(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of megabytes, got {text!r}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="collect_submission.sh",
        description="Check your assignment and pack it into one zip for submission. "
                    "Nothing in your folder is changed, moved or deleted.",
        epilog="Exit status: 0 packed (maybe with warnings), 1 problems found (nothing written), "
               "2 bad usage or I/O error.")
    parser.add_argument("--tree", default=".", help="top of the assignment folder (default: the current folder)")
    parser.add_argument("-o", "--output", default=None,
                        help=f"zip to write (default: {DEFAULT_ZIP} at the top of the folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace the zip if it already exists")
    parser.add_argument("--force", action="store_true",
                        help="pack even if required files are missing or notebooks were never run")
    parser.add_argument("--strict", action="store_true",
                        help="treat warnings (errors in cells, blank answers, ...) as problems too")
    parser.add_argument("--max-file-mb", type=_megabytes, default=DEFAULT_MAX_FILE_MB,
                        help=f"leave out files larger than this (default {DEFAULT_MAX_FILE_MB:g} MB)")
    return parser


def _err(msg):
    print(msg, file=sys.stderr)


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    tree = Path(args.tree)
    if not tree.is_dir():
        _err(f"error: {_show(tree)} is not a folder")
        return 2
    max_file_bytes = int(args.max_file_mb * 1024 * 1024)
    out_path = Path(args.output) if args.output else tree / DEFAULT_ZIP
    if out_path.suffix.lower() != ".zip":
        _err(f"error: the output name must end in .zip, got {_show(out_path)}")
        return 2
    if out_path.is_dir() or not out_path.parent.is_dir():
        _err(f"error: cannot write {_show(out_path)}: not a file in an existing folder")
        return 2
    if os.path.lexists(out_path) and not args.overwrite:
        _err(f"error: {_show(out_path)} already exists; pass --overwrite to replace it, or -o to choose another name")
        return 2

    problems, warnings = check_tree(tree, max_file_bytes)
    files, left_out = select_files(tree, max_file_bytes, skip=[out_path])
    packed = {rel for rel, _ in files}
    problems += [f"{rel}: would not be packed ({reason})" for rel, reason in left_out
                 if rel in REQUIRED and not any(p.startswith(rel + ":") for p in problems)]
    warnings += [f"left out {_show(rel)}: {reason}" for rel, reason in left_out]
    if args.strict:
        problems, warnings = problems + warnings, []
    if problems:
        _err(f"Found {len(problems)} problem(s) in {_show(tree.resolve())}:")
        for p in problems:
            _err(f"  - {_show(p)}")
        if not args.force:
            if warnings:
                _err(f"and {len(warnings)} warning(s), which alone would not stop the submission:")
                for w in warnings:
                    _err(f"  ! {_show(w)}")
            _err("Nothing was written. Fix these problems and run again (or pass --force to pack anyway).")
            return 1
        _err("WARNING: --force given: packing anyway; this submission is probably incomplete.")
    if not files:
        _err(f"error: nothing to pack under {_show(tree.resolve())} (no cs231n/ or notebooks/)")
        return 2
    missing = [rel for rel in REQUIRED if rel not in packed]
    if missing and not args.force:  # never say "Wrote" without a required file
        _err(f"error: {', '.join(missing)} would be missing from the zip; nothing was written")
        return 1
    try:
        total = write_zip(files, out_path, args.overwrite)
    except SourceReadError as exc:
        _err(f"error: {exc}; fix its permissions (or move it out of the folder) and run again. "
             "Nothing was written.")
        return 2
    except FileExistsError:
        _err(f"error: {_show(out_path)} appeared while packing; left it untouched")
        return 2
    except OSError as exc:
        _err(f"error: could not write {_show(out_path)}: {exc}")
        return 2

    print(f"Packed {len(files)} file(s):")
    for rel, real in files:
        print(f"  {rel}  ({_size(os.path.getsize(real))})")
    if warnings:
        print(f"\n{len(warnings)} warning(s): they do not stop the submission, but fix what you can:")
        for w in warnings:
            print(f"  ! {_show(w)}")
    print(f"Wrote {_show(out_path)} ({_size(total)})" + (f" with {len(warnings)} warning(s)." if warnings else "."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
