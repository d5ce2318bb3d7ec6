"""Scores against truth: first report, position error, IIP error, consistency."""

from __future__ import annotations

import dataclasses

from tisa.tracks.ballistics import MissileType
from tisa.tracks.scenario import Scenario, run
from tisa.tracks.scoring import FUSED, score


def test_each_source_is_scored_on_each_missile_and_fusion_reports_first() -> None:
    scenario = dataclasses.replace(
        Scenario.salvo(MissileType.SRBM, "wonsan", 1, seed=2, duration_ms=130000),
        nations=("KOR", "JPN"),
    )
    scores = {s.source: s for s in score(run(scenario))}
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
