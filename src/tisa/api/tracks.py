"""Live tracks over HTTP: a node's own tracker publishes, analysts watch.

POST /api/v1/tracks   {"stream": {"nation", "network", "marking", "exercise"},
                       "updates": [{"track_id", "time_ms", "state", "phase", "quality",
                                    "status", "launch_point"?, "impact"?}]}
                      → {"published": n}                  (a release officer)
GET  /api/v1/tracks?max_age_ms=1000
                      → {"tracks": [{"originator", "track_id", "network", "time",
                          "age_ms", "live", "exercise", "marking", "label", "phase",
                          "status", "quality", "position", "speed_mps", "launch_point",
                          "impact", "via"}]}              newest first
GET  /api/v1/tracks/fused
                      → {"fused": [{"id", "event", "time_ms", "exercise", "sources", "nations",
                          "phase", "status", "position", "launch_point", "impact"}],
                         "warnings": [...]}      "event": the launch event it belongs to, or null
GET  /api/v1/tracks/replay?event=ID[&step_s=S]   or   ?from_ms=A&to_ms=B[&step_s=S]
                      → {"event", "launch_ms", "from_ms", "to_ms", "step_ms",
                         "updates": [{...as a track, without "age_ms"/"live"}]  oldest first,
                         "frames": [{"time_ms", "fused": [{...as a fused track}]}]}
                      "launch_ms": the event's time (null for a window); an unknown event
                      404; a window over 3 h, or over 360 frames, 400
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from tisa.api.session import Signed_in
from tisa.errors import InputInvalid
from tisa.services.accounts import User
from tisa.services.replay import Replay, Replays
from tisa.services.track_events import TrackEvents
from tisa.services.tracks import MAX_AGE_MS, Tracks, Watched
from tisa.services.warnings import Warnings
from tisa.tracks.earth import to_geodetic
from tisa.tracks.fusion import FusedTrack
from tisa.tracks.track import GeodeticPoint, ImpactPrediction, TrackStream, TrackUpdate
from tisa.tracks.warning import MissileWarning
from tisa.tracks.wire import PublishIn

#: An event id as the events API makes them ('ev-' and hex), or any id of that alphabet.
EVENT_ID = "^[A-Za-z0-9_-]{1,80}$"
#: Times up to the year 9999, in ms.
MAX_MS = 253_402_300_799_999


def _point(p: GeodeticPoint) -> dict[str, float]:
    return {"lat": p.lat_deg, "lon": p.lon_deg, "alt_m": p.alt_m}


def _impact(i: ImpactPrediction) -> dict[str, Any]:
    """A predicted impact with its 1-sigma ellipse (semi-axes in m, orientation in degrees
    clockwise from north)."""
    return {
        **_point(i.point),
        "semi_major_m": i.semi_major_m,
        "semi_minor_m": i.semi_minor_m,
        "orientation_deg": i.orientation_deg,
        "time_ms": i.time_ms,
    }


def track_view(w: Watched) -> dict[str, Any]:
    """One watched track, as the API and the UI show it."""
    return {**update_view(w.stream, w.update, w.received_from), "age_ms": w.age_ms, "live": w.live}


def update_view(stream: TrackStream, u: TrackUpdate, via: str | None) -> dict[str, Any]:
    """One nation update: where, how it flies, its launch point and predicted impact."""
    lat, lon, alt = to_geodetic(np.array(u.state.position))
    return {
        "originator": u.nation,
        "track_id": u.track_id,
        "network": u.network,
        "time_ms": u.time_ms,
        "exercise": stream.exercise,
        "marking": stream.marking,
        "label": stream.label(u),
        "phase": u.phase.value,
        "status": u.status.value,
        "quality": u.quality,
        "position": {"lat": lat, "lon": lon, "alt_m": alt},
        "speed_mps": math.dist((0.0, 0.0, 0.0), u.state.velocity),
        "launch_point": None if u.launch_point is None else _point(u.launch_point),
        "impact": None if u.impact is None else _impact(u.impact),
        "via": via,
    }


def fused_view(track: FusedTrack, exercise: bool, event: str | None = None) -> dict[str, Any]:
    """One fused track: where, the nation tracks it rests on, its launch point and predicted
    impact, and the launch event it belongs to (None while there is none)."""
    lat, lon, alt = to_geodetic(np.array(track.state.position))
    return {
        "id": track.fused_id,
        "event": event,
        "time_ms": track.time_ms,
        "exercise": exercise,
        "sources": list(track.sources),
        "nations": list(track.nations),
        "single_nation": track.single_nation,
        "phase": track.phase.value,
        "status": track.status.value,
        "position": {"lat": lat, "lon": lon, "alt_m": alt},
        "position_sigma_m": track.state.position_sigma_m,
        "launch_point": None if track.launch_point is None else _point(track.launch_point),
        "impact": None if track.impact is None else _impact(track.impact),
    }


def warning_view(w: MissileWarning) -> dict[str, Any]:
    """One warning in force: the areas, the predicted impact, the track it rests on."""
    return {
        "track": w.track_id,
        "sources": list(w.sources),
        "areas": list(w.areas),
        "impact": {**_point(w.impact.point), "time_ms": w.impact.time_ms},
        "exercise": w.exercise,
        "label": w.label(),
    }


def replay_view(r: Replay) -> dict[str, Any]:
    """A replay: the nation updates, oldest first, and the fused picture at each frame."""
    return {
        "event": r.event_id,
        "launch_ms": r.launch_ms,
        "from_ms": r.start_ms,
        "to_ms": r.end_ms,
        "step_ms": r.step_ms,
        "updates": [update_view(s.stream, s.update, s.received_from) for s in r.updates],
        "frames": [
            {
                "time_ms": scene.time_ms,
                "fused": [fused_view(t, exercise, r.event_id) for t, exercise in scene.fused],
            }
            for scene in r.frames
        ],
    }


def replay_of(
    replays: Replays,
    user: User,
    event: str | None,
    from_ms: int | None,
    to_ms: int | None,
    step_s: int | None,
) -> Replay:
    """The replay a request names: an event, or a window (not both).

    Raises:
        InputInvalid: neither or both, or half a window.
        NotFound, TrackInvalid, WindowTooLarge: as `Replays.event` and `Replays.window`.
    """
    step_ms = None if step_s is None else step_s * 1000
    if event is not None and from_ms is None and to_ms is None:
        return replays.event(user, event, step_ms)
    if event is None and from_ms is not None and to_ms is not None:
        return replays.window(user, from_ms, to_ms, step_ms)
    raise InputInvalid("a replay names an event, or a window from_ms and to_ms; not both")


def tracks_router(
    tracks: Tracks, warnings: Warnings, joins: TrackEvents, replays: Replays
) -> APIRouter:
    """The routes, over the node's tracks, warnings, track-event join and replay services."""
    router = APIRouter()

    def fused_picture(user: User) -> list[dict[str, Any]]:
        picture = warnings.fused(user)
        events = joins.events_of_fused(user, [t for t, _ in picture])
        return [fused_view(t, ex, ev) for (t, ex), ev in zip(picture, events, strict=True)]

    @router.get("/api/v1/tracks/fused")
    async def fused(user: Signed_in) -> dict[str, Any]:
        return {
            "fused": await run_in_threadpool(fused_picture, user),
            "warnings": [warning_view(w) for w in warnings.active(user)],
        }

    @router.get("/api/v1/tracks/replay")
    async def replay(
        user: Signed_in,
        event: Annotated[str | None, Query(pattern=EVENT_ID)] = None,
        from_ms: Annotated[int | None, Query(ge=0, le=MAX_MS)] = None,
        to_ms: Annotated[int | None, Query(ge=0, le=MAX_MS)] = None,
        step_s: Annotated[int | None, Query(ge=1, le=3600)] = None,
    ) -> dict[str, Any]:
        made = await run_in_threadpool(replay_of, replays, user, event, from_ms, to_ms, step_s)
        return replay_view(made)

    @router.post("/api/v1/tracks")
    async def publish(user: Signed_in, body: PublishIn) -> dict[str, Any]:
        stream, updates = body.parsed()
        published = await run_in_threadpool(tracks.publish, user, stream, updates)
        return {"published": published}

    @router.get("/api/v1/tracks")
    async def watch(
        user: Signed_in, max_age_ms: Annotated[int, Query(ge=0, le=86_400_000)] = MAX_AGE_MS
    ) -> dict[str, Any]:
        watched = await run_in_threadpool(lambda: tracks.watch(user, max_age_ms=max_age_ms))
        return {"tracks": [track_view(w) for w in watched]}

    return router
