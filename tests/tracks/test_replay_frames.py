"""A past flight played again: frames at a fixed step, each fused from what was known then."""

from __future__ import annotations

from dataclasses import replace

import pytest
from harness.flights import flight
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.errors import TrackInvalid, WindowTooLarge
from tisa.tracks.replay import (
    MAX_FRAMES,
    STEP_MS,
    default_step,
    frame_times,
    last_seen,
    replay,
)
from tisa.tracks.track import StateEstimate

T0 = 1_700_000_000_000


def test_each_frame_fuses_only_what_was_known_then() -> None:
    updates = [u for us in flight(("KOR", "JPN"), start_ms=T0 + 5_000).values() for u in us]

    frames = replay(updates, T0, T0 + 60_000, STEP_MS)

    assert [f.time_ms for f in frames] == [T0 + k * STEP_MS for k in range(7)]
    assert frames[0].fused == ()  # nothing seen yet at T0
    first = frames[1].fused
    assert [(t.fused_id, t.sources) for t in first] == [("F0001", ("JPN:J0001", "KOR:K0001"))]
    assert all(f.fused[0].fused_id == "F0001" for f in frames[1:])
    # The fused estimate is no later than its frame, and no update from after it is used.
    assert all(t.time_ms == f.time_ms for f in frames for t in f.fused)


def test_a_track_gone_quiet_leaves_the_picture() -> None:
    updates = flight(("KOR",), start_ms=T0, reports=2)["KOR"]

    frames = replay(updates, T0, T0 + 80_000, STEP_MS)

    assert [len(f.fused) for f in frames] == [1, 1, 1, 1, 1, 0, 0, 0, 0]  # fresh 30 s after
    (kept,) = last_seen(frames)
    assert kept.time_ms == T0 + 40_000


def test_two_missiles_of_one_nation_stay_two_fused_tracks() -> None:
    one = flight(("KOR",), start_ms=T0)["KOR"]
    other = [replace(u, track_id="K0002", state=_moved(u.state)) for u in one]

    (frame,) = replay([*one, *other], T0 + 20_000, T0 + 20_000)

    assert [t.sources for t in frame.fused] == [("KOR:K0001",), ("KOR:K0002",)]


def _moved(state: StateEstimate) -> StateEstimate:
    x = state.vector()
    x[:3] += 300_000.0
    return StateEstimate.of(x, state.matrix())


@pytest.mark.parametrize(
    ("start", "end", "step", "error"),
    [
        (T0, T0 - 1, STEP_MS, TrackInvalid),
        (-1, T0, STEP_MS, TrackInvalid),
        (T0, T0 + 1000, 999, TrackInvalid),
        (T0, T0 + MAX_FRAMES * 1000, 1000, WindowTooLarge),
    ],
)
def test_a_window_that_does_not_hold_says_why(
    start: int, end: int, step: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        frame_times(start, end, step)


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 2**42),
    span=st.integers(0, 4 * 3_600_000),
    step=st.integers(1000, 600_000),
)
def test_frames_cover_the_window_or_are_refused(start: int, span: int, step: int) -> None:
    try:
        times = frame_times(start, start + span, step)
    except WindowTooLarge:
        assert span / step + 1 > MAX_FRAMES
        return
    assert times[0] == start
    assert times[-1] >= start + span > times[-1] - step or span == 0
    assert len(times) <= MAX_FRAMES


@given(start=st.integers(0, 2**42), span=st.integers(0, 3 * 3_600_000))
def test_the_default_step_always_fits(start: int, span: int) -> None:
    step = default_step(start, start + span)
    assert step >= STEP_MS
    assert step % 1000 == 0
    assert len(frame_times(start, start + span, step)) <= MAX_FRAMES
