"""Whole runs: salvos, what each nation sees, the fused picture, and its consistency."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import chi2

from tisa.errors import InputInvalid, MarkingInvalid
from tisa.tracks.ballistics import PROFILES, MissileType
from tisa.tracks.scenario import Launch, Scenario, ScenarioResult, run
from tisa.tracks.scoring import FUSED, nees, score
from tisa.tracks.track import TrackStatus


def test_a_scenario_checks_itself() -> None:
    with pytest.raises(InputInvalid):
        Scenario(launches=())
    one = Launch("M1", MissileType.SRBM, "wonsan")
    with pytest.raises(InputInvalid):
        Scenario(launches=(one, one))
    with pytest.raises(InputInvalid):
        Launch("M1", MissileType.SRBM, "atlantis")
    with pytest.raises(InputInvalid):
        Scenario(launches=(one,), report_period_ms=500)
    with pytest.raises(InputInvalid):
        Scenario.salvo(MissileType.SRBM, "wonsan", 0)
    with pytest.raises(MarkingInvalid):
        run(Scenario(launches=(one,), marking="SECRET//REL TO USA, KOR", duration_ms=10000))


def test_a_salvo_fans_out_in_time_and_heading() -> None:
    salvo = Scenario.salvo(MissileType.MRBM, "sinpo", 3, spacing_ms=20000)
    assert [launch.offset_ms for launch in salvo.launches] == [0, 20000, 40000]
    heading = PROFILES[MissileType.MRBM].azimuth_deg
    assert [launch.azimuth_deg for launch in salvo.launches] == [heading - 4, heading, heading + 4]


def _short_salvo(seed: int, nations: tuple[str, ...] = ("KOR", "JPN")) -> ScenarioResult:
    scenario = dataclasses.replace(
        Scenario.salvo(MissileType.SRBM, "wonsan", 2, seed=seed, duration_ms=150000),
        nations=nations,
    )
    return run(scenario)


def _truth_of_fused(result: ScenarioResult) -> dict[str, set[str]]:
    missiles: dict[str, set[str]] = {}
    for f in result.fused:
        missiles.setdefault(f.fused_id, set()).update(result.truth_of[s] for s in f.sources)
    return missiles


def test_the_missiles_of_a_salvo_never_merge_and_each_rests_on_both_nations() -> None:
    # (The same seed giving the same bytes is tests/cli/test_simulate.py's.)
    first = _short_salvo(4)
    assert all(len(m) == 1 for m in _truth_of_fused(first).values())
    # Each missile, once both nations hold it, is one fused track resting on both.
    for missile in ("M1", "M2"):
        both = [
            f
            for f in first.fused
            if {first.truth_of[s] for s in f.sources} == {missile} and len(f.nations) == 2
        ]
        assert both, missile


@pytest.mark.slow
def test_a_three_missile_salvo_seen_by_three_nations() -> None:
    result = run(Scenario.salvo(MissileType.SRBM, "wonsan", 3, seed=11))
    assert all(len(m) == 1 for m in _truth_of_fused(result).values())
    for missile in ("M1", "M2", "M3"):
        held = [f for f in result.fused if result.truth_of[f.sources[0]] == missile]
        assert any(f.nations == ("JPN", "KOR", "USA") for f in held)
    scores = {(s.source, s.missile): s for s in score(result)}
    for missile in ("M1", "M2", "M3"):
        kor, jpn = scores[("KOR", missile)], scores[("JPN", missile)]
        assert kor.first_report_s is not None
        assert jpn.first_report_s is not None
        assert kor.first_report_s < jpn.first_report_s
        assert scores[(FUSED, missile)].first_report_s == kor.first_report_s


@pytest.mark.slow
def test_the_fused_track_is_consistent_over_seeded_runs() -> None:
    """ANEES of the fused track against truth, at fixed times after launch, over ten runs.

    A consistent estimate has ANEES inside the two-sided 95 % chi-square interval for
    6 x runs degrees of freedom (divided by runs). CI is conservative by design, so the fused
    track must not exceed the upper bound (never overconfident) and may fall under the lower
    one; it must not be uselessly pessimistic either (ANEES above 1, a sixth of 6).

    Checked from two minutes after launch: across burnout (55 s for this SRBM) the trackers'
    acceleration state cannot follow the thrust's sudden end and the fused track is
    overconfident for a few reports (ANEES ~30 at 60 s); docs/tracks.md records it.
    """
    runs = 10
    upper = chi2.ppf(0.975, 6 * runs) / runs
    by_time: dict[int, list[float]] = {}
    for seed in range(runs):
        result = run(Scenario.salvo(MissileType.SRBM, "wonsan", 1, seed=100 + seed))
        truth = result.truths["M1"]
        for f in result.fused:
            state = truth.state_at(f.time_ms)
            after = f.time_ms - truth.launch_ms
            if state is not None and f.status is TrackStatus.ACTIVE and after % 60000 == 0:
                by_time.setdefault(after, []).append(nees(f.state, state))
    assert set(by_time) >= {120000, 180000, 240000}
    for after, values in sorted(by_time.items()):
        if len(values) == runs and after >= 120000:
            anees = float(np.mean(values))
            assert 1.0 < anees < upper, (after, anees)
