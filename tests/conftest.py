"""Shared test fixtures: thin, delegating to the `harness` package (tests/harness/).

pytest puts tests/ on sys.path (`pythonpath` in pyproject.toml), so any test imports
`from harness.factories import product` and the like.

PostgreSQL tests run against 127.0.0.1:5432 (trust auth); on a machine without it they skip,
and in CI (CI=true) a missing PostgreSQL fails (`harness.databases.need_postgres`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import databases
from harness.clusters import create_cluster
from harness.databases import PgDatabases
from hypothesis import settings
from sqlalchemy import Engine

from tisa.demo.network import Cluster

# Property tests check what holds, not how fast: hypothesis' per-example deadline is a timed
# assertion, and on a loaded two-core machine it fails tests that are right.
settings.register_profile("tisa", deadline=None)
settings.load_profile("tisa")


@pytest.fixture(scope="session")
def cluster_template(tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    """One created (never started, never opened) SQLite cluster; tests take copies of it
    (`harness.clusters.copy_cluster`) instead of creating keys, certificates and users again."""
    return create_cluster(tmp_path_factory.mktemp("template") / "net")


@pytest.fixture
def pg_databases() -> Iterator[PgDatabases]:
    """Make PostgreSQL databases of a test's own; dropped when it ends."""
    databases.need_postgres()
    with databases.throwaway() as made:
        yield made


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    """One migrated PostgreSQL database for the session (each xdist worker would have its
    own), dropped at the end; tests use it through `harness.databases.joined`, each in a
    transaction rolled back."""
    databases.need_postgres()
    with databases.throwaway() as made, databases.migrated_engine(made) as engine:
        yield engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL of the test's own: each test using it runs on SQLite and on
    PostgreSQL. For tests that open the database themselves (migrations, reopening)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    yield request.getfixturevalue("pg_databases").new()


# --- what plain `pytest` runs --------------------------------------------------------------
# `pytest` alone runs the fast tests; `pytest -m ""` (the README's test command, and CI)
# runs every one. A test that needs PostgreSQL (the `pg_databases` or `pg_engine` fixture, or
# a PostgreSQL parameter of a store fixture) is marked `postgres` here, so no test can forget it.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = list(callspec.params.values()) if callspec is not None else []
        if {"pg_databases", "pg_engine"} & fixtures or any(p == "postgresql" for p in params):
            item.add_marker(pytest.mark.postgres)
