"""Idempotency keys: a change retried after a lost answer gets the first answer, not a second
change.

A signed-in user may send `Idempotency-Key: <key>` with any POST, PUT or DELETE of the
analyst API. The first request with that key is carried out and its answer kept (for a day);
the same request again, with the same key, gets that answer back (`Idempotent-Replayed:
true`) and changes nothing. The key with another request is refused, as is a second
request while the first is still being carried out: both conflict with what the key
already stands for (409). Answers a retry should not repeat (a server error, a store that
was unavailable) are not kept: the retry is carried out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import Connection, delete, select, update
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tisa.api.session import COOKIE
from tisa.errors import AuthenticationFailed
from tisa.services.accounts import Accounts
from tisa.store.database import Database
from tisa.store.rows import insert_new
from tisa.store.tables import idempotency

HEADER = "idempotency-key"
KEY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
KEEP = timedelta(hours=24)
# A first request still unanswered after this is taken to have died with its process.
STALE = timedelta(minutes=2)
_PENDING = 0
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Uploads are content-addressed: sending the same bytes again names the same blob.
_EXEMPT = ("/api/v1/uploads",)


class Idempotency:
    """ASGI middleware keeping the first answer to each (user, Idempotency-Key)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Callable[[], list[BaseRoute]],
        db: Database,
        accounts: Accounts,
        clock: Callable[[], datetime],
    ) -> None:
        self.app = app
        self.routes = routes
        self.db = db
        self.accounts = accounts
        self.clock = clock

    def _routed(self, scope: Scope) -> bool:
        """Whether a route takes this method at this path (else the app answers 404/405)."""
        return any(route.matches(scope)[0] is Match.FULL for route in self.routes())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _CHANGES
            or not scope["path"].startswith("/api/v1/")
            or scope["path"].startswith(_EXEMPT)
            or not self._routed(scope)
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not KEY.match(key):
            await _answer(
                send,
                422,
                {
                    "error": "InputInvalid",
                    "detail": "Idempotency-Key: 1 to 64 letters, digits or . _ : -",
                },
            )
            return
        username = await run_in_threadpool(self._user, headers)
        if username is None:
            await self.app(scope, receive, send)  # the app says why it refuses
            return
        body = await _read(receive)
        if body is None:
            return  # the client left before its request was whole: nothing was asked
        query = scope.get("query_string", b"").decode("latin-1")
        target = json.dumps([scope["method"], scope["path"], query]).encode()
        fingerprint = hashlib.sha256(target + b"\0" + body).hexdigest()
        try:
            kept = await run_in_threadpool(self._claim, username, key, fingerprint)
        except _Refused as refused:
            await _answer(send, refused.status, {"error": "Conflict", "detail": refused.reason})
            return
        if kept is not None:
            status, answer = kept
            await _replay(send, status, answer)
            return
        status_seen: list[int] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        # Shielded: a client that drops the connection must not cut the change short half
        # way, nor leave its key claimed with no answer kept for the retry that follows.
        with anyio.CancelScope(shield=True):
            try:
                await self.app(scope, _replaying(body), capture)
            finally:
                status = status_seen[0] if status_seen else 500
                await run_in_threadpool(self._settle, username, key, status, b"".join(chunks))

    def _user(self, headers: dict[str, str]) -> str | None:
        authorization = headers.get("authorization", "")
        token = authorization[7:] if authorization.lower().startswith("bearer ") else None
        if not token:
            cookie = headers.get("cookie", "")
            found = re.search(rf"(?:^|;\s*){COOKIE}=([^;]+)", cookie)
            token = found.group(1) if found else None
        if not token:
            return None
        try:
            return self.accounts.resolve(token).username
        except AuthenticationFailed:
            return None

    def _claim(self, username: str, key: str, fingerprint: str) -> tuple[int, bytes] | None:
        """The answer kept for this key, or None after claiming the key for this request.

        Raises:
            _Refused: the key names another request, or its first request is still running.
        """
        now = self.clock()
        with self.db.begin() as conn:
            conn.execute(delete(idempotency).where(idempotency.c.created_at < now - KEEP))
            row = _row(conn, username, key)
            if row is None or (row.status == _PENDING and now - row.created_at > STALE):
                if row is not None:
                    conn.execute(_where(delete(idempotency), username, key))
                claimed = insert_new(
                    conn,
                    idempotency,
                    {
                        "username": username,
                        "key": key,
                        "request": fingerprint,
                        "status": _PENDING,
                        "body": "",
                        "created_at": now,
                    },
                )
                if claimed:
                    return None
                row = _row(conn, username, key)
                assert row is not None
        if row.request != fingerprint:
            raise _Refused(409, "this Idempotency-Key was used for another request")
        if row.status == _PENDING:
            raise _Refused(409, "a request with this Idempotency-Key is still being carried out")
        return int(row.status), str(row.body).encode("utf-8")

    def _settle(self, username: str, key: str, status: int, body: bytes) -> None:
        """Keep the answer, or give the key up if a retry should not get this answer."""
        with self.db.begin() as conn:
            if status >= 500:
                conn.execute(_where(delete(idempotency), username, key))
                return
            conn.execute(
                _where(update(idempotency), username, key).values(
                    status=status, body=body.decode("utf-8", "replace")
                )
            )


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _where(statement: Any, username: str, key: str) -> Any:
    return statement.where(idempotency.c.username == username, idempotency.c.key == key)


def _row(conn: Connection, username: str, key: str) -> Any:
    return conn.execute(_where(select(idempotency), username, key)).first()


async def _read(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client left before sending all of it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _replay(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"idempotent-replayed", b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _answer(send: Send, status: int, body: dict[str, str]) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
