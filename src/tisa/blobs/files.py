"""File primitives for the blob store: whole reads and writes, directory fsync, and OSError
translated at this boundary to `DiskFull` (the disk is full) or `ConfigInvalid` (the blob folder
is unusable otherwise: read-only, gone...). POSIX only.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from tisa.errors import ConfigInvalid, TisaError
from tisa.store.disk import full

_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


def os_error(exc: OSError, doing: str, *, what: str = "blob") -> TisaError:
    """DiskFull when the disk is full (`what` is the kind of write, for counting); otherwise
    ConfigInvalid: the blob folder is unusable (read-only, gone...)."""
    if exc.errno in _FULL:
        return full(what, f"the blob store could not {doing}")
    return ConfigInvalid(f"blob store: cannot {doing}: {exc.strerror or exc}")


@contextlib.contextmanager
def disk(doing: str) -> Iterator[None]:
    """Turn an OSError into DiskFull (the disk is full) or ConfigInvalid (the blob folder is
    unusable otherwise); `doing` says what could not be done.

    Raises:
        DiskFull, ConfigInvalid: as above, from the OSError.
    """
    try:
        yield
    except OSError as exc:
        raise os_error(exc, doing) from exc


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` at the file position. Raises OSError."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of `data` at `offset`. Raises OSError."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def pread_exact(fd: int, length: int, offset: int) -> bytes:
    """Up to `length` bytes at `offset`; fewer only at end of file. Raises OSError."""
    data = os.pread(fd, length, offset)
    if len(data) == length or not data:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = os.pread(fd, length - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def close_quietly(*fds: int) -> None:
    """Close each descriptor, ignoring errors. Raises nothing."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make the entries of folder `path` durable. Raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
