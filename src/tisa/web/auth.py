"""Who is looking at a page: the session cookie's user; and forms that carry the CSRF token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from tisa.api.session import CSRF_FIELD, check_csrf, session_of
from tisa.errors import AuthenticationFailed
from tisa.services.accounts import User


async def page_user(request: Request) -> User:
    """The user of a page request, from the session cookie.

    Raises:
        AuthenticationFailed: not signed in (the error page sends them to sign in).
    """
    session = session_of(request)
    if session is None:
        raise AuthenticationFailed("sign in first")
    user: User = await run_in_threadpool(request.app.state.accounts.resolve, session)
    return user


async def form_of(request: Request) -> FormData:
    """A submitted form, after checking its CSRF token.

    Raises:
        AccessDenied: the form lacks this session's CSRF token.
    """
    form = await request.form()
    token = form.get(CSRF_FIELD)
    check_csrf(session_of(request) or "", token if isinstance(token, str) else None)
    return form


async def signed_form(request: Request) -> tuple[User, FormData]:
    """The user and the CSRF-checked form of a form post."""
    user = await page_user(request)
    return user, await form_of(request)


Viewer = Annotated[User, Depends(page_user)]
