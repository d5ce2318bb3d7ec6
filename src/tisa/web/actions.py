"""What the UI's buttons do: release, send back, recall, answer consent requests, standing
rules, channels, language, audit verification. Each is a form post carrying the CSRF token,
calling the same node operation as the API, then showing where things now stand."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from tisa.api.params import Id, Version
from tisa.audit.proofs import verify_log
from tisa.domain.consent import ConsentKind
from tisa.domain.wire import ConsentIn, parse
from tisa.errors import InputInvalid
from tisa.node.runtime import Runtime
from tisa.services.accounts import Role
from tisa.web.auth import signed_form
from tisa.web.pages import (
    audit_listing,
    consent_request_preview,
    release_preview,
    standing_rule_preview,
)
from tisa.web.render import Pages


def _text(form: FormData, name: str, *, required: bool = True, limit: int = 2000) -> str:
    """One text field, trimmed.

    Raises:
        InputInvalid: missing (when required) or too long.
    """
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise InputInvalid(f"{name}: required")
    if len(text) > limit:
        raise InputInvalid(f"{name}: at most {limit} characters")
    return text


def _back(to: str) -> Response:
    return RedirectResponse(to, status_code=303)


def _confirmed(form: FormData) -> bool:
    """Whether this post is the second step, after the officer saw what it will do."""
    return form.get("confirm") == "yes"


def install(app: FastAPI, rt: Runtime, ui: Pages) -> None:
    """Add the form actions to `app`."""
    releases, drafts, consents, channels = rt.releases, rt.drafts, rt.consents, rt.channels
    ctx = rt.ctx

    @app.post("/ui/language", include_in_schema=False)
    async def language(request: Request) -> Response:
        user, form = await signed_form(request)
        await run_in_threadpool(rt.accounts.set_language, user.username, _text(form, "language"))
        target = _text(form, "back", required=False)
        # Back to the same page with its filters; only a path of this UI, never another site.
        parts = urlsplit(target)
        safe = (
            not parts.scheme
            and not parts.netloc
            and parts.path.startswith("/ui/")
            and "\\" not in target
        )
        return _back(target if safe else "/ui/inbox")

    @app.post("/ui/products/{product_id}/versions/{version}/release", include_in_schema=False)
    async def release(request: Request, product_id: Id, version: Version) -> Response:
        user, form = await signed_form(request)
        if not _confirmed(form):
            preview = await run_in_threadpool(releases.preview, user, product_id, version)
            # A refused release shows the same preview, with the rules' reasons and no way on.
            return ui.render(
                request,
                user,
                "release_preview.html",
                status=422 if preview.refusals else 200,
                **release_preview(rt, preview),
            )
        reviewed = _text(form, "reviewed", limit=100)
        await run_in_threadpool(
            lambda: releases.release(user, product_id, version, reviewed=reviewed)
        )
        return _back(f"/ui/products/{product_id}?version={version}")

    @app.post("/ui/products/{product_id}/versions/{version}/send-back", include_in_schema=False)
    async def send_back(request: Request, product_id: Id, version: Version) -> Response:
        user, form = await signed_form(request)
        reason = _text(form, "reason")
        await run_in_threadpool(drafts.send_back, user, product_id, version, reason)
        return _back("/ui/releases")

    @app.post("/ui/products/{product_id}/versions/{version}/recall", include_in_schema=False)
    async def recall(request: Request, product_id: Id, version: Version) -> Response:
        user, form = await signed_form(request)
        reason = _text(form, "reason")
        await run_in_threadpool(releases.recall, user, product_id, version, reason)
        return _back(f"/ui/products/{product_id}?version={version}")

    @app.post("/ui/consent-requests/{request_id}/grant", include_in_schema=False)
    async def grant_request(request: Request, request_id: Id) -> Response:
        user, form = await signed_form(request)
        if not _confirmed(form):
            shown = await run_in_threadpool(consent_request_preview, rt, user, request_id)
            return ui.render(request, user, "consent_preview.html", **shown)
        await run_in_threadpool(consents.answer_request, user, request_id, grant=True)
        return _back("/ui/consents")

    @app.post("/ui/consent-requests/{request_id}/deny", include_in_schema=False)
    async def deny_request(request: Request, request_id: Id) -> Response:
        user, form = await signed_form(request)
        reason = _text(form, "reason")
        await run_in_threadpool(
            lambda: consents.answer_request(user, request_id, grant=False, reason=reason)
        )
        return _back("/ui/consents")

    @app.post("/ui/consents", include_in_schema=False)
    async def standing_rule(request: Request) -> Response:
        user, form = await signed_form(request)
        terms: dict[str, Any] = {"recipient": _text(form, "recipient", limit=3)}
        if _text(form, "kind", required=False, limit=20) == ConsentKind.LIVE_TRACKS.value:
            terms["kind"] = ConsentKind.LIVE_TRACKS.value
            terms["modes"] = [m for m in form.getlist("modes") if isinstance(m, str)]
            if not terms["modes"]:
                raise InputInvalid("streams: choose live, exercise or both")
        else:
            terms["topics"] = [t for t in form.getlist("topics") if isinstance(t, str)]
            terms["precedences"] = [p for p in form.getlist("precedences") if isinstance(p, str)]
            if not terms["topics"]:
                raise InputInvalid("topics: choose at least one topic the rule covers")
        if level := _text(form, "max_classification", required=False, limit=20):
            terms["max_classification"] = level
        if expires := _text(form, "expires", required=False, limit=10):
            try:
                day = datetime.strptime(expires, "%Y-%m-%d").date()
            except ValueError:
                raise InputInvalid(f"expires: {expires!r} is not a date (YYYY-MM-DD)") from None
            terms["expires_at"] = datetime.combine(day, time.max, tzinfo=UTC).isoformat()
        consent = parse(ConsentIn, terms)
        if not _confirmed(form):
            user.require(Role.RELEASE_OFFICER)
            return ui.render(
                request,
                user,
                "consent_preview.html",
                **standing_rule_preview(rt, consent, form),
            )
        await run_in_threadpool(consents.grant_consent, user, consent)
        return _back("/ui/consents")

    @app.post("/ui/consents/{consent_id}/revoke", include_in_schema=False)
    async def revoke(request: Request, consent_id: Id) -> Response:
        user, _ = await signed_form(request)
        await run_in_threadpool(consents.revoke_consent, user, consent_id)
        return _back("/ui/consents")

    @app.post("/ui/channels/{channel_id}/{change}", include_in_schema=False)
    async def channel(
        request: Request,
        channel_id: Annotated[str, PathParam(pattern="^[A-Z]{3}-[A-Z]{3}$")],
        change: Annotated[str, PathParam(pattern="^(suspend|resume)$")],
    ) -> Response:
        user, _ = await signed_form(request)
        await run_in_threadpool(
            lambda: channels.set_channel(user, channel_id, suspended=change == "suspend")
        )
        return _back("/ui/peers")

    @app.post("/ui/audit/verify", include_in_schema=False)
    async def verify(request: Request) -> Response:
        user, _ = await signed_form(request)
        user.require(Role.AUDITOR, Role.ADMIN)

        def check() -> dict[str, Any]:
            witnessed, unreachable = rt.witnessed_checkpoints()
            report = verify_log(ctx.db, ctx.trust, witnessed)
            report["unreachable"] = unreachable
            return report

        report = await run_in_threadpool(check)
        filters = {"actor": "", "action": "", "product_id": "", "views": ""}
        return ui.render(
            request, user, "audit.html", **audit_listing(rt, filters, None, report=report)
        )
