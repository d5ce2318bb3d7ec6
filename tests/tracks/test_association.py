"""Association across nations: gated, assigned one to one, never nearest-in-time."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tracks_factories import estimate, midcourse, update

from tisa.tracks.association import GATE, associate, distance
from tisa.tracks.track import TrackUpdate


def _clusters(updates: list[TrackUpdate]) -> set[frozenset[str]]:
    return {frozenset(c) for c in associate(updates, {u.key: u.state for u in updates})}


def _set(*clusters: tuple[str, ...]) -> set[frozenset[str]]:
    return {frozenset(c) for c in clusters}


def test_one_missile_seen_by_three_nations_is_one_cluster() -> None:
    rng = np.random.default_rng(0)
    x = midcourse()
    updates = [
        update(n, f"{n[0]}1", estimate(x + np.concatenate([rng.normal(0, 100, 3), np.zeros(3)])))
        for n in ("KOR", "JPN", "USA")
    ]
    assert _clusters(updates) == _set(("JPN:J1", "KOR:K1", "USA:U1"))


def test_two_missiles_of_a_salvo_stay_apart_even_if_one_nation_sees_only_one() -> None:
    a, b = midcourse(), midcourse()
    b[:3] += 20e3 * np.array([0.0, 0.0, 1.0])
    updates = [
        update("KOR", "K1", estimate(a)),
        update("KOR", "K2", estimate(b)),
        update("JPN", "J1", estimate(b + np.array([50.0, 0, 0, 0, 0, 0]))),
    ]
    assert _clusters(updates) == _set(("JPN:J1", "KOR:K2"), ("KOR:K1",))


def test_a_track_far_outside_the_gate_is_its_own_cluster() -> None:
    x = midcourse()
    far = x + np.array([5e3, 0, 0, 0, 0, 0])
    assert distance(estimate(x), estimate(far)) > GATE
    clusters = _clusters([update("KOR", "K1", estimate(x)), update("USA", "U1", estimate(far))])
    assert clusters == _set(("KOR:K1",), ("USA:U1",))


def test_assignment_prefers_the_consistent_pair_over_the_greedy_one() -> None:
    # JPN's J1 lies between K1 and K2, nearer K1; J2 fits only K1. One-to-one assignment
    # gives K1-J2 and K2-J1 (total distance least); greedy nearest would take K1-J1.
    x = midcourse()
    step = np.array([300.0, 0, 0, 0, 0, 0])
    k1, k2 = estimate(x), estimate(x + 2 * step)
    j1, j2 = estimate(x + 0.9 * step), estimate(x - 0.5 * step)
    updates = [
        update("KOR", "K1", k1),
        update("KOR", "K2", k2),
        update("JPN", "J1", j1),
        update("JPN", "J2", j2),
    ]
    assert _clusters(updates) == _set(("KOR:K1", "JPN:J2"), ("KOR:K2", "JPN:J1"))


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(
        st.tuples(st.sampled_from(["KOR", "JPN", "USA"]), st.floats(-3e3, 3e3)),
        min_size=1,
        max_size=8,
    )
)
def test_a_cluster_never_holds_two_tracks_of_one_nation(
    offsets: list[tuple[str, float]],
) -> None:
    x = midcourse()
    updates = [
        update(n, f"T{i}", estimate(x + np.array([d, 0, 0, 0, 0, 0]), 300.0, 10.0))
        for i, (n, d) in enumerate(offsets)
    ]
    clusters = _clusters(updates)
    assert sorted(k for c in clusters for k in c) == sorted(u.key for u in updates)
    for c in clusters:
        nations = [k.split(":")[0] for k in c]
        assert len(nations) == len(set(nations))
