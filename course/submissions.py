"""Turn one submission (a zip or a folder) into a bounded scratch copy, never trusting its content.

Used by the class grader (``course.batch``) and the Gradescope autograder (``course.gradescope``).
A submission is copied into a scratch folder that the caller owns and removes; nothing is ever
written outside it, and the submission itself is only read.

Zips are refused (``SubmissionError``, the message names the problem) when they are not zips,
are empty, are larger than ``max_zip_mb``, hold more than ``max_members`` entries, declare or
really unpack to more than ``max_total_mb``, have a member whose compression ratio exceeds
``max_ratio`` (a zip bomb), or have a member with an absolute path, a ``..`` component, a drive
letter or a backslash (path traversal), an encrypted member, or one compressed with a method
Python cannot read. Symbolic links (in zips and folders) are never followed or recreated: they
are left out and reported. Files larger than ``max_file_mb`` are left out and reported (a dataset
packed by mistake), as are ``__MACOSX/``, ``.git/``, ``__pycache__/`` and ``.ipynb_checkpoints/``.
"""

import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

SKIP_DIRS = {"__MACOSX", ".git", "__pycache__", ".ipynb_checkpoints", ".venv", "venv"}
CHUNK = 1 << 20


@dataclass
class Limits:
    max_zip_mb: float = 100.0
    max_total_mb: float = 200.0
    max_file_mb: float = 20.0
    max_members: int = 5000
    max_ratio: float = 200.0


@dataclass
class Materialized:
    root: Path | None  # the folder holding cs231n/ (or the whole copy when there is none)
    copy: Path  # where the submission was copied
    notes: list = field(default_factory=list)  # things left out (symlinks, big files): not fatal


class SubmissionError(Exception):
    """The submission cannot be graded at all (broken or malicious zip, nothing in it, ...)."""


def _mb(n):
    return f"{n / 2**20:.1f} MB"


def _skipped_dir(parts):
    return any(p in SKIP_DIRS for p in parts[:-1]) or (parts and parts[-1] in SKIP_DIRS)


def _unsafe_name(name):
    if "\\" in name or name.startswith("/") or "\x00" in name:
        return True
    parts = PurePosixPath(name).parts
    return ".." in parts or (bool(parts) and ":" in parts[0])


def extract_zip(path, dest, limits=Limits()):
    """Extract ``path`` into the empty folder ``dest`` within ``limits``; return the notes."""
    path, dest = Path(path), Path(dest)
    size = path.stat().st_size
    if size == 0:
        raise SubmissionError("the zip file is empty (0 bytes)")
    if size > limits.max_zip_mb * 2**20:
        raise SubmissionError(f"the zip is {_mb(size)}, over the {limits.max_zip_mb:g} MB limit")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise SubmissionError(f"not a readable zip file ({exc})") from None
    notes = []
    with zf:
        infos = zf.infolist()
        if not infos:
            raise SubmissionError("the zip holds no files")
        if len(infos) > limits.max_members:
            raise SubmissionError(f"the zip holds {len(infos)} entries, over the {limits.max_members} limit")
        declared = 0
        for info in infos:
            if _unsafe_name(info.filename):
                raise SubmissionError(f"unsafe path in the zip: {info.filename!r} (absolute, '..' or drive)")
            if info.flag_bits & 0x1:
                raise SubmissionError(f"encrypted member in the zip: {info.filename!r}")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                          zipfile.ZIP_LZMA):
                raise SubmissionError(f"unsupported compression (method {info.compress_type}) for "
                                      f"{info.filename!r}")
            if info.file_size > 2**20 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise SubmissionError(f"{info.filename!r} would unpack {info.compress_size} bytes to "
                                      f"{_mb(info.file_size)} (ratio over {limits.max_ratio:g}: a zip bomb?)")
            declared += info.file_size
        if declared > limits.max_total_mb * 2**20:
            raise SubmissionError(f"the zip would unpack to {_mb(declared)}, over the {limits.max_total_mb:g} MB limit")
        written = 0
        dest_resolved = dest.resolve()
        for info in infos:
            name = info.filename
            parts = PurePosixPath(name).parts
            if not parts or _skipped_dir(parts):
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                notes.append(f"left out the symbolic link {name!r}")
                continue
            target = dest.joinpath(*parts)
            if not target.resolve().is_relative_to(dest_resolved):  # belt and braces
                raise SubmissionError(f"unsafe path in the zip: {name!r}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if info.file_size > limits.max_file_mb * 2**20:
                notes.append(f"left out {name} ({_mb(info.file_size)}, over the {limits.max_file_mb:g} MB per file limit)")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "xb") as out:
                    count = 0
                    while chunk := src.read(CHUNK):
                        count += len(chunk)
                        written += len(chunk)
                        if count > limits.max_file_mb * 2**20 or written > limits.max_total_mb * 2**20:
                            raise SubmissionError(f"{name!r} unpacks to more than its declared size "
                                                  "(a forged zip header?)")
                        out.write(chunk)
            except FileExistsError:
                notes.append(f"left out a second copy of {name}")
            except SubmissionError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError, RuntimeError) as exc:
                raise SubmissionError(f"cannot read {name!r} from the zip ({type(exc).__name__}: {exc})") from None
    return notes


def copy_folder(src, dest, limits=Limits()):
    """Copy the folder ``src`` into ``dest`` (no symlinks followed); return the notes."""
    src, dest = Path(src), Path(dest)
    notes, total, count = [], 0, 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel_dir = Path(dirpath).relative_to(src)
        for d in list(dirnames):
            if d in SKIP_DIRS:
                dirnames.remove(d)
            elif (Path(dirpath) / d).is_symlink():
                notes.append(f"left out the symbolic link {(rel_dir / d).as_posix()}/")
                dirnames.remove(d)
        (dest / rel_dir).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            path = Path(dirpath) / name
            rel = (rel_dir / name).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                notes.append(f"left out the symbolic link {rel}")
                continue
            if not stat.S_ISREG(info.st_mode):
                notes.append(f"left out {rel} (not a regular file)")
                continue
            if info.st_size > limits.max_file_mb * 2**20:
                notes.append(f"left out {rel} ({_mb(info.st_size)}, over the {limits.max_file_mb:g} MB per file limit)")
                continue
            count += 1
            total += info.st_size
            if count > limits.max_members:
                raise SubmissionError(f"the folder holds more than {limits.max_members} files")
            if total > limits.max_total_mb * 2**20:
                raise SubmissionError(f"the folder holds more than {limits.max_total_mb:g} MB")
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as fin, open(dest / rel_dir / name, "xb") as fout:
                while chunk := fin.read(CHUNK):
                    fout.write(chunk)
    return notes


def find_package_root(folder):
    """The folder holding ``cs231n/__init__.py`` at ``folder`` or up to two levels below, or None."""
    folder = Path(folder)
    level = [folder]
    for _ in range(3):
        hits = [d for d in level if (d / "cs231n" / "__init__.py").is_file()]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            return None
        level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir() and not c.is_symlink()
                 and c.name not in SKIP_DIRS]
    return None


def materialize(submission, scratch, limits=Limits()):
    """Copy ``submission`` (a .zip or a folder) into ``scratch/submission`` within ``limits``.

    Returns a ``Materialized``; ``root`` is None when the copy holds no ``cs231n`` package (the
    notebooks may still be there). Raises SubmissionError when the submission cannot be used.
    """
    submission = Path(submission)
    copy = Path(scratch) / "submission"
    copy.mkdir(parents=True)
    if submission.is_symlink():
        raise SubmissionError("the submission is a symbolic link (not followed)")
    if submission.is_dir():
        notes = copy_folder(submission, copy, limits)
    elif submission.is_file() and submission.suffix.lower() == ".zip":
        notes = extract_zip(submission, copy, limits)
    else:
        raise SubmissionError("neither a .zip file nor a folder")
    # a zip inside a folder (Gradescope keeps an uploaded zip as it is when it cannot unpack it)
    if find_package_root(copy) is None:
        zips = [p for p in copy.iterdir() if p.is_file() and p.suffix.lower() == ".zip"]
        if len(zips) == 1:
            inner = Path(scratch) / "inner"
            inner.mkdir()
            notes += extract_zip(zips[0], inner, limits)
            copy = inner
    root = find_package_root(copy)
    return Materialized(root, copy, notes)
