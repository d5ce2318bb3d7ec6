"""Damaging a SQLite database file's pages, as a failing disk would, for tests.

The database must be closed (no process holding it) while its file is changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path


def fold(path: Path) -> int:
    """Fold the write-ahead log into the file; the page size."""
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size: int = raw.execute("PRAGMA page_size").fetchone()[0]
    return size


def leaves(path: Path, table: str) -> list[int]:
    """The leaf pages of `table`'s B-tree, in key order."""
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY path",
            (table,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def holding(path: Path, pages: Iterable[int], words: Iterable[str]) -> set[str]:
    """Which of `words` are written (as UTF-8) in `pages` of the file."""
    size = fold(path)
    data = path.read_bytes()
    chunks = [data[(p - 1) * size : p * size] for p in pages]
    return {w for w in words if any(w.encode() in chunk for chunk in chunks)}


def zero(path: Path, pages: Iterable[int]) -> None:
    """Overwrite `pages` with zeros."""
    size = fold(path)
    data = bytearray(path.read_bytes())
    for page in pages:
        data[(page - 1) * size : page * size] = bytes(size)
    path.write_bytes(bytes(data))
