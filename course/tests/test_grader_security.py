"""The attacks of issue 15.1, each reproduced against the grader and shown to fail.

Every attack sits in a student region (where a submission's code goes) of the untouched
release, whose honest score is 0: the grade must stay 0 and nothing may leak or survive. Tests
of what only a sandbox can stop skip, naming the missing isolation, where no sandbox works.
Where the grader runs as root, every test runs twice: at the root level and at the non-root
("userns") level, started here with --map-root-user (see ``LEVELS``).
"""

import hashlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from course import grade, sandbox
from course.tests.grader_helpers import REPO, attack, submission, tiny_checks

LEVEL, REASON = sandbox.detect()
needs_sandbox = pytest.mark.skipif(LEVEL == "none", reason=f"no sandbox here: {REASON}")
Q1 = {"checks_dirs": [tiny_checks()], "timeout": 5.0}
# Where the grader runs as root (CI, Gradescope) the non-root level ("userns": entered through a
# user namespace, every capability dropped) can be started too, with --map-root-user: every
# attack then runs against both, not only on the machines whose grader is not root.
LEVELS = [LEVEL] + (["userns"] if LEVEL == "root" and sandbox._probe("userns")[0] == "userns" else [])


@pytest.fixture(autouse=True, params=LEVELS)
def isolation(request, monkeypatch):
    """The sandbox level of this run of a test: the grader's Sandbox takes it from detect()."""
    monkeypatch.setitem(sandbox._detected, "level", (request.param, REASON if request.param == LEVEL else ""))
    return request.param


def graded(tree, **kw):
    result = grade.grade_path(tree, **{**Q1, **kw})
    messages = "\n".join(c.message for c in result.checks)
    return result, messages


def alive(marker):
    """PIDs of processes whose command line contains ``marker``."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def wait_gone(marker, seconds=5.0):
    end = time.monotonic() + seconds
    while alive(marker) and time.monotonic() < end:
        time.sleep(0.1)
    return alive(marker)


# ---------------------------------------------------------------------------------------------
# Forged verdicts
# ---------------------------------------------------------------------------------------------

FORGE = '''
import os
from cs231n.selfcheck import _protocol as P
msg = P.pack({"ok": True, "value": {"t": "tuple", "v": [[[21.5, 8.0], [2.5, 0.0]], None]}, "after": []})
for fd in range(3, 40):
    try:
        os.write(fd, msg * 50)
    except OSError:
        pass
raise NotImplementedError("honest")
'''


def test_an_init_that_forges_pass_messages_is_replaced_by_the_released_one(tmp_path):
    tree = submission(tmp_path, files={"cs231n/__init__.py": FORGE.replace('raise NotImplementedError("honest")', "")})
    result, _ = graded(tree)
    assert result.earned == 0
    assert "cs231n/__init__.py: changes to this given file are ignored" in result.problems


def test_forged_replies_on_every_descriptor_earn_nothing(tmp_path):
    # as-is grading (no restoring): the forging __init__ runs; the parent decides from the values
    tree = submission(tmp_path, files={"cs231n/__init__.py": FORGE.replace('raise NotImplementedError("honest")', "")})
    [part] = grade.grade_tree(tree, timeout=5.0, checks_dirs=[tiny_checks()])
    assert part.earned == 0
    result, _ = graded(attack(tmp_path / "b", FORGE))
    assert result.earned == 0


def test_replacing_json_dumps_in_the_child_earns_nothing(tmp_path):
    code = '''
    import json
    json.dumps = lambda *a, **k: '{"ok": true, "value": true, "status": "pass"}'
    raise NotImplementedError("honest")
    '''
    result, messages = graded(attack(tmp_path, code))
    assert result.earned == 0


def test_the_grader_cs231n_cannot_be_loaded_through___path__(tmp_path, isolation):
    code = f'''
    import importlib, sys
    import cs231n
    cs231n.__path__.insert(0, {str(REPO / "cs231n")!r})
    for name in [m for m in sys.modules if m.startswith("cs231n.")]:
        del sys.modules[name]
    real = importlib.import_module("cs231n.layers")
    if real.__file__.startswith({str(REPO)!r}) and "affine_forward" in open(real.__file__).read():
        return real.affine_forward(x, w, b)
    raise NotImplementedError("honest")
    '''
    result, messages = graded(attack(tmp_path, code))
    assert result.isolation == isolation
    if isolation != "none":
        assert result.earned == 0, messages
        assert "cs231n-grade-" in result.cs231n and str(REPO) not in result.cs231n
    else:  # without a sandbox the instructor tree is readable: say so
        assert any("isolation not available" in p for p in result.problems)


def test_a_numpy_folder_in_the_submission_shadows_nothing(tmp_path):
    tree = attack(tmp_path, "return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)\n")
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text("raise SystemExit('shadowed numpy')\n")
    zpath = tmp_path / "a2.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(tree.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path).as_posix())
    result, messages = graded(zpath)
    by_name = {c.name: c for c in result.checks}
    assert by_name["affine_forward_values"].status == "pass", messages  # the honest score: this one check
    assert result.earned == by_name["affine_forward_values"].points


# ---------------------------------------------------------------------------------------------
# What the child can see and touch
# ---------------------------------------------------------------------------------------------

@needs_sandbox
def test_hidden_checks_and_solutions_cannot_be_read_into_the_report(tmp_path):
    code = f'''
    out = []
    for path in ({str(REPO / "course" / "grading" / "q4_hidden.py")!r}, {str(REPO / "cs231n" / "layers.py")!r},
                 {str(REPO / "course" / "grading")!r}):
        try:
            out.append(open(path).read()[:3000])
        except Exception as exc:
            out.append(type(exc).__name__)
    raise RuntimeError(" | ".join(out))
    '''
    result, messages = graded(attack(tmp_path, code))
    assert result.earned == 0
    assert "FileNotFoundError | FileNotFoundError" in messages
    assert "hidden_conv" not in messages and "BEGIN SOLUTION" not in messages


@needs_sandbox
def test_grader_files_cannot_be_appended_to(tmp_path):
    targets = [REPO / "course" / "grading" / "_hidden.py", REPO / "cs231n" / "selfcheck" / "support.py"]
    before = [hashlib.sha256(t.read_bytes()).hexdigest() for t in targets]
    code = f'''
    import glob, os
    hits = []
    for path in {[str(t) for t in targets]!r} + glob.glob("/tmp/cs231n-grade-*/runner/*.py") + \\
            glob.glob(os.path.dirname(os.path.dirname(__file__)) + "/../runner/*.py"):
        try:
            with open(path, "a") as f:
                f.write("\\nBACKDOOR = 1\\n")
            hits.append(path)
        except Exception as exc:
            pass
    raise RuntimeError("appended to " + repr(hits))
    '''
    result, messages = graded(attack(tmp_path, code))
    assert result.earned == 0
    assert "appended to []" in messages
    assert [hashlib.sha256(t.read_bytes()).hexdigest() for t in targets] == before


def test_the_instructor_environment_is_not_visible(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADESCOPE_API_TOKEN", "tok-8c1f2e")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/ssh-agent.sock")
    code = 'import os\nraise RuntimeError("ENV " + repr(sorted(os.environ.items())))\n'
    result, messages = graded(attack(tmp_path, code))
    assert "ENV [" in messages
    assert "tok-8c1f2e" not in messages and "SSH_AUTH_SOCK" not in messages and "GRADESCOPE" not in messages


@needs_sandbox
def test_the_grader_stdout_cannot_be_written_through_proc(tmp_path, capfd):
    code = '''
    import os
    wrote = []
    for pid in [os.getppid()] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        for fd in (1, 2):
            try:
                with open(f"/proc/{pid}/fd/{fd}", "w") as f:
                    f.write("FORGED: TOTAL 100/100\\n")
                wrote.append((pid, fd))
            except Exception:
                pass
    raise RuntimeError(f"wrote to {wrote}; ppid {os.getppid()}; pids {sorted(os.listdir('/proc'))[:5]}")
    '''
    result, messages = graded(attack(tmp_path, code))
    out, err = capfd.readouterr()
    assert "FORGED" not in out and "FORGED" not in err
    assert result.earned == 0
    assert "ppid 0" in messages  # the grader's processes are not even visible (PID namespace)


def test_limits_are_hard_and_cannot_be_raised(tmp_path, isolation):
    code = '''
    import resource
    got = {n: resource.getrlimit(getattr(resource, n)) for n in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC")}
    try:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        raised = "RAISED"
    except (ValueError, OSError):
        raised = "refused"
    raise RuntimeError(f"LIMITS {got} {raised}")
    '''
    result, messages = graded(attack(tmp_path, code), memory_mb=3000)
    assert "refused" in messages and "RAISED" not in messages
    limits = eval(re.search(r"LIMITS (\{.*?\}) ", messages).group(1))  # noqa: S307 - our own test output
    assert limits["RLIMIT_AS"] == (3000 * 2 ** 20,) * 2
    assert limits["RLIMIT_CPU"][0] == limits["RLIMIT_CPU"][1] and limits["RLIMIT_CPU"][0] > 0
    assert limits["RLIMIT_FSIZE"][0] == limits["RLIMIT_FSIZE"][1] == 64 * 2 ** 20
    if isolation == "root":
        assert limits["RLIMIT_NPROC"] == (64, 64)


def test_memory_hog_and_big_files_fail_the_check_only(tmp_path):
    code = '''
    import numpy as np
    try:
        with open("big.bin", "wb") as f:
            f.write(b"x" * (100 * 2 ** 20))
    except OSError as exc:
        pass
    np.ones(2 ** 31)  # 16 GB
    '''
    result, messages = graded(attack(tmp_path, code), memory_mb=2048)
    assert result.earned == 0
    assert "MemoryError" in messages
    assert not list(tmp_path.rglob("big.bin"))


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

def test_a_double_forked_survivor_is_killed(tmp_path, isolation):
    marker = f"survivor-{os.getpid()}-{time.monotonic_ns()}"
    code = f'''
    import os, subprocess, sys
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", {marker!r}])
        os._exit(0)
    os.wait()
    raise NotImplementedError("honest")
    '''
    result, _ = graded(attack(tmp_path, code))
    assert result.earned == 0
    if isolation == "none":
        pytest.skip(f"without a PID namespace a setsid() survivor escapes the process group ({REASON})")
    assert not wait_gone(marker), "a process started by the student's code survived grading"


def sandbox_uids():
    """PIDs of processes running as one of the sandbox's throw-away uids."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        if sandbox.UID_RANGE[0] <= uid < sandbox.UID_RANGE[1]:
            found.append(int(pid))
    return found


def test_process_count_is_bounded(tmp_path, isolation):
    if isolation != "root":
        pytest.skip(f"RLIMIT_NPROC needs a uid of the sandbox's own (isolation: {isolation})")
    code = """
    import os, time
    started = 0
    for i in range(150):  # a bounded spawn loop, not a fork bomb
        try:
            pid = os.fork()
        except OSError as exc:
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        started += 1
    raise RuntimeError(f"STARTED {started}")
    """
    result, messages = graded(attack(tmp_path, code))
    started = int(re.search(r"STARTED (\d+)", messages).group(1))
    assert started < 64, messages
    end = time.monotonic() + 5
    while sandbox_uids() and time.monotonic() < end:
        time.sleep(0.1)
    assert not sandbox_uids(), "processes of the sandbox survived grading"


def test_cpu_spin_is_a_timeout_and_the_clock_is_the_grader_s(tmp_path):
    # the child floods forged replies, then spins: the grader's deadline does not move
    code = FORGE.replace('raise NotImplementedError("honest")', "while True:\n    pass")
    t0 = time.monotonic()
    result, messages = graded(attack(tmp_path, code), timeout=2.0)
    assert result.earned == 0 and time.monotonic() - t0 < 40
    assert result.checks[0].status in ("timeout", "crash"), result.checks[0]
    result, messages = graded(attack(tmp_path / "b", "while True:\n    pass\n"), timeout=2.0)
    assert result.checks[0].status == "timeout" and "in affine_forward" in result.checks[0].message


# ---------------------------------------------------------------------------------------------
# The channel
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("junk", [
    b"this is not a message\n",
    b"CS2M\x00\x00\x00\x10\x00\x00\x00\x08not json",
    b"CS2M\x00\x00\x00\x20\x00\x00\x00\x1c{\"ok\": true, \"value\": {\"t\": \"evil\"}}",
])
def test_junk_and_unknown_names_on_the_channel_fail_the_check_only(tmp_path, junk):
    code = f'''
    import os
    for fd in range(3, 40):
        try:
            os.write(fd, {junk!r})
        except OSError:
            pass
    import time; time.sleep(3)
    '''
    result, messages = graded(attack(tmp_path, code), timeout=2.0)
    assert result.earned == 0
    first = result.checks[0]
    assert first.status in ("crash", "timeout"), first
    assert len(result.checks) == 3 and all(c.status != "not run" for c in result.checks)


def test_a_huge_message_does_not_grow_the_grader(tmp_path):
    code = '''
    import os
    head = b"CS2M" + (400 * 2 ** 20).to_bytes(4, "big")
    block = b"x" * 2 ** 20
    for fd in range(3, 40):
        try:
            os.write(fd, head)
            for _ in range(400):
                os.write(fd, block)
        except OSError:
            pass
    '''
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result, messages = graded(attack(tmp_path, code), timeout=3.0)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.earned == 0
    assert "exceeds the limit" in messages
    assert grown_mb < 100, f"the grader grew by {grown_mb:.0f} MB"


# ---------------------------------------------------------------------------------------------
# Zips
# ---------------------------------------------------------------------------------------------

def _bomb(path, size=768 * 2 ** 20):
    """A zip whose one member unpacks to ``size`` zero bytes (about 0.1 % of that on disk)."""
    block = bytes(2 ** 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)  # repeatable: the state resets
    data = chunk * (size // 2 ** 20) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(size // 2 ** 20):
        crc = zlib.crc32(block, crc)
    info = zipfile.ZipInfo("a2/cs231n/layers.py", (1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.file_size, info.compress_size, info.CRC = size, len(data), crc
    with open(path, "wb") as f:
        f.write(info.FileHeader())
        f.write(data)
        cd = f.tell()
        info.header_offset = 0
        # central directory written by hand: zipfile's writer would recompress
        import struct
        central = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 8, 0, 0, crc, len(data), size,
                              len(info.filename), 0, 0, 0, 0, 0, 0) + info.filename.encode()
        f.write(central)
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), cd, 0))
    return path


def test_a_zip_bomb_is_refused_without_unpacking(tmp_path):
    bomb = _bomb(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 1024 * 1024
    t0 = time.monotonic()
    result = grade.grade_path(bomb, **Q1)
    assert time.monotonic() - t0 < 20
    assert result.earned == 0 and any("zip bomb" in p or "more than" in p for p in result.problems), result.problems
    assert grade.main([str(bomb)]) == 2


def _patch(path, flag=None, method=None):
    data = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.find(sig)
        while i >= 0:
            if flag is not None:
                data[i + off:i + off + 2] = flag.to_bytes(2, "little")
            if method is not None:
                data[i + off + 2:i + off + 4] = method.to_bytes(2, "little")
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))


def test_encrypted_unsupported_symlinked_and_traversing_members_are_problems_not_tracebacks(tmp_path):
    tree = attack(tmp_path / "t", "return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)\n")
    zpath = tmp_path / "a2.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted((tree / "cs231n").rglob("*.py")):
            zf.write(p, p.relative_to(tree).as_posix())
        link = zipfile.ZipInfo("cs231n/id_rsa")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/root/.ssh/id_rsa")
    result = grade.grade_path(zpath, **Q1)
    assert any("cs231n/id_rsa: a symbolic link" in p for p in result.problems)
    assert {c.name: c.status for c in result.checks}["affine_forward_values"] == "pass"
    for kind, patch in (("encrypted", {"flag": 1}), ("unsupported compression", {"method": 99})):
        bad = tmp_path / f"{kind[:4]}.zip"
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("cs231n/__init__.py", "")
        _patch(bad, **patch)
        result = grade.grade_path(bad, **Q1)
        assert any(kind in p for p in result.problems), result.problems
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../evil.py", "x = 1\n")
    result = grade.grade_path(evil, **Q1)
    assert result.earned == 0 and any("unsafe path" in p for p in result.problems)
    assert not (tmp_path.parent / "evil.py").exists()
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    result = grade.grade_path(junk, **Q1)
    assert any("not a readable zip" in p for p in result.problems)
    assert all(c.status == "error" for c in result.checks)


# ---------------------------------------------------------------------------------------------
# Interrupting the grader
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupting_the_grader_kills_the_child_and_removes_temp_folders(tmp_path, sig, isolation):
    if isolation != LEVEL:
        pytest.skip(f"the grader's command line picks its own level ({LEVEL}), not {isolation}")
    marker = f"spinner-{sig.name}-{time.monotonic_ns()}"
    tree = attack(tmp_path / "t", f'''
    import subprocess, sys
    subprocess.Popen([sys.executable, "-c", "while True: pass", {marker!r}])
    while True:
        pass
    ''')
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "course.grade", str(tree), "--part", "Q1", "--timeout", "60"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # see below
    end = time.monotonic() + 60
    while not alive(marker) and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.1)
    assert alive(marker), "the student's process did not start"
    proc.send_signal(sig)
    proc.communicate(timeout=50)  # under the grader's own 60 s limit: an ignored signal still fails
    # (SIG_DFL above: a test run in a background job would hand the grader SIGINT ignored.)
    assert proc.returncode != 0
    assert not wait_gone(marker), "the student's process is still running after the grader was interrupted"
    assert not [p for p in tmpdir.iterdir() if p.name.startswith("cs231n-grade-")], list(tmpdir.iterdir())
