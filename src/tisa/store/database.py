"""The node's database: an engine, migrations to head, and transactions.

SQLite (WAL) by default, PostgreSQL by URL; the same tables and migrations on both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from tisa.errors import ConfigInvalid

_AFTER_COMMIT = "tisa_after_commit"
_log = logging.getLogger("tisa.store")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy own BEGIN (below), so a write transaction takes the lock up front
    # (BEGIN IMMEDIATE) instead of failing half-way when another writer holds it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front; readers share the WAL snapshot.
    write = conn.get_execution_options().get("tisa_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """One node's database. Constructing it connects to nothing; `open` does."""

    def __init__(self, url: str) -> None:
        # tisa ships psycopg 3; a plain postgresql:// URL means it, not SQLAlchemy's default
        # driver (psycopg2, not installed).
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                url = "postgresql+psycopg://" + url.removeprefix(plain)
        self.url = url
        self._engine: Engine | None = None
        self._joined: Connection | None = None

    @classmethod
    def joining(cls, conn: Connection) -> Database:
        """A database that works inside the transaction `conn` already began, for whoever owns
        that transaction (a test that rolls everything back when it ends).

        Each `begin` is a savepoint, released on success and rolled back on an exception, and
        its `after_commit` actions run once the savepoint is released; each `read` is a
        savepoint rolled back afterwards. The database behind `conn` must be migrated already:
        `open` and `close` leave it and `conn` alone, and connections taken from `engine`
        directly are outside the transaction.
        """
        database = cls(conn.engine.url.render_as_string())
        database._engine = conn.engine
        database._joined = conn
        return database

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @property
    def engine(self) -> Engine:
        """The engine, once open.

        Raises:
            ConfigInvalid: the database was not opened.
        """
        if self._engine is None:
            raise ConfigInvalid("the database is not open")
        return self._engine

    def open(self) -> Database:
        """Create the engine and bring the schema to the latest migration.

        Raises:
            ConfigInvalid: the URL is unusable or the database cannot be reached.
        """
        if self._joined is not None:
            return self
        try:
            if self.url.startswith("sqlite"):
                engine = create_engine(self.url, pool_size=8, max_overflow=8)
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "begin", _sqlite_begin)
            else:
                engine = create_engine(self.url, pool_size=8, max_overflow=8, pool_pre_ping=True)
            self._engine = engine
            upgrade(engine)
        except SQLAlchemyError as exc:
            raise ConfigInvalid(f"database {redact(self.url)}: {exc}") from exc
        return self

    def close(self) -> None:
        """Release every connection."""
        if self._joined is None and self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Database:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any exception. What
        `after_commit` registered runs once the commit has succeeded, never before."""
        later: list[Callable[[], None]] = []
        with self._connect() as conn:
            conn.execution_options(tisa_write=True)
            outer = conn.info.get(_AFTER_COMMIT)
            conn.info[_AFTER_COMMIT] = later
            try:
                with conn.begin() if self._joined is None else conn.begin_nested():
                    yield conn
            finally:
                if outer is None:
                    conn.info.pop(_AFTER_COMMIT, None)
                else:
                    conn.info[_AFTER_COMMIT] = outer
        for action in later:
            try:
                action()
            except Exception:
                # The transaction stands; what was left behind is logged for the operator.
                _log.exception("an action after a committed transaction failed")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads."""
        if self._joined is None:
            with self.engine.connect() as conn:
                yield conn
            return
        nested = self._joined.begin_nested()
        try:
            yield self._joined
        finally:
            if nested.is_active:
                nested.rollback()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        if self._joined is None:
            with self.engine.connect() as conn:
                yield conn
        else:
            yield self._joined


def after_commit(conn: Connection, action: Callable[[], None]) -> None:
    """Run `action` once the transaction `conn` is in has committed (removing files that the
    committed rows no longer name: a rollback must find them still there).

    Raises:
        ConfigInvalid: `conn` is not in a transaction opened by `Database.begin`.
    """
    later = conn.info.get(_AFTER_COMMIT)
    if later is None:
        raise ConfigInvalid("after_commit needs a transaction opened by Database.begin")
    later.append(action)


@contextmanager
def savepoint(conn: Connection) -> Iterator[Connection]:
    """A savepoint whose `after_commit` actions are dropped if it rolls back."""
    later: list[Callable[[], None]] = conn.info.get(_AFTER_COMMIT, [])
    mark = len(later)
    try:
        with conn.begin_nested():
            yield conn
    except BaseException:
        del later[mark:]
        raise


def upgrade(engine: Engine) -> None:
    """Run Alembic migrations to head on `engine`."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("tisa.store") / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
