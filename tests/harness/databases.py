"""PostgreSQL for tests, at 127.0.0.1:5432 with trust auth.

Most store tests share one migrated database per session (each xdist worker would have its
own) and each runs in a transaction rolled back when it ends (`joined`): no database is made
or migrated per test.
Tests that need real separate connections (threads racing for rows and locks), commits seen by
another process (runtimes, node processes) or an empty database (migrations) get a throw-away
database of their own from `PgDatabases`.

On a machine without PostgreSQL these tests skip; in CI (CI=true) a missing PostgreSQL fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import Engine, create_engine

from tisa.store.database import Database

HOST = "127.0.0.1:5432"
ADMIN = f"postgresql://postgres@{HOST}/postgres"


def url_of(name: str) -> str:
    """The SQLAlchemy URL of database `name` on the test server."""
    return f"postgresql+psycopg://postgres@{HOST}/{name}"


def reachable() -> bool:
    """Whether the test server answers."""
    try:
        with psycopg.connect(ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def need_postgres() -> None:
    """Skip without PostgreSQL, except in CI, where its absence is a failure.

    Raises:
        pytest.skip.Exception: PostgreSQL is not reachable (outside CI).
        pytest.fail.Exception: PostgreSQL is not reachable in CI.
    """
    if reachable():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is not reachable at {HOST}, and CI must run these tests")
    pytest.skip(f"PostgreSQL is not reachable at {HOST}")


class PgDatabases:
    """Creates throw-away PostgreSQL databases and drops them on `drop_all`."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def new(self) -> str:
        """A new, empty database; its URL."""
        name = f"tisa_test_{secrets.token_hex(6)}"
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return url_of(name)

    def drop_all(self) -> None:
        """Drop every database made here (whoever is still connected)."""
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


@contextmanager
def throwaway() -> Iterator[PgDatabases]:
    """Databases made while the block runs, dropped when it ends."""
    databases = PgDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()


@contextmanager
def migrated_engine(databases: PgDatabases) -> Iterator[Engine]:
    """An engine over a new database of `databases`, migrated to head once."""
    Database(databases.new()).open().close()
    engine = create_engine(url_of(databases.created[-1]), pool_size=2, pool_pre_ping=True)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def joined(engine: Engine) -> Iterator[Database]:
    """A `Database` inside one transaction on `engine`, rolled back when the block ends:
    whatever the block commits is a savepoint, seen by no one else and gone afterwards."""
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            yield Database.joining(conn)
        finally:
            outer.rollback()
