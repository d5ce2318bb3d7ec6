"""The warning decision: an IIP ellipse at a confidence against areas, and the board's
raise / keep / withdraw / end over successive fused pictures."""

from __future__ import annotations

import math

import pymap3d.vincenty
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from tracks_factories import estimate, midcourse

from tisa.errors import InputInvalid
from tisa.tracks.areas import AreaKind, WarningArea
from tisa.tracks.fusion import FusedTrack
from tisa.tracks.track import (
    FlightPhase,
    GeodeticPoint,
    ImpactPrediction,
    TrackStatus,
)
from tisa.tracks.warning import (
    WarningAction,
    WarningBoard,
    WarningPolicy,
    ellipse_scale,
    threatened,
    touches,
)

T0 = 1_702_855_440_000
# A test area: a box of sea, lon 140..141 E, lat 35..36 N; its east edge is lon 141.
BOX = WarningArea("JPN", "test box", AreaKind.EEZ, shapely.box(140.0, 35.0, 141.0, 36.0))
EAST_EDGE = (35.5, 141.0)
K95 = ellipse_scale(0.95)


def east_of_box(km: float) -> GeodeticPoint:
    lat, lon = pymap3d.vincenty.vreckon(*EAST_EDGE, km * 1000.0, 90.0)
    return GeodeticPoint(float(lat), float(lon))


def iip(
    point: GeodeticPoint,
    major_m: float,
    minor_m: float | None = None,
    orientation: float = 90.0,
    time_ms: int = T0 + 300_000,
) -> ImpactPrediction:
    return ImpactPrediction(
        point, major_m, major_m if minor_m is None else minor_m, orientation, time_ms
    )


def fused(
    impact: ImpactPrediction | None,
    time_ms: int,
    *,
    phase: FlightPhase = FlightPhase.MIDCOURSE,
    status: TrackStatus = TrackStatus.ACTIVE,
    fused_id: str = "F0001",
) -> FusedTrack:
    return FusedTrack(
        fused_id=fused_id,
        time_ms=time_ms,
        state=estimate(midcourse()),
        phase=phase,
        status=status,
        sources=("JPN:J0001", "KOR:K0001"),
        impact=impact,
    )


def test_the_95_percent_ellipse_spans_2_45_sigma() -> None:
    assert ellipse_scale(0.95) == pytest.approx(2.4477, abs=1e-4)
    assert ellipse_scale(1 - math.exp(-0.5)) == pytest.approx(1.0)
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(InputInvalid):
            ellipse_scale(bad)


def test_an_ellipse_barely_reaching_an_area_touches_it_and_one_just_short_does_not() -> None:
    point = east_of_box(50.0)
    sigma = 50_000.0 / K95
    assert touches(iip(point, sigma * 1.02), BOX, 0.95)
    assert not touches(iip(point, sigma * 0.98), BOX, 0.95)
    # Inside the area, however small the ellipse.
    assert touches(iip(GeodeticPoint(35.5, 140.5), 0.0), BOX, 0.95)


def test_the_ellipse_s_orientation_counts() -> None:
    point = east_of_box(50.0)
    long_axis = 50_000.0 / K95 * 1.2
    # Major axis east-west (towards the box) reaches it; north-south it does not.
    assert touches(iip(point, long_axis, 1000.0, orientation=90.0), BOX, 0.95)
    assert not touches(iip(point, long_axis, 1000.0, orientation=0.0), BOX, 0.95)


@settings(max_examples=60, deadline=None)
@given(
    km=st.floats(0.0, 400.0),
    bearing=st.floats(0.0, 359.0),
    major_km=st.floats(0.001, 300.0),
    ratio=st.floats(0.0, 1.0),
    orientation=st.floats(0.0, 179.9),
    low=st.floats(0.01, 0.98),
    more=st.floats(0.0, 1.0),
)
def test_a_higher_confidence_never_turns_a_warning_off(
    km: float,
    bearing: float,
    major_km: float,
    ratio: float,
    orientation: float,
    low: float,
    more: float,
) -> None:
    lat, lon = pymap3d.vincenty.vreckon(35.5, 140.5, km * 1000.0, bearing)
    impact = iip(
        GeodeticPoint(float(lat), float(lon)), major_km * 1000, major_km * 1000 * ratio, orientation
    )
    high = low + (0.999 - low) * more
    assert set(threatened(impact, [BOX], low)) <= set(threatened(impact, [BOX], high))


def test_a_warning_is_raised_kept_then_withdrawn_as_the_iip_moves_out() -> None:
    board = WarningBoard("JPN", (BOX,))
    sigma = 10_000.0
    inside = iip(GeodeticPoint(35.5, 140.9), sigma)
    # 2.7 sigma from the edge: outside the 95 % ellipse, inside the 99 % one (3.03 sigma).
    graze = iip(east_of_box(2.7 * sigma / 1000), sigma)
    gone = iip(east_of_box(200.0), sigma)
    raised = board.observe([fused(inside, T0 + 100_000)], T0 + 100_000, exercise=False)
    assert [c.action for c in raised] == [WarningAction.RAISED]
    warning = raised[0].warning
    assert (warning.nation, warning.track_id, warning.areas) == ("JPN", "F0001", ("test box",))
    assert warning.sources == ("JPN:J0001", "KOR:K0001")
    assert warning.impact_time_ms == T0 + 300_000
    assert board.active == (warning,)
    assert board.observe([fused(graze, T0 + 110_000)], T0 + 110_000, exercise=False) == []
    (held,) = board.active  # held, and following the track's newest impact point
    assert held.impact == graze
    assert held.track_id == warning.track_id
    withdrawn = board.observe([fused(gone, T0 + 120_000)], T0 + 120_000, exercise=False)
    assert [c.action for c in withdrawn] == [WarningAction.WITHDRAWN]
    assert board.active == ()
    # The same grazing IIP does not raise a warning afresh: hysteresis.
    assert board.observe([fused(graze, T0 + 130_000)], T0 + 130_000, exercise=False) == []


def test_a_tiny_ellipse_far_away_never_warns_nor_does_a_boosting_track() -> None:
    board = WarningBoard("JPN", (BOX,))
    far = iip(east_of_box(300.0), 100.0)
    for i in range(10):
        t = T0 + i * 10_000
        assert board.observe([fused(far, t)], t, exercise=False) == []
    near = iip(GeodeticPoint(35.5, 140.5), 100.0)
    boosting = fused(near, T0 + 200_000, phase=FlightPhase.BOOST)
    assert board.observe([boosting], T0 + 200_000, exercise=False) == []
    eager = WarningBoard("JPN", (BOX,), WarningPolicy(during_boost=True))
    raised = eager.observe([boosting], T0 + 200_000, exercise=False)
    assert [c.action for c in raised] == [WarningAction.RAISED]


def test_a_warning_ends_at_impact_or_when_a_silent_track_s_impact_time_has_passed() -> None:
    board = WarningBoard("JPN", (BOX,))
    near = iip(GeodeticPoint(35.5, 140.5), 100.0, time_ms=T0 + 300_000)
    board.observe([fused(near, T0), fused(near, T0, fused_id="F0002")], T0, exercise=False)
    down = fused(None, T0 + 290_000, status=TrackStatus.IMPACTED)
    ended = board.observe([down], T0 + 290_000, exercise=False)
    assert [(c.action, c.warning.track_id) for c in ended] == [(WarningAction.ENDED, "F0001")]
    # F0002 fell silent: its warning stands until its predicted impact time has passed.
    assert board.observe([], T0 + 300_000, exercise=False) == []
    late = board.observe([], T0 + 310_000, exercise=False)
    assert [(c.action, c.warning.track_id) for c in late] == [(WarningAction.ENDED, "F0002")]


def test_exercise_warnings_say_so_and_real_ones_do_not() -> None:
    near = iip(GeodeticPoint(35.5, 140.5), 100.0)
    drill = WarningBoard("JPN", (BOX,)).observe([fused(near, T0)], T0, exercise=True)
    real = WarningBoard("JPN", (BOX,)).observe([fused(near, T0)], T0, exercise=False)
    label = drill[0].warning.label()
    assert label.startswith("EXERCISE ")
    assert label.endswith(" EXERCISE")
    assert "test box" in label
    assert "F0001" in label
    assert "EXERCISE" not in real[0].warning.label()
    assert real[0].warning.label().startswith("MISSILE WARNING JPN")


def test_policy_and_board_refuse_what_does_not_hold() -> None:
    with pytest.raises(InputInvalid):
        WarningPolicy(confidence=0.99, hold_confidence=0.95)
    with pytest.raises(InputInvalid):
        WarningPolicy(confidence=1.0)
    with pytest.raises(InputInvalid):
        WarningBoard("KOR", (BOX,))
    with pytest.raises(InputInvalid):
        WarningBoard("JPN", ())
