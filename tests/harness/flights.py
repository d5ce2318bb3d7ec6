"""A made-up missile flight for the replay and track-event tests: each nation's track of one
missile in midcourse, fast to make (no simulator run), with a launch point and an impact
ellipse that shrinks report by report."""

from __future__ import annotations

import numpy as np

from tisa.tracks import earth
from tisa.tracks.track import (
    FlightPhase,
    GeodeticPoint,
    ImpactPrediction,
    StateEstimate,
    TrackStatus,
    TrackStream,
    TrackUpdate,
)

#: Sunan, by Pyongyang: where a `flight` was launched from.
SUNAN = GeodeticPoint(39.20, 125.67)
#: Where its impact is predicted, and the ellipse's orientation (degrees clockwise from north).
IMPACT = GeodeticPoint(40.0, 136.0)
ORIENTATION_DEG = 30.0
NETWORKS = {"KOR": "Green Pine", "JPN": "J/FPS-5", "USA": "AN/TPY-2"}


def stream(nation: str, *, exercise: bool = True, level: str = "SECRET") -> TrackStream:
    """`nation`'s stream, REL TO all three."""
    return TrackStream(nation, NETWORKS[nation], f"{level}//REL TO USA, JPN, KOR", exercise)


def flight(
    nations: tuple[str, ...] = ("KOR", "JPN", "USA"),
    *,
    start_ms: int = 1_700_000_000_000,
    reports: int = 6,
    every_ms: int = 10_000,
    track_id: str = "0001",
    launch_point: GeodeticPoint | None = SUNAN,
) -> dict[str, list[TrackUpdate]]:
    """Each nation's updates of one missile high over the East Sea, every `every_ms`: the same
    state moved along its velocity (close enough to associate over a minute), the launch
    point, and a 1-sigma impact ellipse of 40 x 10 km / (report number)."""
    r = earth.to_ecef(39.5, 131.0, 300e3)
    east, _, up = earth.enu_rotation(39.5, 131.0)
    velocity = 3000.0 * east + 1000.0 * up
    covariance = np.diag([100.0**2] * 3 + [5.0**2] * 3)
    out: dict[str, list[TrackUpdate]] = {n: [] for n in nations}
    for k in range(reports):
        x = np.concatenate([r + velocity * (k * every_ms / 1000), velocity])
        for nation in nations:
            out[nation].append(
                TrackUpdate(
                    nation=nation,
                    track_id=f"{nation[0]}{track_id}",
                    network=NETWORKS[nation],
                    time_ms=start_ms + k * every_ms,
                    state=StateEstimate.of(x, covariance),
                    phase=FlightPhase.MIDCOURSE,
                    quality=12,
                    status=TrackStatus.ACTIVE,
                    launch_point=launch_point,
                    impact=ImpactPrediction(
                        IMPACT,
                        semi_major_m=40_000.0 / (k + 1),
                        semi_minor_m=10_000.0 / (k + 1),
                        orientation_deg=ORIENTATION_DEG,
                        time_ms=start_ms + 600_000,
                    ),
                )
            )
    return out
