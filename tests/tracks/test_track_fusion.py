"""Covariance intersection, time alignment, the latest-wins hold, and the hub's picture."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tracks_factories import estimate, midcourse, update

from tisa.errors import TrackInvalid
from tisa.tracks.fusion import (
    FusedTrack,
    FusionCenter,
    align,
    covariance_intersection,
    fuse_estimates,
    latest,
)
from tisa.tracks.track import FlightPhase, TrackStatus

T0 = 1_700_000_000_000

_matrices = arrays(np.float64, (6, 6), elements=st.floats(-10.0, 10.0))


def _spd(a: np.ndarray) -> np.ndarray:
    return a @ a.T + np.eye(6)


def _psd(m: np.ndarray) -> bool:
    return float(np.min(np.linalg.eigvalsh((m + m.T) / 2))) >= -1e-6 * max(1.0, np.abs(m).max())


@settings(max_examples=60, deadline=None)
@given(_matrices, _matrices)
def test_ci_is_never_more_confident_than_independent_fusion_nor_less_than_its_best_input(
    a: np.ndarray, b: np.ndarray
) -> None:
    pa, pb = _spd(a), _spd(b)
    _, p, w = covariance_intersection((np.zeros(6), pa), (np.ones(6), pb))
    independent = np.linalg.inv(np.linalg.inv(pa) + np.linalg.inv(pb))
    assert 0.0 <= w <= 1.0
    assert _psd(p - independent)  # never smaller than what the inputs justify
    assert np.trace(p) <= min(np.trace(pa), np.trace(pb)) * (1 + 1e-9)


def test_ci_of_one_estimate_twice_claims_nothing_new() -> None:
    p = np.diag([4.0, 9.0, 1.0, 0.1, 0.2, 0.3])
    x = np.arange(6.0)
    xf, pf, _ = covariance_intersection((x, p), (x, p))
    assert np.allclose(pf, p)
    assert np.allclose(xf, x)


def test_ci_stays_consistent_when_the_errors_are_fully_correlated() -> None:
    # Two nations making the same error (shared model error): a Kalman-style combination
    # halves the covariance and is overconfident; CI is not.
    rng = np.random.default_rng(5)
    pa = np.diag([100.0, 100.0, 400.0, 1.0, 1.0, 4.0])
    pb = np.diag([400.0, 100.0, 100.0, 4.0, 1.0, 1.0])
    root = np.linalg.cholesky(np.minimum(pa, pb))
    ci, naive = [], []
    for _ in range(500):
        e = root @ rng.standard_normal(6)
        x, p, _ = covariance_intersection((e, pa), (e, pb))
        ci.append(x @ np.linalg.solve(p, x))
        pn = np.linalg.inv(np.linalg.inv(pa) + np.linalg.inv(pb))
        xn = pn @ (np.linalg.solve(pa, e) + np.linalg.solve(pb, e))
        naive.append(xn @ np.linalg.solve(pn, xn))
    assert np.mean(ci) < 6.0 * 1.1
    assert np.mean(naive) > np.mean(ci)


def test_fuse_estimates_needs_something_to_fuse() -> None:
    with pytest.raises(TrackInvalid):
        fuse_estimates([])
    one = estimate(midcourse())
    assert fuse_estimates([one]) == one


def test_align_coasts_forward_and_grows_the_covariance() -> None:
    state = estimate(midcourse())
    later = align(state, 20.0)
    assert np.linalg.norm(later.vector()[:3] - state.vector()[:3]) == pytest.approx(
        20 * np.linalg.norm(state.vector()[3:]), rel=0.05
    )
    assert later.position_sigma_m > state.position_sigma_m
    assert align(state, 0.0) == state
    with pytest.raises(TrackInvalid):
        align(state, -1.0)


def test_latest_wins_per_track() -> None:
    old = update("KOR", "K1", estimate(midcourse()), time_ms=T0)
    new = update("KOR", "K1", estimate(midcourse(alt=310e3)), time_ms=T0 + 10000)
    other = update("JPN", "J1", estimate(midcourse()), time_ms=T0)
    assert latest([new, old, other]) == {"KOR:K1": new, "JPN:J1": other}
    assert latest([old, new])["KOR:K1"] is new


def test_the_hub_fuses_two_nations_keeps_the_fused_id_and_marks_a_lone_track() -> None:
    x = midcourse()
    hub = FusionCenter()
    hub.take([update("KOR", "K1", estimate(x), time_ms=T0)])
    (alone,) = hub.fuse(T0)
    assert alone.single_nation
    assert alone.nations == ("KOR",)
    assert alone.impact is not None
    hub.take([update("JPN", "J1", estimate(x + np.array([80.0, 0, 0, 0, 0, 0])), time_ms=T0)])
    (both,) = hub.fuse(T0)
    assert both.fused_id == alone.fused_id
    assert set(both.sources) == {"KOR:K1", "JPN:J1"}
    assert not both.single_nation
    assert both.state.position_sigma_m <= alone.state.position_sigma_m


def test_a_fused_impact_point_is_flown_again_when_due_or_when_its_nations_change() -> None:
    x = midcourse()
    nudge = np.array([10.0, 0, 0, 0, 0, 0])
    hub = FusionCenter(iip_every_ms=1000)
    hub.take([update("KOR", "K1", estimate(x), time_ms=T0)])
    (first,) = hub.fuse(T0)
    hub.take([update("KOR", "K1", estimate(x + nudge), time_ms=T0 + 100)])
    (soon,) = hub.fuse(T0 + 100)
    assert soon.impact is first.impact  # not due: the last prediction stands
    hub.take([update("JPN", "J1", estimate(x + 8 * nudge), time_ms=T0 + 100)])
    (joined,) = hub.fuse(T0 + 200)
    assert set(joined.sources) == {"KOR:K1", "JPN:J1"}
    assert joined.impact is not first.impact  # a nation joined: flown again at once
    (again,) = hub.fuse(T0 + 300)
    assert again.impact is joined.impact
    (due,) = hub.fuse(T0 + 1200)
    assert due.impact is not None
    assert due.impact is not joined.impact


def test_the_hub_drops_stale_tracks_and_an_impacted_one_after_its_last_word() -> None:
    hub = FusionCenter(max_age_ms=20000)
    hub.take([update("KOR", "K1", estimate(midcourse()), time_ms=T0)])
    assert hub.fuse(T0 + 30000) == []
    hub.take([update("USA", "U1", estimate(midcourse()), time_ms=T0, status=TrackStatus.IMPACTED)])
    (last,) = hub.fuse(T0)
    assert last.status is TrackStatus.IMPACTED
    assert last.impact is None
    assert hub.fuse(T0) == []


def test_a_fused_track_rests_on_something() -> None:
    with pytest.raises(TrackInvalid):
        FusedTrack(
            fused_id="F1",
            time_ms=T0,
            state=estimate(midcourse()),
            phase=FlightPhase.MIDCOURSE,
            status=TrackStatus.ACTIVE,
            sources=(),
        )


def test_when_a_track_splits_off_two_fused_tracks_never_share_an_id() -> None:
    x = midcourse()
    hub = FusionCenter()
    hub.take(
        [update("KOR", "K1", estimate(x), time_ms=T0), update("JPN", "J1", estimate(x), time_ms=T0)]
    )
    (together,) = hub.fuse(T0)
    far = x + np.array([50e3, 0, 0, 0, 0, 0])
    hub.take(
        [
            update("KOR", "K1", estimate(x), time_ms=T0 + 10000),
            update("JPN", "J1", estimate(far), time_ms=T0 + 10000),
        ]
    )
    apart = hub.fuse(T0 + 10000)
    assert len(apart) == 2
    assert len({f.fused_id for f in apart}) == 2
    assert together.fused_id in {f.fused_id for f in apart}
