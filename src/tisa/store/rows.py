"""Row-level statements every store module shares."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_new(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless one with its key exists (a concurrent writer may have just made
    it, on PostgreSQL as on SQLite); True if this call inserted it."""
    statement: Any
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    # RETURNING says for sure whether a row went in (psycopg reports no rowcount here).
    key = next(iter(table.primary_key.columns))
    return conn.execute(statement.returning(key)).first() is not None
