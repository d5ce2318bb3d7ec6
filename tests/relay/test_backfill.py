"""Catching up on live tracks: a node asks each peer for the history it lacks, by the peer's
store position, and gets what the rules let it have now; where it read to survives it."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from harness.trio import Trio

from tisa.errors import DeliveryFailed
from tisa.relay import backfill, live
from tisa.relay.backfill import Backfill
from tisa.services.accounts import Role
from tisa.store import tracks as track_rows
from tisa.tracks import earth
from tisa.tracks.track import FlightPhase, StateEstimate, TrackStatus, TrackStream, TrackUpdate

STREAM = TrackStream("KOR", "Green Pine", "SECRET//REL TO USA, JPN, KOR", exercise=False)


def _updates(trio: Trio, count: int, ago_ms: int = 60_000) -> list[TrackUpdate]:
    now_ms = int(trio.rt["KOR"].clock().timestamp() * 1000)
    x = np.concatenate([earth.to_ecef(39.5, 131.0, 300e3), np.array([3000.0, 0.0, 1000.0])])
    state = StateEstimate.of(x, np.diag([100.0**2] * 3 + [5.0**2] * 3))
    return [
        TrackUpdate(
            "KOR",
            "K0001",
            "Green Pine",
            now_ms - ago_ms + i * 100,
            state,
            FlightPhase.MIDCOURSE,
            12,
            TrackStatus.ACTIVE,
        )
        for i in range(count)
    ]


def _backfill(trio: Trio, party: str, peer: str) -> Backfill:
    # The work folder of a new node is made when first needed, here as anywhere.
    work = trio.rt[party].settings.paths.root / "not-yet" / "work"
    return Backfill(trio.rt[party].ctx, {peer: trio.peer_app(peer)}, work)


def _catch_up(trio: Trio, party: str, peer: str) -> int:
    return asyncio.run(_backfill(trio, party, peer).catch_up(peer))


def _held(trio: Trio, party: str) -> list[tuple[int, str | None]]:
    with trio.rt[party].ctx.db.read() as conn:
        return [(r.time_ms, r.received_from) for r in track_rows.history(conn)]


def test_the_hub_fetches_what_it_missed_from_the_originator(trio: Trio) -> None:
    sent = _updates(trio, 3)
    live.publish(trio.rt["KOR"].ctx, STREAM, sent)  # the link never carried them

    assert _catch_up(trio, "USA", "KOR") == 3
    assert _held(trio, "USA") == [(u.time_ms, "KOR") for u in sent]
    assert _catch_up(trio, "USA", "KOR") == 0  # read to the end: nothing is asked twice
    assert len(_held(trio, "USA")) == 3


def test_a_spoke_gets_the_other_spokes_history_only_under_its_live_consent(trio: Trio) -> None:
    sent = _updates(trio, 2)
    live.publish(trio.rt["KOR"].ctx, STREAM, sent)
    _catch_up(trio, "USA", "KOR")

    assert _catch_up(trio, "JPN", "USA") == 0
    trio.grant_live()
    # What the hub read to JPN before the consent stays unsent: a consent covers what the
    # hub keeps from then on, as on the live stream.
    later = _updates(trio, 2, ago_ms=30_000)
    live.publish(trio.rt["KOR"].ctx, STREAM, later)
    _catch_up(trio, "USA", "KOR")
    assert _catch_up(trio, "JPN", "USA") == 2
    assert _held(trio, "JPN") == [(u.time_ms, "USA") for u in later]


def test_nothing_goes_back_to_its_originator(trio: Trio) -> None:
    live.publish(trio.rt["KOR"].ctx, STREAM, _updates(trio, 2))
    _catch_up(trio, "USA", "KOR")
    assert _catch_up(trio, "KOR", "USA") == 0


def test_a_long_history_comes_page_by_page(trio: Trio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backfill, "PAGE", 2)
    live.publish(trio.rt["KOR"].ctx, STREAM, _updates(trio, 5))
    assert _catch_up(trio, "USA", "KOR") >= 5
    assert len(_held(trio, "USA")) == 5


def test_there_is_no_history_between_the_spokes(trio: Trio) -> None:
    live.publish(trio.rt["KOR"].ctx, STREAM, _updates(trio, 1))
    with pytest.raises(DeliveryFailed, match="HTTP 409"):
        _catch_up(trio, "JPN", "KOR")
    assert _held(trio, "JPN") == []


def test_updates_kept_late_with_old_times_still_come(trio: Trio) -> None:
    """A tracker's burst of its past, kept at the hub after newer ones: by position, not by
    time, so JPN gets all of it though each is older than the newest it holds."""
    trio.grant_live()
    fresh = _updates(trio, 1, ago_ms=1_000)
    live.publish(trio.rt["KOR"].ctx, STREAM, fresh)
    _catch_up(trio, "USA", "KOR")
    assert _catch_up(trio, "JPN", "USA") == 1
    past = _updates(trio, 4, ago_ms=300_000)  # five minutes old, kept now
    live.publish(trio.rt["KOR"].ctx, STREAM, past)
    assert _catch_up(trio, "USA", "KOR") == 4
    assert _catch_up(trio, "JPN", "USA") == 4
    assert sorted(_held(trio, "JPN")) == sorted((u.time_ms, "USA") for u in [*fresh, *past])


def test_where_a_peer_was_read_to_survives_a_restart_and_a_replaced_store(trio: Trio) -> None:
    live.publish(trio.rt["KOR"].ctx, STREAM, _updates(trio, 3))
    _catch_up(trio, "USA", "KOR")
    usa = _backfill(trio, "USA", "KOR")
    read_to = usa.position("KOR")
    with trio.rt["KOR"].ctx.db.read() as conn:
        assert read_to == track_rows.end(conn)
    assert _catch_up(trio, "USA", "KOR") == 0  # a new Backfill (a restart) goes on from there
    usa._keep("KOR", read_to + 1_000)  # a position past KOR's end: not this store's
    assert _catch_up(trio, "USA", "KOR") >= 1  # asked afresh from a little before the newest
    assert usa.position("KOR") == read_to


def test_a_suspended_hop_ends_the_page_before_it_and_skips_nothing(trio: Trio) -> None:
    trio.grant_live()
    live.publish(trio.rt["KOR"].ctx, STREAM, _updates(trio, 2))
    _catch_up(trio, "USA", "KOR")
    usa = trio.rt["USA"]
    admin = trio.user("USA", Role.ADMIN)
    usa.channels.set_channel(admin, "USA-JPN", suspended=True)
    held = live.history_for(usa.ctx, "JPN", 0, 0, 100)
    assert held.lines == []
    assert held.reached < held.end  # not past what waits
    usa.channels.set_channel(admin, "USA-JPN", suspended=False)
    again = live.history_for(usa.ctx, "JPN", held.reached, 0, 100)
    assert len(again.lines) == 2


def test_what_a_suspension_here_holds_is_asked_again_after_the_resume(trio: Trio) -> None:
    """The hub holds KOR's channel: what its catch-up fetches from KOR is refused for now, and
    the hub does not read past it, so after the resume the same updates come."""
    usa = trio.rt["USA"]
    admin = trio.user("USA", Role.ADMIN)
    backfill = _backfill(trio, "USA", "KOR")
    asyncio.run(backfill.catch_up("KOR"))
    before = backfill.position("KOR")
    live.publish(trio.rt["KOR"].ctx, STREAM, _updates(trio, 3))
    usa.channels.set_channel(admin, "USA-KOR", suspended=True)
    assert asyncio.run(backfill.catch_up("KOR")) == 0
    assert backfill.position("KOR") == before
    assert _held(trio, "USA") == []
    usa.channels.set_channel(admin, "USA-KOR", suspended=False)
    assert asyncio.run(backfill.catch_up("KOR")) == 3
    assert len(_held(trio, "USA")) == 3


def test_a_fault_of_this_node_ends_the_lane_for_the_supervisor(trio: Trio) -> None:
    """A peer out of reach is waited out; a round that fails here (its place cannot be kept)
    ends the lane, so the supervisor shows it in /healthz instead of a task that looks alive."""
    blocked = trio.rt["USA"].settings.paths.root / "not-a-folder"
    blocked.write_text("a file where the work folder would be", encoding="utf-8")
    backfill = Backfill(trio.rt["USA"].ctx, {"KOR": trio.peer_app("KOR")}, blocked)
    (name, lane), *_ = backfill.lanes()
    assert name == "backfill KOR"
    with pytest.raises(OSError, match="not-a-folder"):
        asyncio.run(asyncio.wait_for(lane(), 30))
