"""The analyst API: users sign in and work with products, consents and channels."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tisa.api.errors import install
from tisa.api.events import events_router
from tisa.api.idempotency import Idempotency
from tisa.api.inbox_query import LEVELS, PARTY, PRECEDENCES, TOPIC_FAMILY, inbox_query
from tisa.api.limits import BodyLimit
from tisa.api.openapi import analyst_operations, describe
from tisa.api.params import UUID, Digest, Id, Version
from tisa.api.probes import METRICS_TYPE, install_probes
from tisa.api.session import Signed_in
from tisa.api.taxii import taxii_app
from tisa.api.tracks import tracks_router
from tisa.api.views import (
    consent_view,
    delivery_view,
    entry_view,
    product_detail,
    request_view,
    summary_view,
    upload_view,
)
from tisa.attachments import uploads
from tisa.attachments.downloads import checked_stream
from tisa.attachments.uploads import workspace
from tisa.domain.terms import QUERY_MAX
from tisa.domain.wire import ConsentIn, DraftIn, Strict
from tisa.errors import TooLarge
from tisa.node.runtime import Runtime
from tisa.services.accounts import LANGUAGES, Role, User
from tisa.services.inbox import LIMIT_DEFAULT, LIMIT_MAX
from tisa.services.status import node_status
from tisa.services.taxii import MEDIA_STIX
from tisa.store import audit

__all__ = ["MAX_BODY", "Signed_in", "analyst_app"]

MAX_BODY = 1024 * 1024  # a product's text is at most 100,000 characters


class SignIn(Strict):
    """Credentials."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class Reason(Strict):
    """A reason, for a recall or a denial."""

    reason: str = Field(min_length=1, max_length=2000)


class Language(Strict):
    """A user's language."""

    language: str = Field(pattern=f"^({'|'.join(LANGUAGES)})$")


class StixBundle(BaseModel):
    """A STIX 2.1 bundle to take as drafts: its reports (or groupings) and what they refer to."""

    model_config = ConfigDict(extra="allow")

    type: Literal["bundle"]
    id: str = Field(
        pattern=r"^bundle--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )
    objects: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)


def analyst_app(rt: Runtime) -> FastAPI:
    """The app users (and the CLI, and later the web UI) talk to."""
    app = FastAPI(title="tisa analyst API", version="1")
    install(app)
    describe(app, analyst_operations(rt.ctx.arrangement, rt.ctx.party))
    # Inside the body limit: an oversize body is refused before it is read for its key.
    app.add_middleware(
        Idempotency,
        routes=lambda: app.router.routes,
        db=rt.ctx.db,
        accounts=rt.accounts,
        clock=rt.clock,
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY, streamed=("/api/v1/uploads",))
    drafts, releases, consents, reading = rt.drafts, rt.releases, rt.consents, rt.reading
    channels, accounts, ctx = rt.channels, rt.accounts, rt.ctx
    arrangement = ctx.arrangement

    app.state.accounts = accounts
    app.state.count_disk_full = rt.count_disk_full

    def full(user: User, product_id: str, version: int | None) -> dict[str, Any]:
        return product_detail(reading, user, product_id, version)[1]

    @app.post("/api/v1/session")
    async def sign_in(body: SignIn) -> dict[str, Any]:
        token = await run_in_threadpool(accounts.sign_in, body.username, body.password)
        user = await run_in_threadpool(accounts.resolve, token)
        return {"token": token, "user": _user_view(user)}

    @app.delete("/api/v1/session", status_code=204)
    async def sign_out(authorization: Annotated[str | None, Header()] = None) -> Response:
        if authorization and authorization.startswith("Bearer "):
            await run_in_threadpool(accounts.sign_out, authorization.removeprefix("Bearer "))
        return Response(status_code=204)

    @app.get("/api/v1/me")
    async def me(user: Signed_in) -> dict[str, Any]:
        return _user_view(user)

    @app.get("/api/v1/arrangement")
    async def show_arrangement(user: Signed_in) -> dict[str, Any]:
        return {
            "id": arrangement.id,
            "title": arrangement.title,
            "digest": arrangement.digest,
            "hub": arrangement.hub,
            "parties": {p.code: p.name for p in arrangement.parties.values()},
            "channels": [
                {"id": c.id, "ceiling": c.ceiling.label, "basis": c.basis}
                for c in arrangement.channels
            ],
            "scope": sorted(arrangement.scope),
            "terms": {
                party: {level.name: term for level, term in terms.items()}
                for party, terms in arrangement.terms.items()
            },
        }

    @app.post("/api/v1/products", status_code=201)
    def create(user: Signed_in, draft: DraftIn) -> dict[str, Any]:
        product = drafts.create(user, draft)
        return full(user, product.id, product.version)

    @app.get("/api/v1/products")
    def listing(
        user: Signed_in,
        state: Annotated[str | None, Query(pattern="^(draft|released|received)$")] = None,
        limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = LIMIT_DEFAULT,
        q: Annotated[str | None, Query(max_length=QUERY_MAX)] = None,
        topic: Annotated[str | None, Query(max_length=100, pattern=TOPIC_FAMILY)] = None,
        originator: Annotated[str | None, Query(pattern=PARTY)] = None,
        classification: Annotated[str | None, Query(pattern=LEVELS)] = None,
        precedence: Annotated[str | None, Query(pattern=PRECEDENCES)] = None,
        since: Annotated[str | None, Query(max_length=40)] = None,
        until: Annotated[str | None, Query(max_length=40)] = None,
        unread: bool = False,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        query = inbox_query(
            parties=set(arrangement.parties),
            state=state,
            originator=originator,
            classification=classification,
            precedence=precedence,
            topic=topic,
            since=since,
            until=until,
            unread=unread,
            q=q,
        )
        page = rt.inbox.page(user, query, cursor=cursor, limit=limit)
        answer: dict[str, Any] = {
            "products": [summary_view(h, arrangement, ctx.party) for h in page.held],
            "next_cursor": page.next_cursor,
        }
        if page.withheld:
            answer["withheld"] = page.withheld
            answer["note"] = (
                f"{page.withheld} stored product versions could not be read whole and are "
                "left out; the node's log names them (an administrator runs `tisa check`)"
            )
        return answer

    @app.post("/api/v1/products/check")
    def check(user: Signed_in, draft: DraftIn) -> dict[str, Any]:
        """What would stop this draft, before it is stored (for live validation)."""
        return {"problems": drafts.check(user, draft)}

    @app.put("/api/v1/products/{product_id}/versions/{version}")
    def revise(user: Signed_in, product_id: Id, version: Version, draft: DraftIn) -> dict[str, Any]:
        product = drafts.revise(user, product_id, version, draft)
        return full(user, product.id, product.version)

    @app.post("/api/v1/products/{product_id}/versions/{version}/send-back")
    def send_back(
        user: Signed_in, product_id: Id, version: Version, body: Reason
    ) -> dict[str, Any]:
        drafts.send_back(user, product_id, version, body.reason)
        return {"id": product_id, "version": version, "sent_back": body.reason}

    @app.put("/api/v1/me/language")
    def set_language(user: Signed_in, body: Language) -> dict[str, Any]:
        accounts.set_language(user.username, body.language)
        return {"language": body.language}

    @app.get("/api/v1/products/{product_id}")
    def read(user: Signed_in, product_id: Id) -> dict[str, Any]:
        return full(user, product_id, None)

    @app.get("/api/v1/products/{product_id}/versions/{version}")
    def read_version(user: Signed_in, product_id: Id, version: Version) -> dict[str, Any]:
        return full(user, product_id, version)

    @app.post("/api/v1/products/{product_id}/amend", status_code=201)
    def amend(user: Signed_in, product_id: Id, draft: DraftIn) -> dict[str, Any]:
        product = drafts.amend(user, product_id, draft)
        return full(user, product.id, product.version)

    @app.post("/api/v1/products/{product_id}/versions/{version}/release")
    def release(user: Signed_in, product_id: Id, version: Version) -> dict[str, Any]:
        outcome = releases.release(user, product_id, version)
        return {"id": product_id, "version": version, "recipients": outcome}

    @app.post("/api/v1/products/{product_id}/versions/{version}/recall")
    def recall(user: Signed_in, product_id: Id, version: Version, body: Reason) -> dict[str, Any]:
        releases.recall(user, product_id, version, body.reason)
        return full(user, product_id, version)

    @app.post("/api/v1/uploads", status_code=201)
    async def upload(
        request: Request,
        user: Signed_in,
        name: Annotated[str, Query(min_length=1, max_length=255)],
    ) -> dict[str, Any]:
        user.require(Role.ANALYST, Role.RELEASE_OFFICER)
        limit = max(c.max_attachment_bytes for c in arrangement.channels)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                raise TooLarge(f"{name} is {int(declared):,} bytes; the limit is {limit:,}")
            # Refused before a byte is read when it could only take the reserve.
            rt.blobs.claim("upload", int(declared))
        with workspace(rt.settings.paths.work) as work:
            raw = work / "upload"
            await uploads.receive(request.stream(), raw, store=rt.blobs, name=name, limit=limit)
            row = await run_in_threadpool(
                uploads.accept,
                ctx.db,
                rt.blobs,
                raw,
                by=user.username,
                clock=ctx.clock,
                name=name,
                declared_type=request.headers.get("content-type"),
                max_size=limit,
            )
        return upload_view(row)

    @app.get("/api/v1/products/{product_id}/versions/{version}/attachments/{digest}")
    def download(
        user: Signed_in,
        product_id: Id,
        version: Version,
        digest: Digest,
    ) -> StreamingResponse:
        attachment = reading.attachment(user, product_id, version, digest)
        return StreamingResponse(
            checked_stream(rt.blobs, digest, attachment.size, f"{product_id} v{version}"),
            media_type=attachment.media_type,
            headers={
                "Content-Length": str(attachment.size),
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.name)}",
            },
        )

    @app.get("/api/v1/products/{product_id}/versions/{version}/attachments/{digest}/preview")
    def preview(
        user: Signed_in,
        product_id: Id,
        version: Version,
        digest: Digest,
    ) -> StreamingResponse:
        thumb = reading.preview(user, product_id, version, digest, rt.settings.paths.work)
        # A preview is a small JPEG: always authenticated whole before it is sent.
        return StreamingResponse(
            checked_stream(rt.blobs, thumb, 0, f"{product_id} v{version}"),
            media_type="image/jpeg",
        )

    @app.get("/api/v1/products/{product_id}/deliveries")
    def deliveries(user: Signed_in, product_id: Id) -> dict[str, Any]:
        return {"deliveries": [delivery_view(d) for d in reading.deliveries(user, product_id)]}

    @app.get("/api/v1/products/{product_id}/stix")
    def stix_bundle(
        user: Signed_in,
        product_id: Id,
        version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    ) -> Response:
        body = rt.taxii.bundle(user, product_id, version)
        return Response(body, media_type=MEDIA_STIX)

    @app.post("/api/v1/stix")
    def stix_import(user: Signed_in, bundle: StixBundle) -> dict[str, Any]:
        return {"status": rt.taxii.take(user, bundle.objects)}

    @app.get("/api/v1/consents")
    def list_consents(user: Signed_in) -> dict[str, Any]:
        return {"consents": [consent_view(c) for c in consents.consents(user)]}

    @app.post("/api/v1/consents", status_code=201)
    def grant(user: Signed_in, terms: ConsentIn) -> dict[str, Any]:
        return consents.grant_consent(user, terms)

    @app.post("/api/v1/consents/{consent_id}/revoke")
    def revoke(user: Signed_in, consent_id: Id) -> dict[str, Any]:
        consents.revoke_consent(user, consent_id)
        return {"id": consent_id, "revoked": True}

    @app.get("/api/v1/consent-requests")
    def list_requests(
        user: Signed_in,
        state: Annotated[str | None, Query(pattern="^(open|granted|denied)$")] = None,
    ) -> dict[str, Any]:
        return {"requests": [request_view(r) for r in consents.consent_requests(user, state)]}

    @app.post("/api/v1/consent-requests/{request_id}/grant")
    def grant_request(user: Signed_in, request_id: Id) -> dict[str, Any]:
        return consents.answer_request(user, request_id, grant=True)

    @app.post("/api/v1/consent-requests/{request_id}/deny")
    def deny_request(user: Signed_in, request_id: Id, body: Reason) -> dict[str, Any]:
        return consents.answer_request(user, request_id, grant=False, reason=body.reason)

    @app.post("/api/v1/channels/{channel_id}/suspend")
    def suspend(user: Signed_in, channel_id: str) -> dict[str, Any]:
        channels.set_channel(user, channel_id, suspended=True)
        return node_status(rt.ctx)

    @app.post("/api/v1/channels/{channel_id}/resume")
    def resume(user: Signed_in, channel_id: str) -> dict[str, Any]:
        channels.set_channel(user, channel_id, suspended=False)
        return node_status(rt.ctx)

    @app.get("/api/v1/status")
    def status(user: Signed_in) -> dict[str, Any]:
        # Dead letters name products and refusals: for those who run and audit the node.
        user.require(Role.ADMIN, Role.AUDITOR)
        return node_status(rt.ctx)

    @app.get("/api/v1/audit")
    def audit_entries(
        user: Signed_in,
        product_id: Annotated[str | None, Query(pattern=UUID)] = None,
        action: Annotated[str | None, Query(max_length=40)] = None,
    ) -> dict[str, Any]:
        user.require(Role.AUDITOR, Role.ADMIN)
        with ctx.db.read() as conn:
            rows = audit.entries(conn, product_id=product_id, action=action)
        return {"entries": [entry_view(e) for e in rows]}

    install_probes(app, ctx.party, rt.health)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/ui/inbox", status_code=303)

    @app.get("/metrics")
    async def metrics(user: Signed_in) -> Response:
        # Counts per peer and kind describe the traffic: administrators only here (a
        # scraper on the node's own machine uses the localhost-only metrics port).
        user.require(Role.ADMIN)
        body = await run_in_threadpool(rt.metrics.render)
        return Response(body, media_type=METRICS_TYPE)

    app.include_router(events_router(rt, rt.events))
    app.include_router(tracks_router(rt.tracks, rt.warnings, rt.track_events, rt.replays))
    title = f"tisa {ctx.party} ({arrangement.party(ctx.party).name})"
    app.mount("/taxii2", taxii_app(rt.taxii, accounts, title))
    return app


def _user_view(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "party": user.party,
        "role": user.role.value,
        "clearance": user.clearance.name,
        "need_to_know": sorted(user.need_to_know),
        "language": user.language,
    }
