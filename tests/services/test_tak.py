"""The TAK feed against a real TLS CoT receiver (harness.tak, decoding with takproto): what
the node holds goes up to the TAK network's clearance, uids stay, the connection comes back
after a break, and a server the node cannot verify gets nothing."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import numpy as np
import pytest
from harness.tak import CotReceiver, Received, TakPki
from harness.trio import Trio

from tisa.crypto.tls import Port, Refusal, tak_context
from tisa.domain.markings import Classification
from tisa.errors import ConfigInvalid
from tisa.node.runtime import Runtime
from tisa.relay import live
from tisa.services import tak
from tisa.services.tak import TakFeed
from tisa.tracks import earth
from tisa.tracks.cot import CotType
from tisa.tracks.track import FlightPhase, StateEstimate, TrackStatus, TrackStream, TrackUpdate

REAL = TrackStream("KOR", "Green Pine", "SECRET//REL TO USA, JPN, KOR", exercise=False)
DRILL = TrackStream("KOR", "Green Pine", "SECRET//REL TO USA, JPN, KOR", exercise=True)
HIGH = TrackStream("KOR", "Aegis", "TOP SECRET//REL TO USA, KOR", exercise=False)


def _update(
    track_id: str, time_ms: int, lon: float = 131.0, network: str = "Green Pine"
) -> TrackUpdate:
    r = earth.to_ecef(39.5, lon, 300e3)
    east, _, up = earth.enu_rotation(39.5, lon)
    x = np.concatenate([r, 3000.0 * east + 1000.0 * up])
    return TrackUpdate(
        nation="KOR",
        track_id=track_id,
        network=network,
        time_ms=time_ms,
        state=StateEstimate.of(x, np.diag([100.0**2] * 3 + [5.0**2] * 3)),
        phase=FlightPhase.MIDCOURSE,
        quality=12,
        status=TrackStatus.ACTIVE,
    )


def _now_ms(rt: Runtime) -> int:
    return int(rt.clock().timestamp() * 1000)


def _hold(rt: Runtime, lon: float = 131.0) -> None:
    """KOR holds a real, an exercise and a TOP SECRET track now, fused."""
    now = _now_ms(rt)
    live.publish(rt.ctx, REAL, [_update("K0001", now, lon)])
    live.publish(rt.ctx, DRILL, [_update("K0002", now, lon)])
    live.publish(rt.ctx, HIGH, [_update("K0003", now, lon + 2, "Aegis")])
    rt.warnings.step()


class Told:
    """What the feed and its TLS context report: events counted, handshakes refused."""

    def __init__(self) -> None:
        self.sent: list[CotType] = []
        self.refused: list[tuple[Port, Refusal]] = []


def _feed(
    rt: Runtime, pki: TakPki, port: int, told: Told, *, ca: Path | None = None, host: str = ""
) -> TakFeed:
    cert, key = pki.issue("tisa-kor")
    feed = TakFeed(
        rt.ctx,
        rt.warnings,
        host=host or "127.0.0.1",
        port=port,
        clearance=Classification.SECRET,
        context=lambda: tak_context(
            cert, key, ca or pki.ca, on_refused=lambda p, r: told.refused.append((p, r))
        ),
        on_sent=told.sent.append,
        rng=random.Random(7),
    )
    feed.prepare()
    return feed


def _of(events: list[Received], uid: str) -> list[Received]:
    return [e for e in events if e.cot.uid == uid]


def test_the_feed_sends_what_the_node_holds_up_to_the_tak_clearance(
    trio: Trio, tmp_path: Path
) -> None:
    kor = trio.rt["KOR"]
    _hold(kor)
    pki, told = TakPki(tmp_path / "pki"), Told()
    (real, real_id), (drill, drill_id) = (
        (track, track.fused_id)
        for exercise in (False, True)
        for track in kor.warnings.pictures[exercise].fused
        if track.sources[0] in ("KOR:K0001", "KOR:K0002")
    )

    async def body() -> None:
        async with CotReceiver(pki) as receiver:
            feed = _feed(kor, pki, receiver.port, told)
            task = asyncio.create_task(feed.run())
            try:
                await receiver.wait_for(
                    lambda: (
                        {e.cot.uid for e in receiver.events}
                        >= {
                            f"tisa.KOR.live.{real_id}",
                            f"tisa.KOR.live.{real_id}.iip",
                            f"tisa.KOR.exercise.{drill_id}",
                            f"tisa.KOR.exercise.{drill_id}.iip",
                        }
                    ),
                    "the real and the exercise track with their impact points",
                )
                # The receiver may read the events before the feed counts them.
                status = await receiver.wait_for(
                    lambda: (s := feed.status()).sent >= 4 and s, "the events counted"
                )
                assert status.connected
                assert status.last_error is None
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            events, peers = receiver.events, receiver.peers

        assert peers == ["tisa-kor"]  # our client certificate
        missile = _of(events, f"tisa.KOR.live.{real_id}")[0].cot
        assert (missile.type, missile.access, missile.opex) == (
            "a-h-A-W-M-S-S",
            "SECRET//REL TO USA, JPN, KOR",
            "o",
        )
        lat, lon, hae = earth.to_geodetic(np.array(real.state.position))
        assert (missile.lat, missile.lon) == (pytest.approx(lat, abs=1e-6), pytest.approx(lon))
        assert missile.hae == pytest.approx(hae, abs=0.1)
        exercise = _of(events, f"tisa.KOR.exercise.{drill_id}.iip")[0]
        assert (exercise.cot.type, exercise.cot.opex) == ("r-u", "e")
        assert exercise.cot.detail.contact.callsign.startswith("EXERCISE IIP ")
        assert exercise.detail("ellipse") is not None
        assert drill.impact is not None
        # Nothing of the TOP SECRET stream: the TAK network is cleared to SECRET.
        assert all("K0003" not in (e.detail("tisa") or {}).get("sources", "") for e in events)
        assert len(events) % 2 == 0  # missiles and impact points, no pings while busy
        assert set(told.sent) == {CotType.MISSILE, CotType.IMPACT}
        assert len(told.sent) == len(events)

    asyncio.run(body())


def test_a_fused_track_keeps_its_uid_as_it_moves(trio: Trio, tmp_path: Path) -> None:
    kor = trio.rt["KOR"]
    _hold(kor, lon=131.0)
    pki, told = TakPki(tmp_path / "pki"), Told()
    (track,) = (t for t in kor.warnings.pictures[False].fused if t.sources == ("KOR:K0001",))
    uid = f"tisa.KOR.live.{track.fused_id}"

    async def body() -> None:
        async with CotReceiver(pki) as receiver:
            feed = _feed(kor, pki, receiver.port, told)
            task = asyncio.create_task(feed.run())
            try:
                await receiver.wait_for(lambda: _of(receiver.events, uid), "the missile")
                live.publish(kor.ctx, REAL, [_update("K0001", _now_ms(kor), lon=131.5)])
                await asyncio.to_thread(kor.warnings.step)
                await receiver.wait_for(
                    lambda: any(e.cot.lon > 131.4 for e in _of(receiver.events, uid)),
                    "the missile further east, under the same uid",
                )
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            live_uids = {e.cot.uid for e in receiver.events if e.cot.opex == "o"}
        assert live_uids == {uid, f"{uid}.iip"}

    asyncio.run(body())


def test_the_feed_comes_back_after_the_endpoint_goes_away(trio: Trio, tmp_path: Path) -> None:
    kor = trio.rt["KOR"]
    _hold(kor)
    pki, told = TakPki(tmp_path / "pki"), Told()

    async def body() -> None:
        first = CotReceiver(pki)
        await first.start()
        feed = _feed(kor, pki, first.port, told)
        task = asyncio.create_task(feed.run())
        try:
            await first.wait_for(lambda: first.events, "events before the break")
            await first.stop()
            await first.wait_for(lambda: not feed.status().connected, "the break noticed")
            broken = feed.status()
            assert broken.last_error is not None
            assert "closed the connection" in broken.last_error or "127.0.0.1" in broken.last_error
            again = CotReceiver(pki, port=first.port)
            await again.start()
            try:
                await again.wait_for(lambda: again.events, "events after the break", 15.0)
                await again.wait_for(lambda: feed.status().connected, "connected again")
            finally:
                await again.stop()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(body())


def test_a_server_the_node_cannot_verify_gets_nothing(trio: Trio, tmp_path: Path) -> None:
    kor = trio.rt["KOR"]
    _hold(kor)
    pki, told = TakPki(tmp_path / "pki"), Told()

    async def body() -> None:
        async with CotReceiver(pki) as receiver:
            for feed in (
                _feed(kor, pki, receiver.port, told, ca=pki.stranger()),  # another CA
                _feed(kor, pki, receiver.port, told, host="localhost"),  # named 127.0.0.1 only
            ):
                task = asyncio.create_task(feed.run())
                try:
                    await receiver.wait_for(
                        lambda f=feed: f.status().last_error, "the refusal", 15.0
                    )
                finally:
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task
                error = feed.status().last_error or ""
                assert "certificate verify failed" in error, error
                assert not feed.status().connected
            assert receiver.events == []

    asyncio.run(body())
    assert told.refused[:2] == [(Port.TAK, Refusal.UNTRUSTED)] * 2
    assert told.sent == []


def test_an_unverifiable_ca_file_stops_the_feed_before_it_starts(
    trio: Trio, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    pki, told = TakPki(tmp_path / "pki"), Told()
    with pytest.raises(ConfigInvalid, match="cannot load the TAK server's CA"):
        _feed(trio.rt["KOR"], pki, 1, told, ca=empty)
    with pytest.raises(ConfigInvalid, match="cannot load TLS identity"):
        tak_context(tmp_path / "no.crt", tmp_path / "no.key", pki.ca, on_refused=print)


def test_a_feed_with_nothing_to_say_pings_and_counts_no_events(
    trio: Trio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tak, "QUIET", 0.2)  # a ping after 0.2 s of silence, not 15 s
    kor = trio.rt["KOR"]
    pki, told = TakPki(tmp_path / "pki"), Told()

    async def body() -> None:
        async with CotReceiver(pki) as receiver:
            feed = _feed(kor, pki, receiver.port, told)
            task = asyncio.create_task(feed.run())
            try:
                await receiver.wait_for(lambda: receiver.events, "a ping")
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert {(e.cot.type, e.cot.uid) for e in receiver.events} == {
                ("t-x-c-t", "tisa.KOR-ping")
            }
            assert feed.status().sent == 0

    asyncio.run(body())
    assert told.sent == []
