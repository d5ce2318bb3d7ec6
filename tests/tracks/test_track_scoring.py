"""Scores against truth: first report, position error, IIP error, consistency."""

from __future__ import annotations

import dataclasses

import pytest
from scipy.stats import chi2

from tisa.errors import InputInvalid
from tisa.tracks.ballistics import MissileType
from tisa.tracks.scenario import Scenario, ScenarioResult, run
from tisa.tracks.scoring import FUSED, anees_interval, fused_samples, score
from tisa.tracks.track import TrackStatus


@pytest.fixture(scope="module")
def two_nations() -> ScenarioResult:
    """One SRBM from Wonsan watched by KOR and JPN, the first 130 s of its flight."""
    scenario = dataclasses.replace(
        Scenario.salvo(MissileType.SRBM, "wonsan", 1, seed=2, duration_ms=130000),
        nations=("KOR", "JPN"),
    )
    return run(scenario)


def test_each_source_is_scored_on_each_missile_and_fusion_reports_first(
    two_nations: ScenarioResult,
) -> None:
    scores = {s.source: s for s in score(two_nations)}
    assert set(scores) == {"KOR", "JPN", FUSED}
    kor, jpn, fused = scores["KOR"], scores["JPN"], scores[FUSED]
    assert kor.first_report_s is not None
    assert jpn.first_report_s is not None
    assert 0 < kor.first_report_s < jpn.first_report_s
    assert fused.first_report_s == kor.first_report_s
    assert kor.first_detection_s is not None
    assert 0 < kor.first_detection_s <= kor.first_report_s
    assert fused.first_detection_s == kor.first_detection_s
    for s in (kor, jpn, fused):
        assert s.position_rms_m is not None
        assert 0 < s.position_rms_m < 5000
        assert s.anees is not None
    # 60 s after launch the SRBM is at burnout: its IIP is known to tens of km, not better.
    assert kor.iip_error_60s_m is not None
    assert kor.iip_error_60s_m < 300e3
    # At apogee (~160 s) the run has ended (130 s): no report is near enough to score.
    assert fused.iip_error_apogee_m is None


def test_fused_samples_are_the_fused_reports_in_flight_against_their_inputs(
    two_nations: ScenarioResult,
) -> None:
    samples = fused_samples(two_nations)
    in_flight = [
        f
        for f in two_nations.fused
        if f.status is TrackStatus.ACTIVE
        and two_nations.truths["M1"].state_at(f.time_ms) is not None
    ]
    assert [s.time_ms for s in samples] == [f.time_ms for f in in_flight]
    assert {s.missile for s in samples} == {"M1"}
    for s, f in zip(samples, in_flight, strict=True):
        assert set(s.nations) == set(f.nations)
        assert 0 < s.since_launch_s <= 130
        assert s.best_single_m == min(s.source_error_m.values())
        assert set(s.source_nees) == set(s.source_error_m) == set(s.source_sigma_m)
        assert s.source_sigma_m[s.most_confident] == min(s.source_sigma_m.values())
        if f.single_nation:
            # One input: the fused estimate is that input, error and consistency alike.
            (nation,) = s.nations
            assert s.error_m == pytest.approx(s.source_error_m[nation])
            assert s.nees == pytest.approx(s.source_nees[nation])
    # KOR reports first (alone), JPN joins later: both kinds of report are there.
    assert len(samples[0].nations) == 1
    assert any(len(s.nations) == 2 for s in samples)


def test_the_anees_band_is_the_chi_square_interval_per_sample() -> None:
    low, high = anees_interval(10)
    assert (low, high) == pytest.approx((chi2.ppf(0.025, 60) / 10, chi2.ppf(0.975, 60) / 10))
    assert (round(low, 2), round(high, 2)) == (4.05, 8.33)  # docs/tracks.md quotes these
    # More samples, a narrower band around the dimension.
    wide, narrow = anees_interval(10, 3), anees_interval(10_000, 3)
    assert wide[0] < narrow[0] < 3 < narrow[1] < wide[1]


@pytest.mark.parametrize(
    ("samples", "dimension", "confidence"), [(0, 6, 0.95), (5, 0, 0.95), (5, 6, 1.0)]
)
def test_an_anees_band_needs_samples_a_dimension_and_a_confidence(
    samples: int, dimension: int, confidence: float
) -> None:
    with pytest.raises(InputInvalid):
        anees_interval(samples, dimension, confidence)
