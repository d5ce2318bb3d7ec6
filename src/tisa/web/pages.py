"""The UI's pages: inbox, product, compose, release queue, consents, peers, audit.

Every page reads through the same node operations as the API, so the access rule, roles
and audit entries are the API's; a page only arranges what they return.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.datastructures import FormData

from tisa.api.params import Id
from tisa.api.tracks import fused_view, track_view
from tisa.api.views import (
    consent_view,
    delivery_view,
    entry_view,
    product_detail,
    product_view,
    request_view,
    summary_view,
)
from tisa.domain.consent import ConsentKind
from tisa.domain.markings import (
    Classification,
    InformationCredibility,
    Markings,
    Precedence,
    SourceReliability,
)
from tisa.domain.model import MissileClass, Qualifier, topic_matches
from tisa.domain.states import ProductState
from tisa.domain.wire import ConsentIn
from tisa.errors import InputInvalid, NotFound, TisaError
from tisa.fusion import Event
from tisa.node.runtime import Runtime
from tisa.services.accounts import Role, User
from tisa.services.events import Events
from tisa.services.releases import ReleasePreview
from tisa.services.status import node_status
from tisa.store import audit
from tisa.store.audit import Action
from tisa.web.audit_view import ACTIONS, HIDDEN_BY_DEFAULT, csv_rows, details, jsonl
from tisa.web.auth import Viewer
from tisa.web.banners import level_style, page_banner
from tisa.web.render import Pages

STATIC = Path(__file__).parent / "static"
AUDIT_PAGE = 100
INBOX_LIMIT = 1000


def _date(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """A filter date (YYYY-MM-DD) as the start (or end) of that UTC day."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except ValueError:
        raise InputInvalid(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def install(app: FastAPI, rt: Runtime, ui: Pages, events: Events) -> None:
    """Add the pages to `app`."""
    drafts, consents, reading, ctx = rt.drafts, rt.consents, rt.reading, rt.ctx
    arrangement = ctx.arrangement
    levels = [(c.name, arrangement.term(ctx.party, c)) for c in Classification]
    parties = sorted(arrangement.parties)

    def banner(items: list[Markings], *, draft: bool = False) -> dict[str, Any]:
        return page_banner(arrangement, ctx.party, items, draft=draft)

    def event_markings(user: User, shown: list[Event]) -> list[Markings]:
        # What an events page shows comes from these reports (and their earlier versions);
        # read as summaries, so no view is audited for them.
        items: list[Markings] = []
        for source in {r.source for e in shown for r in e.reports}:
            held = reading.held(user, source.product_id, source.version)
            if held is not None:
                items.append(held.product.markings)
        items += [p.markings for e in shown for r in e.reports for p in r.history]
        return items

    @app.get("/ui/inbox", include_in_schema=False)
    def inbox(
        request: Request,
        user: Viewer,
        topic: Annotated[str, Query(max_length=100)] = "",
        originator: Annotated[str, Query(max_length=3)] = "",
        classification: Annotated[str, Query(max_length=20)] = "",
        precedence: Annotated[str, Query(max_length=10)] = "",
        since: Annotated[str, Query(max_length=10)] = "",
        until: Annotated[str, Query(max_length=10)] = "",
        unread: Annotated[str, Query(max_length=1)] = "",
    ) -> Response:
        start, stop = _date(since, "since"), _date(until, "until", end=True)
        # Originator and dates narrow the query itself, so older products can be found; the
        # rest is filtered here. A product's creation precedes its arrival, hence `until` only.
        held = reading.list_products(
            user,
            originator=originator or None,
            until=None if stop is None else stop + timedelta(microseconds=1),
            limit=INBOX_LIMIT,
        )
        opened = reading.opened(user, held)
        rows = []
        shown: list[Markings] = []
        for h in held:
            p = h.product
            moment = h.row.received_at or h.row.released_at or h.row.created_at
            if topic and not any(topic_matches(topic, t) for t in p.topics):
                continue
            if originator and p.originator != originator:
                continue
            if classification and p.classification.name != classification:
                continue
            if precedence and p.precedence.value != precedence:
                continue
            if (start and moment < start) or (stop and moment > stop):
                continue
            is_unread = (h.row.product_id, h.row.version) not in opened
            if unread and not is_unread:
                continue
            view = summary_view(h, arrangement, ctx.party)
            view.update(unread=is_unread, moment=moment, lane=p.precedence.lane)
            view.update(
                style=level_style(p.classification), draft=h.row.state == ProductState.DRAFT
            )
            rows.append(view)
            shown.append(p.markings)
        # Newest first, but an unread FLASH always on top: it is what the desk must see now.
        rows.sort(key=lambda r: r["moment"], reverse=True)
        rows.sort(key=lambda r: not (r["unread"] and r["precedence"] == "FLASH"))
        return ui.render(
            request,
            user,
            "inbox.html",
            rows=rows,
            banner=banner(shown),
            filters={
                "topic": topic,
                "originator": originator,
                "classification": classification,
                "precedence": precedence,
                "since": since,
                "until": until,
                "unread": unread,
            },
            topics=sorted(arrangement.scope),
            parties=parties,
            levels=levels,
            precedences=[p.value for p in Precedence],
        )

    @app.get("/ui/products/{product_id}", include_in_schema=False)
    def product(
        request: Request,
        user: Viewer,
        product_id: Id,
        version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    ) -> Response:
        held, view = product_detail(reading, user, product_id, version)
        versions = view["versions"]
        deliveries = [d for d in view["deliveries"] if d["version"] == view["version"]]
        # The events this report is part of (from the reports this user may read).
        part_of = [
            {"id": e.id, "label": e.label, "parties": e.parties, "reports": len(e.reports)}
            for e in events.events(user)
            if any(r.source.product_id == product_id for r in e.reports)
        ]
        returned = (
            drafts.sent_back(product_id, held.row.version)
            if held.row.state == ProductState.DRAFT
            else None
        )
        return ui.render(
            request,
            user,
            "product.html",
            p=view,
            banner=banner([held.product.markings], draft=held.row.state == ProductState.DRAFT),
            versions=versions,
            deliveries=deliveries,
            own=held.row.originator == ctx.party,
            latest=view["version"] == max(versions),
            returned=returned,
            part_of=part_of,
            originator_term=view["classification"]["originator_term"],
        )

    def compose_page(
        request: Request,
        user: User,
        mode: str,
        draft: dict[str, Any] | None,
        target: str,
        markings: Markings,
    ) -> Response:
        user.require(Role.ANALYST, Role.RELEASE_OFFICER)
        return ui.render(
            request,
            user,
            "compose.html",
            mode=mode,
            draft=draft,
            # The draft being written: compose.js keeps it in step with the form's markings.
            banner=banner([markings], draft=True) | {"follows_form": True},
            banner_levels={
                c.name: {"term": term, "style": level_style(c)}
                for c, (_, term) in zip(Classification, levels, strict=True)
            },
            target=target,
            levels=levels,
            parties=parties,
            topics=sorted(arrangement.scope),
            precedences=[p.value for p in Precedence],
            reliabilities=[r.value for r in SourceReliability],
            credibilities=[c.value for c in InformationCredibility],
            qualifiers=[q.value for q in Qualifier],
            missile_classes=[m.value for m in MissileClass],
            max_upload=max(c.max_attachment_bytes for c in arrangement.channels),
        )

    @app.get("/ui/compose", include_in_schema=False)
    def compose(request: Request, user: Viewer) -> Response:
        # An untouched form: what it would save (SECRET, releasable to every party).
        fresh = Markings(ctx.party, Classification.SECRET, frozenset(parties), Precedence.ROUTINE)
        return compose_page(request, user, "create", None, "/api/v1/products", fresh)

    @app.get("/ui/products/{product_id}/amend", include_in_schema=False)
    def amend(request: Request, user: Viewer, product_id: Id) -> Response:
        held = reading.read(user, product_id)
        view = product_view(held, arrangement, ctx.party, None)
        return compose_page(
            request,
            user,
            "amend",
            view,
            f"/api/v1/products/{product_id}/amend",
            held.product.markings,
        )

    @app.get("/ui/products/{product_id}/versions/{version}/edit", include_in_schema=False)
    def edit(
        request: Request,
        user: Viewer,
        product_id: Id,
        version: int,
    ) -> Response:
        held = reading.read(user, product_id, version)
        view = product_view(held, arrangement, ctx.party, None)
        return compose_page(
            request,
            user,
            "revise",
            view,
            f"/api/v1/products/{product_id}/versions/{version}",
            held.product.markings,
        )

    @app.get("/ui/releases", include_in_schema=False)
    def releases(request: Request, user: Viewer) -> Response:
        user.require(Role.RELEASE_OFFICER)
        waiting, returned = [], []
        shown: list[Markings] = []
        queue = sorted(
            drafts.drafts(user),
            # What must go first, first: by precedence (FLASH ahead), then oldest first.
            key=lambda d: (d[0].product.precedence.lane, d[0].product.created_at),
        )
        for held, why in queue:
            view = summary_view(held, arrangement, ctx.party)
            view.update(
                author=held.product.author,
                rel_to=sorted(held.product.markings.rel_to),
                orcon=held.product.markings.orcon,
                attachments=len(held.product.attachments),
                style=level_style(held.product.classification),
            )
            shown.append(held.product.markings)
            if why is None:
                waiting.append(view)
            else:
                view["sent_back"] = why
                returned.append(view)
        return ui.render(
            request,
            user,
            "releases.html",
            waiting=waiting,
            returned=returned,
            banner=banner(shown),
        )

    @app.get("/ui/consents", include_in_schema=False)
    def consent_page(request: Request, user: Viewer) -> Response:
        requests = [request_view(r) for r in consents.consent_requests(user)]
        marked: list[Markings] = []
        for item in requests:
            # A summary, not an opening of the product: no view is audited for it.
            shown = reading.held(user, item["product_id"], item["version"])
            item["product"] = None
            if shown is not None:
                item["product"] = summary_view(shown, arrangement, ctx.party)
                item["product"]["style"] = level_style(shown.product.classification)
                marked.append(shown.product.markings)
        through = consents.let_through(user)
        rules = []
        for row in consents.consents(user):
            view = consent_view(row)
            view["through"] = [
                delivery_view(d) | {"product_id": d.product_id}
                for d in through.get(row.consent_id, [])
            ]
            rules.append(view)
        return ui.render(
            request,
            user,
            "consents.html",
            open_requests=[r for r in requests if r["state"] == "open"],
            decided=[r for r in requests if r["state"] != "open"][:50],
            banner=banner(marked),
            rules=rules,
            recipients=[p for p in parties if p not in (ctx.party, arrangement.hub)],
            topics=sorted(arrangement.scope),
            levels=levels,
            precedences=[p.value for p in Precedence],
            is_hub=ctx.is_hub,
        )

    @app.get("/ui/peers", include_in_schema=False)
    def peers(request: Request, user: Viewer) -> Response:
        user.require(Role.ADMIN, Role.AUDITOR)
        lanes = [p.value for p in Precedence]
        # Channels, queues and errors: about the network, not its intelligence.
        return ui.render(
            request,
            user,
            "peers.html",
            node_state=node_status(rt.ctx),
            lanes=lanes,
            banner=banner([]),
        )

    @app.get("/ui/audit", include_in_schema=False)
    def audit_page(
        request: Request,
        user: Viewer,
        actor: Annotated[str, Query(max_length=100)] = "",
        action: Annotated[str, Query(max_length=40)] = "",
        product_id: Annotated[str, Query(max_length=36)] = "",
        views: Annotated[str, Query(pattern="^1?$")] = "",
        before: Annotated[int | None, Query(ge=1)] = None,
    ) -> Response:
        user.require(Role.AUDITOR, Role.ADMIN)
        filters = {"actor": actor, "action": action, "product_id": product_id, "views": views}
        return ui.render(
            request, user, "audit.html", **audit_listing(rt, filters, before, report=None)
        )

    @app.get("/ui/audit/export.{form}", include_in_schema=False)
    def audit_export(
        user: Viewer,
        form: Annotated[str, PathParam(pattern="^(jsonl|csv)$")],
        actor: Annotated[str, Query(max_length=100)] = "",
        action: Annotated[str, Query(max_length=40)] = "",
        product_id: Annotated[str, Query(max_length=36)] = "",
        views: Annotated[str, Query(pattern="^1?$")] = "",
    ) -> Response:
        # What the page's filters select, the whole log's worth, oldest first.
        user.require(Role.AUDITOR, Role.ADMIN)
        hide = () if views else HIDDEN_BY_DEFAULT

        def lines() -> Iterator[str]:
            with rt.ctx.db.read() as conn:
                chosen = audit.selected(
                    conn,
                    actor=actor or None,
                    action=action or None,
                    product_id=product_id or None,
                    hide=hide,
                )
                yield from (jsonl(chosen) if form == "jsonl" else csv_rows(chosen))

        media = "application/jsonl" if form == "jsonl" else "text/csv; charset=utf-8"
        name = f"tisa-audit-{rt.ctx.party.lower()}.{form}"
        return StreamingResponse(
            lines(),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get("/ui/tracks", include_in_schema=False)
    def tracks_page(request: Request, user: Viewer) -> Response:
        watched = rt.tracks.watch(user)
        fused = rt.warnings.fused(user)
        events_of = rt.track_events.events_of_fused(user, [t for t, _ in fused])
        return ui.render(
            request,
            user,
            "tracks.html",
            banner=banner([w.stream.markings() for w in watched]),
            tracks=[track_view(w) for w in watched],
            fused=[fused_view(t, ex, ev) for (t, ex), ev in zip(fused, events_of, strict=True)],
        )

    @app.get("/ui/tracks/replay", include_in_schema=False)
    def replay_page(
        request: Request,
        user: Viewer,
        event: Annotated[str, Query(pattern="^[A-Za-z0-9_-]{1,80}$")] = "",
        from_ms: Annotated[int | None, Query(ge=0)] = None,
        to_ms: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        # The page is a frame; replay.js asks the API, which decides what this user may see.
        if not event and (from_ms is None or to_ms is None):
            raise InputInvalid("a replay names an event, or a window from_ms and to_ms")
        # The banner states what replay.js will show: the same replay, asked here first.
        shown: list[Markings] = []
        try:
            if event:
                replay = rt.replays.event(user, event)
                shown += event_markings(user, [events.event(user, event)])
            elif from_ms is not None and to_ms is not None:
                replay = rt.replays.window(user, from_ms, to_ms)
            shown += [u.stream.markings() for u in replay.updates]
        except TisaError:
            pass  # nothing to show: the script says why, from the API's answer
        return ui.render(
            request,
            user,
            "replay.html",
            event_id=event,
            from_ms=from_ms,
            to_ms=to_ms,
            banner=banner(shown),
        )

    @app.get("/ui/events", include_in_schema=False)
    def events_page(request: Request, user: Viewer) -> Response:
        # events.js lists every event the user may read: the banner covers them all.
        listed = list(events.events(user))
        return ui.render(request, user, "events.html", banner=banner(event_markings(user, listed)))

    @app.get("/ui/events/{event_id}", include_in_schema=False)
    def event(
        request: Request,
        user: Viewer,
        event_id: Annotated[str, PathParam(pattern="^[A-Za-z0-9_-]{1,80}$")],
    ) -> Response:
        try:
            shown = [events.event(user, event_id)]
        except NotFound:
            now = events.current_id(user, event_id)
            if now is not None:
                # A bookmark to an id the event had before it grew or merged.
                return RedirectResponse(f"/ui/events/{now}", status_code=303)
            shown = []  # the script says the event is not visible; nothing classified shows
        return ui.render(
            request,
            user,
            "event.html",
            event_id=event_id,
            banner=banner(event_markings(user, shown)),
        )


def audit_listing(
    rt: Runtime, filters: dict[str, str], before: int | None, report: dict[str, Any] | None
) -> dict[str, Any]:
    """What the audit page shows: the newest entries (filtered), the log's size, a report."""
    with rt.ctx.db.read() as conn:
        rows = audit.recent(
            conn,
            before=before,
            actor=filters["actor"] or None,
            action=filters["action"] or None,
            product_id=filters["product_id"] or None,
            hide=() if filters.get("views") else HIDDEN_BY_DEFAULT,
            limit=AUDIT_PAGE,
        )
        size = audit.head(conn)[0]
    return {
        "entries": [{**entry_view(e), "details": details(e.detail)} for e in rows],
        "action_words": ACTIONS,
        "size": size,
        "actions": [a.value for a in Action],
        "filters": filters,
        "older": rows[-1].seq if len(rows) == AUDIT_PAGE else None,
        "report": report,
        # Who did what to which product id, when: the log names products, never their
        # content, so the page holds nothing classified.
        "banner": page_banner(rt.ctx.arrangement, rt.ctx.party, []),
    }


def release_preview(rt: Runtime, preview: ReleasePreview) -> dict[str, Any]:
    """What the release preview page shows: the draft as it would go, to whom and how, and
    the rules' refusals."""
    arrangement, party = rt.ctx.arrangement, rt.ctx.party
    product = preview.product
    m = product.markings
    return {
        "banner": page_banner(arrangement, party, [m], draft=True),
        "product": {
            "id": product.id,
            "version": product.version,
            "title": product.title,
            "marking": m.banner(arrangement.term(party, m.classification), party),
            "style": level_style(m.classification),
            "precedence": m.precedence.value,
            "topics": sorted(product.topics),
            "attachments": [
                {"name": a.name, "kind": a.kind.value, "size": a.size} for a in product.attachments
            ],
        },
        "routes": [{"party": r.party, "via": r.via, "consent": r.consent} for r in preview.routes],
        "refusals": list(preview.refusals),
        "reviewed": preview.reviewed,
    }


def consent_request_preview(rt: Runtime, user: User, request_id: str) -> dict[str, Any]:
    """What granting a consent request would let the hub do: pass which product to whom.

    Raises:
        AccessDenied: not a release officer.
        NotFound: no such request at this node.
    """
    user.require(Role.RELEASE_OFFICER)
    arrangement, party = rt.ctx.arrangement, rt.ctx.party
    found = next(
        (r for r in rt.consents.consent_requests(user) if r.request_id == request_id), None
    )
    if found is None:
        raise NotFound(f"no consent request {request_id}")
    held = rt.reading.held(user, found.product_id, found.version)
    product = None
    if held is not None:
        product = summary_view(held, arrangement, party)
        product["style"] = level_style(held.product.classification)
        product["attachments"] = len(held.product.attachments)
    return {
        "banner": page_banner(arrangement, party, [] if held is None else [held.product.markings]),
        "asked": request_view(found),
        "product": product,
        "hub": arrangement.hub,
        "action": f"/ui/consent-requests/{request_id}/grant",
        "fields": [],
        "rule": None,
    }


def standing_rule_preview(rt: Runtime, consent: ConsentIn, form: FormData) -> dict[str, Any]:
    """What a standing rule would let the hub pass on, in words, and the form's fields to
    send again with the confirmation.

    Raises:
        MarkingInvalid: the ceiling is not a classification level.
    """
    arrangement, party = rt.ctx.arrangement, rt.ctx.party
    ceiling = consent.max_classification
    return {
        # Terms, not intelligence: nothing classified is on the page.
        "banner": page_banner(arrangement, party, []),
        "asked": None,
        "product": None,
        "hub": arrangement.hub,
        "action": "/ui/consents",
        "fields": [
            (k, v)
            for k, v in form.multi_items()
            if k not in ("csrf", "confirm") and isinstance(v, str)
        ],
        "rule": {
            "recipient": consent.recipient,
            "live": consent.kind == ConsentKind.LIVE_TRACKS,
            "topics": consent.topics,
            "modes": [m.value for m in consent.modes],
            "ceiling": None
            if ceiling is None
            else arrangement.term(party, Classification.parse(ceiling)),
            "precedences": [p.value for p in consent.precedences],
            "expires_at": consent.expires_at,
        },
    }
