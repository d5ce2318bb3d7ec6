"""Reading what can still be read from a damaged table, and naming what cannot.

A damaged page ("database disk image is malformed" on SQLite, "invalid page in block" on
PostgreSQL) makes every query that touches it fail, so one bad page would take a whole listing
with it. `rows` reads a table in key order, in batches, as the audit reader does
(`tisa.store.audit.stream`): a batch that fails is read again row by row, each row in a
savepoint of its own (PostgreSQL aborts a transaction on any error), its keys found through the
primary-key index (which a damaged table page leaves whole), so every row that can be read is,
and each that cannot is named by its key.

`reading` turns the same failure, met while reading one thing, into `Damaged` naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Column, Connection, Row, Table, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from tisa.errors import Damaged

# SQLite's result codes (Python >= 3.11 names them) and PostgreSQL's SQLSTATEs for damage.
_SQLITE_DAMAGE: Final = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_PG_DAMAGE: Final = frozenset({"XX001", "XX002"})  # data_corrupted, index_corrupted
_WORDS: Final = (
    "malformed",
    "file is not a database",
    "invalid page in block",
    "could not read block",
    "could not decode to utf-8",
)


def is_damage(exc: BaseException) -> bool:
    """Whether a store error means stored data is damaged (a corrupt page, undecodable
    text), as opposed to the store being unreachable, locked or full."""
    if isinstance(exc, ValueError):
        return True  # a column's value that its type cannot decode (JSON, a time, UTF-8)
    orig = getattr(exc, "orig", None) or exc
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str) and name.startswith(_SQLITE_DAMAGE):
        return True
    if getattr(orig, "sqlstate", None) in _PG_DAMAGE:
        return True
    text = str(orig).lower()
    return any(words in text for words in _WORDS)


def why(exc: BaseException) -> str:
    """The driver's own words for a store error, on one line."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


@contextmanager
def reading(what: str, table: str) -> Iterator[None]:
    """Read `what` (e.g. "product … v2") from `table`; damage met on the way becomes Damaged
    naming both. Any other store error passes unchanged.

    Raises:
        Damaged: the rows holding `what` cannot be read.
    """
    try:
        yield
    except (SQLAlchemyError, ValueError) as exc:
        if not is_damage(exc):
            raise
        raise Damaged(
            f"{what}: the {table} table is damaged ({why(exc)}); run `tisa check`"
        ) from exc


@dataclass(frozen=True)
class Unreadable:
    """A stored row that cannot be read: its key, and why. `key` is None when not even the
    keys after the last row read could be listed: the rest of the table is lost to reading."""

    key: tuple[Any, ...] | None
    reason: str


def rows(
    conn: Connection, table: Table, key: Sequence[Column[Any]], *, batch: int = 500
) -> Iterator[Row[Any] | Unreadable]:
    """Every row of `table` in the order of its primary key `key`, fetched `batch` at a time;
    what cannot be read comes as `Unreadable` and reading goes on past it.

    Raises:
        SQLAlchemyError: the store failed otherwise (unreachable, locked); nothing is damaged.
    """
    after: tuple[Any, ...] | None = None
    while True:
        where = [] if after is None else [tuple_(*key) > tuple_(*after)]
        try:
            with conn.begin_nested():
                found = conn.execute(select(table).where(*where).order_by(*key).limit(batch)).all()
        except (SQLAlchemyError, ValueError) as exc:
            if not is_damage(exc):
                raise
        else:
            yield from found
            if len(found) < batch:
                return
            after = tuple(getattr(found[-1], column.name) for column in key)
            continue
        # The batch cannot be read whole: its keys, from the index, then each row alone.
        try:
            with conn.begin_nested():
                keys = conn.execute(select(*key).where(*where).order_by(*key).limit(batch)).all()
        except (SQLAlchemyError, ValueError) as exc:
            if not is_damage(exc):
                raise
            yield Unreadable(None, why(exc))
            return
        for each in keys:
            values = tuple(each)
            try:
                with conn.begin_nested():
                    row = conn.execute(
                        select(table).where(
                            *(column == value for column, value in zip(key, values, strict=True))
                        )
                    ).first()
            except (SQLAlchemyError, ValueError) as exc:
                if not is_damage(exc):
                    raise
                yield Unreadable(values, why(exc))
            else:
                if row is not None:
                    yield row
        if len(keys) < batch:
            return
        after = tuple(keys[-1])
