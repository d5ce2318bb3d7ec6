"""The web UI on a node's analyst server: sign-in, pages, form actions, live stream, assets."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from tisa.api.analyst import analyst_app
from tisa.api.errors import answer_otherwise, status_of
from tisa.api.session import COOKIE, session_of
from tisa.api.tracks import warning_view
from tisa.errors import AuthenticationFailed, InputInvalid, PolicyDenied, TisaError
from tisa.node.runtime import Runtime
from tisa.services.accounts import TOKEN_LIFETIME, User
from tisa.services.events import Events
from tisa.web import actions, pages
from tisa.web.auth import form_of, page_user
from tisa.web.live import Feed, head, stream
from tisa.web.render import Pages

STATIC = pages.STATIC


def analyst_server(rt: Runtime) -> tuple[FastAPI, Feed]:
    """The node's analyst server: the API, with the web UI beside it on the same port; and
    the UI's live feed, for the running node to supervise."""
    app = analyst_app(rt)
    return app, install_web(app, rt, rt.events)


def install_web(app: FastAPI, rt: Runtime, events: Events) -> Feed:
    """Serve the UI under /ui on `app` (the node's analyst server). Returns the live feed,
    which the running node supervises and ends when it stops."""
    party = rt.ctx.party
    ui = Pages(
        party,
        rt.ctx.arrangement.party(party).name,
        lambda user: [warning_view(w) for w in rt.warnings.active(user)],
    )
    feed = Feed(rt)
    app.state.pages = ui
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(LiveCursor, head=lambda: head(rt))

    def error_page(request: Request, exc: TisaError) -> Response | None:
        if not request.url.path.startswith("/ui/"):
            return None  # the API's own JSON answer
        if isinstance(exc, AuthenticationFailed) and request.method == "GET":
            query = f"?{request.url.query}" if request.url.query else ""
            target = quote(request.url.path + query)
            return RedirectResponse(f"/ui/sign-in?next={target}", status_code=303)
        reasons = list(exc.reasons) if isinstance(exc, PolicyDenied) else []
        return ui.render(
            request,
            _signed_in(request),
            "error.html",
            status=status_of(exc),
            kind=type(exc).__name__,
            reason=exc.reason,
            reasons=reasons,
            back=_back_path(request.headers.get("referer")),
        )

    answer_otherwise(app, error_page)

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/ui/inbox", status_code=303)

    @app.get("/ui/sign-in", include_in_schema=False)
    async def sign_in_page(request: Request) -> Response:
        return ui.render(request, None, "sign_in.html", next=_safe_next(request), error=None)

    @app.post("/ui/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        form = await request.form()
        username = str(form.get("username", ""))[:100]
        password = str(form.get("password", ""))[:1000]
        target = _safe_next(request, str(form.get("next", "")))
        try:
            if not username or not password:
                raise InputInvalid("enter your user name and password")
            token = await run_in_threadpool(rt.accounts.sign_in, username, password)
        except (AuthenticationFailed, InputInvalid) as exc:
            return ui.render(
                request, None, "sign_in.html", status=401, next=target, error=exc.reason
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(TOKEN_LIFETIME.total_seconds()),
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        return response

    @app.post("/ui/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        await form_of(request)
        session = session_of(request)
        if session:
            await run_in_threadpool(rt.accounts.sign_out, session)
        response = RedirectResponse("/ui/sign-in", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/ui/live", include_in_schema=False)
    async def live(
        request: Request,
        after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
        last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    ) -> StreamingResponse:
        user = await page_user(request)
        if last_event_id is not None:
            # A reconnecting browser: resume after the last event it heard.
            if not last_event_id.isdigit():
                raise InputInvalid("Last-Event-ID must be the number of the last event heard")
            after = int(last_event_id)
        return StreamingResponse(
            stream(rt, feed, user, after),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    pages.install(app, rt, ui, events)
    actions.install(app, rt, ui)
    return feed


class LiveCursor:
    """ASGI middleware: note the audit log's head before a UI page reads its data, so the
    page's live stream starts exactly there (see `tisa.web.live`)."""

    def __init__(self, app: ASGIApp, head: Callable[[], int]) -> None:
        self.app = app
        self.head = head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if (
            scope.get("method") == "GET"
            and path.startswith("/ui/")
            and not path.startswith(("/ui/static/", "/ui/live"))
        ):
            # If the store cannot say, the page itself will say what is wrong; its stream
            # then starts from now.
            with contextlib.suppress(SQLAlchemyError):
                scope.setdefault("state", {})["live_after"] = await run_in_threadpool(self.head)
        await self.app(scope, receive, send)


def _safe_next(request: Request, given: str | None = None) -> str:
    """Where to go after signing in: only a path of this UI (never another site)."""
    target = given if given is not None else request.query_params.get("next", "")
    if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/inbox"


def _signed_in(request: Request) -> User | None:
    """The page's user, if the session is still good (the error page keeps the navigation)."""
    session = session_of(request)
    if session is None:
        return None
    try:
        user: User = request.app.state.accounts.resolve(session)
    except AuthenticationFailed:
        return None
    return user


def _back_path(referer: str | None) -> str:
    """The page to go back to after a refusal: the referring UI page, path only."""
    path = urlsplit(referer or "").path
    return path if path.startswith("/ui/") else "/ui/inbox"
