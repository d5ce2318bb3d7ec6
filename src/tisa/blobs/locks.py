"""flock(2) locks: one holder per file across processes, dropped by the kernel on death.

One `Partial` per digest at a time is enforced with an exclusive, non-blocking ``flock`` on its
lock file (a second receive of the same digest, in this or another process, raises `Conflict`);
the kernel drops the lock when its process dies, so a crash never leaves a stale lock behind.
Each upload's temporary file is flock-ed by its writer the same way, so that `open_store` can
tell abandoned uploads from live ones. POSIX only.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tisa.errors import Conflict


def try_flock(fd: int) -> bool:
    """Take an exclusive flock on `fd` if nobody holds one. Raises OSError."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd` (it may have been unlinked).

    Raises OSError.
    """
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def lock(path: Path, busy: str) -> int:
    """Create `path` if needed and hold an exclusive flock on it; the descriptor holds the lock.

    After locking, the path must still name the locked file: a holder that finished unlinks the
    lock file while holding it, so a lock taken on the unlinked file is worthless; retry then.

    Raises:
        Conflict: another descriptor holds it (here or in another process); `busy` says why.
        OSError: the lock file cannot be created or opened.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if not try_flock(fd):
                raise Conflict(busy)
            if same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
