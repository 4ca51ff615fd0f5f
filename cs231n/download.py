"""Fetch CIFAR-10 (python version) into the data directory, verified and atomically.

Run once (``bash datasets/get_datasets.sh`` is a thin wrapper around this)::

    python -m cs231n.download                          # the official archive (HTTPS, University of Toronto)
    python -m cs231n.download --source URL --md5 HEX   # a mirror, with the checksum to expect
    python -m cs231n.download --source PATH            # a local archive; checksum in PATH.sha256 / PATH.md5

What it guarantees:

- The archive is checked (size and MD5 of the official file; otherwise the checksum you give or the
  one in a ``.md5`` / ``.sha256`` file beside the source) before anything is extracted. A download
  that fails the check is deleted; a local source is never touched.
- A download is written to ``cifar-10-python.tar.gz.part`` and renamed only once complete and
  verified. Re-running resumes it (HTTP Range) or, if the server ignores Range, restarts it.
- Extraction goes into a temporary folder that is renamed into place at the end, so a
  ``cifar-10-batches-py`` folder is either complete or absent. Only regular files inside
  ``cifar-10-batches-py/`` are accepted (no absolute paths, no ``..``, no links).
- Already installed -> nothing to do. Files that are not ours are never deleted or overwritten,
  and nothing is written through a symbolic link (a link at the ``.part`` or archive name is refused).
- One install per folder at a time: a second one (another terminal, or ``run_assignment``) waits
  for the first to finish, saying so, then finds the data installed (``--no-wait``: stop instead).
- A download is never larger than the archive can be: the known size (official file, or
  ``--md5`` of the official file), else MAX_ARCHIVE_BYTES (256 MiB) when a mirror does not say.

The data directory is ``$CS231N_DATA_DIR`` if set, else ``datasets/`` in the repository (found from
this file, not from the current directory), or ``--dir``. Exit code 0 on success; otherwise
non-zero with a one-line reason on stderr.
"""

import argparse
import errno
import hashlib
import http.client
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ._folder_lock import folder_lock

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_SIZE = 170_498_071
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
BATCH_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
REQUIRED_FILES = BATCH_FILES + ("batches.meta",)
FETCH_COMMAND = "bash datasets/get_datasets.sh  (or: python -m cs231n.download)"

_CHUNK = 1 << 20
_MAX_EXTRACTED_BYTES = 1 << 30  # the real archive unpacks to 178 MiB; refuse gzip bombs
_TEMP_PREFIX = ".cifar-10-extract-"
_STALE_TEMP_SECONDS = 3600
_HEX_LENGTHS = {"md5": 32, "sha256": 64}
# A download whose size nothing tells us (a mirror without Content-Length, checked only by a
# checksum) stops here: the official archive is 163 MiB, its uncompressed tar 178 MiB.
MAX_ARCHIVE_BYTES = 256 << 20
LOCK_NAME = ".cifar-10-download.lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class DownloadError(Exception):
    """Installing CIFAR-10 failed; the message is one line meant for the user."""


class ChecksumError(DownloadError):
    """The archive does not have the expected size or checksum."""


class UnsafeArchiveError(DownloadError):
    """The archive holds a member that could write outside its folder, or a link or device."""


class _Transient(Exception):
    """A network failure worth retrying (timeout, reset, early close, HTTP 5xx)."""


def data_dir():
    """The folder that holds ``cifar-10-batches-py``: ``$CS231N_DATA_DIR``, else ``<repo>/datasets``."""
    env = os.environ.get("CS231N_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser().absolute()
    return Path(__file__).resolve().parents[1] / "datasets"


def is_installed(folder):
    """True when ``folder`` holds every file of the CIFAR-10 python version."""
    folder = Path(folder)
    return all((folder / name).is_file() for name in REQUIRED_FILES)


# --- checksums -------------------------------------------------------------------------------

def _check_hex(value, algo, where):
    value = value.strip().lower()
    if not re.fullmatch(f"[0-9a-f]{{{_HEX_LENGTHS[algo]}}}", value):
        raise DownloadError(f"{where} must be {_HEX_LENGTHS[algo]} hex digits ({algo}), got {value!r}")
    return value


def _parse_checksum_text(text, algo, where):
    """First word of a checksum file (``HEX`` or ``HEX  filename``, as md5sum/sha256sum write)."""
    words = text.split()
    if not words:
        raise DownloadError(f"checksum file {where} is empty")
    return _check_hex(words[0], algo, f"the checksum in {where}")


def _hash_file(path):
    """Size, MD5 and SHA-256 of a file in one pass."""
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    return {"size": size, "md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def verify(path, expected):
    """Raise ChecksumError unless ``path`` matches every entry of ``expected``.

    ``expected`` maps any of 'size', 'md5', 'sha256' to the value to expect (empty: no check).
    """
    if not expected:
        return
    actual = _hash_file(path)
    for key in ("size", "md5", "sha256"):
        if key in expected and actual[key] != expected[key]:
            what = "size" if key == "size" else f"{key} checksum"
            raise ChecksumError(f"{path.name} has the wrong {what}: expected {expected[key]}, got {actual[key]}")


# --- sources ---------------------------------------------------------------------------------

def _local_path(source):
    """The file behind a ``file://`` URL or a plain path; None for http(s) URLs."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise DownloadError(f"file URLs must name a local file, got host {parsed.netloc!r} in {source}")
        return Path(urllib.request.url2pathname(parsed.path))
    if len(parsed.scheme) > 1:  # one letter is a Windows drive (C:\...), not a scheme
        raise DownloadError(f"unsupported source {source!r}: give an http(s):// or file:// URL or a path")
    return Path(source).expanduser()


def _read_sidecar_url(url, timeout):
    """Text of a small checksum file next to a URL, or None when the server has none (HTTP 404)."""
    try:
        with urllib.request.urlopen(_request(url), timeout=timeout) as resp:
            return resp.read(4096).decode("ascii", "replace")
    except urllib.error.HTTPError as err:
        if err.code in (403, 404, 410):
            return None
        raise DownloadError(f"cannot read checksum file {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise DownloadError(f"cannot read checksum file {url}: {err}") from None


def expected_checksums(source, md5=None, sha256=None, timeout=30.0):
    """What the archive from ``source`` must match: a dict with some of 'size', 'md5', 'sha256'.

    Official source: its size and MD5 (plus any checksum given). Other sources: the checksums
    given, else the ones in ``SOURCE.sha256`` / ``SOURCE.md5``; none at all is an error.
    """
    given = {}
    if md5:
        given["md5"] = _check_hex(md5, "md5", "--md5")
    if sha256:
        given["sha256"] = _check_hex(sha256, "sha256", "--sha256")
    if source is None or source == OFFICIAL_URL:
        return {"size": OFFICIAL_SIZE, "md5": OFFICIAL_MD5, **given}
    if given.get("md5") == OFFICIAL_MD5:
        given["size"] = OFFICIAL_SIZE  # a copy of the official file: its size is known too
    if given:
        return given
    local = _local_path(source)
    for algo in ("sha256", "md5"):
        if local is not None:
            side = local.with_name(local.name + "." + algo)
            text = side.read_text(encoding="ascii", errors="replace") if side.is_file() else None
        else:
            side = source + "." + algo
            text = _read_sidecar_url(side, timeout)
        if text is not None:
            given[algo] = _parse_checksum_text(text, algo, str(side))
    if not given:
        raise DownloadError(
            f"no checksum for {source}: pass --md5 HEX or --sha256 HEX, or put SOURCE.md5 / SOURCE.sha256 "
            f"beside it (for a copy of the official archive: --md5 {OFFICIAL_MD5})")
    return given


# --- download --------------------------------------------------------------------------------

def _request(url, offset=0):
    headers = {"User-Agent": "cs231n-download/1.0"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.Request(url, headers=headers)


def _refuse_link(path):
    """Never write through a symbolic link planted at one of our file names."""
    if path.is_symlink():
        raise DownloadError(f"{path} is a symbolic link: refusing to write through it; remove the link "
                            "(to install from the file it points to, pass that file with --source)")


def _open_part(part, append):
    """Open ``part`` for writing (appending or from scratch), never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | getattr(os, "O_BINARY", 0)
    flags |= os.O_APPEND if append else os.O_TRUNC
    _refuse_link(part)
    try:
        fd = os.open(part, flags, 0o666)
    except OSError as err:
        if err.errno == errno.ELOOP:  # a link appeared after the check
            _refuse_link(part)
        raise
    return os.fdopen(fd, "ab" if append else "wb")


def _fetch_into(url, part, size, quiet, timeout):
    """Fetch ``url`` into ``part``, resuming from its current length when the server allows.

    ``size`` is the archive's known size, or None; without it at most MAX_ARCHIVE_BYTES are
    accepted. Raises _Transient on failures worth retrying; ``part`` then keeps what arrived.
    """
    _refuse_link(part)
    limit = size if size is not None else MAX_ARCHIVE_BYTES
    offset = part.stat().st_size if part.exists() else 0
    if offset > limit:
        part.unlink()  # longer than the real file: cannot be a prefix of it
        offset = 0
    if size is not None and offset == size:
        return  # complete from an earlier run; verification decides
    try:
        resp = urllib.request.urlopen(_request(url, offset), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left past our end: let verification decide
            return
        if err.code >= 500 or err.code in (408, 429):
            raise _Transient(f"HTTP {err.code} {err.reason}") from None
        raise DownloadError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise _Transient(str(getattr(err, "reason", err))) from None
    with resp:
        if offset and resp.status == 206:
            content_range = resp.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {offset}-"):
                part.unlink()
                raise _Transient(f"server sent the range {content_range!r}, not from byte {offset}; restarting")
            append = True
        elif resp.status == 200:
            offset, append = 0, False  # no Range asked, or the server ignored it: start again
        else:
            raise DownloadError(f"cannot download {url}: unexpected HTTP status {resp.status}")
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        total = offset + length if length is not None else size
        if size is not None and total != size:
            if offset:
                part.unlink()
                raise _Transient(f"the resumed download would be {total} bytes, not {size}; restarting")
            part.unlink(missing_ok=True)
            raise ChecksumError(f"{url} is {total} bytes, expected {size}: refusing to download it")
        if total is not None and total > limit:
            part.unlink(missing_ok=True)
            raise ChecksumError(f"{url} is {total} bytes, more than the {limit} a CIFAR-10 archive can be: "
                                "refusing to download it")
        received, too_big = 0, False
        with _open_part(part, append) as out, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                                    unit_divisor=1024, desc=ARCHIVE_NAME, file=sys.stderr,
                                                    disable=quiet, leave=False) as bar:
            while True:
                try:
                    chunk = resp.read(_CHUNK)
                except (OSError, http.client.HTTPException) as err:
                    raise _Transient(f"connection lost after {offset + received} bytes: {err}") from None
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                if offset + received > limit:
                    too_big = True
                    break
        if too_big:
            if size is not None:
                return  # more than the real file: verification will refuse it
            part.unlink()
            raise ChecksumError(f"{url} sent more than {limit} bytes without saying how large it is; a "
                                f"CIFAR-10 archive is {OFFICIAL_SIZE} bytes: refusing it (the partial "
                                "download was deleted)")
        if length is not None and received < length:
            raise _Transient(f"connection closed after {offset + received} of {offset + length} bytes")


def download(url, target, expected, quiet=False, retries=3, timeout=30.0, retry_wait=1.0):
    """Download ``url`` to ``target`` (via ``target.part``) and verify it against ``expected``.

    Transient failures are retried ``retries`` times, resuming each time. A resumed download that
    fails verification is restarted once from scratch (the old ``.part`` may have come from another
    file); a fresh one that fails is deleted and refused. Symbolic links at either name are refused.
    """
    part = target.with_name(target.name + ".part")
    _refuse_link(target)
    _refuse_link(part)
    resumed = part.exists() and part.stat().st_size > 0
    for fresh_start in (False, True):
        for attempt in range(retries + 1):
            try:
                _fetch_into(url, part, expected.get("size"), quiet, timeout)
                break
            except _Transient as err:
                if attempt == retries:
                    raise DownloadError(f"download of {url} failed after {retries + 1} attempt(s): {err}; "
                                        "run the same command again to resume") from None
                time.sleep(retry_wait * 2 ** attempt)
        _refuse_link(part)
        try:
            verify(part, expected)
        except ChecksumError as err:
            part.unlink()
            if resumed and not fresh_start:
                continue  # the resumed part may belong to another file: try once from the start
            raise ChecksumError(f"{err}; the download was deleted") from None
        _refuse_link(target)
        os.replace(part, target)
        return


# --- extraction ------------------------------------------------------------------------------

def _check_member(member, budget):
    """Refuse anything but regular files and folders inside ``cifar-10-batches-py/``."""
    name = member.name
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p != "."]
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
        raise UnsafeArchiveError(f"refusing to extract: member {name!r} points outside the target folder")
    if not parts or parts[0] != FOLDER_NAME:
        raise UnsafeArchiveError(f"refusing to extract: member {name!r} is not inside {FOLDER_NAME}/")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"refusing to extract: member {name!r} is a link or special file")
    budget[0] -= member.size
    if budget[0] < 0:
        raise UnsafeArchiveError(f"refusing to extract: members exceed {_MAX_EXTRACTED_BYTES} bytes")


def _clean_stale_temp_dirs(root):
    """Remove extraction folders that an earlier, killed run of ours left behind."""
    now = time.time()
    for path in root.glob(_TEMP_PREFIX + "*"):
        try:
            if path.is_dir() and now - path.stat().st_mtime > _STALE_TEMP_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def extract(archive, root):
    """Extract ``archive`` into ``root/cifar-10-batches-py``, which must not exist yet.

    Everything lands in a temporary folder inside ``root`` first; the finished folder is then
    renamed into place (atomic on one file system).
    """
    target = root / FOLDER_NAME
    tmp = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=root))
    budget = [_MAX_EXTRACTED_BYTES]
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                if hasattr(tarfile, "data_filter"):
                    def member_filter(member, path):
                        _check_member(member, budget)
                        return tarfile.data_filter(member, path)
                    tar.extractall(tmp, filter=member_filter)
                else:  # Python < 3.11.4: our own check alone (regular files in the folder only)
                    members = list(tar)
                    for member in members:
                        _check_member(member, budget)
                    tar.extractall(tmp, members=members)
        except tarfile.FilterError as err:
            raise UnsafeArchiveError(f"refusing to extract {archive.name}: {err}") from None
        except (tarfile.TarError, EOFError, zlib.error) as err:
            raise DownloadError(f"cannot extract {archive}: {err}") from None
        extracted = tmp / FOLDER_NAME
        missing = [name for name in REQUIRED_FILES if not (extracted / name).is_file()]
        if missing:
            raise DownloadError(f"{archive.name} is not the CIFAR-10 python archive: "
                                f"{FOLDER_NAME}/ lacks {', '.join(missing)}")
        os.rename(extracted, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# --- the whole job ---------------------------------------------------------------------------

def install(source=None, dest=None, md5=None, sha256=None, verify_checksum=True, quiet=False,
            keep_archive=False, retries=3, timeout=30.0, retry_wait=1.0, lock_timeout=None):
    """Install CIFAR-10 into ``dest`` (default: data_dir()) and return a one-line summary.

    source: None for the official archive, an http(s):// mirror URL, a file:// URL or a path.
    md5, sha256: hex digests the archive must match. verify_checksum=False (only with a source)
    skips the check. lock_timeout: seconds to wait for another install into the same folder
    (None: as long as it takes). Raises DownloadError (one-line message) on failure.
    """
    if not verify_checksum and source is None:
        raise DownloadError("the official archive is always verified; --no-verify needs --source")
    root = Path(dest).expanduser().absolute() if dest is not None else data_dir()
    target = root / FOLDER_NAME
    if is_installed(target):
        return f"CIFAR-10 is already in {target}: nothing to do"
    expected = expected_checksums(source, md5, sha256, timeout) if verify_checksum else {}
    root.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    _refuse_link(root / LOCK_NAME)
    with folder_lock(root / LOCK_NAME, say, lock_timeout, DownloadError, f"another download into {root}"):
        if is_installed(target):  # another run finished it while we waited
            return f"CIFAR-10 is already in {target}: nothing to do"
        if target.exists() or target.is_symlink():
            raise DownloadError(f"{target} exists but is incomplete; move it away or delete it, then re-run")
        _clean_stale_temp_dirs(root)
        return _install_locked(source, root, target, expected, say, quiet, keep_archive, retries, timeout,
                               retry_wait)


def _install_locked(source, root, target, expected, say, quiet, keep_archive, retries, timeout, retry_wait):
    local = _local_path(source) if source is not None else None
    if local is not None:  # never modify or delete the user's own file
        if not local.is_file():
            raise DownloadError(f"source {local} does not exist or is not a file")
        say(f"verifying {local}")
        verify(local, expected)
        say(f"extracting into {target}")
        extract(local, root)
        return f"CIFAR-10 installed in {target} (from {local})"

    url = source or OFFICIAL_URL
    archive = root / ARCHIVE_NAME
    _refuse_link(archive)
    downloaded = False
    if archive.exists():
        try:
            verify(archive, expected)
        except ChecksumError as err:
            raise DownloadError(f"{archive} is already there but {err}; it is not ours to delete: "
                                "move it away or delete it, then re-run") from None
        say(f"using the verified {archive}")
    else:
        say(f"downloading {url}")
        download(url, archive, expected, quiet, retries, timeout, retry_wait)
        downloaded = True
    say(f"extracting into {target}")
    extract(archive, root)
    if downloaded and not keep_archive:
        archive.unlink()
    return f"CIFAR-10 installed in {target}"


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def main(argv=None):
    parser = _OneLineParser(prog="python -m cs231n.download",
                            description="Download, verify and extract CIFAR-10 (python version).")
    parser.add_argument("--source", help="mirror URL, file:// URL or path of cifar-10-python.tar.gz "
                                         "(default: the official HTTPS URL)")
    parser.add_argument("--md5", help="MD5 the archive must have")
    parser.add_argument("--sha256", help="SHA-256 the archive must have")
    parser.add_argument("--no-verify", action="store_true",
                        help="accept a --source without any checksum (not recommended)")
    parser.add_argument("--dir", help="data directory (default: $CS231N_DATA_DIR, else datasets/ in the repository)")
    parser.add_argument("--keep-archive", action="store_true", help="keep the downloaded .tar.gz")
    parser.add_argument("--retries", type=int, default=3, help="retries after a network failure (default 3)")
    parser.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds (default 30)")
    parser.add_argument("--no-wait", action="store_true",
                        help="stop at once if another download into the same folder is running "
                             "(default: wait for it to finish)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    args = parser.parse_args(argv)
    if args.no_verify and (args.md5 or args.sha256):
        parser.error("--no-verify contradicts --md5/--sha256")
    if args.retries < 0 or args.timeout <= 0:
        parser.error("--retries must be >= 0 and --timeout > 0")
    if args.no_verify and not args.quiet:
        print("warning: --no-verify: the archive's integrity is not checked", file=sys.stderr)
    try:
        message = install(args.source, args.dir, args.md5, args.sha256, not args.no_verify, args.quiet,
                          args.keep_archive, args.retries, args.timeout,
                          lock_timeout=0 if args.no_wait else None)
    except (DownloadError, OSError) as err:
        print(f"error: {err}".replace("\n", " "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    if not args.quiet:
        print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
