"""Which launch event a missile track belongs to: launch point and first-seen time within the
arrangement's launch windows, as correlation links reports."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tisa.domain.arrangement import FusionWindows
from tisa.fusion.membership import LaunchMark, Sighting, closeness, event_of

WINDOWS = FusionWindows()  # 600 s, 150 km
T = 1_702_855_440.0
PYONGYANG = (39.03, 125.75)
SUNAN = (39.20, 125.67)
SINPO = (40.03, 128.18)


def test_a_track_joins_the_launch_reported_near_its_launch_point_and_first_sighting() -> None:
    events = {
        "ev-sunan": (LaunchMark(T, PYONGYANG),),
        "ev-sinpo": (LaunchMark(T + 120, SINPO),),
    }
    assert event_of(Sighting(SUNAN, T + 60), events, WINDOWS) == "ev-sunan"
    assert event_of(Sighting(SINPO, T + 150), events, WINDOWS) == "ev-sinpo"


def test_too_late_too_far_or_without_a_launch_point_joins_nothing() -> None:
    events = {"ev-sunan": (LaunchMark(T, PYONGYANG),)}
    assert event_of(Sighting(SUNAN, T + 601), events, WINDOWS) is None
    assert event_of(Sighting(SINPO, T + 60), events, WINDOWS) is None  # ~260 km away
    assert event_of(Sighting(None, T + 60), events, WINDOWS) is None


def test_a_report_without_a_launch_position_links_on_time_alone() -> None:
    events = {"ev-vague": (LaunchMark(T, None),)}
    assert event_of(Sighting(SINPO, T + 300), events, WINDOWS) == "ev-vague"
    assert closeness(Sighting(SINPO, T + 300), events["ev-vague"], WINDOWS) == (300.0, 0.0)


def test_of_two_fitting_events_the_nearer_in_time_wins() -> None:
    events = {
        "ev-b": (LaunchMark(T + 200, PYONGYANG),),
        "ev-a": (LaunchMark(T, PYONGYANG),),
    }
    assert event_of(Sighting(SUNAN, T + 150), events, WINDOWS) == "ev-b"
    assert event_of(Sighting(SUNAN, T + 50), events, WINDOWS) == "ev-a"
    assert event_of(Sighting(SUNAN, T + 100), events, WINDOWS) == "ev-a"  # a tie: smaller id


@given(
    gap=st.floats(-2000, 2000, allow_nan=False),
    dlat=st.floats(-3, 3, allow_nan=False),
    window=st.floats(1, 3600, allow_nan=False),
    reach=st.floats(1, 500, allow_nan=False),
)
def test_a_joined_track_is_always_within_both_windows(
    gap: float, dlat: float, window: float, reach: float
) -> None:
    windows = FusionWindows(launch_window_s=window, launch_distance_km=reach)
    mark = LaunchMark(T, PYONGYANG)
    near = closeness(Sighting((PYONGYANG[0] + dlat, PYONGYANG[1]), T + gap), (mark,), windows)
    within = abs(gap) <= window - 0.001 and abs(dlat) * 111.19 <= reach * 0.999
    outside = abs(gap) > window + 0.001 or abs(dlat) * 111.19 > reach * 1.001
    if within:
        assert near is not None
    if outside:
        assert near is None
    if near is not None:
        assert near[0] <= window
        assert near[1] <= reach
