"""Store fixtures: every test taking `db` or `own_db` runs once on SQLite and once on
PostgreSQL.

`db` on PostgreSQL is the session's migrated database inside a transaction rolled back when
the test ends (`harness.databases.joined`). `own_db` is a database of the test's own, for tests
whose threads need real separate connections racing for rows and locks, which one shared
connection cannot give.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.databases import joined
from sqlalchemy import Engine

from tisa.store.database import Database


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once; each test's store starts as a copy of it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "store.db"
    Database(f"sqlite:///{path}").open().close()
    return path


def _sqlite(template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "store.db"
    shutil.copyfile(template, path)
    with Database(f"sqlite:///{path}") as database:
        yield database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """An open, migrated, empty store whose writes end with the test."""
    if request.param == "sqlite":
        yield from _sqlite(sqlite_template, tmp_path)
        return
    engine: Engine = request.getfixturevalue("pg_engine")
    with joined(engine) as database:
        yield database


@pytest.fixture(params=["sqlite", "postgresql"])
def own_db(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> Iterator[Database]:
    """An open, migrated, empty store in a database of the test's own (real connections)."""
    if request.param == "sqlite":
        yield from _sqlite(sqlite_template, tmp_path)
        return
    with Database(request.getfixturevalue("pg_databases").new()) as database:
        yield database
