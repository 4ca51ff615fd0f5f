"""Where a student's code runs: a sandbox for the grading child process (Linux), or a plain
child process with limits where no sandbox is available (and the report says so).

Levels, best first (``detect()`` tries them once per grading process):

``root``   (the grader runs as root, as on Gradescope): ``unshare`` gives the child new mount,
           PID, network, IPC and UTS namespaces; inside, a fresh tmpfs becomes its root
           directory with only the system directories, the Python installation and the
           submission's scratch copy bind-mounted read-only, a 64 MB tmpfs as working folder,
           a private ``/proc``; then it drops to a throw-away unprivileged uid (no
           capabilities, no_new_privs) and runs Python. It cannot see the instructor tree,
           the hidden checks, other submissions, the grader's processes, ``/root``, ``/home``
           or the network, and cannot write anything that outlives it.
``userns`` (not root, unprivileged user namespaces allowed): the same namespaces and root
           directory, entered through a user namespace; the child keeps the grader's uid
           outside (no separate uid, so no ``RLIMIT_NPROC``: the PID namespace bounds what
           survives, not how many processes run at once).
``none``   (macOS, Windows, containers without namespaces): a plain child process in its
           own session with a scrubbed environment and the resource limits; it can read
           what the grader's user can read. ``Sandbox.problems`` says so, and the report of
           every submission graded this way carries that line.

Every level: scrubbed environment, ``RLIMIT_AS`` (soft = hard, so the child cannot raise
it), ``RLIMIT_CPU``, ``RLIMIT_FSIZE``, ``RLIMIT_CORE`` = 0, ``RLIMIT_NPROC`` when a uid of its
own exists; the whole process tree is killed at the end (process group, and the PID namespace
dies with its first process); the child dies with the grader (``PR_SET_PDEATHSIG``).
"""

import ctypes
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

from cs231n.selfcheck.remote import scrubbed_env

WORK_MB = 64
UID_RANGE = (1_200_000, 1_260_000)  # throw-away uids, no passwd entry, never owning a file outside

_SETUP = r'''
set -eu
R="$1"; WORK="$2"; shift 2
mount --make-rprivate /
mount -t tmpfs -o mode=755,size=4m,nosuid,nodev cs231n-root "$R"
while [ "$1" != "--" ]; do
    kind="$1"; src="$2"; shift 2
    case "$kind" in
        link) mkdir -p "$R$(dirname "$src")"; ln -s "$(readlink "$src")" "$R$src" ;;
        dir)  mkdir -p "$R$src"; mount --rbind "$src" "$R$src"
              mount -o remount,bind,ro,nosuid,nodev "$R$src" 2>/dev/null || true ;;
        file) mkdir -p "$R$(dirname "$src")"; touch "$R$src"; mount --bind "$src" "$R$src" ;;
    esac
done
shift
mkdir -p "$R/proc" "$R/tmp" "$R$WORK"
chmod 1777 "$R/tmp"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t tmpfs -o mode=1777,size=${CS231N_WORK_MB}m,nosuid,nodev cs231n-work "$R$WORK"
exec chroot "$R" /bin/sh -c 'cd "$1" && shift && exec "$@"' sandbox-cd "$WORK" "$@"
'''


def _pdeathsig():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _limits(memory_mb, cpu_seconds, file_mb, nproc):
    def apply():
        import resource
        _pdeathsig()
        for name, value in (("RLIMIT_AS", memory_mb * 2 ** 20 if memory_mb else None),
                            ("RLIMIT_CPU", int(cpu_seconds) if cpu_seconds else None),
                            ("RLIMIT_FSIZE", file_mb * 2 ** 20 if file_mb else None),
                            ("RLIMIT_CORE", 0), ("RLIMIT_NPROC", nproc)):
            if value is None or not hasattr(resource, name):
                continue
            try:
                resource.setrlimit(getattr(resource, name), (value, value))  # soft = hard
            except (ValueError, OSError):
                pass
    return apply if os.name == "posix" else None


_detected = {}


def detect():
    """``(level, reason)``: the best isolation that works on this machine (cached)."""
    if "level" in _detected:
        return _detected["level"]
    level = ("none", "")
    if not sys.platform.startswith("linux"):
        level = ("none", f"no sandbox on {sys.platform}: student code runs as the grader's user "
                         "and can read what the grader can read")
    elif not (shutil.which("unshare") and shutil.which("chroot") and shutil.which("setpriv")):
        level = ("none", "unshare/chroot/setpriv not found: student code runs as the grader's user, "
                         "without namespaces")
    else:
        flags = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork"]
        if os.geteuid() != 0:
            flags.insert(0, "--map-root-user")
        try:
            ok = subprocess.run(["unshare", *flags, "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            level = ("root", "") if os.geteuid() == 0 else ("userns", "")
        else:
            level = ("none", "Linux namespaces are not available here (unshare failed): student code runs "
                             "as the grader's user and can read what the grader can read")
    _detected["level"] = level
    return level


def _python_dirs():
    """Folders the child's Python needs: the installation and the virtual environment."""
    dirs = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
            Path(os.path.realpath(sys.executable)).parent}
    return sorted(dirs)


class Sandbox:
    """A launcher for ``cs231n.selfcheck.remote.Session`` (see the module docstring)."""

    def __init__(self, scratch, readonly=(), memory_mb=4096, cpu_seconds=600, file_mb=64, nproc=64,
                 level=None):
        self.scratch = Path(scratch)
        self.readonly = [Path(p).resolve() for p in readonly]
        self.memory_mb, self.cpu_seconds, self.file_mb, self.nproc = memory_mb, cpu_seconds, file_mb, nproc
        self.level, reason = (level, "") if level else detect()
        self.problems = [f"isolation not available: {reason}"] if self.level == "none" and reason else []
        if self.level == "none" and not reason:
            self.problems = ["isolation not available: sandbox disabled"]
        self.uid = None

    def __call__(self, argv, pass_fds, workdir):
        workdir = Path(workdir)
        if self.level == "none":
            workdir.mkdir(parents=True, exist_ok=True)
            return {"args": argv, "cwd": str(workdir), "env": scrubbed_env(workdir), "pass_fds": pass_fds,
                    "start_new_session": True,
                    "preexec_fn": _limits(self.memory_mb, self.cpu_seconds, self.file_mb, None)}
        newroot = self.scratch / "newroot"
        newroot.mkdir(exist_ok=True)
        mounts = []
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                mounts += ["link", top]
            elif os.path.isdir(top):
                mounts += ["dir", top]
        mounts += ["dir", "/usr", "dir", "/etc"]
        for d in _python_dirs() + self.readonly:
            if not str(d).startswith("/usr/"):
                mounts += ["dir", str(d)]
        for dev in ("null", "zero", "urandom", "random"):
            mounts += ["file", f"/dev/{dev}"]
        if self.level == "root":
            self.uid = random.randrange(*UID_RANGE)
            drop = ["/usr/bin/setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                    "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]
            flags = []
            nproc = self.nproc
        else:  # a second user namespace inside the chroot: uid 65534 there, no capabilities
            drop = ["/usr/bin/unshare", "--user", "--map-user=65534", "--map-group=65534", "--",
                    "/usr/bin/setpriv", "--no-new-privs"]
            flags = ["--map-root-user"]
            nproc = None
        cmd = ["unshare", *flags, "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
               "/bin/sh", "-c", _SETUP, "sandbox-setup", str(newroot), str(workdir), *mounts, "--",
               *drop, "--", *argv]
        env = scrubbed_env(workdir)
        env["CS231N_WORK_MB"] = str(WORK_MB)
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        return {"args": cmd, "cwd": "/", "env": env, "pass_fds": pass_fds, "start_new_session": True,
                "preexec_fn": _limits(self.memory_mb, self.cpu_seconds, self.file_mb, nproc)}


def make_readable(root):
    """World-readable copy: the sandbox's uid must read the scratch copy (dirs 755, files 644)."""
    root = Path(root)
    os.chmod(root, 0o755)
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def remove_tree(path):
    """``rm -rf`` that also removes what a child made unreadable (mode 000 folders)."""
    def retry(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), stat.S_IRWXU)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=retry)
