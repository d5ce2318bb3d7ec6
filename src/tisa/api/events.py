"""The fused picture over HTTP: `GET /api/v1/events` and `GET /api/v1/events/{id}`.

`events_router(rt)` is included by the analyst app. The JSON views are written here, in one
place; the web UI and the map script read exactly this shape:

    GET /api/v1/events       {"events": [{"id", "kind", "time", "count", "parties",
                               "reports", "disagreements", "label", "notes"}]}  newest first
    GET /api/v1/events/{id}  {"id", "kind", "time", "count", "label", "parties",
                              "reports": [{"product_id", "version", "originator", "title",
                                           "created_at", "received_at", "figures": {q: {"value",
                                           "qualifier", "sigma", "unit", "text", "original"}}}],
                              "fused": {q: {"value", "sigma", "lower", "upper", "unit", "text",
                                            "method", "sources": [{…}]}},
                              "disagreements": [{"quantity", "gap", "unit", "sigmas",
                                                 "sources": [{…}, {…}], "text"}],
                              "map": {"points": [{"role", "lat", "lon", "sigma_km",
                                                  "originator", "fused", "label"}]},
                              "missiles": [{"number", "class", "reports": [{"product_id",
                                            "version", "originator", "index"}],
                                            "fused": {q: {…as "fused"}}}],
                              "notes": [{"kind", "text", "source": {…}, "index"}],
                              "tracks": {"fused": [{...as GET /api/v1/tracks/fused}],
                                         "nations": [{"key", "nation", "exercise", "label",
                                                      "first_ms", "last_ms", "status"}],
                                         "replay": "/api/v1/tracks/replay?event=ID"}}

"missiles" lists a launch event's missiles in time order, each with the reports that describe it
and its own fused figures (a salvo's "N missiles" reports go with its first); a nuclear test
has one. "notes" says what correlation decided about a report that a reader should know:
"probable-zone-error" (a report off by whole hours, linked, its times left out of the fused
time) or "left-alone" (a report without a position that fits two events equally well).

Times as quantities: value is seconds since the epoch (UTC), text the ISO UTC time and the
original wording. Places: value is null, and "lat"/"lon" are given. An event none of whose
reports the user may read is a 404, like an unknown id.

"tracks" (launch events only; null for a nuclear test): the missile tracks that belong to the
event (see tisa.services.track_events) which the user may watch, each fused track as the
event's replay last showed it (fused ids numbered within the replay), and the replay's link.
"""

# No `from __future__ import annotations` here: the routes are defined inside
# `events_router`, and FastAPI must see their annotations (Signed_in) as
# objects, not as names to look up in this module.

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse

from tisa.api.session import Signed_in
from tisa.api.tracks import fused_view as fused_track_view
from tisa.domain.model import ObservationKind
from tisa.domain.wire import iso
from tisa.errors import NotFound, WindowTooLarge
from tisa.fusion import Event, Figure, Fused, Quantity, Source
from tisa.fusion.correlation import Note
from tisa.fusion.disagreement import Disagreement
from tisa.fusion.offsets import MIN_EVENTS, SIGNIFICANT_SIGMAS, Offset
from tisa.fusion.picture import Missile
from tisa.node.runtime import Runtime
from tisa.services.accounts import User
from tisa.services.events import Events
from tisa.services.replay import Replay, Replays

_ROLES = {
    Quantity.LAUNCH_POSITION: "launch",
    Quantity.IMPACT_POSITION: "impact",
    Quantity.SITE: "site",
}


def source_view(s: Source) -> dict[str, Any]:
    """{"product_id", "version", "originator"}."""
    return {"product_id": s.product_id, "version": s.version, "originator": s.originator}


def figure_view(f: Figure) -> dict[str, Any]:
    """One reported figure; places add "lat" and "lon"."""
    out: dict[str, Any] = {
        "value": f.value,
        "qualifier": f.qualifier.value,
        "sigma": f.stated_sigma,
        "unit": f.quantity.unit,
        "text": f.text,
        "original": f.original,
    }
    if f.quantity.is_place:
        out["lat"], out["lon"] = f.lat, f.lon
    return out


def fused_view(f: Fused) -> dict[str, Any]:
    """One fused figure with its provenance; places add "lat" and "lon"."""
    out: dict[str, Any] = {
        "value": f.value,
        "sigma": f.sigma,
        "lower": f.lower,
        "upper": f.upper,
        "unit": f.quantity.unit,
        "text": f.text,
        "method": f.method,
        "sources": [source_view(s) for s in f.sources],
        "assumed_sigma": f.assumed_sigma,
        "left_out": [
            {
                "source": source_view(o.source),
                "text": o.text,
                "sigmas": o.sigmas,
                "reason": o.reason,
            }
            for o in f.left_out
        ],
    }
    if f.quantity.is_place:
        out["lat"], out["lon"] = f.lat, f.lon
    return out


def disagreement_view(d: Disagreement) -> dict[str, Any]:
    """Two figures that do not fit together, naming both sources."""
    return {
        "quantity": d.quantity.value,
        "gap": d.gap,
        "unit": d.unit,
        "sigmas": d.sigmas,
        "sources": [source_view(s) for s in d.sources],
        "text": d.text,
    }


def offset_view(o: Offset) -> dict[str, Any]:
    """One nation's systematic difference in one quantity."""
    return {
        "originator": o.originator,
        "quantity": o.quantity.value,
        "offset": o.offset,
        "sigma": o.sigma,
        "unit": o.quantity.unit,
        "events": o.events,
        "significant": o.significant,
    }


def summary_view(e: Event) -> dict[str, Any]:
    """One line of the events list."""
    return {
        "id": e.id,
        "kind": e.kind.value,
        "time": iso(e.time),
        "count": e.count,
        "parties": list(e.parties),
        "reports": len(e.reports),
        "disagreements": len(e.disagreements),
        "label": e.label,
        "notes": len(e.notes),
    }


def missile_view(m: Missile) -> dict[str, Any]:
    """One missile of an event: its class, its reports and its own fused figures."""
    return {
        "number": m.number,
        "class": m.missile_class.value,
        "reports": [{**source_view(r.source), "index": r.index} for r in m.reports],
        "fused": {q.value: fused_view(f) for q, f in m.fused.items()},
    }


def note_view(n: Note) -> dict[str, Any]:
    """What correlation decided about one report."""
    return {"kind": n.kind.value, "text": n.text, "source": source_view(n.source), "index": n.index}


def _points(e: Event) -> list[dict[str, Any]]:
    points = []
    for report, figures in zip(e.reports, e.figures, strict=True):
        for f in figures:
            if f.quantity.is_place:
                role = _ROLES[f.quantity]
                points.append(
                    {
                        "role": role,
                        "lat": f.lat,
                        "lon": f.lon,
                        "sigma_km": f.stated_sigma,
                        "originator": report.source.originator,
                        "fused": False,
                        "label": f"{report.source.originator} {role}: {f.text}",
                    }
                )
    for q, fused in e.fused.items():
        if q.is_place:
            role = _ROLES[q]
            points.append(
                {
                    "role": role,
                    "lat": fused.lat,
                    "lon": fused.lon,
                    "sigma_km": fused.sigma,
                    "originator": "FUSED",
                    "fused": True,
                    "label": f"fused {role}: {fused.text}",
                }
            )
    return points


def event_view(e: Event) -> dict[str, Any]:
    """The whole event: every report's figures, the fused figures, disagreements, map."""
    reports = []
    for report, figures in zip(e.reports, e.figures, strict=True):
        reports.append(
            {
                **source_view(report.source),
                "title": report.title,
                "created_at": iso(report.created_at),
                "received_at": None if report.received_at is None else iso(report.received_at),
                "figures": {f.quantity.value: figure_view(f) for f in figures},
            }
        )
    return {
        "id": e.id,
        "kind": e.kind.value,
        "time": iso(e.time),
        "count": e.count,
        "label": e.label,
        "parties": list(e.parties),
        "reports": reports,
        "fused": {q.value: fused_view(f) for q, f in e.fused.items()},
        "disagreements": [disagreement_view(d) for d in e.disagreements],
        "aliases": list(e.aliases),
        "map": {"points": _points(e)},
        "missiles": [missile_view(m) for m in e.missiles],
        "notes": [note_view(n) for n in e.notes],
    }


def tracks_view(r: Replay) -> dict[str, Any]:
    """An event's tracks: the fused tracks as its replay last showed them, and each nation
    track with its first and last update in the replay."""
    nations: dict[str, dict[str, Any]] = {}
    for shown in r.updates:
        u = shown.update
        held = nations.setdefault(
            u.key,
            {
                "key": u.key,
                "nation": u.nation,
                "exercise": shown.stream.exercise,
                "first_ms": u.time_ms,
            },
        )
        held.update(label=shown.stream.label(u), last_ms=u.time_ms, status=u.status.value)
    return {
        "fused": [fused_track_view(t, exercise, r.event_id) for t, exercise in r.tracks()],
        "nations": list(nations.values()),
        "replay": f"/api/v1/tracks/replay?event={r.event_id}",
    }


def event_tracks(replays: Replays, user: User, e: Event) -> dict[str, Any] | None:
    """The tracks of a launch event (None for another kind); an event whose flight is too long
    to replay in one answer lists none, and says why."""
    if e.kind is not ObservationKind.MISSILE_LAUNCH:
        return None
    try:
        return tracks_view(replays.event(user, e.id))
    except WindowTooLarge as exc:
        return {"fused": [], "nations": [], "replay": None, "problem": exc.reason}


def events_router(rt: "Runtime", service: Events | None = None) -> APIRouter:
    """The events routes of `rt`'s node (the analyst app includes them, sharing `service`
    with the web UI so both answer from one cache)."""

    router = APIRouter()
    events = service if service is not None else Events(rt.reading)

    @router.get("/api/v1/events")
    def list_events(user: Signed_in) -> dict[str, Any]:
        return {"events": [summary_view(e) for e in events.events(user)]}

    @router.get("/api/v1/offsets")
    def offsets(user: Signed_in) -> dict[str, Any]:
        # Over the events this user may read: a nation's bias is itself read from products.
        return {
            "offsets": [offset_view(o) for o in events.offsets(user)],
            "min_events": MIN_EVENTS,
            "significant_sigmas": SIGNIFICANT_SIGMAS,
            "applied": False,
        }

    @router.get("/api/v1/events/{event_id}", response_model=None)
    def show_event(
        user: Signed_in, event_id: Annotated[str, PathParam(min_length=1, max_length=100)]
    ) -> dict[str, Any] | RedirectResponse:
        try:
            event = events.event(user, event_id)
        except NotFound:
            # An id the event had before it grew or merged: where it is now.
            now = events.current_id(user, event_id)
            if now is None:
                raise
            return RedirectResponse(f"/api/v1/events/{now}", status_code=307)
        return {**event_view(event), "tracks": event_tracks(rt.replays, user, event)}

    return router
