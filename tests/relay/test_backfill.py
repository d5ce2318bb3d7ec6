"""Catching up on live tracks: a node asks each peer for the history it lacks, and gets what
the rules let it have now."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from harness.trio import Trio

from tisa.errors import DeliveryFailed
from tisa.relay import backfill, live
from tisa.relay.backfill import Backfill
from tisa.store import tracks as track_rows
from tisa.tracks import earth
from tisa.tracks.track import FlightPhase, StateEstimate, TrackStatus, TrackStream, TrackUpdate

STREAM = TrackStream("KOR", "Green Pine", "SECRET//REL TO USA, JPN, KOR", exercise=False)


def _updates(trio: Trio, count: int) -> list[TrackUpdate]:
    now_ms = int(trio.rt["KOR"].clock().timestamp() * 1000)
    x = np.concatenate([earth.to_ecef(39.5, 131.0, 300e3), np.array([3000.0, 0.0, 1000.0])])
    state = StateEstimate.of(x, np.diag([100.0**2] * 3 + [5.0**2] * 3))
    return [
        TrackUpdate(
            "KOR",
            "K0001",
            "Green Pine",
            now_ms - 60_000 + i * 100,
            state,
            FlightPhase.MIDCOURSE,
            12,
            TrackStatus.ACTIVE,
        )
        for i in range(count)
    ]


def _catch_up(trio: Trio, party: str, peer: str) -> int:
    return asyncio.run(Backfill(trio.rt[party].ctx, {peer: trio.peer_app(peer)}).catch_up(peer))


def _held(trio: Trio, party: str) -> list[tuple[int, str | None]]:
    with trio.rt[party].ctx.db.read() as conn:
        return [(r.time_ms, r.received_from) for r in track_rows.history(conn)]


def test_the_hub_fetches_what_it_missed_from_the_originator(trio: Trio) -> None:
    sent = _updates(trio, 3)
    live.publish(trio.rt["KOR"].ctx, STREAM, sent)  # the link never carried them

    assert _catch_up(trio, "USA", "KOR") == 3
    assert _held(trio, "USA") == [(u.time_ms, "KOR") for u in sent]
    assert _catch_up(trio, "USA", "KOR") == 3  # the margin asks again; nothing is kept twice
    assert len(_held(trio, "USA")) == 3


def test_a_spoke_gets_the_other_spokes_history_only_under_its_live_consent(trio: Trio) -> None:
    sent = _updates(trio, 2)
    live.publish(trio.rt["KOR"].ctx, STREAM, sent)
    _catch_up(trio, "USA", "KOR")

    assert _catch_up(trio, "JPN", "USA") == 0
    trio.grant_live()
    assert _catch_up(trio, "JPN", "USA") == 2
    assert _held(trio, "JPN") == [(u.time_ms, "USA") for u in sent]


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
