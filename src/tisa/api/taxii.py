"""The TAXII 2.1 server under /taxii2/ on the analyst port: discovery, one API root, its
collections, objects, manifests, versions and statuses, in the TAXII media type.

Clients sign in with HTTP Basic (the node's accounts) or the API's bearer tokens, over the
analyst port's TLS. Errors are TAXII error resources; an object the caller may not see is
404, exactly as one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tisa.api.errors import status_of, translate
from tisa.errors import AuthenticationFailed, InputInvalid, TisaError
from tisa.services.accounts import Accounts, User
from tisa.services.taxii import Filters, Page, Taxii, envelope_json, parse_filters

MEDIA_TAXII = "application/taxii+json;version=2.1"
API_ROOT = "tisa"
MAX_CONTENT = 10 * 1024 * 1024
_ACCEPTED = re.compile(r"application/taxii\+json(;version=2\.1)?")
_log = logging.getLogger("tisa.api.taxii")


class TaxiiError(Exception):
    """A refusal the TAXII server states itself (media types, sizes)."""

    def __init__(self, status: int, title: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.title = title
        self.description = description


def _error(status: int, title: str, description: str, **headers: str) -> Response:
    body = {"title": title, "description": description, "http_status": str(status)}
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=MEDIA_TAXII,
        headers=headers or None,
    )


def _answer(body: Any, status: int = 200, page: Page | None = None) -> Response:
    headers = {}
    if page is not None and page.first_added is not None and page.last_added is not None:
        headers["X-TAXII-Date-Added-First"] = page.first_added
        headers["X-TAXII-Date-Added-Last"] = page.last_added
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return Response(content, status_code=status, media_type=MEDIA_TAXII, headers=headers)


def _listing(key: str, items: list[Any], page: Page) -> Response:
    """A page of a TAXII list (a manifest, an object's versions): `more`, `next`, the items."""
    body: dict[str, Any] = {"more": page.more, key: items}
    if page.next is not None:
        body["next"] = page.next
    return _answer(body, page=page)


def _accepts(request: Request) -> None:
    """Raises TaxiiError (406) unless the client accepts TAXII 2.1."""
    offered = request.headers.get("accept", "").replace(" ", "").split(",")
    if not any(_ACCEPTED.fullmatch(item.split(";q=")[0]) for item in offered):
        raise TaxiiError(406, "Not Acceptable", f"send Accept: {MEDIA_TAXII}")


def _user(accounts: Accounts, authorization: str | None) -> User:
    """The caller, by HTTP Basic (a node account) or a bearer token (`Bearer` or `Token`).

    Raises:
        AuthenticationFailed: neither, or one that does not hold.
    """
    if authorization is None:
        raise AuthenticationFailed("sign in: HTTP Basic with your account, or a bearer token")
    scheme, _, credentials = authorization.partition(" ")
    # "Token" is how taxii2-client's TokenAuth sends a bearer token.
    if scheme.lower() in ("bearer", "token") and credentials:
        return accounts.resolve(credentials.strip())
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthenticationFailed(
                "the Basic credentials are not base64 user:password"
            ) from exc
        username, colon, password = decoded.partition(":")
        if not colon:
            raise AuthenticationFailed("the Basic credentials are not user:password")
        return accounts.authenticate(username, password)
    raise AuthenticationFailed("sign in: HTTP Basic with your account, or a bearer token")


def taxii_app(taxii: Taxii, accounts: Accounts, title: str) -> FastAPI:
    """The TAXII server, to mount at /taxii2."""
    app = FastAPI(title="tisa TAXII 2.1", docs_url=None, redoc_url=None, openapi_url=None)

    async def signed_in(request: Request) -> User:
        _accepts(request)
        return await run_in_threadpool(_user, accounts, request.headers.get("authorization"))

    def filters_of(request: Request) -> Filters:
        return parse_filters(list(request.query_params.multi_items()))

    def root_url(request: Request) -> str:
        return str(request.base_url).rstrip("/") + f"/taxii2/{API_ROOT}/"

    @app.get("/")
    async def discovery(request: Request) -> Response:
        await signed_in(request)
        return _answer(
            {
                "title": title,
                "description": "tisa: intelligence shared under the arrangement, as STIX 2.1.",
                "default": root_url(request),
                "api_roots": [root_url(request)],
            }
        )

    @app.get(f"/{API_ROOT}/")
    async def api_root(request: Request) -> Response:
        await signed_in(request)
        return _answer(
            {
                "title": title,
                "versions": [MEDIA_TAXII],
                "max_content_length": MAX_CONTENT,
            }
        )

    @app.get(f"/{API_ROOT}/collections/")
    async def collections(request: Request) -> Response:
        user = await signed_in(request)
        return _answer({"collections": [c.resource(user) for c in taxii.collections]})

    @app.get(f"/{API_ROOT}/collections/{{collection_id}}/")
    async def collection(request: Request, collection_id: str) -> Response:
        user = await signed_in(request)
        return _answer(taxii.collection(collection_id).resource(user))

    @app.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/")
    async def objects(request: Request, collection_id: str) -> Response:
        user = await signed_in(request)
        page = await run_in_threadpool(taxii.objects, user, collection_id, filters_of(request))
        return _answer(envelope_json(page), page=page)

    @app.post(f"/{API_ROOT}/collections/{{collection_id}}/objects/")
    async def add_objects(request: Request, collection_id: str) -> Response:
        user = await signed_in(request)
        kind = request.headers.get("content-type", "").replace(" ", "")
        if not _ACCEPTED.fullmatch(kind):
            raise TaxiiError(415, "Unsupported Media Type", f"send Content-Type: {MEDIA_TAXII}")
        raw = await request.body()
        if len(raw) > MAX_CONTENT:
            raise TaxiiError(413, "Too Large", f"a post may hold at most {MAX_CONTENT} bytes")
        try:
            envelope = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputInvalid(f"the body is not JSON: {exc}") from exc
        status = await run_in_threadpool(taxii.post, user, collection_id, envelope)
        return _answer(status, status=202)

    @app.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/")
    async def one_object(request: Request, collection_id: str, object_id: str) -> Response:
        user = await signed_in(request)
        filters = filters_of(request)
        page = await run_in_threadpool(taxii.objects, user, collection_id, filters, object_id)
        return _answer(envelope_json(page), page=page)

    @app.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/versions/")
    async def versions(request: Request, collection_id: str, object_id: str) -> Response:
        user = await signed_in(request)
        filters = filters_of(request)
        page = await run_in_threadpool(taxii.versions, user, collection_id, object_id, filters)
        return _listing("versions", [o["version"] for o in page.objects], page)

    @app.get(f"/{API_ROOT}/collections/{{collection_id}}/manifest/")
    async def manifest(request: Request, collection_id: str) -> Response:
        user = await signed_in(request)
        page = await run_in_threadpool(taxii.manifest, user, collection_id, filters_of(request))
        return _listing("objects", page.objects, page)

    @app.get(f"/{API_ROOT}/status/{{status_id}}/")
    async def status(request: Request, status_id: str) -> Response:
        user = await signed_in(request)
        return _answer(await run_in_threadpool(taxii.status, user, status_id))

    async def taxii_refusal(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, TaxiiError)
        return _error(exc.status, exc.title, exc.description)

    async def tisa_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TisaError)
        code = status_of(exc)
        # TAXII answers a request it cannot read with 400 (not the API's 422).
        if isinstance(exc, InputInvalid) and code == 422:
            code = 400
        if isinstance(exc, AuthenticationFailed):
            return _error(
                code, "Unauthorized", exc.reason, **{"WWW-Authenticate": 'Basic realm="tisa"'}
            )
        if code >= 500:
            _log.error("%s %s: %s", request.method, request.url.path, exc.reason)
        return _error(code, type(exc).__name__, exc.reason)

    async def store_error(request: Request, exc: Exception) -> Response:
        meant = translate(exc)
        if meant is None:
            raise exc
        return await tisa_error(request, meant)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _error(exc.status_code, "HTTP error", str(exc.detail))

    app.add_exception_handler(TaxiiError, taxii_refusal)
    app.add_exception_handler(TisaError, tisa_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OSError, store_error)
    app.add_exception_handler(SQLAlchemyError, store_error)
    return app
