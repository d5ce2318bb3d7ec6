"""Live track updates between real runtimes: kept everywhere, relayed by the hub only under
the originator's live-track consent, latest first on every link, each hop asked of the gate."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import httpx
import numpy as np
import pytest
from harness.trio import Trio
from sqlalchemy import update

from tisa.domain.consent import StreamMode
from tisa.errors import ChannelSuspended, InputInvalid, PolicyDenied, SignatureInvalid
from tisa.relay import live
from tisa.relay.live import LineIn
from tisa.relay.live_links import Line, LiveQueue
from tisa.relay.streamer import STREAM_PATH, stream_subject
from tisa.relay.transmission import HEADER, sign_transmission
from tisa.services.accounts import Role
from tisa.store import audit, tables
from tisa.store import tracks as track_rows
from tisa.tracks import earth
from tisa.tracks.track import FlightPhase, StateEstimate, TrackStatus, TrackStream, TrackUpdate

T0 = 1_780_000_000_000
STREAM = TrackStream("KOR", "Green Pine", "SECRET//REL TO USA, JPN, KOR", exercise=False)


def _update(time_ms: int = T0, track_id: str = "K0001", nation: str = "KOR") -> TrackUpdate:
    r = earth.to_ecef(39.5, 131.0, 300e3)
    x = np.concatenate([r, np.array([3000.0, 0.0, 1000.0])])
    return TrackUpdate(
        nation=nation,
        track_id=track_id,
        network="Green Pine" if nation == "KOR" else "J/FPS-5",
        time_ms=time_ms,
        state=StateEstimate.of(x, np.diag([100.0**2] * 3 + [5.0**2] * 3)),
        phase=FlightPhase.MIDCOURSE,
        quality=12,
        status=TrackStatus.ACTIVE,
    )


def _wire(line: Line) -> LineIn:
    return LineIn(token=line.token, attestation=line.attestation, consent=line.consent)


def _published(trio: Trio, *updates: TrackUpdate) -> list[Line]:
    """`updates` published at KOR; what waits for the hub."""
    live.publish(trio.rt["KOR"].ctx, STREAM, updates)
    return trio.rt["KOR"].ctx.live.queues["USA"].take()


def _at_hub(trio: Trio, *updates: TrackUpdate) -> list[Line]:
    """`updates` published at KOR and received at USA; what waits for JPN."""
    outcomes = live.receive_many(
        trio.rt["USA"].ctx, "KOR", [_wire(line) for line in _published(trio, *updates)]
    )
    assert outcomes == ["stored"] * len(updates)
    return trio.rt["USA"].ctx.live.queues["JPN"].take()


def _history(trio: Trio, party: str) -> list[track_rows.TrackRow]:
    with trio.rt[party].ctx.db.read() as conn:
        return track_rows.history(conn)


# --- the link's queue ------------------------------------------------------------------------


def test_the_latest_update_of_a_track_wins_on_a_link() -> None:
    queue = LiveQueue()
    stream = live.stream_of(STREAM)
    queue.offer(Line("KOR:K1", 1000, stream, "t1"))
    queue.offer(Line("KOR:K1", 3000, stream, "t3"))
    queue.offer(Line("KOR:K1", 2000, stream, "t2"))  # late, older: dropped too
    queue.offer(Line("KOR:K2", 1500, stream, "u1"))

    assert [line.token for line in queue.take()] == ["u1", "t3"]
    assert (queue.offered, queue.superseded) == (4, 2)
    assert queue.take() == []


# --- the originator ---------------------------------------------------------------------------


def test_an_originator_keeps_signs_and_queues_its_own_updates_once(trio: Trio) -> None:
    first = _published(trio, _update(T0), _update(T0 + 100))
    again = _published(trio, _update(T0 + 100))

    assert [line.time_ms for line in first] == [T0 + 100]  # latest wins already
    assert again == []
    assert [(r.track_id, r.time_ms, r.received_from) for r in _history(trio, "KOR")] == [
        ("K0001", T0, None),
        ("K0001", T0 + 100, None),
    ]


def test_a_node_publishes_only_its_own_tracks(trio: Trio) -> None:
    jpn = TrackStream("JPN", "J/FPS-5", "SECRET//REL TO USA, JPN, KOR", exercise=False)
    with pytest.raises(InputInvalid, match="its own tracks"):
        live.publish(trio.rt["KOR"].ctx, jpn, [_update(nation="JPN")])
    assert _history(trio, "KOR") == []


# --- the hub ----------------------------------------------------------------------------------


def test_the_hub_keeps_an_update_and_passes_it_on_under_the_live_consent(trio: Trio) -> None:
    consent_id = trio.grant_live()

    (onward,) = _at_hub(trio, _update())

    assert onward.consent_id == consent_id
    assert onward.attestation is not None
    assert [r.received_from for r in _history(trio, "USA")] == ["KOR"]
    assert live.receive_many(trio.rt["JPN"].ctx, "USA", [_wire(onward)]) == ["stored"]
    (kept,) = _history(trio, "JPN")
    assert (kept.originator, kept.received_from, kept.attestation) == (
        "KOR",
        "USA",
        onward.attestation,
    )


def test_without_a_live_consent_the_hub_keeps_it_and_passes_nothing_on(trio: Trio) -> None:
    assert _at_hub(trio, _update()) == []
    assert len(_history(trio, "USA")) == 1


def test_a_live_consent_for_exercises_passes_no_real_track(trio: Trio) -> None:
    trio.grant_live(modes=(StreamMode.EXERCISE,))
    assert _at_hub(trio, _update()) == []


def test_a_revoked_live_consent_stops_the_relay_at_once(trio: Trio) -> None:
    consent_id = trio.grant_live()
    assert len(_at_hub(trio, _update(T0))) == 1
    trio.rt["KOR"].consents.revoke_consent(trio.user("KOR", Role.RELEASE_OFFICER), consent_id)
    trio.carry("KOR", "USA")

    assert _at_hub(trio, _update(T0 + 100)) == []


def test_the_same_update_twice_is_kept_once_and_passed_on_once(trio: Trio) -> None:
    trio.grant_live()
    (line,) = _published(trio, _update())
    usa = trio.rt["USA"].ctx
    assert live.receive_many(usa, "KOR", [_wire(line)]) == ["stored"]
    assert live.receive_many(usa, "KOR", [_wire(line)]) == ["duplicate"]
    assert len(usa.live.queues["JPN"].take()) == 1


def test_a_suspended_channel_refuses_the_stream_for_now(trio: Trio) -> None:
    (line,) = _published(trio, _update())
    trio.rt["USA"].channels.set_channel(trio.user("USA", Role.ADMIN), "USA-KOR", suspended=True)

    (outcome,) = live.receive_many(trio.rt["USA"].ctx, "KOR", [_wire(line)])

    assert isinstance(outcome, ChannelSuspended)
    assert _history(trio, "USA") == []


def test_the_sender_drops_at_the_gate_what_a_suspension_stops_now(trio: Trio) -> None:
    lines = _published(trio, _update())
    kor = trio.rt["KOR"]
    kor.channels.set_channel(trio.user("KOR", Role.ADMIN), "USA-KOR", suspended=True)
    assert live.admit(kor.ctx, "USA", lines) == []
    kor.channels.set_channel(trio.user("KOR", Role.ADMIN), "USA-KOR", suspended=False)
    assert live.admit(kor.ctx, "USA", lines) == lines


# --- what a recipient refuses -----------------------------------------------------------------


def test_an_altered_update_is_refused(trio: Trio) -> None:
    (line,) = _published(trio, _update())
    head, body, sig = line.token.split(".")
    forged = LineIn(token=f"{head}.{body[:-4]}AAAA.{sig}")

    (outcome,) = live.receive_many(trio.rt["USA"].ctx, "KOR", [forged])

    assert isinstance(outcome, SignatureInvalid | InputInvalid)
    assert _history(trio, "USA") == []


def test_a_relay_without_the_hubs_attestation_is_refused(trio: Trio) -> None:
    trio.grant_live()
    (onward,) = _at_hub(trio, _update())
    bare = LineIn(token=onward.token)

    (outcome,) = live.receive_many(trio.rt["JPN"].ctx, "USA", [bare])

    assert isinstance(outcome, SignatureInvalid)
    assert _history(trio, "JPN") == []


def test_an_attestation_for_another_update_is_refused(trio: Trio) -> None:
    trio.grant_live()
    (first,) = _at_hub(trio, _update(T0))
    (second,) = _at_hub(trio, _update(T0 + 100))
    swapped = dataclasses.replace(second, attestation=first.attestation)

    (outcome,) = live.receive_many(trio.rt["JPN"].ctx, "USA", [_wire(swapped)])

    assert isinstance(outcome, SignatureInvalid)


def test_a_spoke_cannot_stream_to_the_other_spoke(trio: Trio) -> None:
    (line,) = _published(trio, _update())

    (outcome,) = live.receive_many(trio.rt["JPN"].ctx, "KOR", [_wire(line)])

    assert isinstance(outcome, PolicyDenied)
    assert _history(trio, "JPN") == []


# --- watching ---------------------------------------------------------------------------------


def test_a_reader_sees_a_track_live_only_while_it_is_fresh(trio: Trio) -> None:
    now_ms = int(trio.rt["KOR"].clock().timestamp() * 1000)
    live.publish(trio.rt["KOR"].ctx, STREAM, [_update(now_ms - 200, "K1")])
    live.publish(trio.rt["KOR"].ctx, STREAM, [_update(now_ms - 5_000, "K2")])
    analyst = trio.user("KOR", Role.ANALYST)

    shown = {w.update.track_id: w.live for w in trio.rt["KOR"].tracks.watch(analyst)}

    assert shown == {"K1": True, "K2": False}
    # A track with no update for over an hour is history, no longer listed.
    live.publish(trio.rt["KOR"].ctx, STREAM, [_update(now_ms - 2 * 3_600_000, "K3")])
    assert "K3" not in {w.update.track_id for w in trio.rt["KOR"].tracks.watch(analyst)}


def test_a_reader_below_the_streams_level_sees_nothing_of_it(trio: Trio) -> None:
    now_ms = int(trio.rt["KOR"].clock().timestamp() * 1000)
    live.publish(trio.rt["KOR"].ctx, STREAM, [_update(now_ms)])
    low = trio.rt["KOR"].accounts.add("kor-low", "a-long-password", Role.ANALYST, "CONFIDENTIAL")

    assert trio.rt["KOR"].tracks.watch(low) == []
    assert len(trio.rt["KOR"].tracks.watch(trio.user("KOR", Role.ANALYST))) == 1


def test_the_hubs_own_tracks_stream_to_each_spoke_without_consent(trio: Trio) -> None:
    usa = TrackStream("USA", "AN/TPY-2", "SECRET//REL TO USA, JPN, KOR", exercise=False)
    update = dataclasses.replace(_update(nation="USA"), network="AN/TPY-2", track_id="U0001")
    live.publish(trio.rt["USA"].ctx, usa, [update])

    for spoke in ("KOR", "JPN"):
        (line,) = trio.rt["USA"].ctx.live.queues[spoke].take()
        assert live.receive_many(trio.rt[spoke].ctx, "USA", [_wire(line)]) == ["stored"]
        (kept,) = _history(trio, spoke)
        assert (kept.originator, kept.received_from) == ("USA", "USA")


# --- the stream over HTTP -------------------------------------------------------------------


def test_a_stream_of_lines_is_kept_line_by_line_and_counted(trio: Trio) -> None:
    lines = _published(trio, _update(T0, "K1"), _update(T0, "K2"))
    session = str(uuid.uuid4())
    kor = trio.rt["KOR"].ctx
    header = sign_transmission(kor.trust, "USA", stream_subject(session), kor.clock())
    body = b"".join(line.wire() + b"\n" for line in lines) + b'{"token": "not a token"}\n'

    async def post() -> httpx.Response:
        async with trio.peer_app("USA") as client:
            return await client.post(
                STREAM_PATH, params={"session": session}, content=body, headers={HEADER: header}
            )

    answer = asyncio.run(post())

    assert answer.json() == {"stored": 2, "duplicate": 0, "refused": 1}
    registry = trio.rt["USA"].metrics.registry
    assert (
        registry.get_sample_value(
            "tisa_live_updates_received_total", {"peer": "KOR", "outcome": "stored"}
        )
        == 2
    )
    assert registry.get_sample_value("tisa_live_update_age_seconds_count", {"peer": "KOR"}) == 2
    with trio.rt["USA"].ctx.db.read() as conn:
        (refused,) = audit.entries(conn, action=audit.Action.REFUSE)
    assert refused.detail["refused"] == 1


def test_a_stream_without_a_valid_transmission_header_is_refused_before_a_line(trio: Trio) -> None:
    (line,) = _published(trio, _update())

    async def post() -> httpx.Response:
        async with trio.peer_app("USA") as client:
            return await client.post(
                STREAM_PATH, params={"session": str(uuid.uuid4())}, content=line.wire() + b"\n"
            )

    refused = asyncio.run(post())
    assert refused.status_code == 422
    assert refused.json()["error"] == "SignatureInvalid"
    assert _history(trio, "USA") == []


def test_an_update_altered_at_rest_is_left_out_not_the_end_of_what_reads_it(trio: Trio) -> None:
    """A row whose columns no longer match its token (here: moved to another time) is never
    served: the listing, the history a peer asks for and the warnings leave it out, and show
    the rest."""
    live.publish(trio.rt["KOR"].ctx, STREAM, [_update(T0, "K1"), _update(T0, "K2")])
    kor = trio.rt["KOR"]
    with kor.ctx.db.begin() as conn:
        conn.execute(
            update(tables.track_updates)
            .where(tables.track_updates.c.track_id == "K1")
            .values(time_ms=T0 + 5)
        )
    with kor.ctx.db.read() as conn:
        rows = track_rows.history(conn)

    assert [k.update.track_id for k in live.kept(kor.ctx, rows)] == ["K2"]
    assert [line.key for line in live.history_for(kor.ctx, "USA", None, 0, 100).lines] == ["KOR:K2"]
    assert kor.warnings.step() == []  # runs, leaving the damaged update out


def test_a_row_verified_once_and_altered_since_is_verified_again_and_left_out(trio: Trio) -> None:
    """The memo a frequent reader keeps is keyed by every byte checked: a row read again
    unchanged is taken from it, a row altered after it was verified misses it and is refused."""
    kor = trio.rt["KOR"]
    live.publish(kor.ctx, STREAM, [_update(T0, "K1"), _update(T0, "K2")])
    memo: dict[live.Checked, live.Kept] = {}
    with kor.ctx.db.read() as conn:
        rows = track_rows.history(conn)
    assert [k.update.track_id for k in live.kept(kor.ctx, rows, memo)] == ["K1", "K2"]
    assert len(memo) == 2
    with kor.ctx.db.begin() as conn:
        conn.execute(
            update(tables.track_updates)
            .where(tables.track_updates.c.track_id == "K1")
            .values(classification=1)
        )
    with kor.ctx.db.read() as conn:
        altered = track_rows.history(conn)

    assert [k.update.track_id for k in live.kept(kor.ctx, altered, memo)] == ["K2"]


def test_a_refused_line_is_refused_alone_and_a_batch_twice_kept_once(trio: Trio) -> None:
    # Every check comes before the batch's one insert: a forged line in the middle writes
    # nothing, its neighbours are kept, and the same update twice in one batch is kept once.
    trio.grant_live()
    (first,) = _published(trio, _update(T0))
    (second,) = _published(trio, _update(T0 + 100))
    forged = dataclasses.replace(second, token=second.token[:-4] + "AAAA")
    usa = trio.rt["USA"].ctx
    outcomes = live.receive_many(
        usa, "KOR", [_wire(first), _wire(forged), _wire(first), _wire(second)]
    )
    assert outcomes[0] == "stored"
    assert isinstance(outcomes[1], SignatureInvalid)
    assert outcomes[2:] == ["duplicate", "stored"]
    assert [(r.track_id, r.time_ms) for r in _history(trio, "USA")] == [
        ("K0001", T0),
        ("K0001", T0 + 100),
    ]
    relayed = usa.live.queues["JPN"].take()
    assert [line.time_ms for line in relayed] == [T0 + 100]  # latest wins on the link
