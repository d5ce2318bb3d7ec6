"""The node's key-encryption key (KEK) for blobs: 32 random bytes in a file of mode 0600.

`create_key` writes it once (never over an existing file); `load_key` reads it back for a
`BlobStore`, refusing a file that group or others may read. The KEK never touches data directly
(see `tisa.blobs.cipher`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tisa.blobs.cipher import KEY_SIZE
from tisa.blobs.files import disk, fsync_dir, pread_exact, write_all
from tisa.errors import ConfigInvalid, Conflict


def create_key(path: Path) -> bytes:
    """Write a new random 32-byte key-encryption key to `path` (mode 0600) and return it.

    Raises:
        Conflict: `path` already exists; a key is never overwritten.
        ConfigInvalid: the file cannot be written.
    """
    key = secrets.token_bytes(KEY_SIZE)
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError as exc:
        raise Conflict(f"{path} exists; refusing to overwrite a key-encryption key") from exc
    except OSError as exc:
        raise ConfigInvalid(f"cannot create {path}: {exc.strerror or exc}") from exc
    with disk(f"write {path}"):
        try:
            os.fchmod(fd, 0o600)
            write_all(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(path.parent)
    return key


def load_key(path: Path) -> bytes:
    """Read a key-encryption key written by `create_key`.

    Raises:
        ConfigInvalid: the file is missing or unreadable, is not exactly 32 bytes, or may be
            read by group or others.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigInvalid(f"cannot read {path}: {exc.strerror or exc}") from exc
    with disk(f"read {path}"):
        try:
            mode = os.fstat(fd).st_mode
            key = pread_exact(fd, KEY_SIZE + 1, 0)
        finally:
            os.close(fd)
    if mode & 0o077:
        raise ConfigInvalid(f"{path} may be read by group or others; chmod 600 it")
    if len(key) != KEY_SIZE:
        raise ConfigInvalid(f"{path} does not hold a {KEY_SIZE}-byte key")
    return key
