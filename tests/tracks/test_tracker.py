"""One nation's tracker: from plots to tracks, through boost, coast, loss and impact."""

from __future__ import annotations

import numpy as np
import pytest

from tisa.tracks import earth
from tisa.tracks.ballistics import PROFILES, MissileType, Trajectory, fly
from tisa.tracks.scoring import nees
from tisa.tracks.sensors import SensorNetwork
from tisa.tracks.sites import LAUNCH_SITES
from tisa.tracks.track import FlightPhase, TrackStatus, TrackUpdate
from tisa.tracks.tracker import NationTracker, TrackerConfig, launch_point_of


@pytest.fixture(scope="module")
def srbm() -> Trajectory:
    site = LAUNCH_SITES["wonsan"].point
    return fly(PROFILES[MissileType.SRBM], site.lat_deg, site.lon_deg, launch_ms=0)


def _track(truth: Trajectory, nation: str, seed: int = 1) -> list[TrackUpdate]:
    network = SensorNetwork.default(nation)
    plots = network.observe({"m": truth}, 0, truth.impact_ms, np.random.default_rng(seed))
    tracker = NationTracker(network)
    updates, i = [], 0
    for t in range(0, truth.impact_ms + 20000, 10000):
        while i < len(plots) and plots[i].time_ms <= t:
            tracker.ingest(plots[i])
            i += 1
        updates.extend(tracker.report(t))
    return updates


def test_a_nation_tracks_an_srbm_from_boost_to_impact(srbm: Trajectory) -> None:
    updates = _track(srbm, "KOR")
    assert {u.track_id for u in updates} == {"K0001"}
    phases = [u.phase for u in updates]
    assert phases[0] is FlightPhase.BOOST
    assert FlightPhase.DESCENT in phases
    assert phases.index(FlightPhase.DESCENT) > phases.index(FlightPhase.BOOST)
    assert updates[-1].status is TrackStatus.IMPACTED
    assert all(u.status is not TrackStatus.IMPACTED for u in updates[:-1])
    flying = [u for u in updates if u.status is TrackStatus.ACTIVE]
    errors = [np.linalg.norm(u.state.vector()[:3] - srbm.state_at(u.time_ms)[:3]) for u in flying]  # type: ignore[index]
    assert float(np.sqrt(np.mean(np.square(errors)))) < 2000.0
    # Past burnout the true impact point lies within the IIP's ellipse (3 sigma, and 2 km
    # for what the ellipse leaves out: the IIP assumes a re-entry vehicle's drag).
    late = [u for u in flying if u.time_ms > srbm.burnout_ms + 30000 and u.impact is not None]
    lat, lon, _ = earth.to_geodetic(srbm.impact_ecef)
    for u in late:
        assert u.impact is not None
        miss = earth.surface_distance(u.impact.point.lat_deg, u.impact.point.lon_deg, lat, lon)
        assert miss < 3 * u.impact.semi_major_m + 2e3


def test_the_tracker_is_consistent_on_its_own_truth(srbm: Trajectory) -> None:
    values = [
        nees(u.state, srbm.state_at(u.time_ms))  # type: ignore[arg-type]
        for u in _track(srbm, "JPN")
        if u.status is TrackStatus.ACTIVE and srbm.state_at(u.time_ms) is not None
    ]
    assert len(values) > 10
    assert 1.0 < float(np.mean(values)) < 15.0


def test_a_launch_point_is_derived_near_the_pad(srbm: Trajectory) -> None:
    updates = _track(srbm, "KOR")
    point = next(u.launch_point for u in updates if u.launch_point is not None)
    pad = LAUNCH_SITES["wonsan"].point
    assert earth.surface_distance(point.lat_deg, point.lon_deg, pad.lat_deg, pad.lon_deg) < 60e3


def test_one_plot_starts_nothing_and_a_quiet_track_is_lost(srbm: Trajectory) -> None:
    network = SensorNetwork.default("JPN")
    plots = network.observe({"m": srbm}, 0, srbm.impact_ms, np.random.default_rng(2))
    tracker = NationTracker(network)
    tracker.ingest(plots[0])
    assert tracker.report(plots[0].time_ms) == []
    for plot in plots[1:20]:
        tracker.ingest(plot)
    last = plots[19].time_ms
    assert [u.status for u in tracker.report(last)] == [TrackStatus.ACTIVE]
    quiet = last + tracker.config.lost_after_ms + 1000
    (lost,) = tracker.report(quiet)
    assert lost.status is TrackStatus.LOST
    assert lost.state.position_sigma_m > 0
    assert tracker.truth_name(lost.track_id) == "m"


def test_a_track_too_blurred_to_report_is_dropped_and_a_new_one_starts(srbm: Trajectory) -> None:
    network = SensorNetwork.default("JPN")
    plots = network.observe({"m": srbm}, 0, srbm.impact_ms, np.random.default_rng(2))
    tracker = NationTracker(network, TrackerConfig(drop_sigma_m=1.0))
    for plot in plots[:10]:
        tracker.ingest(plot)
    gap = plots[9].time_ms + tracker.config.lost_after_ms + 1000
    (lost,) = tracker.report(gap)
    assert lost.status is TrackStatus.LOST
    assert tracker.report(gap + 10000) == []
    for plot in [p for p in plots if p.time_ms > gap][:3]:
        tracker.ingest(plot)
    (again,) = tracker.report(gap + 20000)
    assert again.track_id != lost.track_id
    assert tracker.truth_name(lost.track_id) == tracker.truth_name(again.track_id) == "m"


def test_back_along_the_velocity_to_the_ground() -> None:
    pad = earth.to_ecef(39.0, 127.0, 0.0)
    up = pad / np.linalg.norm(pad)
    x = np.concatenate([pad + 10e3 * up, 500.0 * up])
    point = launch_point_of(x)
    assert point.lat_deg == pytest.approx(39.0, abs=0.01)
    assert point.lon_deg == pytest.approx(127.0, abs=0.01)
