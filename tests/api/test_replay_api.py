"""GET /api/v1/tracks/replay and the tracks of an event over HTTP: the shape, the join shown
on the event and the fused picture, and clear refusals (404, 400, 422), never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from harness.factories import draft
from harness.flights import IMPACT, ORIENTATION_DEG, flight, stream
from harness.nodes import Harness

from tisa.demo.launches import KOR_LAUNCH
from tisa.relay import live
from tisa.tracks.scenario import DEFAULT_START_MS

SEEN_MS = DEFAULT_START_MS + 60_000


@pytest.fixture(scope="module")
def usa(own_harness: Harness) -> Any:
    return own_harness.api("USA")


@pytest.fixture(scope="module")
def event_id(own_harness: Harness, usa: Any) -> str:
    """USA's own tracks of a missile from Sunan, and USA's report of the launch."""
    rt = own_harness.rt["USA"]
    live.publish(rt.ctx, stream("USA"), flight(("USA",), start_ms=SEEN_MS)["USA"])
    made = usa.post(
        "/api/v1/products",
        json=draft("USA", observations=[{"kind": "missile-launch", **KOR_LAUNCH}]),
        headers=own_harness.auth("usa-analyst"),
    )
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    released = usa.post(
        f"/api/v1/products/{pid}/versions/1/release", headers=own_harness.auth("usa-officer")
    )
    assert released.status_code == 200, released.text
    (event,) = usa.get("/api/v1/events", headers=own_harness.auth("usa-analyst")).json()["events"]
    return str(event["id"])


def test_an_event_replays_its_updates_and_fused_frames(
    own_harness: Harness, usa: Any, event_id: str
) -> None:
    answer = usa.get(
        "/api/v1/tracks/replay",
        params={"event": event_id, "step_s": 20},
        headers=own_harness.auth("usa-analyst"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"event", "launch_ms", "from_ms", "to_ms", "step_ms", "updates", "frames"}
    # The report's "08:24" names a minute; the event's time is its middle.
    assert body["launch_ms"] == DEFAULT_START_MS + 30_000
    assert (body["event"], body["from_ms"], body["to_ms"], body["step_ms"]) == (
        event_id,
        SEEN_MS,
        SEEN_MS + 50_000,
        20_000,
    )
    assert [u["time_ms"] for u in body["updates"]] == [SEEN_MS + k * 10_000 for k in range(6)]
    assert body["updates"][0]["label"].startswith("(S//REL TO USA, JPN, KOR) EXERCISE")
    assert [f["time_ms"] for f in body["frames"]] == [SEEN_MS + k * 20_000 for k in range(4)]
    fused = body["frames"][-1]["fused"][0]
    assert (fused["id"], fused["event"], fused["nations"], fused["exercise"]) == (
        "F0001",
        event_id,
        ["USA"],
        True,
    )
    impact = body["updates"][0]["impact"]
    assert (impact["lat"], impact["lon"]) == (IMPACT.lat_deg, IMPACT.lon_deg)
    assert (impact["semi_major_m"], impact["orientation_deg"]) == (40_000, ORIENTATION_DEG)


def test_the_event_lists_its_tracks_and_the_fused_picture_names_its_event(
    own_harness: Harness, usa: Any, event_id: str
) -> None:
    auth = own_harness.auth("usa-analyst")
    tracks = usa.get(f"/api/v1/events/{event_id}", headers=auth).json()["tracks"]
    assert tracks["replay"] == f"/api/v1/tracks/replay?event={event_id}"
    ((nation,),) = [tracks["nations"]]
    assert (nation["key"], nation["first_ms"], nation["last_ms"]) == (
        "USA:U0001",
        SEEN_MS,
        SEEN_MS + 50_000,
    )
    (fused,) = tracks["fused"]
    assert (fused["id"], fused["sources"]) == ("F0001", ["USA:U0001"])
    assert fused["impact"]["semi_major_m"] > fused["impact"]["semi_minor_m"] > 0


@pytest.mark.parametrize(
    ("params", "status", "kind"),
    [
        ({"event": "ev-0000000000000000"}, 404, "NotFound"),
        ({"from_ms": SEEN_MS, "to_ms": SEEN_MS + 4 * 3_600_000}, 400, "WindowTooLarge"),
        ({"from_ms": SEEN_MS, "to_ms": SEEN_MS + 3_600_000, "step_s": 1}, 400, "WindowTooLarge"),
        ({"from_ms": SEEN_MS, "to_ms": SEEN_MS - 1}, 422, "TrackInvalid"),
        ({}, 422, "InputInvalid"),
        ({"event": "ev-1", "from_ms": 0, "to_ms": 1}, 422, "InputInvalid"),
        ({"from_ms": 0}, 422, "InputInvalid"),
        ({"event": "../etc"}, 422, "InputInvalid"),
        ({"from_ms": -1, "to_ms": 1}, 422, "InputInvalid"),
        ({"from_ms": 0, "to_ms": 1, "step_s": 0}, 422, "InputInvalid"),
    ],
)
def test_a_replay_that_cannot_be_made_says_why(
    own_harness: Harness, usa: Any, params: dict[str, Any], status: int, kind: str
) -> None:
    answer = usa.get(
        "/api/v1/tracks/replay", params=params, headers=own_harness.auth("usa-analyst")
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == kind
    assert answer.json()["detail"]
