"""Shared test configuration.

This file is a conftest without `__init__.py` beside it, so pytest puts tests/ on sys.path when it
loads it: test modules in any subfolder (tests/e2e, …) can `from factories import product, ...`.
"""

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

# --- domain factories (tests/factories.py) ---------------------------------------------------
# Nothing to configure: factories are plain functions and strategies; import them directly.

# --- stores and networks -------------------------------------------------------------------
# PostgreSQL tests run against 127.0.0.1:5432 (trust auth), each in a database of its own.
# On a machine without PostgreSQL they skip; in CI (CI=true) a missing PostgreSQL fails.


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3):
            return True
    except Exception:  # any failure means: not here
        return False


def need_postgres() -> None:
    """Skip without PostgreSQL, except in CI, where its absence is a failure."""
    if _pg_reachable():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432, and CI must run these tests")
    pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")


class PgDatabases:
    """Creates throw-away PostgreSQL databases and drops them afterwards."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def new(self) -> str:
        import psycopg

        name = f"tisa_test_{secrets.token_hex(6)}"
        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    def drop_all(self) -> None:
        import psycopg

        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


@pytest.fixture
def pg_databases() -> Iterator[PgDatabases]:
    """Make PostgreSQL databases for a test; dropped when it ends."""
    need_postgres()
    databases = PgDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    need_postgres()
    databases = PgDatabases()
    try:
        yield databases.new()
    finally:
        databases.drop_all()


# --- what plain `pytest` runs --------------------------------------------------------------
# `pytest` alone runs the fast tests; `pytest -m ""` (the README's test command, and CI)
# runs every one. A test that needs PostgreSQL (the `pg_databases` fixture, or a PostgreSQL
# parameter of a store fixture) is marked `postgres` here, so no test can forget it.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = list(callspec.params.values()) if callspec is not None else []
        if "pg_databases" in fixtures or any(p == "postgresql" for p in params):
            item.add_marker(pytest.mark.postgres)
