"""Correlation: which reports describe the same real-world event.

The rule, for reports of one kind (missile launches, or nuclear tests / seismic events):

* two reports are *linked* when their times are at most the window apart (`launch_window_s`,
  `test_window_s` of the arrangement's `[fusion]` table) and, where both give a position
  (launch position, test site), those positions are at most `launch_distance_km` /
  `test_distance_km` apart; a report without a position links on time alone;
* an event is a connected set of linked reports (single linkage).

So a salvo — several missiles launched minutes apart from one area, reported as one
observation with a count or missile by missile — is one event, and its count is fused from
the reports (see tisa.fusion.picture). A seismic event minutes after a test (the 3 Sep 2017
collapse, about 8 minutes later) is further apart than the test window and stays an event of
its own. Single linkage can chain: reports spaced just under the window apart join into one
event; the windows are chosen short against the hours between real events.

The result does not depend on the order reports arrive in: reports are sorted by
(time, product id, observation index) first, and linking is symmetric. An event's id is
derived from its first-reported member (the product first created, then product id and
observation index), so it stays the same as later reports join the event.

Cost: one sort, then a sweep over time in which each report is compared only with the reports
inside its window; O(n log n + n·w) for w reports per window.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from tisa.domain.arrangement import FusionWindows
from tisa.domain.model import ObservationKind
from tisa.fusion.reports import Report

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Group:
    """The reports of one event, in `Report.key` order, with the event's stable id."""

    id: str
    kind: ObservationKind
    members: tuple[Report, ...]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def event_id(kind: ObservationKind, first: Report) -> str:
    """'ev-' and 16 hex digits of SHA-256 over the kind and the first-reported member."""
    text = f"{kind.value}:{first.source.product_id}:{first.index}"
    return "ev-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _windows(kind: ObservationKind, windows: FusionWindows) -> tuple[float, float]:
    if kind is ObservationKind.MISSILE_LAUNCH:
        return windows.launch_window_s, windows.launch_distance_km
    return windows.test_window_s, windows.test_distance_km


def _find(parent: list[int], i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        parent[i], i = root, parent[i]
    return root


def correlate(reports: Iterable[Report], windows: FusionWindows) -> tuple[Group, ...]:
    """Group reports into events (see the module docstring for the rule).

    Returns the events ordered by their first member's time, then id.
    """
    by_kind: dict[ObservationKind, list[Report]] = {}
    for report in reports:
        by_kind.setdefault(report.kind, []).append(report)
    groups: list[Group] = []
    for kind in sorted(by_kind):
        items = sorted(by_kind[kind], key=lambda r: r.key)
        window, reach = _windows(kind, windows)
        n = len(items)
        times = [r.seconds for r in items]
        places = [r.position for r in items]
        # Radians and cosines once per report; the sweep compares only within the window.
        rad = [
            None
            if p is None
            else (math.radians(p.lat), math.radians(p.lon), math.cos(math.radians(p.lat)))
            for p in places
        ]
        # Compare squared chord lengths on the unit sphere: monotone in great-circle distance.
        chord = 2 * math.sin(min(math.pi, reach / EARTH_RADIUS_KM) / 2)
        limit = chord * chord / 4  # haversine 'h' at the reach
        parent = list(range(n))
        for i in range(n):
            ti, ri = times[i], rad[i]
            j = i + 1
            while j < n and times[j] - ti <= window:
                rj = rad[j]
                if ri is None or rj is None:
                    linked = True
                else:
                    h = (
                        math.sin((rj[0] - ri[0]) / 2) ** 2
                        + ri[2] * rj[2] * math.sin((rj[1] - ri[1]) / 2) ** 2
                    )
                    linked = h <= limit
                if linked:
                    a, b = _find(parent, i), _find(parent, j)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
                j += 1
        members: dict[int, list[Report]] = {}
        for i in range(n):
            members.setdefault(_find(parent, i), []).append(items[i])
        for group in members.values():
            first = min(group, key=lambda r: (r.first_created_at, r.source.product_id, r.index))
            groups.append(Group(event_id(kind, first), kind, tuple(group)))
    groups.sort(key=lambda g: (g.members[0].key, g.id))
    return tuple(groups)
