"""The demo's live-track step: KOR's and JPN's trackers follow one simulated exercise SRBM
and stream their tracks; each nation sees the other's only through the hub, under the live-track
consent each gave, and every node is asked what it holds."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from tisa.api.client import ApiClient
from tisa.demo.checks import StepFailed, wait_for
from tisa.tracks.ballistics import MissileType
from tisa.tracks.scenario import Launch, Scenario, run

#: The exercise launch: an SRBM from Sinpo (about five minutes of flight), flown so that its
#: last updates are recent when the step runs.
LAUNCH = Launch("M1", MissileType.SRBM, "sinpo")
SEED = 20231218


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


def stream_tracks(officers: dict[str, ApiClient], analysts: dict[str, ApiClient]) -> str:
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
            _holding(officers["USA"], str(consent["id"])),
            f"USA holding {originator}'s live-track consent",
        )
    now_ms = int(time.time() * 1000)
    scenario = Scenario(launches=(LAUNCH,), seed=SEED, start_ms=now_ms - 300_000)
    result = run(scenario)
    published = {}
    for nation in ("KOR", "JPN"):
        stream = dataclasses.asdict(result.streams[nation])
        updates = [_body(u) for u in result.updates[nation]]
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
    counts = ", ".join(f"{n} {published[n][0]} updates" for n in ("KOR", "JPN"))
    return f"streamed {counts} of an exercise SRBM from Sinpo\n" + "\n".join(lines)
