"""Users of a node: roles, clearance, need-to-know, passwords and session tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from tisa.domain.arrangement import Arrangement
from tisa.domain.markings import Classification
from tisa.domain.questions import Reader
from tisa.errors import AccessDenied, AuthenticationFailed, Conflict, InputInvalid
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


def operator(party: str) -> User:
    """The node's operator at its console (the CLI on the node's own machine, with its data
    directory): an administrator who reads no products."""
    return User("operator", party, Role.ADMIN, Classification.CONFIDENTIAL, frozenset(), "en")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
        if len(password) < 8:
            raise InputInvalid("password: at least 8 characters")
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

    def _check_password(self, conn: Connection, username: str, password: str) -> Any:
        """The user's row if `password` is theirs; failures are counted (five lock the
        account for a while) and audited.

        Raises:
            AuthenticationFailed: unknown user, wrong password, or locked out.
        """
        now = self._clock()
        row = rows.get(conn, username)
        if row is None:
            audit.record(conn, audit.Action.SIGN_IN_FAILED, at=now, actor=username[:100])
            raise AuthenticationFailed("unknown user or wrong password")
        if row.locked_until is not None and row.locked_until > now:
            audit.record(
                conn,
                audit.Action.SIGN_IN_FAILED,
                at=now,
                actor=username,
                detail={"reason": "locked"},
            )
            raise AuthenticationFailed(
                f"{username} is locked after {LOCK_AFTER} failed sign-ins; try later"
            )
        try:
            self._hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            # Counted in the database, so concurrent guesses cannot overwrite each other.
            failed = rows.count_failure(conn, username)
            if failed >= LOCK_AFTER:
                rows.lock(conn, username, now + LOCK_FOR)
            audit.record(conn, audit.Action.SIGN_IN_FAILED, at=now, actor=username)
            return None
        if row.failed_logins or row.locked_until is not None:
            rows.signed_in(conn, username)
        return row

    def sign_in(self, username: str, password: str) -> str:
        """A new session token for the user.

        Raises:
            AuthenticationFailed: unknown user, wrong password, or locked out.
        """
        now = self._clock()
        with self._db.begin() as conn:
            row = self._check_password(conn, username, password)
            if row is not None:
                token = secrets.token_urlsafe(32)
                rows.add_token(conn, _token_hash(token), username, now, now + TOKEN_LIFETIME)
                audit.record(conn, audit.Action.SIGN_IN, at=now, actor=username)
        # Raised after the commit, so the failure counted above is kept.
        if row is None:
            raise AuthenticationFailed("unknown user or wrong password")
        return token

    def authenticate(self, username: str, password: str) -> User:
        """The user whose password this is, for a client that sends it with every request
        (HTTP Basic, as TAXII clients do); no session is made, and only failures are audited.

        Raises:
            AuthenticationFailed: unknown user, wrong password, or locked out.
        """
        with self._db.begin() as conn:
            row = self._check_password(conn, username, password)
        if row is None:
            raise AuthenticationFailed("unknown user or wrong password")
        return self._user(row.username, row.role, row.clearance, row.need_to_know, row.language)

    def resolve(self, token: str) -> User:
        """The user a session token belongs to.

        Raises:
            AuthenticationFailed: unknown or expired token.
        """
        with self._db.read() as conn:
            username = rows.token_user(conn, _token_hash(token), self._clock())
            row = None if username is None else rows.get(conn, username)
        if row is None:
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
