"""A submission's files: unpack a zip within bounds, find the package, and rebuild the package
from the pristine release with only the student's regions taken from the submission.

Zips are hostile input: member count, total size, per-member size and compression ratio are
bounded (declared sizes checked first, actual bytes counted while extracting, so a lying header
does not help); absolute paths, ``..``, drive letters, symlinks, encrypted and unsupported
members are reported, never extracted, and never end in a traceback.
"""

import os
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .regions import RegionError, read_regions, fill_regions

MAX_MEMBERS = 2000
MAX_TOTAL = 200 * 2 ** 20       # bytes unpacked in all
MAX_MEMBER = 50 * 2 ** 20       # bytes of one member
MAX_RATIO = 100                 # uncompressed / compressed, for members over 1 MB
MAX_FILE_TEXT = 2 * 2 ** 20     # a student's .py file


class SubmissionError(Exception):
    """The submission cannot be graded at all (unreadable zip, no package)."""


def _unsafe(name):
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]) or "\x00" in name


def unpack_zip(path, dest, problems, max_members=MAX_MEMBERS, max_total=MAX_TOTAL, max_member=MAX_MEMBER,
               max_ratio=MAX_RATIO):
    """Extract ``path`` into ``dest``; skipped members are added to ``problems`` (list of str).
    Raises SubmissionError when the zip as a whole is refused (unreadable, unsafe, a bomb)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise SubmissionError(f"cannot unpack {Path(path).name}: not a readable zip ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise SubmissionError(f"cannot unpack {Path(path).name}: {len(infos)} members (limit {max_members})")
        declared = 0
        for info in infos:
            if _unsafe(info.filename):
                raise SubmissionError(f"cannot unpack {Path(path).name}: unsafe path {info.filename[:200]!r}")
            declared += info.file_size
            if info.file_size > max_member or declared > max_total:
                raise SubmissionError(f"cannot unpack {Path(path).name}: more than {max_total // 2 ** 20} MB "
                                      f"unpacked (member {info.filename[:200]!r})")
            if info.file_size > 2 ** 20 and info.file_size > max_ratio * max(info.compress_size, 1):
                raise SubmissionError(f"cannot unpack {Path(path).name}: {info.filename[:200]!r} is compressed "
                                      f"{info.file_size // max(info.compress_size, 1)}:1 (a zip bomb?)")
        total = 0
        for info in infos:
            name = info.filename[:200]
            mode = info.external_attr >> 16
            if info.is_dir():
                (dest / info.filename).mkdir(parents=True, exist_ok=True)
                continue
            if stat.S_ISLNK(mode):
                problems.append(f"{name}: a symbolic link in the zip, not unpacked")
                continue
            if info.flag_bits & 0x1:
                problems.append(f"{name}: encrypted in the zip, not unpacked")
                continue
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                          zipfile.ZIP_LZMA):
                problems.append(f"{name}: unsupported compression method {info.compress_type}, not unpacked")
                continue
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while True:
                        chunk = src.read(1 << 16)
                        if not chunk:
                            break
                        written += len(chunk)
                        total += len(chunk)
                        if written > info.file_size or written > max_member or total > max_total:
                            raise SubmissionError(f"cannot unpack {Path(path).name}: {name!r} unpacks to more "
                                                  "than its declared size")
                        out.write(chunk)
            except SubmissionError:
                raise
            except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, OSError,
                    ValueError) as exc:
                problems.append(f"{name}: cannot be unpacked ({type(exc).__name__}: {str(exc)[:200]})")
                target.unlink(missing_ok=True)


def find_package_root(folder):
    """The folder holding ``cs231n/`` at or one level below ``folder`` (zips may add a top folder)."""
    folder = Path(folder)
    if (folder / "cs231n" / "__init__.py").is_file():
        return folder
    try:
        below = [d for d in sorted(folder.iterdir())
                 if d.is_dir() and not d.is_symlink() and (d / "cs231n" / "__init__.py").is_file()]
    except OSError:
        return None
    return below[0] if len(below) == 1 else None


def _read_student(path, rel, problems, root=None):
    if path.is_symlink() or (root is not None and not path.resolve().is_relative_to(Path(root).resolve())):
        problems.append(f"{rel}: a symbolic link in the submission; the released file is graded instead")
        return None
    if not path.is_file():
        problems.append(f"{rel}: missing from the submission; the released file is graded instead")
        return None
    if path.stat().st_size > MAX_FILE_TEXT:
        problems.append(f"{rel}: larger than {MAX_FILE_TEXT // 2 ** 20} MB; the released file is graded instead")
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        problems.append(f"{rel}: cannot be read as UTF-8 text ({type(exc).__name__}); the released file is graded")
        return None


def _outside(text, regions):
    """The lines of ``text`` outside its regions (markers kept), for comparing given code."""
    lines = text.splitlines()
    keep, pos = [], 0
    for r in regions:
        keep += lines[pos:r.first + 1]
        pos = r.last
    return [line.rstrip() for line in keep + lines[pos:]]


def merge_regions(student_text, pristine_text, rel, problems):
    """The pristine file with the student's region bodies pasted in; problems noted."""
    pristine_regions = read_regions(pristine_text, rel)
    try:
        mine = read_regions(student_text, rel)
    except RegionError as exc:
        problems.append(f"{rel}: the START/END OF YOUR CODE lines are damaged ({exc}); this file's "
                        "regions are not graded")
        return pristine_text
    if mine and mine[0].key.startswith("@"):  # the student's file does not parse: match by position
        if len(mine) != len(pristine_regions):
            problems.append(f"{rel}: {len(mine)} regions found, the release has {len(pristine_regions)}; "
                            "this file's regions are not graded")
            return pristine_text
        bodies = {p.key: m.body for p, m in zip(pristine_regions, mine)}
    else:
        bodies = {m.key: m.body for m in mine}
        known = {p.key for p in pristine_regions}
        missing = sorted(known - set(bodies))
        extra = sorted(set(bodies) - known)
        if missing:
            problems.append(f"{rel}: region(s) {', '.join(missing)} not found; graded as not done")
        if extra:
            problems.append(f"{rel}: region(s) {', '.join(extra)} are not in the release; ignored")
        bodies = {k: v for k, v in bodies.items() if k in known}
    if _outside(student_text, mine) != _outside(pristine_text, pristine_regions):
        problems.append(f"{rel}: edits outside the START/END OF YOUR CODE regions are ignored "
                        "(the released given code is graded)")
    return fill_regions(pristine_text, rel, bodies, strict=False)


def restore_package(root, pristine, dest):
    """Write the package graded for the submission at ``root`` into ``dest/cs231n``; return problems.

    ``pristine``: ``{relative path: bytes}`` of the release. Only ``cs231n/`` is rebuilt: given
    files come from the release; files with regions get the student's region bodies.
    """
    root, dest = Path(root), Path(dest)
    problems = []
    released = {rel: data for rel, data in pristine.items() if rel.startswith("cs231n/")}
    for rel, data in sorted(released.items()):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        out = data
        text = None
        if rel.endswith(".py"):
            pristine_text = data.decode("utf-8")
            if read_regions(pristine_text, rel):
                text = _read_student(root / rel, rel, problems, root)
                if text is not None:
                    out = merge_regions(text, pristine_text, rel, problems).encode("utf-8")
            else:
                student = root / rel
                if student.is_file() and not student.is_symlink():
                    try:
                        if student.stat().st_size != len(data) or student.read_bytes() != data:
                            problems.append(f"{rel}: changes to this given file are ignored")
                    except OSError:
                        pass
        target.write_bytes(out)
    package = root / "cs231n"
    for path in sorted(package.rglob("*.py")) if package.is_dir() else []:
        rel = path.relative_to(root).as_posix()
        if rel not in released and "__pycache__" not in rel:
            problems.append(f"{rel}: not part of the release; ignored")
    return problems
