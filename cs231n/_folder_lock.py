"""An exclusive lock on a folder, held through a lock file, so two installs never overlap.

POSIX: ``flock`` on ``NAME``, which is removed (still locked) when released, so no stale file
stays behind; a waiter that locked the removed file notices and retries on the new one.
Windows: ``msvcrt.locking`` on the same file, which then stays. Either way the operating system
releases the lock when its process ends, however it ends.
"""

import contextlib
import os
import time

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _try_lock(fd):
    """Take an exclusive lock on the open file ``fd`` without waiting; False when another holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def folder_lock(path, say, timeout, error, what):
    """Hold the lock file ``path`` for the ``with`` block.

    When another process holds it, say ``"{what} is running (process PID); waiting ..."`` once and
    wait; after ``timeout`` seconds (None: no limit, 0: do not wait) raise ``error`` instead.
    The lock file is opened without following a symbolic link.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    waiting = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o666)
        if _try_lock(fd):
            try:
                same = fcntl is None or os.path.samestat(os.fstat(fd), os.lstat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed this file as it finished: take the new one
            continue
        try:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
        except OSError:
            holder = "?"
        os.close(fd)
        if deadline is not None and time.monotonic() >= deadline:
            raise error(f"{what} is running (process {holder}); let it finish, then run the same command again")
        if not waiting:
            say(f"{what} is running (process {holder}); waiting for it to finish")
            waiting = True
        time.sleep(0.2)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        if fcntl is not None:
            try:
                os.unlink(path)
            except OSError:
                pass
        os.close(fd)
