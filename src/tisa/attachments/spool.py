"""Scratch files for cleaning: in memory while small, on disk beyond."""

from __future__ import annotations

from tempfile import SpooledTemporaryFile
from typing import Final

COPY_CHUNK: Final = 1024 * 1024
"""How much is copied at a time between files."""


def spool() -> SpooledTemporaryFile[bytes]:
    """A scratch file, spilled to disk past 16 MiB."""
    return SpooledTemporaryFile(max_size=16 * 1024 * 1024, mode="w+b")
