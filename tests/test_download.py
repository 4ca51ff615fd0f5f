"""cs231n.download against a loopback HTTP server and local files: verification before extraction,
resume/restart of interrupted downloads, idempotence, safe extraction, and the command line.

The archive served is a small synthetic cifar-10-batches-py folder packed in the test. Nothing is
written to the repository: CS231N_DATA_DIR points at a temporary folder in every test.
"""

import hashlib
import http.server
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

import cs231n
from cs231n import download
from cs231n.download import ChecksumError, DownloadError, UnsafeArchiveError, data_dir, install, main

REPO = Path(cs231n.__file__).resolve().parents[1]
FAST = dict(quiet=True, retry_wait=0.0, timeout=5.0)  # keyword arguments for install() in tests


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    """The data directory of each test (empty, inside tmp_path)."""
    root = tmp_path / "data"
    monkeypatch.setenv("CS231N_DATA_DIR", str(root))
    return root


def make_archive(folder, extra=(), first=()):
    """tar.gz bytes of ``folder`` as cifar-10-batches-py/, with extra TarInfo members (info, bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, payload in first:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
        tar.add(folder, arcname="cifar-10-batches-py")
        for info, payload in extra:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def md5(data):
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    from cs231n.synthetic_cifar import write_synthetic_cifar10
    return write_synthetic_cifar10(tmp_path_factory.mktemp("src"), per_batch=20, test_size=20, seed=1)


@pytest.fixture(scope="module")
def archive(small_folder):
    return make_archive(small_folder)


def installed_ok(root, small_folder):
    target = root / "cifar-10-batches-py"
    return all((target / n).read_bytes() == (small_folder / n).read_bytes()
               for n in ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"])


def leftovers(root):
    """Everything in the data directory except the installed folder."""
    return sorted(p.name for p in root.iterdir() if p.name != "cifar-10-batches-py") if root.exists() else []


# --- loopback server -------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        mode = srv.modes.pop(0) if self.path == "/cifar.tar.gz" and srv.modes else "ok"
        if mode == "stall":
            time.sleep(1.0)
        if mode == "corrupt":
            body = body[:-1] + bytes([body[-1] ^ 0xFF])  # last byte: also past any resume point
        start, range_header = 0, self.headers.get("Range")
        if range_header and mode != "ignore_range":
            start = int(re.fullmatch(r"bytes=(\d+)-", range_header)[1])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        if mode != "no_length":  # no_length: the body ends when the connection closes (HTTP/1.0)
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if mode == "truncate":  # announce everything, send half, hang up
            self.wfile.write(payload[:len(payload) // 2])
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that timed out leaves a broken pipe behind: expected


@pytest.fixture
def server(archive):
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.files = {"/cifar.tar.gz": archive}
    srv.modes = []  # one mode per request of /cifar.tar.gz: ok, corrupt, truncate, ignore_range, stall,
    # no_length
    srv.log = []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/cifar.tar.gz"
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


# --- HTTP downloads --------------------------------------------------------------------------

def test_good_download(server, archive, data_root, small_folder):
    message = install(server.url, md5=md5(archive), **FAST)
    assert "installed" in message and installed_ok(data_root, small_folder)
    assert leftovers(data_root) == []  # no .part, no archive, no temporary folder
    assert server.log == [("/cifar.tar.gz", None)]


def test_official_source_is_checked_for_size_and_md5(server, archive, data_root, small_folder, monkeypatch):
    monkeypatch.setattr(download, "OFFICIAL_URL", server.url)
    monkeypatch.setattr(download, "OFFICIAL_SIZE", len(archive))
    monkeypatch.setattr(download, "OFFICIAL_MD5", md5(archive))
    install(**FAST)
    assert installed_ok(data_root, small_folder)


def test_wrong_size_is_refused_before_downloading(server, archive, data_root, monkeypatch):
    monkeypatch.setattr(download, "OFFICIAL_URL", server.url)
    monkeypatch.setattr(download, "OFFICIAL_SIZE", len(archive) + 1)
    monkeypatch.setattr(download, "OFFICIAL_MD5", md5(archive))
    with pytest.raises(ChecksumError, match=rf"is {len(archive)} bytes, expected {len(archive) + 1}"):
        install(**FAST)
    assert leftovers(data_root) == [] and not (data_root / "cifar-10-batches-py").exists()


def test_corrupted_download_is_refused_and_deleted(server, archive, data_root):
    server.modes = ["corrupt"]
    with pytest.raises(ChecksumError, match=r"wrong md5 checksum: expected .*; the download was deleted"):
        install(server.url, md5=md5(archive), **FAST)
    assert leftovers(data_root) == [] and not (data_root / "cifar-10-batches-py").exists()


def test_truncated_download_is_resumed(server, archive, data_root, small_folder):
    server.modes = ["truncate"]
    install(server.url, md5=md5(archive), **FAST)
    assert installed_ok(data_root, small_folder) and leftovers(data_root) == []
    assert server.log[1] == ("/cifar.tar.gz", f"bytes={len(archive) // 2}-")


def test_interrupted_run_leaves_only_a_part_file_then_resumes(server, archive, data_root, small_folder):
    server.modes = ["truncate"]
    with pytest.raises(DownloadError, match="failed after 1 attempt.*run the same command again to resume"):
        install(server.url, md5=md5(archive), retries=0, **FAST)
    assert leftovers(data_root) == ["cifar-10-python.tar.gz.part"]  # never a complete-looking file
    assert (data_root / "cifar-10-python.tar.gz.part").stat().st_size == len(archive) // 2
    assert not (data_root / "cifar-10-batches-py").exists()
    install(server.url, md5=md5(archive), retries=0, **FAST)
    assert server.log[-1] == ("/cifar.tar.gz", f"bytes={len(archive) // 2}-")
    assert installed_ok(data_root, small_folder) and leftovers(data_root) == []


def test_server_ignoring_range_restarts_cleanly(server, archive, data_root, small_folder):
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz.part").write_bytes(archive[:5000])
    server.modes = ["ignore_range"]
    install(server.url, md5=md5(archive), **FAST)
    assert server.log == [("/cifar.tar.gz", "bytes=5000-")]  # asked to resume, got the whole file
    assert installed_ok(data_root, small_folder) and leftovers(data_root) == []


def test_part_file_from_another_file_is_restarted_once(server, archive, data_root, small_folder):
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz.part").write_bytes(b"\0" * 5000)
    install(server.url, md5=md5(archive), **FAST)
    assert server.log == [("/cifar.tar.gz", "bytes=5000-"), ("/cifar.tar.gz", None)]
    assert installed_ok(data_root, small_folder) and leftovers(data_root) == []


def test_bad_resume_and_bad_restart_are_never_accepted(server, archive, data_root):
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz.part").write_bytes(archive[:5000])
    server.modes = ["corrupt", "corrupt"]
    with pytest.raises(ChecksumError, match="the download was deleted"):
        install(server.url, md5=md5(archive), **FAST)
    assert len(server.log) == 2 and leftovers(data_root) == []


def test_part_file_longer_than_the_official_size_is_restarted(server, archive, data_root, small_folder,
                                                               monkeypatch):
    monkeypatch.setattr(download, "OFFICIAL_URL", server.url)
    monkeypatch.setattr(download, "OFFICIAL_SIZE", len(archive))
    monkeypatch.setattr(download, "OFFICIAL_MD5", md5(archive))
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz.part").write_bytes(b"\0" * (len(archive) + 10))
    install(**FAST)
    assert server.log == [("/cifar.tar.gz", None)] and installed_ok(data_root, small_folder)


def test_complete_part_file_is_verified_after_a_416(server, archive, data_root, small_folder):
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz.part").write_bytes(archive)  # killed just before the rename
    install(server.url, md5=md5(archive), **FAST)
    assert server.log == [("/cifar.tar.gz", f"bytes={len(archive)}-")]  # answered 416: nothing left
    assert installed_ok(data_root, small_folder) and leftovers(data_root) == []


def test_complete_part_file_of_known_size_needs_no_request(server, archive, data_root, small_folder, monkeypatch):
    monkeypatch.setattr(download, "OFFICIAL_URL", server.url)
    monkeypatch.setattr(download, "OFFICIAL_SIZE", len(archive))
    monkeypatch.setattr(download, "OFFICIAL_MD5", md5(archive))
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz.part").write_bytes(archive)
    install(**FAST)
    assert server.log == [] and installed_ok(data_root, small_folder)


def test_timeout_is_retried(server, archive, data_root, small_folder):
    server.modes = ["stall"]
    install(server.url, md5=md5(archive), retries=1, quiet=True, retry_wait=0.0, timeout=0.3)
    assert len(server.log) == 2 and installed_ok(data_root, small_folder)


def test_http_404_is_not_retried(server, archive, data_root):
    with pytest.raises(DownloadError, match="HTTP 404"):
        install(server.url.replace("cifar", "missing"), md5=md5(archive), retries=3, **FAST)
    assert len(server.log) == 1 and leftovers(data_root) == []


def test_already_installed_makes_no_request(server, archive, data_root, small_folder):
    shutil.copytree(small_folder, data_root / "cifar-10-batches-py")
    assert "nothing to do" in install(server.url, md5=md5(archive), **FAST)
    assert "nothing to do" in install(**FAST)  # the official source: no request either
    assert server.log == []


def test_verified_archive_already_present_is_used_without_a_request(server, archive, data_root, small_folder):
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz").write_bytes(archive)
    install(server.url, md5=md5(archive), **FAST)
    assert server.log == [] and installed_ok(data_root, small_folder)
    assert (data_root / "cifar-10-python.tar.gz").read_bytes() == archive  # not ours: kept


def test_bad_archive_already_present_is_refused_not_deleted(server, archive, data_root):
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz").write_bytes(b"somebody else's file")
    with pytest.raises(DownloadError, match="not ours to delete"):
        install(server.url, md5=md5(archive), **FAST)
    assert (data_root / "cifar-10-python.tar.gz").read_bytes() == b"somebody else's file"
    assert server.log == []


def test_incomplete_folder_is_not_touched(server, archive, data_root):
    (data_root / "cifar-10-batches-py").mkdir(parents=True)
    (data_root / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"mine")
    with pytest.raises(DownloadError, match="exists but is incomplete"):
        install(server.url, md5=md5(archive), **FAST)
    assert (data_root / "cifar-10-batches-py" / "data_batch_1").read_bytes() == b"mine"


def test_keep_archive(server, archive, data_root):
    install(server.url, md5=md5(archive), keep_archive=True, **FAST)
    assert leftovers(data_root) == ["cifar-10-python.tar.gz"]


def test_mirror_with_checksum_file_beside_it(server, archive, data_root, small_folder):
    server.files["/cifar.tar.gz.md5"] = f"{md5(archive)}  cifar.tar.gz\n".encode()
    install(server.url, **FAST)
    assert installed_ok(data_root, small_folder)


def test_mirror_without_checksum_is_refused_before_downloading(server, data_root):
    with pytest.raises(DownloadError, match=r"no checksum for .*--md5 HEX or --sha256 HEX"):
        install(server.url, **FAST)
    assert "/cifar.tar.gz" not in [path for path, _ in server.log] and leftovers(data_root) == []


def test_no_verify_is_explicit(server, data_root, small_folder):
    install(server.url, verify_checksum=False, **FAST)
    assert installed_ok(data_root, small_folder)


def test_no_verify_needs_a_source():
    with pytest.raises(DownloadError, match="always verified"):
        install(verify_checksum=False, **FAST)


# --- hostile surroundings: links, concurrent installs, servers that do not say the size ---------

@pytest.fixture
def victim(tmp_path):
    """A file of the user's outside the data directory, which a planted link points at."""
    path = tmp_path / "victim.txt"
    path.write_bytes(b"precious")
    return path


@pytest.mark.parametrize("mode", ["ok", "ignore_range"])
def test_symlinked_part_file_is_refused_not_written_through(server, archive, data_root, victim, mode):
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz.part").symlink_to(victim)
    server.modes = [mode]
    with pytest.raises(DownloadError, match=r"tar\.gz\.part is a symbolic link: refusing to write through it"):
        install(server.url, md5=md5(archive), **FAST)
    assert victim.read_bytes() == b"precious" and server.log == []


def test_symlinked_archive_is_refused_not_written_through(server, archive, data_root, victim):
    data_root.mkdir()
    (data_root / "cifar-10-python.tar.gz").symlink_to(victim)
    with pytest.raises(DownloadError, match=r"tar\.gz is a symbolic link.*pass that file with --source"):
        install(server.url, md5=md5(archive), **FAST)
    assert victim.read_bytes() == b"precious" and server.log == []
    (data_root / "cifar-10-python.tar.gz").unlink()
    (data_root / "cifar-10-python.tar.gz").symlink_to(tmp := victim.with_name("gone"))  # dangling
    with pytest.raises(DownloadError, match="symbolic link"):
        install(server.url, md5=md5(archive), **FAST)
    assert not tmp.exists()


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="no O_NOFOLLOW on this platform")
def test_part_file_is_opened_without_following_a_link_planted_after_the_check(tmp_path, victim, monkeypatch):
    part = tmp_path / "x.part"
    part.symlink_to(victim)
    monkeypatch.setattr(download, "_refuse_link", lambda path: None)  # the link "appears" after the check
    for append in (True, False):
        with pytest.raises(OSError):
            download._open_part(part, append)
    assert victim.read_bytes() == b"precious"


def test_second_install_waits_for_the_first_and_finds_the_data(server, archive, data_root, small_folder, capsys):
    data_root.mkdir()
    holding = threading.Event()

    def first():  # another install holding the folder, finishing the job 0.5 s later
        with download.folder_lock(data_root / download.LOCK_NAME, print, None, DownloadError, "first"):
            holding.set()
            time.sleep(0.5)
            shutil.copytree(small_folder, data_root / "cifar-10-batches-py")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(5)
    message = install(server.url, md5=md5(archive), quiet=False, retry_wait=0.0, timeout=5.0)
    thread.join()
    assert "already in" in message and server.log == []
    assert "another download into" in capsys.readouterr().err
    assert leftovers(data_root) == []  # the lock file is gone too


def test_second_install_with_no_wait_says_another_is_running(server, archive, data_root):
    data_root.mkdir()
    with download.folder_lock(data_root / download.LOCK_NAME, print, None, DownloadError, "first"):
        (data_root / ".cifar-10-download.lock").read_text()  # holds this process's id
        with pytest.raises(DownloadError, match=rf"another download into .* is running \(process {os.getpid()}\)"):
            install(server.url, md5=md5(archive), lock_timeout=0, **FAST)
        assert main(["--source", server.url, "--md5", md5(archive), "--no-wait", "-q"]) == 1
    assert server.log == [] and leftovers(data_root) == []


def test_two_concurrent_installs_both_succeed_with_one_download(server, archive, data_root, small_folder):
    server.modes = ["stall"]  # the first request takes a second: the two runs overlap
    results = []
    runs = [threading.Thread(target=lambda: results.append(install(server.url, md5=md5(archive), **FAST)))
            for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert sorted(m.split()[1] for m in results) == ["installed", "is"]  # one installs, one finds it there
    assert len(server.log) == 1 and installed_ok(data_root, small_folder) and leftovers(data_root) == []


def test_run_assignment_waits_for_a_manual_download_in_another_process(server, archive, data_root, small_folder):
    from cs231n import run_assignment
    server.files["/cifar.tar.gz.md5"] = md5(archive).encode()
    server.modes = ["stall"]  # the manual download takes a second
    manual = subprocess.Popen([sys.executable, "-m", "cs231n.download", "--source", server.url, "-q"],
                              env=dict(_env(), CS231N_DATA_DIR=str(data_root)))
    deadline = time.monotonic() + 20
    while not any(p == "/cifar.tar.gz" for p, _ in server.log) and manual.poll() is None:  # it is downloading
        assert time.monotonic() < deadline
        time.sleep(0.02)
    run_assignment.ensure_cifar10(source=server.url)  # waits for the lock, then finds the data
    assert manual.wait(30) == 0
    assert [p for p, _ in server.log].count("/cifar.tar.gz") == 1
    assert installed_ok(data_root, small_folder) and leftovers(data_root) == []


def test_lock_left_by_a_killed_run_does_not_block(server, archive, data_root, small_folder):
    data_root.mkdir()
    (data_root / ".cifar-10-download.lock").write_text("12345\n")  # no process holds it any more
    install(server.url, md5=md5(archive), lock_timeout=0, **FAST)
    assert installed_ok(data_root, small_folder) and leftovers(data_root) == []


def test_symlinked_lock_file_is_refused(server, archive, data_root, victim):
    data_root.mkdir()
    (data_root / ".cifar-10-download.lock").symlink_to(victim)
    with pytest.raises(DownloadError, match=r"download\.lock is a symbolic link"):
        install(server.url, md5=md5(archive), **FAST)
    assert victim.read_bytes() == b"precious" and server.log == []


def test_mirror_without_content_length_is_capped(server, archive, data_root, monkeypatch):
    monkeypatch.setattr(download, "MAX_ARCHIVE_BYTES", 1000)
    monkeypatch.setattr(download, "_CHUNK", 256)
    server.modes = ["no_length"]
    with pytest.raises(ChecksumError, match="sent more than 1000 bytes without saying how large it is"):
        install(server.url, sha256=hashlib.sha256(archive).hexdigest(), **FAST)
    assert leftovers(data_root) == []  # the partial download was deleted


def test_mirror_announcing_more_than_the_cap_is_refused_before_downloading(server, archive, data_root,
                                                                          monkeypatch):
    monkeypatch.setattr(download, "MAX_ARCHIVE_BYTES", len(archive) - 1)
    with pytest.raises(ChecksumError, match=rf"is {len(archive)} bytes, more than the {len(archive) - 1}"):
        install(server.url, md5=md5(archive), **FAST)
    assert leftovers(data_root) == []


def test_mirror_without_content_length_within_the_cap_is_fine(server, archive, data_root, small_folder):
    server.modes = ["no_length"]
    install(server.url, md5=md5(archive), **FAST)
    assert installed_ok(data_root, small_folder) and leftovers(data_root) == []


def test_official_md5_given_for_a_mirror_brings_the_official_size():
    expected = download.expected_checksums("https://mirror.example/c.tar.gz", md5=download.OFFICIAL_MD5)
    assert expected == {"md5": download.OFFICIAL_MD5, "size": download.OFFICIAL_SIZE}


# --- local sources ---------------------------------------------------------------------------

@pytest.fixture
def local_archive(tmp_path, archive):
    path = tmp_path / "src" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    path.write_bytes(archive)
    return path


@pytest.mark.parametrize("algo", ["md5", "sha256"])
def test_plain_path_with_checksum_file_beside(local_archive, archive, data_root, small_folder, algo):
    digest = hashlib.new(algo, archive).hexdigest()
    local_archive.with_name(local_archive.name + "." + algo).write_text(f"{digest}  {local_archive.name}\n")
    install(str(local_archive), **FAST)
    assert installed_ok(data_root, small_folder) and leftovers(data_root) == []
    assert local_archive.read_bytes() == archive  # the source is left alone


def test_file_url_with_sha256_option(local_archive, archive, data_root, small_folder):
    install(local_archive.as_uri(), sha256=hashlib.sha256(archive).hexdigest(), **FAST)
    assert installed_ok(data_root, small_folder)


def test_local_file_with_wrong_checksum_is_refused_and_kept(local_archive, archive, data_root):
    local_archive.with_name(local_archive.name + ".md5").write_text("0" * 32 + "\n")
    with pytest.raises(ChecksumError, match=f"wrong md5 checksum: expected {'0' * 32}, got {md5(archive)}"):
        install(str(local_archive), **FAST)
    assert local_archive.read_bytes() == archive and leftovers(data_root) == []
    assert not (data_root / "cifar-10-batches-py").exists()


def test_local_file_without_checksum_is_refused(local_archive, data_root):
    with pytest.raises(DownloadError, match=f"no checksum for .*--md5 {download.OFFICIAL_MD5}"):
        install(str(local_archive), **FAST)


def test_malformed_checksum_file(local_archive):
    local_archive.with_name(local_archive.name + ".sha256").write_text("not-a-digest\n")
    with pytest.raises(DownloadError, match="must be 64 hex digits"):
        install(str(local_archive), **FAST)


def test_malformed_md5_option(local_archive):
    with pytest.raises(DownloadError, match=r"--md5 must be 32 hex digits \(md5\), got 'abc'"):
        install(str(local_archive), md5="abc", **FAST)


def test_missing_local_source(tmp_path):
    with pytest.raises(DownloadError, match="does not exist"):
        install(str(tmp_path / "nope.tar.gz"), md5="0" * 32, **FAST)


def test_unsupported_url_scheme():
    with pytest.raises(DownloadError, match="unsupported source"):
        install("ftp://example.com/cifar.tar.gz", md5="0" * 32, **FAST)


# --- safe extraction -------------------------------------------------------------------------

def _file(name, payload=b"evil"):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    return info, payload


def _link(name, target, kind):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize("make_member, message", [
    (lambda tmp: _file("../evil.txt"), "points outside"),
    (lambda tmp: _file("cifar-10-batches-py/../../evil.txt"), "points outside"),
    (lambda tmp: _file(str(tmp / "abs-evil.txt")), "points outside"),
    (lambda tmp: _file("other/evil.txt"), "not inside cifar-10-batches-py/"),
    (lambda tmp: _link("cifar-10-batches-py/evil.txt", "/etc/passwd", tarfile.SYMTYPE), "link or special"),
    (lambda tmp: _link("cifar-10-batches-py/evil.txt", "../../evil.txt", tarfile.LNKTYPE), "link or special"),
], ids=["dotdot", "dotdot-inside", "absolute", "outside-folder", "symlink", "hardlink"])
@pytest.mark.parametrize("position", ["first", "last"])
def test_unsafe_members_are_refused(small_folder, tmp_path, data_root, make_member, message, position):
    member = make_member(tmp_path)
    data = make_archive(small_folder, **{"first" if position == "first" else "extra": [member]})
    src = tmp_path / "evil.tar.gz"
    src.write_bytes(data)
    with pytest.raises(UnsafeArchiveError, match=message):
        install(str(src), md5=md5(data), **FAST)
    assert leftovers(data_root) == [] and not (data_root / "cifar-10-batches-py").exists()
    assert not any(p.name.endswith("evil.txt") for p in tmp_path.rglob("*"))


def test_archive_without_the_batches_is_refused(tmp_path, data_root):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"1")
    data = make_archive(folder)
    src = tmp_path / "partial.tar.gz"
    src.write_bytes(data)
    with pytest.raises(DownloadError, match="lacks data_batch_2"):
        install(str(src), md5=md5(data), **FAST)
    assert leftovers(data_root) == []


def test_not_a_gzip_file_is_refused(tmp_path, data_root):
    src = tmp_path / "junk.tar.gz"
    src.write_bytes(b"junk" * 100)
    with pytest.raises(DownloadError, match="cannot extract"):
        install(str(src), md5=md5(b"junk" * 100), **FAST)
    assert leftovers(data_root) == []


# --- data directory and command line ---------------------------------------------------------

def test_default_data_dir_is_the_repository_datasets_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CS231N_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert data_dir() == REPO / "datasets"


def test_environment_variable_sets_the_data_dir(local_archive, archive, data_root, small_folder):
    assert data_dir() == data_root
    install(str(local_archive), md5=md5(archive), **FAST)
    assert installed_ok(data_root, small_folder)


def test_main_exit_codes_and_one_line_errors(local_archive, archive, tmp_path, capsys):
    assert main(["--source", str(local_archive), "--md5", "f" * 32, "--dir", str(tmp_path / "d"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert main(["--source", str(local_archive), "--md5", md5(archive), "--dir", str(tmp_path / "d"), "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["--source", str(local_archive), "--md5", md5(archive), "--dir", str(tmp_path / "d")]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_main_usage_error_is_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--no-verify", "--md5", "0" * 32])
    assert info.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO))


def test_command_line_in_a_subprocess(local_archive, archive, tmp_path):
    """The command CI runs: checksum file beside the archive, --quiet."""
    local_archive.with_name(local_archive.name + ".md5").write_text(f"{md5(archive)}  x\n")
    run = subprocess.run([sys.executable, "-m", "cs231n.download", "--source", str(local_archive), "--quiet"],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")
    assert (Path(os.environ["CS231N_DATA_DIR"]) / "cifar-10-batches-py" / "test_batch").is_file()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not available")
def test_get_datasets_sh_wraps_the_python_command(local_archive, archive, tmp_path):
    script = REPO / "datasets" / "get_datasets.sh"
    run = subprocess.run(["bash", str(script), "--source", "src/cifar-10-python.tar.gz", "--md5", "0" * 32, "-q"],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert run.returncode == 1 and run.stderr.startswith("error: ") and run.stderr.count("\n") == 1
    run = subprocess.run(["bash", str(script), "--source", "src/cifar-10-python.tar.gz", "--md5", md5(archive)],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "installed" in run.stdout
