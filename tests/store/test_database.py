"""The node database on SQLite and PostgreSQL: migrations, UTC times, transactions, accounts.

Every test taking `db`, `own_db` or `database_url` runs once per backend (see
tests/store/conftest.py and tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import argon2
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from argon2.exceptions import VerifyMismatchError
from harness.factories import arrangement
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from tisa.domain.markings import Classification
from tisa.errors import (
    AuthenticationFailed,
    ConfigInvalid,
    Conflict,
    InputInvalid,
    MarkingInvalid,
)
from tisa.services import accounts as accounts_module
from tisa.services.accounts import LOCK_AFTER, LOCK_FOR, TOKEN_LIFETIME, Accounts, Role
from tisa.store import accounts as account_rows
from tisa.store import audit
from tisa.store.database import Database, redact
from tisa.store.tables import metadata, tokens, users

T0 = datetime(2024, 1, 14, 5, 55, tzinfo=UTC)


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(resources.files("tisa.store") / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


# -- migrations ----------------------------------------------------------------------------------


def test_migrations_to_head_create_every_table(db: Database) -> None:
    inspector = inspect(db.engine)
    present = set(inspector.get_table_names())
    expected = {t.name for t in metadata.sorted_tables}
    assert expected <= present, f"missing tables: {sorted(expected - present)}"
    assert "alembic_version" in present
    with db.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            head_revision()
        )


def test_migrated_columns_match_the_tables_the_code_queries(db: Database) -> None:
    """The schema Alembic builds is the one tisa.store.tables describes (no drift)."""
    inspector = inspect(db.engine)
    for table in metadata.sorted_tables:
        migrated = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(migrated) == set(table.columns.keys()), table.name
        for column in table.columns:
            assert migrated[column.name]["nullable"] == column.nullable, (
                f"{table.name}.{column.name} nullable differs"
            )
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            assert index.name in indexes, f"{table.name}: index {index.name} not migrated"
        primary = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert set(primary) == {c.name for c in table.primary_key.columns}, table.name
    uniques = {u["name"] for u in inspector.get_unique_constraints("consent_requests")}
    assert "uq_consent_request_target" in uniques


def test_opening_again_is_idempotent_and_keeps_data(database_url: str) -> None:
    # A database of its own: opened twice, migrated and committed to for the second to see.
    with Database(database_url) as first, first.begin() as conn:
        account_rows.add_token(conn, "a" * 64, "someone", T0, T0 + timedelta(hours=1))
    with Database(database_url) as again, again.read() as conn:
        assert conn.execute(select(func.count()).select_from(tokens)).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_the_dialect_is_named(database_url: str) -> None:
    with Database(database_url) as db:
        assert db.dialect == database_url.split(":")[0].split("+")[0]


def test_an_unopened_database_says_so() -> None:
    with pytest.raises(ConfigInvalid, match="not open"):
        _ = Database("sqlite://").engine


def test_an_unreachable_database_is_config_invalid_and_the_password_is_redacted() -> None:
    url = "postgresql+psycopg://tisa:hunter2-secret@127.0.0.1:1/tisa?connect_timeout=2"
    with pytest.raises(ConfigInvalid) as caught:
        Database(url).open()
    assert "hunter2-secret" not in caught.value.reason
    assert "tisa:***@127.0.0.1:1" in caught.value.reason


def test_an_sqlite_file_in_a_missing_folder_is_config_invalid(tmp_path: Any) -> None:
    with pytest.raises(ConfigInvalid, match="database"):
        Database(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}").open()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p@ss:w@rd@h/db", "postgresql://u:***@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_redact_hides_passwords(url: str, shown: str) -> None:
    assert redact(url) == shown


# -- times ---------------------------------------------------------------------------------------

MOMENTS = [
    T0,
    datetime(2024, 1, 14, 14, 55, 0, 123456, tzinfo=timezone(timedelta(hours=9))),
    datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-10))),
    datetime(2024, 3, 31, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=45))),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC),
]


def _store_times(db: Database, moments: list[datetime]) -> None:
    with db.begin() as conn:
        for i, moment in enumerate(moments):
            account_rows.add_token(conn, f"{i:064x}", f"user{i}", moment, moment)


def test_utc_datetimes_round_trip_aware_and_equal(db: Database) -> None:
    _store_times(db, MOMENTS)
    with db.read() as conn:
        rows = conn.execute(select(tokens).order_by(tokens.c.token_hash)).all()
    assert [r.created_at for r in rows] == MOMENTS
    assert [r.expires_at for r in rows] == MOMENTS
    for row in rows:
        assert row.created_at.tzinfo is not None
        assert row.created_at.utcoffset() == timedelta(0)


def test_times_compare_as_instants_in_queries(db: Database) -> None:
    """A +09:00 time and the same UTC instant compare equal in SQL, not just in Python."""
    tokyo = datetime(2024, 1, 14, 14, 55, tzinfo=timezone(timedelta(hours=9)))  # == T0
    _store_times(db, [tokyo])
    name = f"{0:064x}"
    with db.read() as conn:
        assert account_rows.token_user(conn, name, T0 - timedelta(microseconds=1)) == "user0"
        assert account_rows.token_user(conn, name, T0) is None
        berlin = T0.astimezone(timezone(timedelta(hours=1)))
        assert account_rows.token_user(conn, name, berlin) is None
        same = select(func.count()).select_from(tokens).where(tokens.c.expires_at == T0)
        assert conn.execute(same).scalar() == 1


def _count_tokens(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(tokens)).scalar_one())


def test_a_naive_datetime_is_refused_and_nothing_is_written(db: Database) -> None:
    def write() -> None:
        with db.begin() as conn:
            account_rows.add_token(conn, "a" * 64, "first", T0, T0)
            account_rows.add_token(conn, "b" * 64, "naive", datetime(2024, 1, 1), T0)

    with pytest.raises(StatementError, match="naive datetime"):
        write()
    assert _count_tokens(db) == 0


def test_a_failed_transaction_is_rolled_back_whole(db: Database) -> None:
    def write() -> None:
        with db.begin() as conn:
            account_rows.add_token(conn, "a" * 64, "first", T0, T0)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write()
    with db.begin() as conn:
        account_rows.add_token(conn, "b" * 64, "second", T0, T0)
    assert _count_tokens(db) == 1


def test_json_columns_round_trip_unicode_and_nesting(db: Database) -> None:
    topics = ["극비 / 機密", {"nested": [1, 2.5, None, True]}, {}]
    with db.begin() as conn:
        account_rows.add(
            conn,
            account_rows.NewUser(
                username="u",
                password_hash="x",
                role="analyst",
                clearance=2,
                need_to_know=topics,  # type: ignore[arg-type]
                language="ko",
            ),
            T0,
        )
    with db.read() as conn:
        row = account_rows.get(conn, "u")
    assert row is not None
    assert row.need_to_know == topics


# -- accounts ------------------------------------------------------------------------------------


class Clock:
    """A clock tests move by hand."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


def _cheap_hasher() -> argon2.PasswordHasher:
    return argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def use_hasher(monkeypatch: pytest.MonkeyPatch, hasher: argon2.PasswordHasher) -> None:
    """Make Accounts created from now on hash and verify with `hasher`."""
    if hasattr(accounts_module, "PASSWORD_HASHER"):
        monkeypatch.setattr(accounts_module, "PASSWORD_HASHER", hasher)
    else:
        monkeypatch.setattr(accounts_module, "PasswordHasher", lambda: hasher)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Accounts:
    """KOR's accounts with a cheap argon2 (the default costs ~0.1 s a try) and a hand clock."""
    use_hasher(monkeypatch, _cheap_hasher())
    service = Accounts(db, arrangement(), "KOR", clock)
    secret = arrangement().term("KOR", Classification.SECRET)  # KOR's own word for SECRET
    service.add("kor.analyst", "correct horse", Role.ANALYST, secret, ["dprk.missile.*"])
    return service


def _user_row(db: Database, name: str = "kor.analyst") -> account_rows.UserRow:
    with db.read() as conn:
        row = account_rows.get(conn, name)
    assert row is not None
    return row


def test_sign_in_gives_a_token_that_resolves_to_the_user(accounts: Accounts) -> None:
    token = accounts.sign_in("kor.analyst", "correct horse")
    user = accounts.resolve(token)
    assert user.username == "kor.analyst"
    assert user.party == "KOR"
    assert user.role is Role.ANALYST
    assert user.clearance is Classification.SECRET
    assert user.need_to_know == frozenset({"dprk.missile.*"})


def test_tokens_are_stored_only_as_hashes(accounts: Accounts, db: Database) -> None:
    token = accounts.sign_in("kor.analyst", "correct horse")
    with db.read() as conn:
        stored = [r.token_hash for r in conn.execute(select(tokens))]
        hashes = [r.password_hash for r in conn.execute(select(users))]
    assert len(stored) == 1
    assert token not in stored[0]
    assert len(stored[0]) == 64
    assert "correct horse" not in hashes[0]


WRONG = [
    ("kor.analyst", "wrong horse"),
    ("kor.analyst", ""),
    ("kor.analyst", "correct horse "),
    ("KOR.ANALYST", "correct horse"),
    ("nobody", "correct horse"),
    ("", ""),
]


def test_a_wrong_password_or_unknown_user_fails_alike(accounts: Accounts, db: Database) -> None:
    for username, password in WRONG:
        with pytest.raises(AuthenticationFailed, match="unknown user or wrong password"):
            accounts.sign_in(username, password)
    assert _count_tokens(db) == 0


def test_failures_are_counted_and_audited(accounts: Accounts, db: Database) -> None:
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            accounts.sign_in("kor.analyst", "wrong")
    assert _user_row(db).failed_logins == 2
    with db.read() as conn:
        failed = audit.entries(conn, action=audit.Action.SIGN_IN_FAILED.value)
    assert len(failed) == 2


def test_five_failures_lock_the_user_even_against_the_right_password(
    accounts: Accounts, db: Database, clock: Clock
) -> None:
    for _ in range(LOCK_AFTER):
        with pytest.raises(AuthenticationFailed, match="wrong password"):
            accounts.sign_in("kor.analyst", "wrong")
    row = _user_row(db)
    assert row.failed_logins == LOCK_AFTER
    assert row.locked_until == T0 + LOCK_FOR
    with pytest.raises(AuthenticationFailed, match="locked"):
        accounts.sign_in("kor.analyst", "correct horse")
    clock.advance(LOCK_FOR - timedelta(seconds=1))
    with pytest.raises(AuthenticationFailed, match="locked"):
        accounts.sign_in("kor.analyst", "correct horse")
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(tokens)).scalar() == 0


def test_a_lock_ends_after_its_time_and_a_success_resets_the_count(
    accounts: Accounts, db: Database, clock: Clock
) -> None:
    for _ in range(LOCK_AFTER):
        with pytest.raises(AuthenticationFailed):
            accounts.sign_in("kor.analyst", "wrong")
    clock.advance(LOCK_FOR + timedelta(seconds=1))
    accounts.resolve(accounts.sign_in("kor.analyst", "correct horse"))
    row = _user_row(db)
    assert (row.failed_logins, row.locked_until) == (0, None)


def test_four_failures_then_a_success_do_not_lock(accounts: Accounts, db: Database) -> None:
    for _ in range(LOCK_AFTER - 1):
        with pytest.raises(AuthenticationFailed):
            accounts.sign_in("kor.analyst", "wrong")
    accounts.sign_in("kor.analyst", "correct horse")
    for _ in range(LOCK_AFTER - 1):
        with pytest.raises(AuthenticationFailed):
            accounts.sign_in("kor.analyst", "wrong")
    accounts.sign_in("kor.analyst", "correct horse")
    assert _user_row(db).locked_until is None


def test_concurrent_failures_all_count_towards_the_lock(
    own_db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Five wrong passwords tried at once lock the user as surely as five in a row."""
    db = own_db  # five sign-ins at once: real connections of their own
    both_read = threading.Barrier(LOCK_AFTER)

    class RacingHasher(argon2.PasswordHasher):
        """Wrong every time; each attempt waits until all have read the user (if they can:
        SQLite's write lock lets only one in at a time, and then the barrier just breaks)."""

        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            with contextlib.suppress(threading.BrokenBarrierError):
                both_read.wait(timeout=1.0)
            raise VerifyMismatchError

    use_hasher(monkeypatch, _cheap_hasher())
    service = Accounts(db, arrangement(), "KOR", clock)
    service.add("kor.analyst", "correct horse", Role.ANALYST, "SECRET")
    use_hasher(monkeypatch, RacingHasher(time_cost=1, memory_cost=1024, parallelism=1))
    racing = Accounts(db, arrangement(), "KOR", clock)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            racing.sign_in("kor.analyst", "guess")
        except AuthenticationFailed as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=attempt) for _ in range(LOCK_AFTER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == LOCK_AFTER
    assert _user_row(db).failed_logins == LOCK_AFTER
    with pytest.raises(AuthenticationFailed, match="locked"):
        service.sign_in("kor.analyst", "correct horse")


def test_tokens_expire_after_their_lifetime(accounts: Accounts, clock: Clock) -> None:
    token = accounts.sign_in("kor.analyst", "correct horse")
    clock.advance(TOKEN_LIFETIME - timedelta(seconds=1))
    assert accounts.resolve(token).username == "kor.analyst"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(AuthenticationFailed, match="unknown or expired"):
        accounts.resolve(token)


def test_signed_out_and_unknown_tokens_do_not_resolve(accounts: Accounts) -> None:
    token = accounts.sign_in("kor.analyst", "correct horse")
    other = accounts.sign_in("kor.analyst", "correct horse")
    accounts.sign_out(token)
    with pytest.raises(AuthenticationFailed):
        accounts.resolve(token)
    assert accounts.resolve(other).username == "kor.analyst"
    for bogus in ("", "x", other + "x", other.upper()):
        with pytest.raises(AuthenticationFailed):
            accounts.resolve(bogus)


BAD_USERS: list[tuple[str, str, str, type[Exception]]] = [
    ("kor.analyst", "another password", "SECRET", Conflict),
    ("bad name!", "long enough", "SECRET", InputInvalid),
    ("", "long enough", "SECRET", InputInvalid),
    ("x" * 101, "long enough", "SECRET", InputInvalid),
    ("kor.short", "short", "SECRET", InputInvalid),
    ("kor.ultra", "long enough", "ULTRA", MarkingInvalid),
]


def test_adding_a_bad_user_is_refused(accounts: Accounts, db: Database) -> None:
    with db.read() as conn:
        before = conn.execute(select(users)).all()
    for username, password, clearance, error in BAD_USERS:
        with pytest.raises(error):
            accounts.add(username, password, Role.ANALYST, clearance)
    with db.read() as conn:
        assert conn.execute(select(users)).all() == before


def test_the_primary_key_refuses_a_second_user_of_the_same_name(db: Database) -> None:
    user = account_rows.NewUser(
        username="dup",
        password_hash="x",
        role="analyst",
        clearance=2,
        need_to_know=["*"],
        language="en",
    )
    with db.begin() as conn:
        account_rows.add(conn, user, T0)
    with pytest.raises(IntegrityError), db.begin() as conn:
        account_rows.add(conn, user, T0)


@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])
def test_a_plain_postgresql_url_means_the_shipped_driver(scheme: str) -> None:
    """`tisa serve --database postgresql://…` works without naming psycopg."""
    assert Database(f"{scheme}postgres@127.0.0.1:5432/test").url == (
        "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
