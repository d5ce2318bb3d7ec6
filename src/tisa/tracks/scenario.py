"""A launch or a salvo, flown, seen by every nation, tracked, fused: one reproducible run.

Everything random comes from a seed: each nation draws from its own generator, made from the
seed and the nation's place in the list, so the same seed gives the same plots, tracks and
fused picture on every machine. Nations report on a common grid (`report_period_ms`); the
hub fuses at the same times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tisa.errors import InputInvalid
from tisa.tracks.ballistics import PROFILES, MissileType, Trajectory, fly
from tisa.tracks.fusion import FusedTrack, FusionCenter
from tisa.tracks.sensors import SensorNetwork
from tisa.tracks.sites import LAUNCH_SITES
from tisa.tracks.track import TrackStream, TrackUpdate, check_time
from tisa.tracks.tracker import NationTracker, TrackerConfig

# 18 Dec 2023 08:24 KST, the Hwasong-18 launch: a fixed default start, so runs repeat.
DEFAULT_START_MS = 1702855440000
DEFAULT_MARKING = "SECRET//REL TO USA, JPN, KOR"
NATIONS = ("KOR", "JPN", "USA")


@dataclass(frozen=True)
class Launch:
    """One missile: its name, class, site, launch offset from the scenario start, and
    heading (None: the class's usual one).

    Raises (constructor):
        InputInvalid: an unknown site or a negative offset.
    """

    name: str
    missile: MissileType
    site: str
    offset_ms: int = 0
    azimuth_deg: float | None = None

    def __post_init__(self) -> None:
        if self.site not in LAUNCH_SITES:
            known = ", ".join(sorted(LAUNCH_SITES))
            raise InputInvalid(f"unknown launch site {self.site!r}; known: {known}")
        if self.offset_ms < 0:
            raise InputInvalid("a launch offset is >= 0")


@dataclass(frozen=True)
class Scenario:
    """What to fly and who watches.

    Raises (constructor):
        InputInvalid: no launches, two with one name, a report period under a second, or a
            duration that is not positive.
    """

    launches: tuple[Launch, ...]
    seed: int = 0
    nations: tuple[str, ...] = NATIONS
    start_ms: int = DEFAULT_START_MS
    duration_ms: int | None = None
    report_period_ms: int = 10000
    marking: str = DEFAULT_MARKING
    exercise: bool = True
    tracker: TrackerConfig = field(default_factory=TrackerConfig)

    def __post_init__(self) -> None:
        names = [launch.name for launch in self.launches]
        if not names or len(set(names)) != len(names):
            raise InputInvalid("a scenario has launches with distinct names")
        if self.report_period_ms < 1000:
            raise InputInvalid("report at most once a second")
        if self.duration_ms is not None and self.duration_ms <= 0:
            raise InputInvalid("a duration is > 0")
        check_time(self.start_ms)

    @classmethod
    def salvo(
        cls,
        missile: MissileType,
        site: str,
        count: int = 1,
        *,
        seed: int = 0,
        spacing_ms: int = 30000,
        azimuth_spread_deg: float = 4.0,
        duration_ms: int | None = None,
    ) -> Scenario:
        """`count` missiles of one class from one site, `spacing_ms` apart, their headings
        fanned `azimuth_spread_deg` apart around the class's usual one.

        Raises:
            InputInvalid: a count under one, or as the constructor.
        """
        if count < 1:
            raise InputInvalid("a salvo has at least one missile")
        heading = PROFILES[missile].azimuth_deg
        launches = tuple(
            Launch(
                name=f"M{i + 1}",
                missile=missile,
                site=site,
                offset_ms=i * spacing_ms,
                azimuth_deg=heading + (i - (count - 1) / 2) * azimuth_spread_deg,
            )
            for i in range(count)
        )
        return cls(launches=launches, seed=seed, duration_ms=duration_ms)


@dataclass(frozen=True, eq=False)
class ScenarioResult:
    """A run: the truth of each missile, each nation's stream and updates, the fused
    picture, which missile each nation track followed, and when each nation's radars first
    detected each missile ((nation, missile) to ms; both for scoring only)."""

    scenario: Scenario
    truths: dict[str, Trajectory]
    streams: dict[str, TrackStream]
    updates: dict[str, tuple[TrackUpdate, ...]]
    fused: tuple[FusedTrack, ...]
    truth_of: dict[str, str]
    first_plots: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def report_times(self) -> range:
        """The report grid of the run."""
        s = self.scenario
        return range(s.start_ms, self.end_ms + 1, s.report_period_ms)

    @property
    def end_ms(self) -> int:
        """The last report time."""
        s = self.scenario
        if s.duration_ms is not None:
            return s.start_ms + s.duration_ms
        last = max(t.impact_ms for t in self.truths.values())
        return last + 2 * s.report_period_ms


def fly_all(scenario: Scenario) -> dict[str, Trajectory]:
    """The truth of every launch.

    Raises:
        InputInvalid: a missile that does not come down (see `fly`).
    """
    truths = {}
    for launch in scenario.launches:
        site = LAUNCH_SITES[launch.site].point
        truths[launch.name] = fly(
            PROFILES[launch.missile],
            site.lat_deg,
            site.lon_deg,
            launch_ms=scenario.start_ms + launch.offset_ms,
            azimuth_deg=launch.azimuth_deg,
        )
    return truths


def run(scenario: Scenario) -> ScenarioResult:
    """Fly, observe, track and fuse `scenario`.

    Raises:
        InputInvalid: a nation with no shipped radar network, or as `fly_all`.
        MarkingInvalid: a marking that does not parse or leaves out a nation.
    """
    truths = fly_all(scenario)
    s = scenario
    end_ms = ScenarioResult(s, truths, {}, {}, (), {}).end_ms
    streams: dict[str, TrackStream] = {}
    updates: dict[str, tuple[TrackUpdate, ...]] = {}
    truth_of: dict[str, str] = {}
    first_plots: dict[tuple[str, str], int] = {}
    for index, nation in enumerate(s.nations):
        network = SensorNetwork.default(nation)
        streams[nation] = TrackStream(nation, network.name, s.marking, s.exercise)
        rng = np.random.default_rng([s.seed, index])
        plots = network.observe(truths, s.start_ms, end_ms, rng)
        for plot in plots:
            first_plots.setdefault((nation, plot.target), plot.time_ms)
        tracker = NationTracker(network, s.tracker)
        emitted: list[TrackUpdate] = []
        i = 0
        for t in range(s.start_ms, end_ms + 1, s.report_period_ms):
            while i < len(plots) and plots[i].time_ms <= t:
                tracker.ingest(plots[i])
                i += 1
            emitted.extend(tracker.report(t))
        updates[nation] = tuple(emitted)
        for u in emitted:
            name = tracker.truth_name(u.track_id)
            if name is not None:
                truth_of[u.key] = name
    hub = FusionCenter(max_age_ms=3 * s.report_period_ms, config=s.tracker)
    fused: list[FusedTrack] = []
    for t in range(s.start_ms, end_ms + 1, s.report_period_ms):
        hub.take(u for nation in s.nations for u in updates[nation] if u.time_ms == t)
        fused.extend(hub.fuse(t))
    return ScenarioResult(s, truths, streams, updates, tuple(fused), truth_of, first_plots)
