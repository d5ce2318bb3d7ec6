"""Free disk on a node's data directory: the reserve kept for products, and what "full" means.

Attachments (uploads, blobs received from peers, previews) are written only while the space
they leave free stays at or above the reserve (`Settings.disk_reserve_mb`). Products,
envelopes and every other database row are not held to it: the reserve is the room they keep,
so a text-only FLASH is still stored when attachments no longer are.

Nothing here remembers that the disk was full: every claim measures again, so freeing space
takes effect at once, without a restart.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from tisa.errors import ConfigInvalid, DiskFull

MIB: Final = 2**20
# What the OS says when a write finds no room: the disk itself, or the user's quota.
_FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
# What SQLite and PostgreSQL say when their files cannot grow.
_FULL_WORDS: Final = ("disk is full", "no space left", "disk full", "could not extend file")


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding `path`.

    Raises:
        ConfigInvalid: the file system cannot be asked (the path is gone, or not readable).
    """
    try:
        return shutil.disk_usage(path).free
    except OSError as exc:
        raise ConfigInvalid(f"cannot measure free disk at {path}: {exc.strerror}") from exc


class Reserve:
    """The free space of one data directory that attachments may not take.

    Constructing it does no I/O; `claim` measures each time it is asked.
    """

    def __init__(
        self, root: Path, reserve_bytes: int, *, free: Callable[[Path], int] = free_bytes
    ) -> None:
        self._root = root
        self._reserve = reserve_bytes
        self._free = free

    @property
    def reserve_bytes(self) -> int:
        """The bytes kept free for products."""
        return self._reserve

    def claim(self, what: str, size: int) -> None:
        """Refuse, before a byte is written, `size` more bytes of an attachment (`what`:
        "upload", "blob", "preview") that would leave less free space than the reserve.

        Raises:
            DiskFull: the write would break the reserve; nothing may be written.
            ConfigInvalid: free space cannot be measured.
        """
        free = self._free(self._root)
        if free - max(size, 0) < self._reserve:
            raise DiskFull(
                f"attachments are refused: {free // MIB:,} MiB free, the reserve is "
                f"{self._reserve // MIB:,} MiB kept for products",
                what=what,
            )


class Unlimited:
    """No reserve: every claim is granted (a blob store used outside a node)."""

    def claim(self, what: str, size: int) -> None:
        """Grant the claim. Raises nothing."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether a store or file error (or any error it was raised from) means the disk, or the
    database's file system, is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DiskFull):
            return True
        if isinstance(seen, OSError) and seen.errno in _FULL_ERRNOS:
            return True
        text = str(seen).lower()
        if any(words in text for words in _FULL_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def full(what: str, failed: str) -> DiskFull:
    """The DiskFull for a write that found the disk full: `failed` says what could not be
    done ("the database could not be written")."""
    return DiskFull(
        f"the disk is full: {failed}; free space on the disk that holds it (nothing needs "
        "restarting)",
        what=what,
    )


@contextmanager
def writing(what: str, failed: str) -> Iterator[None]:
    """Turn an OSError that means the disk is full into `full(what, failed)`; other errors
    pass unchanged.

    Raises:
        DiskFull: the disk was full.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL_ERRNOS:
            raise full(what, failed) from exc
        raise
