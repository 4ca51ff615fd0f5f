"""Build the student release of the assignment from the instructor source.

Usage::

    python -m course.release OUTDIR [--zip] [--source DIR] [--overwrite]
    python -m course.release --check          # only validate the markers, write nothing

Solution regions
    In ``.py`` files and in notebook code cells, the code students write is enclosed by a line
    reading ``### BEGIN SOLUTION`` and a line reading ``### END SOLUTION``, both indented like the
    enclosed code. The release replaces the whole region (markers included) by a stub line at the
    same indentation, between the lines where the student writes (see ``course.regions``)::

        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        raise NotImplementedError("TODO: implement <function> (<file>)")
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    (in notebook cells: ``"TODO: write the code of this cell"``). In ``.py`` files a region must lie
    inside a function body, so the released package still imports; code after the region stays
    (it becomes unreachable), which keeps docstrings, input checks and signatures intact.

Answers to inline questions
    In notebook markdown cells, an answer is enclosed by the lines ``<!-- BEGIN ANSWER -->`` and
    ``<!-- END ANSWER -->``; the release replaces the region by ``*Your answer:* _fill this in_``.
    These HTML comments are invisible when the instructor notebook is rendered.

Two editions from one source
    - Whole cells: a notebook cell tagged ``instructor`` (cell metadata ``tags``) is left out of the
      release (reference loops, checks against the instructor's own code); a cell tagged
      ``student`` is kept (the tag is removed). Student cells run in the instructor edition too,
      so CI checks them (e.g. stored expected values against the reference implementation).
    - Instructor-only lines: ``### BEGIN INSTRUCTOR`` ... ``### END INSTRUCTOR`` in ``.py`` files
      and code cells, ``<!-- BEGIN INSTRUCTOR -->`` ... ``<!-- END INSTRUCTOR -->`` in markdown
      cells; the release removes them with their content.
    - Student-only text: in markdown cells, the lines between ``<!-- BEGIN STUDENT`` and
      ``END STUDENT -->`` form one HTML comment, invisible in the instructor edition; the release
      removes the two marker lines and keeps the text (which may not contain ``-->``).
    - nbval's comment lines (``# NBVAL_CHECK_OUTPUT`` and the other ``# NBVAL_...`` directives)
      are instructor-side: the release removes them.
    - Whole files: ``NAME.student.EXT`` ships as ``NAME.EXT`` and the instructor's ``NAME.EXT``
      stays out (``README.student.md`` becomes the release's ``README.md``).

What the release contains
    The files of the source: the git-tracked files when the source is a git checkout (``git
    ls-files``; ``--include-untracked`` adds new files git does not ignore), else every file. Always
    left out: version-control and virtual-environment folders, caches, datasets, checkpoints,
    build outputs, and the instructor-only paths listed in ``.release-exclude`` at the top of the
    source (one pattern a line, ``#`` comments; ``dir/`` matches a folder and everything in it,
    a pattern with a ``/`` is matched against the whole relative path, one without against the
    file name, ``*`` and ``?`` as in the shell). Notebooks lose their outputs and execution counts.
    A ``.release-manifest`` (sha256 and path of every file) marks the folder as a release.
    Symbolic links (to files or folders, tracked or not) are never followed: a link that
    ``.release-exclude`` does not leave out is an error, since it could bring files from outside
    the tree into the release.

The output is deterministic: the same source gives byte-identical files and zip (sorted entries,
fixed timestamps and permissions). The tree is built in a temporary folder and renamed into
place; an existing OUTDIR is replaced only with ``--overwrite`` and only if it is a previous
release (it has a ``.release-manifest``). ``--zip`` also writes ``OUTDIR.zip`` whose entries sit
under a folder named like OUTDIR.

Exit status: 0 done, 1 marker errors, 2 bad usage or I/O error.

The rules for a single file (the markers and the per-file transforms) are in ``course.edition``;
this module applies them to a source tree.
"""

import argparse
import fnmatch
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .edition import ReleaseError, release_notebook, release_python, release_text

STUDENT_SUFFIX = ".student"  # README.student.md ships as README.md (and README.md stays out)

EXCLUDE_FILE = ".release-exclude"
MANIFEST = ".release-manifest"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# Left out of every release, on top of the patterns in .release-exclude.
STANDARD_EXCLUDES = (
    ".git/", ".hg/", ".svn/", ".venv/", "venv/", "__pycache__/", ".ipynb_checkpoints/",
    ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", ".tox/", "*.egg-info/", "checkpoints/",
    "/build/", "/dist/", "/release/", "notebooks/html/",
    "datasets/cifar-10-batches-py/", "datasets/*.tar.gz", "datasets/*.part", "datasets/*.md5",
    "datasets/*.sha256", "*.pyc", "*.pyo", "*.npz", "*.zip", ".DS_Store", EXCLUDE_FILE, MANIFEST,
)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def read_patterns(source):
    """The exclude patterns: the standard ones plus those in ``source/.release-exclude``."""
    patterns = list(STANDARD_EXCLUDES)
    path = Path(source) / EXCLUDE_FILE
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line)
    return patterns


def is_excluded(rel, patterns):
    """True if the relative posix path ``rel`` matches one of ``patterns`` (see module docstring)."""
    parts = PurePosixPath(rel).parts
    for pattern in patterns:
        anchored = pattern.startswith("/")
        pat = pattern.strip("/")
        if pattern.endswith("/"):
            # a folder: match any leading run of parts (anchored: only from the top); the path
            # may also be the folder itself (a symbolic link to a folder is listed that way)
            starts = [0] if anchored else range(len(parts))
            depth = len(PurePosixPath(pat).parts)
            if any(fnmatch.fnmatchcase("/".join(parts[s:s + depth]), pat)
                   for s in starts if s + depth <= len(parts)):
                return True
        elif "/" in pat or anchored:
            if fnmatch.fnmatchcase(rel, pat):
                return True
        elif fnmatch.fnmatchcase(parts[-1], pat):
            return True
    return False


def _git_files(source, include_untracked):
    """Files git knows in ``source`` (relative posix paths), or None if it is not a git checkout."""
    try:
        probe = subprocess.run(["git", "-C", str(source), "rev-parse", "--is-inside-work-tree"],
                               capture_output=True, text=True)
    except OSError:
        return None
    if probe.returncode != 0 or probe.stdout.strip() != "true":
        return None
    cmd = ["git", "-C", str(source), "ls-files", "-z", "--cached"]
    if include_untracked:
        cmd += ["--others", "--exclude-standard"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return sorted({p for p in out.decode("utf-8").split("\0") if p})


def list_files(source, use_git=True, include_untracked=False, skip_dirs=()):
    """Relative posix paths of the files to release (before excludes), sorted, and the mode used.

    Folders holding a ``.release-manifest`` (previous releases) are never part of the source.
    """
    source = Path(source)
    files = _git_files(source, include_untracked) if use_git else None
    if files is not None:
        # symlinks stay in the list (build_release refuses them unless excluded); deleted files go
        files = [f for f in files if (source / f).is_symlink() or (source / f).is_file()]
        releases = {d for f in files for d in PurePosixPath(f).parents
                    if d.parts and (source / d / MANIFEST).is_file()}
        return [f for f in files if not releases.intersection(PurePosixPath(f).parents)], "git"
    skip = {os.path.realpath(d) for d in skip_dirs}
    found = []
    for dirpath, dirnames, filenames in os.walk(source):
        # skip the output folder, previous releases and the heaviest excluded folders
        dirnames[:] = sorted(
            d for d in dirnames
            if os.path.realpath(os.path.join(dirpath, d)) not in skip
            and d not in (".git", ".venv", "venv", "__pycache__")
            and not os.path.isfile(os.path.join(dirpath, d, MANIFEST)))
        rel_dir = Path(dirpath).relative_to(source)
        # os.walk does not descend into linked folders; list the links (files and folders) so
        # that build_release can refuse them unless .release-exclude leaves them out
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = [d for d in dirnames if d not in links]
        for name in filenames + links:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or os.path.isfile(full):
                found.append((rel_dir / name).as_posix())
    return sorted(found), "walk"


def _student_target(rel):
    """``README.md`` for ``README.student.md`` (the student edition of a file), else None."""
    path = PurePosixPath(rel)
    stem = path.stem
    if path.suffix and stem.endswith(STUDENT_SUFFIX) and stem != STUDENT_SUFFIX:
        return str(path.with_name(stem[: -len(STUDENT_SUFFIX)] + path.suffix))
    return None


def _linked_parent(source, rel):
    """True if a folder on the way to ``rel`` inside ``source`` is a symbolic link."""
    parts = PurePosixPath(rel).parts[:-1]
    return any((source / Path(*parts[:k])).is_symlink() for k in range(1, len(parts) + 1))


def build_release(source, use_git=True, include_untracked=False, skip_dirs=()):
    """Compute the release of ``source`` in memory.

    Returns a dict with ``files`` ({relative path: (bytes, mode)}, including the manifest),
    ``left_out`` (sorted paths excluded), ``mode`` ("git" or "walk"), and the counts
    ``regions``, ``answers``, ``notebooks``. Raises ReleaseError listing every marker error.
    """
    source = Path(source)
    patterns = read_patterns(source)
    candidates, mode = list_files(source, use_git, include_untracked, skip_dirs)
    files, left_out, errors = {}, [], []
    counts = {"regions": 0, "answers": 0, "notebooks": 0}
    student_copies = {_student_target(rel): rel for rel in candidates if _student_target(rel)}
    for rel in candidates:
        target = _student_target(rel) or rel
        if is_excluded(rel, patterns) or rel in student_copies:
            left_out.append(rel)
            continue
        path = source / rel
        if path.is_symlink() or _linked_parent(source, rel):
            errors.append(f"{rel}: is a symbolic link; the release never follows links (a link could "
                          f"bring in files from outside the tree): replace it by the file or folder "
                          f"it points to, or list it in {EXCLUDE_FILE}")
            continue
        if not path.is_file():
            continue
        data = path.read_bytes()
        fmode = 0o755 if os.access(path, os.X_OK) else 0o644
        try:
            if rel.endswith(".py"):
                text, n = release_python(data.decode("utf-8"), target)
                data = text.encode("utf-8")
                counts["regions"] += n
            elif rel.endswith(".ipynb"):
                text, n, a = release_notebook(data.decode("utf-8"), target)
                data = text.encode("utf-8")
                counts["regions"] += n
                counts["answers"] += a
                counts["notebooks"] += 1
            elif b"\0" not in data:
                try:
                    release_text(data.decode("utf-8"), rel)
                except UnicodeDecodeError:
                    pass  # not text: a binary file cannot hold a marker line
        except ReleaseError as exc:
            errors.extend(exc.errors)
            continue
        except UnicodeDecodeError as exc:
            errors.append(f"{rel}: not UTF-8 text ({exc.reason})")
            continue
        files[target] = (data, fmode)
    if errors:
        raise ReleaseError(errors)
    manifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {rel}\n" for rel, (data, _) in sorted(files.items()))
    files[MANIFEST] = (manifest.encode("utf-8"), 0o644)
    return {"files": dict(sorted(files.items())), "left_out": left_out, "mode": mode, **counts}


def zip_bytes(files, root):
    """A deterministic zip of ``files`` ({rel: (bytes, mode)}) with entries under ``root/``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel, (data, mode) in sorted(files.items()):
            info = zipfile.ZipInfo(f"{root}/{rel}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permissions below are honoured
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, data, compresslevel=9)
    return buf.getvalue()


def write_tree(files, outdir, overwrite=False):
    """Write ``files`` to ``outdir`` through a temporary sibling folder renamed at the end."""
    outdir = Path(outdir)
    if outdir.exists():
        if not outdir.is_dir():
            raise FileExistsError(f"{outdir} exists and is not a folder")
        if any(outdir.iterdir()):
            if not overwrite:
                raise FileExistsError(f"{outdir} exists and is not empty; pass --overwrite to replace "
                                      "a previous release")
            if not (outdir / MANIFEST).is_file():
                raise FileExistsError(f"{outdir} is not a previous release (no {MANIFEST}); "
                                      "refusing to replace it")
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    old = None
    try:
        for rel, (data, mode) in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            os.chmod(path, mode)
        for folder in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            os.chmod(folder, 0o755)  # mkdtemp makes 0700; folders get the same mode everywhere
        if outdir.exists():
            if any(outdir.iterdir()):
                old = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old.", dir=outdir.parent))
                os.replace(outdir, old / "release")
            else:
                outdir.rmdir()
        os.replace(tmp, outdir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)  # our own temporary folder
    if old is not None:
        shutil.rmtree(old)  # the previous release, moved aside above (it had a manifest)


def write_zip(data, path, overwrite=False):
    """Write zip bytes to ``path`` via a temporary file; refuse to replace a file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m course.release",
        description="Write the student release of the assignment: solution regions become "
                    "NotImplementedError stubs, answers become placeholders, notebook outputs are "
                    "cleared, instructor-only files are left out. See the module docstring for the "
                    "marker rules.",
        epilog="Exit status: 0 done, 1 marker errors (listed as file:line), 2 bad usage or I/O error.")
    parser.add_argument("outdir", nargs="?", help="folder to write the release to (must not exist, or be empty)")
    parser.add_argument("--source", default=".", help="instructor source tree (default: the current folder)")
    parser.add_argument("--zip", action="store_true", help="also write OUTDIR.zip")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUTDIR if it is a previous release, and OUTDIR.zip")
    parser.add_argument("--check", action="store_true", help="only validate the markers; write nothing")
    parser.add_argument("--no-git", action="store_true", help="take every file, even in a git checkout")
    parser.add_argument("--include-untracked", action="store_true",
                        help="in a git checkout, also take new files git does not ignore")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    source = Path(args.source).resolve()
    if not (source / "cs231n").is_dir():
        print(f"error: {source} has no cs231n/ package; pass --source", file=sys.stderr)
        return 2
    if args.outdir is None and not args.check:
        parser.print_usage(sys.stderr)
        print("error: give OUTDIR (or --check)", file=sys.stderr)
        return 2
    outdir = Path(args.outdir).resolve() if args.outdir else None
    zip_path = outdir.with_name(outdir.name + ".zip") if outdir and args.zip else None
    if zip_path is not None and zip_path.exists() and not args.overwrite:
        print(f"error: {zip_path} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    if outdir is not None and (outdir == source or outdir in source.parents):
        print(f"error: OUTDIR {outdir} would contain the source", file=sys.stderr)
        return 2
    try:
        result = build_release(source, use_git=not args.no_git, include_untracked=args.include_untracked,
                               skip_dirs=[outdir] if outdir else [])
    except ReleaseError as exc:
        print(f"error: {len(exc.errors)} marker problem(s); nothing written:", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err}", file=sys.stderr)
        return 1
    files = result["files"]
    if len(files) <= 1:
        hint = " (nothing is tracked yet: git add the files, or pass --include-untracked)" \
            if result["mode"] == "git" else ""
        print(f"error: no files to release in {source}{hint}", file=sys.stderr)
        return 2
    say = (lambda *a: None) if args.quiet else print
    say(f"{len(files)} files from {source} ({'git ls-files' if result['mode'] == 'git' else 'all files'}): "
        f"{result['regions']} solution region(s) stubbed, {result['answers']} answer(s) blanked, "
        f"{result['notebooks']} notebook(s) cleared")
    for rel in result["left_out"]:
        say(f"  left out {rel}")
    if args.check:
        say("markers OK (--check: nothing written)")
        return 0
    try:
        write_tree(files, outdir, overwrite=args.overwrite)
        say(f"wrote {outdir}")
        if zip_path is not None:
            write_zip(zip_bytes(files, outdir.name), zip_path, overwrite=args.overwrite)
            say(f"wrote {zip_path} ({zip_path.stat().st_size} bytes)")
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
