"""Live missile tracks over real node processes and pinned mutual TLS: KOR's tracker streams
to the hub, the hub passes them to JPN only under KOR's live-track consent, a suspension or a
revocation stops the stream at once, and every node keeps the history."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tisa.store import tracks

pytestmark = pytest.mark.e2e

STREAM = {
    "nation": "KOR",
    "network": "Green Pine",
    "marking": "SECRET//REL TO USA, JPN, KOR",
    "exercise": False,
}
# Over the East Sea at 300 km, with a diagonal covariance (100 m, 5 m/s).
STATE = {
    "position": [-3_385_063.0, 3_894_070.0, 4_226_127.0],
    "velocity": [-2_000.0, -2_200.0, 800.0],
    "covariance": [
        (100.0**2 if i == j < 3 else 5.0**2 if i == j else 0.0) for i in range(6) for j in range(6)
    ],
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _publish(net: Any, time_ms: int, track_id: str = "K0001") -> None:
    _publish_salvo(net, time_ms, [track_id])


def _track(net: Any, party: str, track_id: str = "K0001") -> dict[str, Any] | None:
    shown = net(party).get("/api/v1/tracks", params={"max_age_ms": 60_000})["tracks"]
    return next((t for t in shown if t["track_id"] == track_id), None)


def _at(net: Any, party: str, time_ms: int, track_id: str = "K0001") -> dict[str, Any]:
    return net.wait_for(
        lambda: (t := _track(net, party, track_id)) and t["time_ms"] == time_ms and t,
        f"{party} showing KOR:{track_id} at {time_ms}",
    )


def _never_at(net: Any, party: str, time_ms: int, track_id: str = "K0001") -> None:
    time.sleep(2.0)  # the live path takes well under a second; two are plenty to be sure
    shown = _track(net, party, track_id)
    assert shown is None or shown["time_ms"] != time_ms


def _grant_live(net: Any) -> dict[str, Any]:
    """KOR's live-track consent for JPN, once the hub holds it."""
    consent: dict[str, Any] = net("KOR", "officer").post(
        "/api/v1/consents",
        {
            "recipient": "JPN",
            "kind": "live-tracks",
            "max_classification": "SECRET",
            "modes": ["live"],
        },
    )
    net.wait_for(lambda: net.hub_consent(consent["id"]), "USA holding KOR's live consent")
    return consent


def test_kor_tracks_reach_jpn_through_the_hub_only_under_the_live_consent(private_network):
    net = private_network
    first = _now_ms()
    _publish(net, first)
    at_usa = _at(net, "USA", first)
    assert (at_usa["via"], at_usa["originator"]) == ("KOR", "KOR")
    _never_at(net, "JPN", first)  # no live-track consent yet: the hub keeps it

    consent = _grant_live(net)
    second = _now_ms()
    _publish(net, second)
    at_jpn = _at(net, "JPN", second)
    assert (at_jpn["via"], at_jpn["originator"], at_jpn["exercise"]) == ("USA", "KOR", False)
    assert at_jpn["label"].startswith("(S//REL TO USA, JPN, KOR)")

    # A suspension at the hub stops the stream at once; resumed, it flows again.
    usa_admin = net("USA", "admin")
    usa_admin.post("/api/v1/channels/USA-KOR/suspend")
    held = _now_ms()
    _publish(net, held)
    _never_at(net, "JPN", held)
    usa_admin.post("/api/v1/channels/USA-KOR/resume")
    resumed = _now_ms()
    _publish(net, resumed)
    _at(net, "JPN", resumed)

    # Revoked at KOR, the hub passes nothing more on, though it still keeps KOR's history.
    net("KOR", "officer").post(f"/api/v1/consents/{consent['id']}/revoke")
    net.wait_for(
        lambda: (c := net.hub_consent(consent["id"])) and c.get("revoked_at") and c,
        "USA holding the revocation",
    )
    after = _now_ms()
    _publish(net, after)
    _at(net, "USA", after)
    _never_at(net, "JPN", after)


def test_an_old_update_is_history_not_live(private_network):
    net = private_network
    old = _now_ms() - 120_000
    _publish(net, old, track_id="K0002")
    shown = net.wait_for(
        lambda: next(
            (t for t in net("KOR").get("/api/v1/tracks")["tracks"] if t["track_id"] == "K0002"),
            None,
        ),
        "KOR showing its own track",
    )
    assert shown["live"] is False
    assert shown["age_ms"] >= 120_000


def test_a_node_killed_mid_flight_backfills_the_history_and_shows_none_of_it_as_live(
    make_network,
):
    net = make_network(rules=False)
    _grant_live(net)
    before = _now_ms()
    _publish(net, before)
    _at(net, "JPN", before)

    net.cluster.stop("JPN", kill=True)
    missed = [_now_ms() + i for i in range(0, 500, 100)]
    for moment in missed:
        _publish(net, moment)
    _at(net, "USA", missed[-1])
    time.sleep(1.5)  # what JPN missed is now older than a live update may be
    net.cluster.start("JPN")
    net.forget_clients("JPN")

    caught_up = _at(net, "JPN", missed[-1])
    assert caught_up["via"] == "USA"
    shown = net("JPN").get("/api/v1/tracks", params={"max_age_ms": 1000})["tracks"]
    assert [t["live"] for t in shown if t["track_id"] == "K0001"] == [False]
    with net.runtime("JPN") as rt, rt.ctx.db.read() as conn:
        kept = {r.time_ms for r in tracks.history(conn) if r.originator == "KOR"}
    assert set(missed) <= kept


def _publish_salvo(net: Any, time_ms: int, track_ids: list[str]) -> None:
    """One tracker cycle: an update of each missile (of a salvo), in one batch."""
    updates = [
        {
            "track_id": track_id,
            "time_ms": time_ms,
            "state": STATE,
            "phase": "midcourse",
            "quality": 12,
            "status": "active",
        }
        for track_id in track_ids
    ]
    answer = net("KOR", "officer").post("/api/v1/tracks", {"stream": STREAM, "updates": updates})
    assert answer == {"published": len(track_ids)}


def test_a_salvo_streamed_through_a_suspension_arrives_whole_as_history_after_resume(
    make_network,
):
    """While the hub holds KOR's channel, three missiles' tracks go on at 10 Hz: nothing
    reaches JPN; resumed, each missile's newest update is shown and every update made during
    the suspension is in JPN's store, none of them shown as live."""
    net = make_network(rules=False)
    _grant_live(net)
    salvo = ["S1", "S2", "S3"]
    first = _now_ms()
    _publish_salvo(net, first, salvo)
    _at(net, "JPN", first, "S3")

    usa_admin = net("USA", "admin")
    usa_admin.post("/api/v1/channels/USA-KOR/suspend")
    held = [_now_ms() + i for i in range(0, 1000, 100)]
    for moment in held:
        time.sleep(max(0.0, (moment - _now_ms()) / 1000))
        _publish_salvo(net, moment, salvo)
    _never_at(net, "JPN", held[-1], "S1")
    usa_admin.post("/api/v1/channels/USA-KOR/resume")

    for track_id in salvo:
        _at(net, "JPN", held[-1], track_id)

    def whole() -> set[tuple[str, int]] | None:
        with net.runtime("JPN") as rt, rt.ctx.db.read() as conn:
            kept = {(r.track_id, r.time_ms) for r in tracks.history(conn) if r.originator == "KOR"}
        return kept if {(t, m) for t in salvo for m in held} <= kept else None

    net.wait_for(whole, "JPN holding every update made during the suspension")
    time.sleep(1.1)  # older than a live update may be
    shown = net("JPN").get("/api/v1/tracks", params={"max_age_ms": 1000})["tracks"]
    assert {t["track_id"]: t["live"] for t in shown if t["track_id"] in salvo} == dict.fromkeys(
        salvo, False
    )
