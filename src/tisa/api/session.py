"""Who is asking: a bearer token (CLI, tools) or a browser's session cookie with its CSRF token.

A cookie is sent by the browser whatever page made the request, so a request authenticated
by cookie that changes anything must also carry the CSRF token: a value derived from the
session secret that only pages of this node can read and send back.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tisa.errors import AccessDenied, AuthenticationFailed
from tisa.services.accounts import Accounts, User

COOKIE = "tisa_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The two ways in, as OpenAPI security schemes (either will do); neither refuses by itself, so
# a request with neither gets tisa's own 401 below.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="The token `POST /api/v1/session` gives.",
    auto_error=False,
)
SESSION_COOKIE = APIKeyCookie(
    name=COOKIE,
    scheme_name="session",
    description=f"A browser's session; a request that changes anything also sends {CSRF_HEADER}.",
    auto_error=False,
)


def csrf_token(session: str) -> str:
    """The CSRF token that goes with a session token."""
    return hmac.new(session.encode(), b"tisa csrf v1", hashlib.sha256).hexdigest()


def check_csrf(session: str, presented: str | None) -> None:
    """Raises:
    AccessDenied: the CSRF token is missing or is not this session's.
    """
    if not presented or not hmac.compare_digest(presented, csrf_token(session)):
        raise AccessDenied("this request lacks the page's CSRF token; reload the page and retry")


def session_of(request: Request) -> str | None:
    """The browser session token, if the request carries the cookie."""
    return request.cookies.get(COOKIE) or None


async def current_user(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    session: Annotated[str | None, Depends(SESSION_COOKIE)],
) -> User:
    """The signed-in user of a request (bearer token, or cookie plus CSRF for changes).

    Raises:
        AuthenticationFailed: no credentials, or an unknown or expired token.
        AccessDenied: a cookie-authenticated change without the CSRF token.
    """
    accounts: Accounts = request.app.state.accounts
    if bearer is not None:
        return await run_in_threadpool(accounts.resolve, bearer.credentials)
    if not session:
        raise AuthenticationFailed("sign in first: send Authorization: Bearer <token>")
    if request.method not in SAFE_METHODS:
        check_csrf(session, request.headers.get(CSRF_HEADER))
    return await run_in_threadpool(accounts.resolve, session)


Signed_in = Annotated[User, Depends(current_user)]
