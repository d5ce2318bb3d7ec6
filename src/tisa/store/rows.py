"""Row-level statements every store module shares."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


@cache
def _insert_new(dialect: str, table: Table, returning: tuple[Column[Any], ...]) -> Any:
    # Built once per table and dialect with the values as bind parameters: building it per
    # row (`.values(**row)`) cost more than the insert itself on a busy receive path.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing().returning(*returning)


def insert_new(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless one with its key exists (a concurrent writer may have just made
    it, on PostgreSQL as on SQLite); True if this call inserted it."""
    # RETURNING says for sure whether a row went in (psycopg reports no rowcount here).
    key = next(iter(table.primary_key.columns))
    statement = _insert_new(conn.dialect.name, table, (key,))
    return conn.execute(statement, values).first() is not None


def insert_new_many(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> set[tuple[Any, ...]]:
    """Insert each row unless one with its `key` (a unique constraint's columns) exists, in
    one statement; the keys of the rows this call inserted."""
    if not rows:
        return set()
    statement = _insert_new(conn.dialect.name, table, tuple(table.c[k] for k in key))
    # Executed with many parameter sets and RETURNING, SQLAlchemy sends multi-row VALUES
    # ("insertmanyvalues", in pages within each driver's parameter limit).
    found = conn.execute(statement, list(rows))
    return {tuple(r) for r in found}
