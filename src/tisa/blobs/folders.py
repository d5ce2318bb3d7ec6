"""The folders under a blob store's root, the keyed names of the files in them, and the atomic
rename that makes a blob visible.

Folders under the root::

    blobs/<2 hex>/<64 hex>     complete blobs (the name is the keyed HMAC below)
    partials/<64 hex>.part     transfers in progress, in the same format
    partials/<64 hex>.lock     flock(2) lock: one Partial per digest across processes
    tmp/<random>.tmp           uploads in progress, each flock(2)ed by its writer

File names are HMAC-SHA256(file-name key, digest), not the digest itself, so a stolen folder
does not even confirm which known documents a node holds; it reveals only approximate sizes.

A blob becomes visible only by an atomic rename (`Folders.install`), after it is complete,
fsynced and its hash checked; partial or half-written data never is. A visible blob never
changes in place, so readers need no lock; committing the same content twice is harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from tisa.blobs.files import disk, fsync_dir
from tisa.blobs.format import BlobRef, format_digest
from tisa.blobs.locks import same_file, try_flock

_NAME: Final = re.compile(r"[0-9a-f]{64}")


class Folders:
    """The folders of a store in `root`, its files named with `name_key`.

    Construction does no I/O; `prepare` creates the folders.
    """

    def __init__(self, root: Path, name_key: bytes) -> None:
        """Raises nothing."""
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.partials = self.root / "partials"
        self.tmp = self.root / "tmp"
        self._name_key = name_key

    def prepare(self) -> None:
        """Create the folders (mode 0700) and remove uploads abandoned by dead processes.

        Raises OSError.
        """
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder in (self.blobs, self.partials, self.tmp):
            folder.mkdir(mode=0o700, exist_ok=True)
        for stale in self.tmp.iterdir():
            self._remove_if_abandoned(stale)

    def name(self, raw: bytes) -> str:
        """The keyed file name of the blob whose digest is `raw`."""
        return hmac.new(self._name_key, raw, hashlib.sha256).hexdigest()

    def blob_path(self, raw: bytes) -> Path:
        """Where the complete blob `raw` lives, if it is stored."""
        name = self.name(raw)
        return self.blobs / name[:2] / name

    def partial_paths(self, raw: bytes) -> tuple[Path, Path]:
        """The partial file of `raw` and its lock file."""
        name = self.name(raw)
        return self.partials / f"{name}.part", self.partials / f"{name}.lock"

    def blob_files(self) -> Iterator[Path]:
        """Every complete blob's file, in a stable order.

        Raises:
            DiskFull, ConfigInvalid: a folder cannot be listed (while iterating).
        """
        with disk(f"list {self.blobs}"):
            shards = sorted(p for p in self.blobs.iterdir() if p.is_dir())
        for shard in shards:
            with disk(f"list {shard}"):
                names = sorted(p for p in shard.iterdir() if _NAME.fullmatch(p.name))
            yield from names

    def new_temp(self) -> tuple[int, Path]:
        """A fresh, flock-ed temporary file in tmp/ (so `prepare` never sweeps it).

        Raises OSError.
        """
        while True:
            path = self.tmp / f"{secrets.token_hex(16)}.tmp"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            if try_flock(fd) and same_file(fd, path):
                return fd, path
            os.close(fd)  # swept between creation and locking: take another name

    def _remove_if_abandoned(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            if try_flock(fd) and same_file(fd, path):
                path.unlink()
        finally:
            os.close(fd)

    def install(self, source: Path, raw: bytes, size: int) -> BlobRef:
        """Rename a complete, fsynced file into blobs/ atomically; keep an existing copy.

        Raises OSError.
        """
        ref = BlobRef(format_digest(raw), size)
        target = self.blob_path(raw)
        if target.is_file():
            source.unlink()
            fsync_dir(source.parent)
            return ref
        if not target.parent.is_dir():
            target.parent.mkdir(mode=0o700, exist_ok=True)
            fsync_dir(self.blobs)
        os.replace(source, target)
        fsync_dir(target.parent)
        fsync_dir(source.parent)
        return ref
