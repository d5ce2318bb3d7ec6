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
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from tisa.api.session import Signed_in
from tisa.services.tracks import MAX_AGE_MS, Tracks, Watched
from tisa.services.warnings import Warnings
from tisa.tracks.earth import to_geodetic
from tisa.tracks.fusion import FusedTrack
from tisa.tracks.track import GeodeticPoint
from tisa.tracks.warning import MissileWarning
from tisa.tracks.wire import PublishIn


def _point(p: GeodeticPoint) -> dict[str, float]:
    return {"lat": p.lat_deg, "lon": p.lon_deg, "alt_m": p.alt_m}


def track_view(w: Watched) -> dict[str, Any]:
    """One watched track, as the API and the UI show it."""
    u = w.update
    lat, lon, alt = to_geodetic(np.array(u.state.position))
    view: dict[str, Any] = {
        "originator": u.nation,
        "track_id": u.track_id,
        "network": u.network,
        "time_ms": u.time_ms,
        "age_ms": w.age_ms,
        "live": w.live,
        "exercise": w.stream.exercise,
        "marking": w.stream.marking,
        "label": w.stream.label(u),
        "phase": u.phase.value,
        "status": u.status.value,
        "quality": u.quality,
        "position": {"lat": lat, "lon": lon, "alt_m": alt},
        "speed_mps": math.dist((0.0, 0.0, 0.0), u.state.velocity),
        "launch_point": None if u.launch_point is None else _point(u.launch_point),
        "impact": None,
        "via": w.received_from,
    }
    if u.impact is not None:
        view["impact"] = {
            **_point(u.impact.point),
            "semi_major_m": u.impact.semi_major_m,
            "semi_minor_m": u.impact.semi_minor_m,
            "orientation_deg": u.impact.orientation_deg,
            "time_ms": u.impact.time_ms,
        }
    return view


def fused_view(track: FusedTrack, exercise: bool) -> dict[str, Any]:
    """One fused track: where, the nation tracks it rests on, its predicted impact."""
    lat, lon, alt = to_geodetic(np.array(track.state.position))
    return {
        "id": track.fused_id,
        "time_ms": track.time_ms,
        "exercise": exercise,
        "sources": list(track.sources),
        "nations": list(track.nations),
        "single_nation": track.single_nation,
        "phase": track.phase.value,
        "status": track.status.value,
        "position": {"lat": lat, "lon": lon, "alt_m": alt},
        "position_sigma_m": track.state.position_sigma_m,
        "impact": None
        if track.impact is None
        else {
            **_point(track.impact.point),
            "semi_major_m": track.impact.semi_major_m,
            "semi_minor_m": track.impact.semi_minor_m,
            "orientation_deg": track.impact.orientation_deg,
            "time_ms": track.impact.time_ms,
        },
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


def tracks_router(tracks: Tracks, warnings: Warnings) -> APIRouter:
    """The routes, over the node's tracks and warnings services."""
    router = APIRouter()

    @router.get("/api/v1/tracks/fused")
    async def fused(user: Signed_in) -> dict[str, Any]:
        return {
            "fused": [fused_view(t, exercise) for t, exercise in warnings.fused(user)],
            "warnings": [warning_view(w) for w in warnings.active(user)],
        }

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
