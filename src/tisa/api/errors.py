"""The one place where tisa's errors become HTTP responses.

Every error answer has one shape, `ErrorBody`: `{"error": <kind>, "detail": <reason>}`, plus
`"reasons"` for a policy denial. The kind is the tisa error's class name, `InputInvalid` for a
request that does not parse, `BodyTooLarge` for an oversize body, or `HTTPError` for what the
framework refuses (no such path, a method the path does not take, a body that is not even
text: 400).

A store or file failure that means a full disk becomes `DiskFull` (507), and one that means a
damaged database becomes `Damaged` (500), each with its JSON body, logged; anything else
unforeseen stays a 500 with its traceback in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tisa.errors import (
    AccessDenied,
    AuthenticationFailed,
    ChannelSuspended,
    ConfigInvalid,
    Conflict,
    CursorInvalid,
    Damaged,
    DiskFull,
    Incomplete,
    InputInvalid,
    NotFound,
    PeerRefused,
    PolicyDenied,
    SignatureInvalid,
    StoreUnavailable,
    TisaError,
    TooLarge,
    WindowTooLarge,
)
from tisa.store.disk import full, is_disk_full
from tisa.store.salvage import is_damage, why

_log = logging.getLogger("tisa.api")

STATUS: list[tuple[type[TisaError], int]] = [
    (TooLarge, 413),
    (WindowTooLarge, 400),
    (CursorInvalid, 400),
    (AuthenticationFailed, 401),
    (AccessDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PeerRefused, 409),
    (PolicyDenied, 422),
    (SignatureInvalid, 422),
    (InputInvalid, 422),
    (ChannelSuspended, 503),
    (Incomplete, 409),
    (ConfigInvalid, 503),
    (DiskFull, 507),
    (Damaged, 500),
    (StoreUnavailable, 503),
]


class ErrorBody(BaseModel):
    """The body of every error answer (the OpenAPI document names it for each status)."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(
        description="The kind of error: a tisa error (NotFound, PolicyDenied...), InputInvalid "
        "for a request that does not parse, BodyTooLarge, or HTTPError from the framework."
    )
    detail: str = Field(description="What is wrong, for a person to read.")
    reasons: list[str] = Field(
        default_factory=list, description="PolicyDenied only: each refusing rule's reason."
    )


def status_of(exc: TisaError) -> int:
    """The HTTP status for a tisa error."""
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def body_of(exc: TisaError) -> dict[str, object]:
    """The JSON body for a tisa error: its kind and human reason (and reasons, for denials)."""
    body: dict[str, object] = {"error": type(exc).__name__, "detail": exc.reason}
    if isinstance(exc, PolicyDenied):
        body["reasons"] = list(exc.reasons)
    return body


def _methods_of(request: Request) -> list[str]:
    """Every method some route of the app takes at the request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def translate(exc: Exception) -> TisaError | None:
    """The tisa error a store or file failure means, if it means one: a full disk, or a
    damaged database."""
    if is_disk_full(exc):
        if isinstance(exc, SQLAlchemyError):
            return full("database", "the database could not be written")
        return full("file", "a file could not be written")
    if isinstance(exc, SQLAlchemyError) and is_damage(exc):
        return Damaged(f"the database is damaged ({why(exc)}); run `tisa check`")
    if isinstance(exc, OperationalError | InterfaceError | TimeoutError):
        # Refused, dropped, locked or out of connections: nothing was done; try again.
        return StoreUnavailable(f"this node's store is unavailable ({why(exc)}); try again")
    return None


#: Answers a tisa error with something other than JSON (a web page), or None to leave it
#: to JSON. A face above the API (the web UI) adds one with `answer_otherwise`.
Renderer = Callable[[Request, TisaError], Response | None]
_RENDERERS = "tisa_error_renderers"


def answer_otherwise(app: FastAPI, renderer: Renderer) -> None:
    """Let `renderer` answer tisa errors on `app` before the JSON answer is made."""
    renderers: list[Renderer] = getattr(app.state, _RENDERERS, [])
    renderers.append(renderer)
    setattr(app.state, _RENDERERS, renderers)


def install(app: FastAPI) -> None:
    """Map tisa errors, validation errors and HTTP errors to JSON for `app`. A full disk is
    also counted through `app.state.count_disk_full(what)`, where the app sets one."""

    async def tisa_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TisaError)
        # Said where the operator looks too, the node's log, not only to one user.
        where = f"{request.method} {request.url.path}"
        if isinstance(exc, DiskFull):
            _log.error("disk full (%s): %s: %s", exc.what, where, exc.reason)
            count = getattr(request.app.state, "count_disk_full", None)
            if count is not None:
                count(exc.what)
        elif isinstance(exc, Damaged):
            _log.error("damaged: %s: %s", where, exc.reason)
        renderers: list[Renderer] = getattr(request.app.state, _RENDERERS, [])
        for renderer in renderers:
            rendered = renderer(request, exc)
            if rendered is not None:
                return rendered
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else None
        return JSONResponse(body_of(exc), status_code=status_of(exc), headers=headers)

    async def store_error(request: Request, exc: Exception) -> Response:
        meant = translate(exc)
        if meant is None:
            raise exc  # unforeseen: a 500 with its traceback in the log
        return await tisa_error(request, meant)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return JSONResponse(
            {"error": "InputInvalid", "detail": f"{where}: {first.get('msg')}"}, status_code=422
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path; a path
            # with routes for several methods takes all of them.
            headers["Allow"] = ", ".join(_methods_of(request))
        return JSONResponse(
            {"error": "HTTPError", "detail": exc.detail},
            status_code=exc.status_code,
            headers=headers or None,
        )

    app.add_exception_handler(TisaError, tisa_error)
    app.add_exception_handler(SQLAlchemyError, store_error)
    app.add_exception_handler(OSError, store_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
