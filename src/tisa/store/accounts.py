"""Users of a node and their session tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tisa.store.tables import tokens, users


@dataclass(frozen=True)
class UserRow:
    """A user: role, clearance (common level), need-to-know topic patterns, language."""

    username: str
    password_hash: str
    role: str
    clearance: int
    need_to_know: list[str]
    language: str
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    disabled_at: datetime | None


def _row(r: Any) -> UserRow:
    return UserRow(**{f: getattr(r, f) for f in UserRow.__dataclass_fields__})


def get(conn: Connection, username: str) -> UserRow | None:
    """One user, or None."""
    r = conn.execute(select(users).where(users.c.username == username)).first()
    return None if r is None else _row(r)


def every(conn: Connection) -> list[UserRow]:
    """Every user, by name."""
    return [_row(r) for r in conn.execute(select(users).order_by(users.c.username))]


@dataclass(frozen=True)
class NewUser:
    """A user as created: the password only as its hash."""

    username: str
    password_hash: str
    role: str
    clearance: int
    need_to_know: list[str]
    language: str


def add(conn: Connection, new: NewUser, now: datetime) -> None:
    """Create a user."""
    conn.execute(insert(users).values(**new.__dict__, created_at=now, failed_logins=0))


def _change(conn: Connection, username: str, **values: object) -> None:
    conn.execute(update(users).where(users.c.username == username).values(**values))


def lock(conn: Connection, username: str, until: datetime) -> None:
    """Refuse the user's sign-ins until `until`."""
    _change(conn, username, locked_until=until)


def signed_in(conn: Connection, username: str) -> None:
    """A sign-in succeeded: failures are forgotten and any lock lifted."""
    _change(conn, username, failed_logins=0, locked_until=None)


def unlock(conn: Connection, username: str) -> None:
    """The administrator lifts the lock: failures are forgotten too."""
    _change(conn, username, failed_logins=0, locked_until=None)


def set_password(conn: Connection, username: str, password_hash: str) -> None:
    """A new password, as its hash."""
    _change(conn, username, password_hash=password_hash)


def set_disabled(conn: Connection, username: str, at: datetime | None) -> None:
    """Disable the user from `at`, or (None) enable them again."""
    _change(conn, username, disabled_at=at)


def set_language(conn: Connection, username: str, language: str) -> None:
    """The language the user reads the UI in."""
    _change(conn, username, language=language)


def count_failure(conn: Connection, username: str) -> int:
    """Add one failed sign-in, atomically, and return the new count."""
    conn.execute(
        update(users)
        .where(users.c.username == username)
        .values(failed_logins=users.c.failed_logins + 1)
    )
    return int(
        conn.execute(select(users.c.failed_logins).where(users.c.username == username)).scalar_one()
    )


def add_token(
    conn: Connection, token_hash: str, username: str, now: datetime, expires: datetime
) -> None:
    """Remember a session token by its hash."""
    conn.execute(
        insert(tokens).values(
            token_hash=token_hash, username=username, created_at=now, expires_at=expires
        )
    )


def token_user(conn: Connection, token_hash: str, now: datetime) -> str | None:
    """The user a live token belongs to, or None."""
    r = conn.execute(
        select(tokens.c.username).where(
            tokens.c.token_hash == token_hash, tokens.c.expires_at > now
        )
    ).first()
    return None if r is None else str(r.username)


def drop_token(conn: Connection, token_hash: str) -> None:
    """End a session."""
    conn.execute(delete(tokens).where(tokens.c.token_hash == token_hash))


def drop_tokens_of(conn: Connection, username: str) -> int:
    """End every session of the user; how many there were."""
    return int(conn.execute(delete(tokens).where(tokens.c.username == username)).rowcount)
