"""The demo's live-track step: the three nations' trackers follow one simulated exercise
lofted ICBM from Sunan, five minutes into its flight (just past burnout, an hour before it
comes down in the sea off Japan), and stream their tracks so far; each spoke sees the other's
only through the hub, under the live-track consent each gave. Every node fuses what it
holds, and JPN's warning is raised before the predicted impact. Each node is asked what it
shows.

Only the five minutes flown so far are simulated (a full hour's flight would take the
simulator minutes); the tracks are those of the moment the step runs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tisa.api.client import ApiClient
from tisa.demo.checks import StepFailed, wait_for
from tisa.tracks.ballistics import MissileType
from tisa.tracks.scenario import NATIONS, Launch, Scenario, run
from tisa.tracks.sites import LAUNCH_SITES

#: The exercise launch: a lofted ICBM from Sunan (as on 18 Nov 2022: about 69 minutes,
#: 6,000 km up, down inside Japan's EEZ west of Oshima-Oshima), its motor burnt out by the
#: time the step runs.
LAUNCH = Launch("M1", MissileType.ICBM_LOFTED, "sunan")
SEED = 3
FLOWN_MS = 300_000


def _body(update: Any) -> dict[str, Any]:
    data = dataclasses.asdict(update)
    return {
        k: data[k]
        for k in (
            "track_id",
            "time_ms",
            "state",
            "phase",
            "quality",
            "status",
            "launch_point",
            "impact",
        )
        if data[k] is not None
    }


def _shown(client: ApiClient, originator: str) -> list[dict[str, Any]]:
    tracks = client.get("/api/v1/tracks", params={"max_age_ms": 600_000})["tracks"]
    return [t for t in tracks if t["originator"] == originator]


def _holding(admin: ApiClient, consent_id: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        listed = admin.get("/api/v1/consents")["consents"]
        return next((c for c in listed if c["id"] == consent_id), None)

    return check


def _showing(
    client: ApiClient, originator: str, time_ms: int
) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        return next((t for t in _shown(client, originator) if t["time_ms"] == time_ms), None)

    return check


def _fused_by_all(client: ApiClient) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        fused = client.get("/api/v1/tracks/fused")["fused"]
        return next((f for f in fused if set(f["nations"]) == {"KOR", "JPN", "USA"}), None)

    return check


def _warned(client: ApiClient) -> Callable[[], dict[str, Any] | None]:
    """The warning in force resting on all three nations' tracks (one raised on the first
    track to arrive follows its track as the others join)."""

    def check() -> dict[str, Any] | None:
        warnings = client.get("/api/v1/tracks/fused")["warnings"]
        return next(
            (w for w in warnings if {s.split(":")[0] for s in w["sources"]} == set(NATIONS)),
            None,
        )

    return check


def _report(launched_ms: int) -> dict[str, Any]:
    """KOR's launch report of the exercise launch, as a product (it says EXERCISE)."""
    site = LAUNCH_SITES[LAUNCH.site]
    at = datetime.fromtimestamp(launched_ms / 1000, UTC).isoformat(timespec="seconds")
    return {
        "title": "EXERCISE — ICBM launch from Sunan, lofted (simulated) — EXERCISE",
        "text": "EXERCISE: the launch the live tracks follow, reported as JCS would.",
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "precedence": "FLASH",
        "topics": ["dprk.missile.launch"],
        "source_reliability": "B",
        "information_credibility": "2",
        "observations": [
            {
                "kind": "missile-launch",
                "time": {"original": at, "qualifier": "about", "sigma_s": 30},
                "missile_class": "ICBM",
                "launch_position": {
                    "lat": site.point.lat_deg,
                    "lon": site.point.lon_deg,
                    "sigma_km": 10,
                    "description": "Sunan",
                },
                "lofted": True,
            }
        ],
    }


def _joined(client: ApiClient, product_id: str) -> Callable[[], dict[str, Any] | None]:
    """The event holding `product_id` once tracks of all three nations have joined it."""

    def check() -> dict[str, Any] | None:
        for listed in client.get("/api/v1/events")["events"]:
            event: dict[str, Any] = client.get(f"/api/v1/events/{listed['id']}")
            if not any(r["product_id"] == product_id for r in event["reports"]):
                continue
            fused = (event.get("tracks") or {}).get("fused", [])
            if any(set(f["nations"]) == set(NATIONS) for f in fused):
                return event
        return None

    return check


def report_joins(
    analyst: ApiClient, officer: ApiClient, viewer: ApiClient, launched_ms: int
) -> str:
    """KOR reports the launch; at JPN the report's event gathers the tracks.

    Raises:
        StepFailed: the event never shows the fused track of the three nations.
    """
    draft = analyst.post("/api/v1/products", _report(launched_ms))
    officer.post(f"/api/v1/products/{draft['id']}/versions/1/release")
    event = wait_for(_joined(viewer, draft["id"]), "JPN joining the tracks to KOR's report")
    (fused,) = [f for f in event["tracks"]["fused"] if set(f["nations"]) == set(NATIONS)]
    return (
        f"KOR reports the launch; at JPN its event {event['id']} holds fused track "
        f"{fused['id']} ({', '.join(fused['sources'])}), replay {event['tracks']['replay']}"
    )


def stream_tracks(
    officers: dict[str, ApiClient], analysts: dict[str, ApiClient], hub_admin: ApiClient
) -> str:
    """Run the step; one line per node of what it shows.

    Raises:
        StepFailed: a node does not show what the rules let it hold, or shows what they do not.
    """
    hub = analysts["USA"]
    for originator, recipient in (("KOR", "JPN"), ("JPN", "KOR")):
        consent = officers[originator].post(
            "/api/v1/consents",
            {
                "recipient": recipient,
                "kind": "live-tracks",
                "max_classification": "SECRET",
                "modes": ["exercise"],
            },
        )
        wait_for(
            _holding(hub_admin, str(consent["id"])),
            f"USA holding {originator}'s live-track consent",
        )
    now_ms = int(time.time() * 1000)
    scenario = Scenario(
        launches=(LAUNCH,), seed=SEED, start_ms=now_ms - FLOWN_MS, duration_ms=FLOWN_MS
    )
    result = run(scenario)
    published = {}
    for nation in ("KOR", "JPN", "USA"):
        stream = dataclasses.asdict(result.streams[nation])
        updates = [_body(u) for u in result.updates[nation] if u.time_ms <= now_ms]
        answer = officers[nation].post("/api/v1/tracks", {"stream": stream, "updates": updates})
        published[nation] = (answer["published"], updates[-1]["time_ms"])
    lines = []
    for viewer, other in (("JPN", "KOR"), ("KOR", "JPN")):
        newest = published[other][1]
        seen = wait_for(
            _showing(analysts[viewer], other, newest),
            f"{viewer} showing {other}'s newest track update",
        )
        if seen["via"] != "USA" or not seen["exercise"]:
            raise StepFailed(f"{viewer} shows {other}'s track via {seen['via']}: {seen}")
        lines.append(f"{viewer} sees {seen['label']} (via USA)")
    at_hub = {o: len(_shown(hub, o)) for o in ("KOR", "JPN")}
    if at_hub != {"KOR": 1, "JPN": 1}:
        raise StepFailed(f"USA shows tracks {at_hub}, expected one of each nation")
    for party in ("USA", "KOR", "JPN"):
        picture = wait_for(
            _fused_by_all(analysts[party]), f"{party} fusing all three nations' tracks"
        )
        lines.append(f"{party} fuses {', '.join(picture['sources'])} into {picture['id']}")
    warning = wait_for(_warned(analysts["JPN"]), "JPN raising its missile warning")
    if warning["impact"]["time_ms"] <= int(time.time() * 1000):
        raise StepFailed(f"JPN warned after the predicted impact: {warning}")
    lead = (warning["impact"]["time_ms"] - int(time.time() * 1000)) / 1000
    lines.append(f"JPN warns, {lead:.0f} s before the predicted impact: {warning['label']}")
    lines.append(report_joins(analysts["KOR"], officers["KOR"], analysts["JPN"], now_ms - FLOWN_MS))
    counts = ", ".join(f"{n} {published[n][0]}" for n in ("KOR", "JPN", "USA"))
    head = f"track updates streamed of an exercise lofted ICBM from Sunan: {counts}"
    return head + "\n" + "\n".join(lines)
