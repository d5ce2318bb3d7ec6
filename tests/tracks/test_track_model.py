"""The exchanged track model: what constructs, what is refused, how an exercise reads."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tracks_factories import estimate, midcourse, update

from tisa.errors import InputInvalid, MarkingInvalid, TrackInvalid
from tisa.tracks.track import (
    GeodeticPoint,
    ImpactPrediction,
    StateEstimate,
    TrackStream,
    quality_of,
)


def test_a_track_invalid_is_input_invalid_and_permanent() -> None:
    assert issubclass(TrackInvalid, InputInvalid)
    assert TrackInvalid.permanent


def test_a_valid_update_constructs_and_names_its_track() -> None:
    u = update("KOR", "K0001", estimate(midcourse()))
    assert u.key == "KOR:K0001"
    assert u.state.matrix().shape == (6, 6)
    assert np.allclose(u.state.vector(), midcourse())


def test_an_asymmetric_covariance_is_refused() -> None:
    p = np.eye(6)
    p[0, 1] = 0.5
    with pytest.raises(TrackInvalid, match="symmetric"):
        StateEstimate(
            position=(1.0, 2.0, 3.0), velocity=(0.0, 0.0, 0.0), covariance=tuple(p.ravel())
        )


def test_a_covariance_that_is_not_positive_semi_definite_is_refused() -> None:
    p = np.diag([1.0, 1.0, 1.0, 1.0, 1.0, -1.0])
    with pytest.raises(TrackInvalid, match="semi-definite"):
        StateEstimate.of(np.zeros(6), p)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_state_that_is_not_finite_is_refused(bad: float) -> None:
    x = np.zeros(6)
    x[3] = bad
    with pytest.raises(TrackInvalid, match="finite"):
        StateEstimate.of(x, np.eye(6))


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(TrackInvalid):
        StateEstimate.of(np.zeros(5), np.eye(6))
    with pytest.raises(TrackInvalid):
        StateEstimate(position=(0.0, 0.0, 0.0), velocity=(0.0, 0.0, 0.0), covariance=(1.0,) * 35)


@pytest.mark.parametrize("when", [-1, 1.5, True])
def test_a_time_is_whole_non_negative_milliseconds(when: object) -> None:
    with pytest.raises(TrackInvalid, match="milliseconds"):
        update("KOR", "K1", estimate(midcourse()), time_ms=when)  # type: ignore[arg-type]


def test_a_nation_is_a_trigraph_and_a_quality_is_four_bits() -> None:
    with pytest.raises(MarkingInvalid):
        update("Korea", "K1", estimate(midcourse()))
    good = update("KOR", "K1", estimate(midcourse()))
    with pytest.raises(TrackInvalid, match="quality"):
        type(good)(**{**good.__dict__, "quality": 16})


def test_points_and_ellipses_check_themselves() -> None:
    with pytest.raises(TrackInvalid):
        GeodeticPoint(91.0, 0.0)
    with pytest.raises(TrackInvalid):
        GeodeticPoint(0.0, 181.0)
    point = GeodeticPoint(40.0, 135.0)
    assert str(point) == "40.000N 135.000E"
    with pytest.raises(TrackInvalid, match="semi-minor"):
        ImpactPrediction(point, semi_major_m=1.0, semi_minor_m=2.0, orientation_deg=0.0, time_ms=0)
    with pytest.raises(TrackInvalid, match="orientation"):
        ImpactPrediction(
            point, semi_major_m=2.0, semi_minor_m=1.0, orientation_deg=180.0, time_ms=0
        )


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (6, 6), elements=st.floats(-1e4, 1e4)))
def test_any_gram_matrix_is_a_covariance(a: np.ndarray) -> None:
    state = StateEstimate.of(np.zeros(6), a @ a.T)
    assert np.allclose(state.matrix(), state.matrix().T)


def test_quality_falls_as_the_position_blurs() -> None:
    qualities = [quality_of(s) for s in (10.0, 50.0, 100.0, 1e3, 1e4, 1e6, math.inf)]
    assert qualities[0] == qualities[1] == 15
    assert qualities == sorted(qualities, reverse=True)
    assert qualities[-1] == 0


def test_an_exercise_stream_says_exercise_and_carries_its_marking() -> None:
    stream = TrackStream("JPN", "JADGE", "SECRET//REL TO USA, JPN, KOR", exercise=True)
    label = stream.label(update("JPN", "J0001", estimate(midcourse())))
    assert label.startswith("(S//REL TO USA, JPN, KOR) EXERCISE ")
    assert label.endswith("EXERCISE")
    assert stream.markings().rel_to == frozenset({"USA", "JPN", "KOR"})
    real = TrackStream("JPN", "JADGE", "SECRET//REL TO USA, JPN", exercise=False)
    assert "EXERCISE" not in real.label(update("JPN", "J0001", estimate(midcourse())))


@pytest.mark.parametrize(
    "marking",
    ["SECRET", "SECRET//REL TO USA, KOR", "SECRET//NOFORN", "secret//REL TO USA, JPN", ""],
)
def test_a_stream_marking_that_does_not_hold_is_refused(marking: str) -> None:
    with pytest.raises(MarkingInvalid):
        TrackStream("JPN", "JADGE", marking, exercise=True)
