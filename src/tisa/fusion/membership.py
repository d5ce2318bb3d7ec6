"""Which missile-launch event a missile track belongs to: the join of the live tracks with
the event picture.

The rule is correlation's (tisa.fusion.correlation), with the track standing in for one more
launch report: a track belongs to a launch event when its first-seen time is within the
arrangement's `launch_window_s` of one of the event's launch reports and its derived launch
point within `launch_distance_km` of that report's launch position (a report that gives no
position links on time alone, as in correlation). A track with no launch point yet belongs to
no event: on time alone it would join whatever was reported in the last ten minutes. When a
track fits several events (two launches minutes apart), it joins the one reported nearest in
time, then the nearest in place, then the smaller id, so the answer never depends on order.

Plain numbers in, an event id out: the tracks package (`tisa.tracks`) and this one are pure
siblings, so the caller (tisa.services) turns tracks into `Sighting`s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tisa.domain.arrangement import FusionWindows
from tisa.domain.model import ObservationKind
from tisa.fusion.correlation import distance_km
from tisa.fusion.picture import Event


@dataclass(frozen=True)
class Sighting:
    """A missile track as the join sees it: its derived launch point (degrees; None until the
    tracker has one) and when it was first seen (seconds since the epoch, UTC)."""

    launch: tuple[float, float] | None
    first_seen_s: float


@dataclass(frozen=True)
class LaunchMark:
    """One launch report of an event: its time (s since the epoch) and launch position."""

    time_s: float
    position: tuple[float, float] | None


def launches_of(events: Iterable[Event]) -> dict[str, tuple[LaunchMark, ...]]:
    """Each missile-launch event's launch reports, by event id (other kinds left out)."""
    marks: dict[str, tuple[LaunchMark, ...]] = {}
    for event in events:
        if event.kind is not ObservationKind.MISSILE_LAUNCH:
            continue
        marks[event.id] = tuple(
            LaunchMark(r.seconds, None if r.position is None else (r.position.lat, r.position.lon))
            for r in event.reports
        )
    return marks


def closeness(
    sighting: Sighting, launches: Sequence[LaunchMark], windows: FusionWindows
) -> tuple[float, float] | None:
    """How near the track is to the event's nearest fitting launch report (seconds apart,
    km apart; 0 km for a report without a position), or None when it fits none."""
    if sighting.launch is None:
        return None
    best: tuple[float, float] | None = None
    for mark in launches:
        gap = abs(sighting.first_seen_s - mark.time_s)
        if not math.isfinite(gap) or gap > windows.launch_window_s:
            continue
        far = 0.0 if mark.position is None else distance_km(*sighting.launch, *mark.position)
        if far > windows.launch_distance_km:
            continue
        if best is None or (gap, far) < best:
            best = (gap, far)
    return best


def event_of(
    sighting: Sighting,
    events: Mapping[str, Sequence[LaunchMark]],
    windows: FusionWindows,
) -> str | None:
    """The id of the launch event `sighting` belongs to, or None (see the module docstring)."""
    fits = []
    for event_id, launches in events.items():
        near = closeness(sighting, launches, windows)
        if near is not None:
            fits.append((near, event_id))
    return min(fits)[1] if fits else None
