"""Users of a node: roles, clearance, need-to-know, passwords and session tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from tisa.domain.arrangement import Arrangement
from tisa.domain.markings import Classification
from tisa.domain.questions import Reader
from tisa.errors import AccessDenied, AuthenticationFailed, Conflict, InputInvalid, NotFound
from tisa.store import accounts as rows
from tisa.store import audit
from tisa.store.database import Database

# Argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): a sign-in costs
# tens of milliseconds, not hundreds, while offline guessing stays memory-hard.
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
TOKEN_LIFETIME = timedelta(hours=12)
LANGUAGES = ("en", "ko", "ja")


class Role(StrEnum):
    """What a user may do at their node."""

    ANALYST = "analyst"
    RELEASE_OFFICER = "release-officer"
    ADMIN = "admin"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class User:
    """A signed-in user of this node."""

    username: str
    party: str
    role: Role
    clearance: Classification
    need_to_know: frozenset[str]
    language: str

    @property
    def reader(self) -> Reader:
        """The user as the access rule sees them."""
        return Reader(self.username, self.party, self.clearance, self.need_to_know)

    def require(self, *roles: Role) -> None:
        """Raises:
        AccessDenied: the user holds none of `roles`.
        """
        if self.role not in roles:
            wanted = " or ".join(r.value for r in roles)
            raise AccessDenied(f"{self.username} is {self.role.value}; this needs {wanted}")


@dataclass(frozen=True)
class Account:
    """A user as the node's administrator sees them: no password, no tokens."""

    username: str
    role: Role
    clearance: Classification
    need_to_know: frozenset[str]
    language: str
    created_at: datetime
    failed_logins: int
    locked_until: datetime | None
    disabled_at: datetime | None

    def locked(self, now: datetime) -> bool:
        """Whether sign-ins are refused at `now` for too many failures."""
        return _locked(self.locked_until, now)


def _locked(until: datetime | None, now: datetime) -> bool:
    """Whether a lock that lasts `until` still holds at `now`."""
    return until is not None and until > now


def operator(party: str) -> User:
    """The node's operator at its console (the CLI on the node's own machine, with its data
    directory): an administrator who reads no products."""
    return User("operator", party, Role.ADMIN, Classification.CONFIDENTIAL, frozenset(), "en")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _account(row: rows.UserRow) -> Account:
    return Account(
        username=row.username,
        role=Role(row.role),
        clearance=Classification(row.clearance),
        need_to_know=frozenset(row.need_to_know),
        language=row.language,
        created_at=row.created_at,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
        disabled_at=row.disabled_at,
    )


def _end_sessions(
    conn: Connection, by: User, username: str, action: audit.Action, now: datetime
) -> int:
    """End every session of `username` and record `action` by `by` with how many ended."""
    ended = rows.drop_tokens_of(conn, username)
    audit.record(
        conn, action, at=now, actor=by.username, detail={"user": username, "sessions_ended": ended}
    )
    return ended


def _check_new_password(password: str) -> None:
    """Raises:
    InputInvalid: too short to be a password.
    """
    if len(password) < 8:
        raise InputInvalid("password: at least 8 characters")


class Accounts:
    """Create users, sign them in, and resolve session tokens."""

    def __init__(
        self, db: Database, arrangement: Arrangement, party: str, clock: Callable[[], datetime]
    ) -> None:
        self._db = db
        self._arrangement = arrangement
        self._party = party
        self._clock = clock
        self._hasher = PASSWORD_HASHER

    def add(
        self,
        username: str,
        password: str,
        role: Role,
        clearance: str,
        need_to_know: list[str] | None = None,
        language: str = "en",
    ) -> User:
        """Create a user; `clearance` is a term of this node's scheme or a common level.

        Raises:
            InputInvalid: bad name, short password, unknown clearance term.
            Conflict: the user exists.
        """
        if (
            not username
            or len(username) > 100
            or not username.replace("-", "").replace(".", "").isalnum()
        ):
            raise InputInvalid("username: letters, digits, '.', '-'; at most 100")
        if language not in LANGUAGES:
            raise InputInvalid(f"language {language!r}: one of {', '.join(LANGUAGES)}")
        _check_new_password(password)
        level = self._arrangement.level_of_term(self._party, clearance)
        topics = need_to_know if need_to_know is not None else ["*"]
        now = self._clock()
        with self._db.begin() as conn:
            if rows.get(conn, username) is not None:
                raise Conflict(f"user {username} exists")
            rows.add(
                conn,
                rows.NewUser(
                    username=username,
                    password_hash=self._hasher.hash(password),
                    role=role.value,
                    clearance=int(level),
                    need_to_know=topics,
                    language=language,
                ),
                now,
            )
        return self._user(username, role.value, int(level), topics, language)

    def _user(self, username: str, role: str, clearance: int, ntk: list[str], lang: str) -> User:
        return User(
            username=username,
            party=self._party,
            role=Role(role),
            clearance=Classification(clearance),
            need_to_know=frozenset(ntk),
            language=lang,
        )

    def _refuse(self, username: str, said: str, reason: str | None = None) -> str:
        """Record a refused sign-in; `said`, to refuse with."""
        with self._db.begin() as conn:
            audit.record(
                conn,
                audit.Action.SIGN_IN_FAILED,
                at=self._clock(),
                actor=username[:100],
                detail={"reason": reason} if reason else None,
            )
        return said

    def _check_password(self, username: str, password: str) -> rows.UserRow | str:
        """The user's row if `password` is theirs, else the reason to refuse with. Failures
        are counted (five lock the account for a while) and audited, each in a transaction of
        its own, so the caller's refusal never takes them back. The hash is checked outside
        any transaction: Argon2 takes tens of milliseconds, and the store's writers (a FLASH
        being relayed) must not wait for it."""
        now = self._clock()
        with self._db.read() as conn:
            row = rows.get(conn, username)
        wrong = "unknown user or wrong password"
        if row is None:
            return self._refuse(username, wrong)
        if row.disabled_at is not None:
            said = f"{username} is disabled; ask the node's administrator"
            return self._refuse(username, said, "disabled")
        if _locked(row.locked_until, now):
            said = f"{username} is locked after {LOCK_AFTER} failed sign-ins; try later"
            return self._refuse(username, said, "locked")
        try:
            self._hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            with self._db.begin() as conn:
                # Counted in the database, so concurrent guesses cannot overwrite each other.
                failed = rows.count_failure(conn, username)
                if failed >= LOCK_AFTER:
                    rows.lock(conn, username, now + LOCK_FOR)
                audit.record(conn, audit.Action.SIGN_IN_FAILED, at=now, actor=username)
            return wrong
        if row.failed_logins or row.locked_until is not None:
            with self._db.begin() as conn:
                rows.signed_in(conn, username)
        return row

    def sign_in(self, username: str, password: str) -> str:
        """A new session token for the user.

        Raises:
            AuthenticationFailed: unknown user, wrong password, locked out or disabled.
        """
        checked = self._check_password(username, password)
        if isinstance(checked, str):
            raise AuthenticationFailed(checked)
        now = self._clock()
        token = secrets.token_urlsafe(32)
        with self._db.begin() as conn:
            rows.add_token(conn, _token_hash(token), username, now, now + TOKEN_LIFETIME)
            audit.record(conn, audit.Action.SIGN_IN, at=now, actor=username)
        return token

    def authenticate(self, username: str, password: str) -> User:
        """The user whose password this is, for a client that sends it with every request
        (HTTP Basic, as TAXII clients do); no session is made, and only failures are audited.

        Raises:
            AuthenticationFailed: unknown user, wrong password, locked out or disabled.
        """
        checked = self._check_password(username, password)
        if isinstance(checked, str):
            raise AuthenticationFailed(checked)
        return self._user(
            checked.username,
            checked.role,
            checked.clearance,
            checked.need_to_know,
            checked.language,
        )

    def resolve(self, token: str) -> User:
        """The user a session token belongs to.

        Raises:
            AuthenticationFailed: unknown or expired token.
        """
        with self._db.read() as conn:
            username = rows.token_user(conn, _token_hash(token), self._clock())
            row = None if username is None else rows.get(conn, username)
        # A disabled user's tokens are ended when they are disabled; asked again here anyway.
        if row is None or row.disabled_at is not None:
            raise AuthenticationFailed("sign in first: the token is unknown or expired")
        return self._user(row.username, row.role, row.clearance, row.need_to_know, row.language)

    def set_language(self, username: str, language: str) -> None:
        """The language the user reads the UI in.

        Raises:
            InputInvalid: not one of LANGUAGES.
        """
        if language not in LANGUAGES:
            raise InputInvalid(f"language {language!r}: one of {', '.join(LANGUAGES)}")
        with self._db.begin() as conn:
            rows.set_language(conn, username, language)

    def sign_out(self, token: str) -> None:
        """End the session."""
        with self._db.begin() as conn:
            rows.drop_token(conn, _token_hash(token))

    # -- the node's administrator ---------------------------------------------------------------

    def every(self, by: User) -> list[Account]:
        """Every user of this node, by name.

        Raises:
            AccessDenied: `by` is not an administrator.
        """
        by.require(Role.ADMIN)
        with self._db.read() as conn:
            return [_account(row) for row in rows.every(conn)]

    def account(self, by: User, username: str) -> Account:
        """One user of this node.

        Raises:
            AccessDenied: `by` is not an administrator.
            NotFound: no such user.
        """
        by.require(Role.ADMIN)
        with self._db.read() as conn:
            return _account(self._existing(conn, username))

    def _existing(self, conn: Connection, username: str) -> rows.UserRow:
        row = rows.get(conn, username)
        if row is None:
            raise NotFound(f"no user {username!r} at {self._party}")
        return row

    def change_password(self, by: User, username: str, password: str) -> int:
        """Give the user a new password and end their sessions; how many were ended.

        Raises:
            AccessDenied: `by` is not an administrator.
            InputInvalid: the password is too short.
            NotFound: no such user.
        """
        by.require(Role.ADMIN)
        _check_new_password(password)
        now = self._clock()
        with self._db.begin() as conn:
            self._existing(conn, username)
            rows.set_password(conn, username, self._hasher.hash(password))
            return _end_sessions(conn, by, username, audit.Action.USER_PASSWORD, now)

    def unlock(self, by: User, username: str) -> Account:
        """Lift the lock after too many failed sign-ins and forget the failures; returns the
        account as it was.

        Raises:
            AccessDenied: `by` is not an administrator.
            NotFound: no such user.
            Conflict: the user is not locked and has no failed sign-in to forget.
        """
        by.require(Role.ADMIN)
        now = self._clock()
        with self._db.begin() as conn:
            row = self._existing(conn, username)
            if row.failed_logins == 0 and not _locked(row.locked_until, now):
                raise Conflict(f"{username} is not locked")
            rows.unlock(conn, username)
            audit.record(
                conn,
                audit.Action.USER_UNLOCK,
                at=now,
                actor=by.username,
                detail={
                    "user": username,
                    "failed_logins": row.failed_logins,
                    "locked_until": None
                    if row.locked_until is None
                    else row.locked_until.isoformat(),
                },
            )
        return _account(row)

    def disable(self, by: User, username: str) -> int:
        """Refuse the user's sign-ins and end their sessions until enabled again; how many
        sessions were ended.

        Raises:
            AccessDenied: `by` is not an administrator.
            NotFound: no such user.
            Conflict: the user is disabled already.
        """
        by.require(Role.ADMIN)
        now = self._clock()
        with self._db.begin() as conn:
            row = self._existing(conn, username)
            if row.disabled_at is not None:
                raise Conflict(
                    f"{username} is disabled already (since {row.disabled_at:%Y-%m-%d %H:%M} UTC)"
                )
            rows.set_disabled(conn, username, now)
            return _end_sessions(conn, by, username, audit.Action.USER_DISABLE, now)

    def enable(self, by: User, username: str) -> None:
        """Let a disabled user sign in again (with the password they had).

        Raises:
            AccessDenied: `by` is not an administrator.
            NotFound: no such user.
            Conflict: the user is not disabled.
        """
        by.require(Role.ADMIN)
        now = self._clock()
        with self._db.begin() as conn:
            row = self._existing(conn, username)
            if row.disabled_at is None:
                raise Conflict(f"{username} is not disabled")
            rows.set_disabled(conn, username, None)
            audit.record(
                conn, audit.Action.USER_ENABLE, at=now, actor=by.username, detail={"user": username}
            )
