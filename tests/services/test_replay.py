"""Replays of past flights at a node: every update the user may watch (WATCH per stream, each
row verified again), the fused picture at a fixed step, bounded; and the join of tracks with
the launch events built from the reports the user may read."""

from __future__ import annotations

import pytest
from harness.factories import draft
from harness.flights import SUNAN, flight, stream
from harness.trio import Trio
from sqlalchemy import update

from tisa.demo.launches import KOR_LAUNCH
from tisa.domain.wire import DraftIn, parse
from tisa.errors import NotFound, WindowTooLarge
from tisa.relay import live
from tisa.services.accounts import Role
from tisa.store import tables
from tisa.tracks.scenario import DEFAULT_START_MS
from tisa.tracks.track import GeodeticPoint

#: The reported launch (KOR_LAUNCH: 18 Dec 2023 08:24 KST, Pyongyang area); seen 60 s later.
SEEN_MS = DEFAULT_START_MS + 60_000


def _report(trio: Trio, party: str, level: str = "SECRET", **launch: object) -> str:
    """A launch report released at `party` (KOR's figures unless `launch` says otherwise)."""
    rt = trio.rt[party]
    body = draft(
        party,
        classification=level,
        observations=[{"kind": "missile-launch", **KOR_LAUNCH, **launch}],
    )
    product = rt.drafts.create(trio.user(party, Role.ANALYST), parse(DraftIn, body))
    rt.releases.release(trio.user(party, Role.RELEASE_OFFICER), product.id, 1)
    (event,) = rt.events.events(trio.user(party, Role.ANALYST))
    return event.id


def _usa_holding_kor_and_usa(trio: Trio, usa_level: str = "SECRET") -> None:
    """At the hub: USA's own tracks of the missile, and KOR's as received from KOR."""
    usa, kor = trio.rt["USA"], trio.rt["KOR"]
    flown = flight(("KOR", "USA"), start_ms=SEEN_MS)
    live.publish(usa.ctx, stream("USA", level=usa_level), flown["USA"])
    for one in flown["KOR"]:  # one at a time: the link keeps only a track's newest
        live.publish(kor.ctx, stream("KOR"), [one])
        (line,) = kor.ctx.live.queues["USA"].take()
        assert live.receive_many(usa.ctx, "KOR", [live.LineIn(token=line.token)]) == ["stored"]


def test_an_events_tracks_join_it_and_replay_fused(trio: Trio) -> None:
    _usa_holding_kor_and_usa(trio)
    analyst = trio.user("USA", Role.ANALYST)
    usa = trio.rt["USA"]
    # Tracks with no report yet: on the tracks page only, in no event.
    assert usa.track_events.joined(analyst) == {}

    event_id = _report(trio, "USA")

    assert usa.track_events.joined(analyst) == {"KOR:K0001": event_id, "USA:U0001": event_id}
    made = usa.replays.event(analyst, event_id)
    assert (made.start_ms, made.end_ms, made.step_ms) == (SEEN_MS, SEEN_MS + 50_000, 10_000)
    assert len(made.updates) == 12
    assert len(made.frames) == 6
    ((fused, exercise),) = made.tracks()
    assert (fused.fused_id, fused.sources, exercise) == (
        "F0001",
        ("KOR:K0001", "USA:U0001"),
        True,
    )
    assert fused.launch_point == SUNAN
    assert usa.track_events.events_of_fused(analyst, [fused]) == [event_id]
    # The same picture asked again is fused once (cached against the history).
    assert usa.replays.event(analyst, event_id).frames is made.frames


def test_a_track_launched_elsewhere_or_later_is_not_the_events(trio: Trio) -> None:
    usa = trio.rt["USA"]
    elsewhere = flight(("USA",), start_ms=SEEN_MS, launch_point=GeodeticPoint(40.03, 128.18))
    later = flight(("USA",), start_ms=SEEN_MS + 900_000, track_id="0002")
    live.publish(usa.ctx, stream("USA"), [*elsewhere["USA"], *later["USA"]])
    analyst = trio.user("USA", Role.ANALYST)
    event_id = _report(trio, "USA")

    assert usa.track_events.joined(analyst) == {}
    made = usa.replays.event(analyst, event_id)
    assert (made.updates, made.frames, made.tracks()) == ((), (), [])


def test_a_user_who_may_not_watch_a_stream_sees_none_of_it_in_a_replay(trio: Trio) -> None:
    _usa_holding_kor_and_usa(trio, usa_level="CONFIDENTIAL")
    usa = trio.rt["USA"]
    low = usa.accounts.add("usa-low", "a-long-password", Role.ANALYST, "CONFIDENTIAL", ["*"])
    event_id = _report(trio, "USA", level="CONFIDENTIAL")

    made = usa.replays.event(low, event_id)

    assert {s.update.nation for s in made.updates} == {"USA"}
    assert {k for t, _ in made.tracks() for k in t.sources} == {"USA:U0001"}
    window = usa.replays.window(low, SEEN_MS, SEEN_MS + 60_000)
    assert {s.update.nation for s in window.updates} == {"USA"}
    assert all(t.nations == ("USA",) for scene in window.frames for t, _ in scene.fused)


def test_an_update_altered_at_rest_is_never_replayed(trio: Trio) -> None:
    _usa_holding_kor_and_usa(trio)
    usa = trio.rt["USA"]
    with usa.ctx.db.begin() as conn:
        conn.execute(
            update(tables.track_updates)
            .where(tables.track_updates.c.originator == "KOR")
            .values(classification=1)
        )
    made = usa.replays.window(trio.user("USA", Role.ANALYST), SEEN_MS, SEEN_MS + 60_000)
    assert {s.update.nation for s in made.updates} == {"USA"}


def test_an_unknown_event_or_a_window_too_long_says_so(trio: Trio) -> None:
    usa = trio.rt["USA"]
    analyst = trio.user("USA", Role.ANALYST)
    with pytest.raises(NotFound):
        usa.replays.event(analyst, "ev-0000000000000000")
    with pytest.raises(WindowTooLarge, match="at most 180 minutes"):
        usa.replays.window(analyst, SEEN_MS, SEEN_MS + 4 * 3_600_000)
    with pytest.raises(WindowTooLarge, match="at most 360"):
        usa.replays.window(analyst, SEEN_MS, SEEN_MS + 3_600_000, step_ms=1000)


def test_an_event_with_no_track_yet_replays_empty_at_its_time(trio: Trio) -> None:
    event_id = _report(trio, "USA")
    made = trio.rt["USA"].replays.event(trio.user("USA", Role.ANALYST), event_id)
    # "08:24" names the minute from DEFAULT_START_MS; the event's time is its middle.
    assert (made.start_ms, made.updates, made.frames) == (DEFAULT_START_MS + 30_000, (), ())
