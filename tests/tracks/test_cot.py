"""Cursor-on-Target events of fused tracks: types, uids, marking, exercise, position and
motion, the impact ellipse, and that TAK's own decoder (takproto) reads what we write."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
import takproto
from defusedxml import ElementTree as SafeET
from hypothesis import given, settings
from hypothesis import strategies as st
from tracks_factories import estimate, midcourse

from tisa.domain.markings import Classification, Markings, Precedence
from tisa.errors import MarkingInvalid, TrackInvalid
from tisa.tracks import earth
from tisa.tracks.cot import (
    ELLIPSE_CONFIDENCE,
    STALE_MS,
    CotType,
    combined_marking,
    cot_time,
    events_for,
    ping,
    uid_of,
)
from tisa.tracks.fusion import FusedTrack
from tisa.tracks.impact import predict_impact
from tisa.tracks.track import FlightPhase, TrackStatus, parse_marking
from tisa.tracks.warning import ellipse_scale

T0 = 1_700_000_000_000
BROAD = parse_marking("SECRET//REL TO USA, JPN, KOR", "KOR")


def fused(
    x: np.ndarray | None = None,
    *,
    fused_id: str = "F0001",
    time_ms: int = T0,
    sources: tuple[str, ...] = ("KOR:K0001",),
    sigma_pos: float = 100.0,
    impact: bool = True,
) -> FusedTrack:
    state = estimate(midcourse() if x is None else x, sigma_pos=sigma_pos)
    return FusedTrack(
        fused_id=fused_id,
        time_ms=time_ms,
        state=state,
        phase=FlightPhase.MIDCOURSE,
        status=TrackStatus.ACTIVE,
        sources=sources,
        impact=predict_impact(state, time_ms) if impact else None,
    )


def parsed(xml: bytes) -> SafeET.Element:
    return SafeET.fromstring(xml)


# -- the combined marking ------------------------------------------------------------------


def test_the_combined_marking_takes_the_highest_level_the_common_rel_to_and_any_orcon() -> None:
    jpn = parse_marking("TOP SECRET//ORCON/REL TO USA, JPN", "JPN")

    marking = combined_marking([BROAD, jpn])

    assert marking.classification is Classification.TOP_SECRET
    assert marking.rel_to == {"USA", "JPN"}
    assert marking.orcon
    assert marking.originators == ("KOR", "JPN")
    assert marking.banner() == "TOP SECRET//ORCON/REL TO USA, JPN"


def test_a_combined_marking_of_nothing_or_of_nothing_in_common_is_refused() -> None:
    with pytest.raises(MarkingInvalid, match="at least one"):
        combined_marking([])
    kor_only = parse_marking("SECRET//REL TO KOR", "KOR")
    jpn_only = parse_marking("SECRET//REL TO JPN", "JPN")
    with pytest.raises(MarkingInvalid, match="no nation in common"):
        combined_marking([kor_only, jpn_only])


PARTIES = ("USA", "KOR", "JPN")


@st.composite
def markings(draw: st.DrawFn) -> Markings:
    originator = draw(st.sampled_from(PARTIES))
    others = draw(st.sets(st.sampled_from(PARTIES)))
    return Markings(
        originator=originator,
        classification=draw(st.sampled_from(list(Classification))),
        rel_to=frozenset({originator, "USA", *others}),  # every stream here is REL TO the hub
        precedence=Precedence.FLASH,
        orcon=draw(st.booleans()),
    )


@given(st.lists(markings(), min_size=1, max_size=5))
def test_the_combined_marking_is_never_less_restrictive_than_any_part(
    parts: list[Markings],
) -> None:
    marking = combined_marking(parts)

    for part in parts:
        assert marking.classification >= part.classification
        assert marking.rel_to <= part.rel_to
        assert marking.orcon >= part.orcon
    assert marking.classification in {p.classification for p in parts}
    assert combined_marking(reversed(parts)).banner() == marking.banner()


# -- the missile ---------------------------------------------------------------------------


def test_a_fused_track_becomes_a_hostile_missile_and_its_impact_point() -> None:
    track = fused(sources=("KOR:K0001", "JPN:J0001"))

    missile, iip = events_for(
        track, marking=combined_marking([BROAD]), exercise=False, origin="KOR", now_ms=T0 + 400
    )

    m = parsed(missile.to_xml())
    assert m.get("type") == "a-h-A-W-M-S-S"
    assert m.get("uid") == "tisa.KOR.live.F0001"
    assert m.get("how") == "m-f"  # two nations' tracks
    assert m.get("time") == "2023-11-14T22:13:20.400Z"
    assert m.get("start") == "2023-11-14T22:13:20.000Z"
    assert m.get("stale") == cot_time(T0 + STALE_MS)
    assert m.get("access") == "SECRET//REL TO USA, JPN, KOR"
    assert m.get("opex") == "o"
    point = m.find("point")
    assert float(point.get("lat")) == pytest.approx(39.5, abs=1e-6)
    assert float(point.get("lon")) == pytest.approx(131.0, abs=1e-6)
    assert float(point.get("hae")) == pytest.approx(300e3, abs=0.1)
    assert float(point.get("ce")) == pytest.approx(100.0)  # 1-sigma 100 m on every axis
    assert float(point.get("le")) == pytest.approx(100.0)
    motion = m.find("detail/track")
    # midcourse(): 3 km/s east, 1 km/s up.
    assert float(motion.get("course")) == pytest.approx(90.0, abs=0.01)
    assert float(motion.get("speed")) == pytest.approx(math.hypot(3000, 1000), abs=0.1)
    assert float(motion.get("slope")) == pytest.approx(math.degrees(math.atan2(1, 3)), abs=0.01)
    assert m.find("detail/contact").get("callsign") == "MSL F0001"
    ours = m.find("detail/tisa")
    assert ours.get("marking") == "SECRET//REL TO USA, JPN, KOR"
    assert ours.get("exercise") == "false"
    assert ours.get("sources") == "KOR:K0001 JPN:J0001"
    remarks = m.find("detail/remarks").text
    assert remarks.startswith("(SECRET//REL TO USA, JPN, KOR) hostile ballistic missile")
    assert "EXERCISE" not in missile.to_xml().decode()

    i = parsed(iip.to_xml())
    assert i.get("type") == "r-u"
    assert i.get("uid") == "tisa.KOR.live.F0001.iip"
    assert i.get("how") == "m-p"
    assert i.find("detail/link").get("uid") == "tisa.KOR.live.F0001"


def test_a_single_nations_track_is_a_trackers_prediction_not_a_fusion() -> None:
    (missile,) = events_for(
        fused(impact=False),
        marking=combined_marking([BROAD]),
        exercise=False,
        origin="USA",
        now_ms=T0,
    )

    assert missile.how.value == "m-p"


def test_an_exercise_says_so_in_opex_callsign_remarks_and_detail() -> None:
    events = events_for(
        fused(), marking=combined_marking([BROAD]), exercise=True, origin="JPN", now_ms=T0
    )

    for event in events:
        e = parsed(event.to_xml())
        assert e.get("opex") == "e"
        assert e.get("uid").startswith("tisa.JPN.exercise.F0001")
        assert e.find("detail/contact").get("callsign").startswith("EXERCISE ")
        remarks = e.find("detail/remarks").text
        assert remarks.startswith("(SECRET//REL TO USA, JPN, KOR) EXERCISE ")
        assert remarks.endswith(" EXERCISE")
        assert e.find("detail/tisa").get("exercise") == "true"


def test_the_uid_stays_with_the_fused_track_as_it_moves() -> None:
    before = fused(midcourse(lon=131.0), time_ms=T0)
    after = fused(midcourse(lon=131.5), time_ms=T0 + 1000, sources=("KOR:K0001", "JPN:J0002"))
    other = fused(midcourse(lon=131.0), fused_id="F0002")

    def uids(track: FusedTrack) -> tuple[str, ...]:
        made = events_for(
            track, marking=combined_marking([BROAD]), exercise=False, origin="KOR", now_ms=T0
        )
        return tuple(e.uid for e in made)

    assert uids(before) == uids(after)
    assert set(uids(before)).isdisjoint(uids(other))
    assert uid_of("KOR", "F0001", exercise=True) != uid_of("KOR", "F0001", exercise=False)
    assert uid_of("KOR", "F0001", exercise=False) != uid_of("JPN", "F0001", exercise=False)


# -- the impact point ----------------------------------------------------------------------


def test_the_impact_point_carries_its_ellipse_time_and_an_enclosing_circle() -> None:
    track = fused()
    impact = track.impact
    assert impact is not None

    _, iip = events_for(
        track, marking=combined_marking([BROAD]), exercise=False, origin="KOR", now_ms=T0
    )

    i = parsed(iip.to_xml())
    k = ellipse_scale(ELLIPSE_CONFIDENCE)
    shape = i.find("detail/shape/ellipse")
    assert float(shape.get("major")) == pytest.approx(k * impact.semi_major_m, abs=0.05)
    assert float(shape.get("minor")) == pytest.approx(k * impact.semi_minor_m, abs=0.05)
    assert float(shape.get("angle")) == pytest.approx(impact.orientation_deg, abs=0.005)
    point = i.find("point")
    assert float(point.get("lat")) == pytest.approx(impact.point.lat_deg, abs=1e-7)
    assert float(point.get("lon")) == pytest.approx(impact.point.lon_deg, abs=1e-7)
    assert point.get("hae") == "0.0"  # on the ellipsoid, and never '-0.0'
    assert float(point.get("ce")) == pytest.approx(float(shape.get("major")))
    when = datetime.fromtimestamp(impact.time_ms / 1000, UTC)
    ours = i.find("detail/tisa")
    assert ours.get("impactTime") == cot_time(impact.time_ms)
    assert ours.get("confidence") == "0.95"
    assert when.strftime("%Y-%m-%dT%H:%M:%S") in i.find("detail/remarks").text
    assert i.find("detail/contact").get("callsign") == "IIP F0001"


def test_a_track_with_no_impact_point_sends_the_missile_alone() -> None:
    events = events_for(
        fused(impact=False),
        marking=combined_marking([BROAD]),
        exercise=False,
        origin="KOR",
        now_ms=T0,
    )

    assert [e.type for e in events] == [CotType.MISSILE]


# -- properties ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    lat=st.floats(-60.0, 60.0),
    lon=st.floats(-179.0, 179.0),
    alt=st.floats(50e3, 1_500e3),
    heading=st.floats(0.0, 360.0, exclude_max=True),
    climb=st.floats(-3000.0, 3000.0),
    sigma=st.floats(10.0, 20_000.0),
)
def test_every_event_places_the_track_where_its_state_is_and_moves_it_as_it_moves(
    lat: float, lon: float, alt: float, heading: float, climb: float, sigma: float
) -> None:
    r = earth.to_ecef(lat, lon, alt)
    east, north, up = earth.enu_rotation(lat, lon)
    h = math.radians(heading)
    v = 2500.0 * (math.sin(h) * east + math.cos(h) * north) + climb * up
    track = fused(np.concatenate([r, v]), sigma_pos=sigma, impact=False)

    (missile,) = events_for(
        track, marking=combined_marking([BROAD]), exercise=False, origin="KOR", now_ms=T0
    )

    m = parsed(missile.to_xml())
    point, motion = m.find("point"), m.find("detail/track")
    # Printed to 7 decimals (~1 cm) after a round trip through ECEF: a few units of the last.
    assert float(point.get("lat")) == pytest.approx(lat, abs=1e-6)
    assert float(point.get("lon")) == pytest.approx(lon, abs=1e-6)
    assert float(point.get("hae")) == pytest.approx(alt, abs=0.1)
    assert float(point.get("ce")) == pytest.approx(sigma, rel=1e-3, abs=0.1)
    course = float(motion.get("course"))
    assert 0.0 <= course < 360.0
    assert abs((course - heading + 180.0) % 360.0 - 180.0) < 0.01
    assert float(motion.get("speed")) == pytest.approx(math.hypot(2500.0, climb), abs=0.1)
    assert float(motion.get("slope")) == pytest.approx(
        math.degrees(math.atan2(climb, 2500.0)), abs=0.01
    )


@given(st.integers(0, 4_102_444_800_000))
def test_cot_times_are_iso_utc_with_milliseconds_and_read_back_exactly(time_ms: int) -> None:
    text = cot_time(time_ms)

    assert text.endswith("Z")
    back = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert round(back.timestamp() * 1000) == time_ms


def test_a_time_before_1970_is_refused() -> None:
    with pytest.raises(TrackInvalid):
        cot_time(-1)


# -- what a TAK decoder reads ----------------------------------------------------------------


def test_takproto_reads_our_events_as_we_meant_them() -> None:
    """TAK's own Python codec turns our XML into TAK Protocol v1: the same uid, type, times,
    point, callsign and course, with marking (access) and exercise (opex) intact, and our
    detail elements kept as XML detail."""
    track = fused()
    for event in events_for(
        track, marking=combined_marking([BROAD]), exercise=True, origin="KOR", now_ms=T0 + 250
    ):
        message = takproto.parse_proto(bytearray(b'<?xml version="1.0"?>' + event.to_xml()))
        assert message is not None
        cot = message.cotEvent
        assert (cot.uid, cot.type) == (event.uid, event.type.value)
        assert (cot.access, cot.opex, cot.qos) == ("SECRET//REL TO USA, JPN, KOR", "e", "9-r-d")
        assert (cot.sendTime, cot.startTime, cot.staleTime) == (T0 + 250, T0, T0 + STALE_MS)
        assert cot.lat == pytest.approx(event.point.lat, abs=1e-7)
        assert cot.lon == pytest.approx(event.point.lon, abs=1e-7)
        assert cot.detail.contact.callsign == event.callsign
        assert "<tisa " in cot.detail.xmlDetail
        if event.type is CotType.MISSILE:
            assert event.motion is not None
            assert cot.detail.track.course == pytest.approx(event.motion.course, abs=0.01)
        else:
            assert "<ellipse " in cot.detail.xmlDetail


def test_a_keep_alive_is_a_tak_ping() -> None:
    event = parsed(ping("KOR", T0).to_xml())

    assert (event.get("type"), event.get("uid")) == ("t-x-c-t", "tisa.KOR-ping")
