"""Correlation: which reports describe the same real-world event, and which missile of it.

Reports are associated by what they say — each one's stated (or default) uncertainty of time
and place, its missile class and the site it names — and by assignment, not by chaining:

1. **A nation's accounts.** For launches, each nation's reports are first grouped into the
   salvos that nation saw: a report joins the nation's open account when it comes at most
   `SALVO_GAP_S` after that account's last missile (give or take two sigmas of the two
   times) and at the same place (positions within the
   place gate and the reach, named sites within `SITE_REACH_KM`; a report without a position is
   at no place in particular and joins on time). A nation never reports one missile twice
   except by amending its product, so two reports of one nation are two missiles, and two
   accounts of one nation are two events: they never merge. Nuclear tests have no salvos, and
   one nation's agencies (JMA, MOD) may each report a test: each product is its own account.
2. **Blocking.** Accounts whose times are within the arrangement's window (`launch_window_s`,
   `test_window_s`) and whose positions are within its reach (`launch_distance_km`,
   `test_distance_km`) fall in one block; nothing outside a block can be associated. The
   windows are the outer bound; the gates below decide.
3. **Assignment.** Within a block, the accounts of each nation in turn (positioned accounts
   first, then those without a position; nations in name order) are assigned to the events
   built so far by `scipy.optimize.linear_sum_assignment`, at most one account per nation per
   event. A pair is allowed (gated) when

       d²_time  = gap² / (σa² + σb² + σ_sys²) ≤ TIME_GATE        (4 σ)
       d²_place = distance² / (σa² + σb²)      ≤ PLACE_GATE       (χ²₂ at 99.9 %)

   with gap the distance between the two accounts' time spans (first to last missile), σ the
   times' one-sigmas (intervals included, tisa.fusion.quantities), σ_sys = `TIME_SYSTEMATIC_S`
   for what differs between nations' clocks (detection against launch time), the missile
   classes compatible (equal or unknown; adjacent classes — SRBM/MRBM/IRBM/ICBM neighbours,
   hypersonic against MRBM/IRBM, SLV against IRBM/ICBM — cost `CLASS_PENALTY`; others never
   match) and named sites within `SITE_REACH_KM`. Its cost is d²_time + d²_place (+ penalty)
   − (TIME_GATE + PLACE_GATE + 1), so any gated pair beats leaving both apart and the
   assignment takes the most likely set of pairs. An account that gates nowhere starts an
   event of its own.
4. **Reports without a place** join the most likely event; when two events at different places
   fit about equally well (d² within `AMBIGUOUS` — a likelihood ratio under 4) the report stays
   an event of its own and a note says which events it could have been.
5. **Time zones.** An account left alone that fits another event in place and class when
   shifted by a whole number of hours (1 to 26: KST tagged as UTC is 9 h, a sign error 18 h,
   HST against JST 19 h; and half hours, for Pyongyang time's +8:30) is linked to it, and a
   note flags a probable time-zone error; its times are left out of the fused time. It needs
   a position or a named site, and so does the event it joins (or, for an event without a
   place, a missile class they share): on time alone, an hour's shift would find some event
   too often. Between two lone accounts, the one first reported keeps its time.
6. **Missiles.** Within an event, each nation's per-missile reports (no count, or a count of
   one) are matched to the missiles of the nation that reports the most of them, by time (an
   assignment again; a report further than 4 σ from every missile is a missile of its own). A
   "N missiles" report describes the salvo; its time is its first missile's (unless its
   nation also reports missile by missile: then it only counts). So missiles' times are
   never fused as one measurement, and each missile keeps its own figures.

The result does not depend on the order reports arrive in: everything is sorted first (time,
product id, observation index; nations by name). An event's id is derived from its
first-reported member (the product first created, then product id and observation index), so
it stays the same as later reports join the event.

Cost: one sort and a windowed sweep (O(n log n + n·w)), then small assignments per block.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from scipy.optimize import linear_sum_assignment

from tisa.domain.arrangement import FusionWindows
from tisa.domain.model import MissileClass, MissileLaunch, ObservationKind, Qualifier
from tisa.fusion.quantities import Quantity, default_sigma, interval_of, iso_utc
from tisa.fusion.reports import Report, Source
from tisa.fusion.sites import SITE_REACH_KM, Site, site_named

EARTH_RADIUS_KM = 6371.0

#: A nation's missiles from one place at most this far apart (s) are one salvo.
SALVO_GAP_S = 300.0
#: What differs between nations' times beyond their stated sigmas (detection against launch).
TIME_SYSTEMATIC_S = 30.0
#: d² gates: time (4 σ) and place (χ² with 2 degrees of freedom at 99.9 %).
TIME_GATE = 16.0
PLACE_GATE = 13.8
#: d² added for adjacent missile classes (one nation's IRBM is another's MRBM).
CLASS_PENALTY = 4.0
#: Two candidate events within this d² of each other are about equally likely.
AMBIGUOUS = 2.77
#: Hours a time-zone mistake can shift a time by: whole hours, and half hours for Pyongyang
#: time (UTC+8:30 in 2015–2018) tagged as another zone.
ZONE_SHIFTS_H = tuple(h for k in range(1, 53) for h in (k / 2, -k / 2))

_LADDER = (MissileClass.SRBM, MissileClass.MRBM, MissileClass.IRBM, MissileClass.ICBM)
_NEIGHBOURS = {
    frozenset({MissileClass.HYPERSONIC, MissileClass.MRBM}),
    frozenset({MissileClass.HYPERSONIC, MissileClass.IRBM}),
    frozenset({MissileClass.SLV, MissileClass.IRBM}),
    frozenset({MissileClass.SLV, MissileClass.ICBM}),
    frozenset({MissileClass.SLBM, MissileClass.SRBM}),
    frozenset({MissileClass.SLBM, MissileClass.MRBM}),
} | {frozenset(pair) for pair in itertools.pairwise(_LADDER)}
_UNASSIGNED = 1e9


class NoteKind(StrEnum):
    """What a note on an event says."""

    ZONE = "probable-zone-error"
    ALONE = "left-alone"


@dataclass(frozen=True)
class Note:
    """Something correlation decided that a reader should know, about one report."""

    kind: NoteKind
    source: Source
    index: int
    text: str


@dataclass(frozen=True)
class Group:
    """The reports of one event, in `Report.key` order, with the event's stable id.

    `missiles` are the event's missiles in time order, each the reports that describe it (a
    salvo's "N missiles" reports go with its first); `count` is how many missiles the event
    has (a nation may count missiles nobody reported one by one); `shifted` names the reports
    (product id, observation index) whose times are off by a probable zone error.
    """

    id: str
    kind: ObservationKind
    members: tuple[Report, ...]
    missiles: tuple[tuple[Report, ...], ...] = ()
    count: int = 1
    notes: tuple[Note, ...] = ()
    shifted: frozenset[tuple[str, int]] = frozenset()


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


def is_per_missile(report: Report) -> bool:
    """True for a report of one missile: a launch without a count, or with a count of one."""
    o = report.observation
    return isinstance(o, MissileLaunch) and (o.count is None or round(o.count.value) <= 1)


def missiles_counted(report: Report) -> int:
    """How many missiles a launch report speaks for (its count, at least 1)."""
    o = report.observation
    if not isinstance(o, MissileLaunch) or o.count is None:
        return 1
    return max(1, round(o.count.value))


def class_penalty(a: frozenset[MissileClass], b: frozenset[MissileClass]) -> float | None:
    """d² for two sets of known classes: 0 if either is empty or they share one, the penalty
    for neighbours, None when no class of one can be a class of the other."""
    if not a or not b or a & b:
        return 0.0
    if any(frozenset({x, y}) in _NEIGHBOURS for x in a for y in b):
        return CLASS_PENALTY
    return None


def sites_apart(a: Site | None, b: Site | None) -> bool:
    """True when two named sites are different places (further apart than SITE_REACH_KM)."""
    if a is None or b is None or a == b:
        return False
    return distance_km(a.lat, a.lon, b.lat, b.lon) > SITE_REACH_KM


@dataclass
class _Place:
    lat: float
    lon: float
    var: float  # km²


def _fuse_places(places: Sequence[_Place]) -> _Place | None:
    if not places:
        return None
    if len(places) == 1:
        return places[0]
    lat0, lon0 = places[0].lat, places[0].lon
    w = [1 / max(p.var, 1e-6) for p in places]
    total = math.fsum(w)
    dlat = math.fsum(wi * (p.lat - lat0) for wi, p in zip(w, places, strict=True)) / total
    dlon = (
        math.fsum(wi * ((p.lon - lon0 + 180) % 360 - 180) for wi, p in zip(w, places, strict=True))
        / total
    )
    return _Place(lat0 + dlat, lon0 + dlon, 1 / total)


def _place_of(report: Report) -> _Place | None:
    p = report.position
    if p is None:
        return None
    sigma = p.sigma_km if p.sigma_km is not None else default_sigma(Quantity.SITE, Qualifier.ABOUT)
    return _Place(p.lat, p.lon, sigma * sigma)


@dataclass
class _Account:
    """What one nation (for tests: one product) said of one event."""

    reporter: str
    reports: list[Report]
    times: list[tuple[float, float]]  # (middle, variance) per report
    places: list[_Place]
    site: Site | None
    classes: frozenset[MissileClass]
    shift: float = 0.0

    @property
    def first(self) -> float:
        return min(t for t, _ in self.times)

    @property
    def last(self) -> float:
        return max(t for t, _ in self.times)

    @property
    def var(self) -> float:
        return min(self.times)[1]

    @property
    def place(self) -> _Place | None:
        return _fuse_places(self.places)

    @property
    def key(self) -> tuple[datetime, str, int]:
        first = min(self.reports, key=lambda r: (r.first_created_at, r.source.product_id, r.index))
        return (first.first_created_at, first.source.product_id, first.index)

    def add(self, report: Report, when: tuple[float, float]) -> None:
        self.reports.append(report)
        self.times.append(when)
        place = _place_of(report)
        if place is not None:
            self.places.append(place)
        if self.site is None:
            self.site = _site_of(report)
        self.classes = self.classes | _classes_of(report)


def _site_of(report: Report) -> Site | None:
    p = report.position
    return None if p is None or not p.description else site_named(p.description)


def _classes_of(report: Report) -> frozenset[MissileClass]:
    o = report.observation
    if isinstance(o, MissileLaunch) and o.missile_class is not MissileClass.UNKNOWN:
        return frozenset({o.missile_class})
    return frozenset()


def _when(report: Report) -> tuple[float, float]:
    middle, sigma, _ = interval_of(report.observation.time, report.kind)
    return middle, sigma * sigma


def _reporter(report: Report) -> str:
    if report.kind is ObservationKind.MISSILE_LAUNCH:
        return report.source.originator
    return f"{report.source.originator}:{report.source.product_id}"


@dataclass
class _Cluster:
    """An event being built: its accounts, at most one per reporter."""

    accounts: list[_Account] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    @property
    def reporters(self) -> set[str]:
        return {a.reporter for a in self.accounts}

    def span(self) -> tuple[float, float, float]:
        """(first, last, variance of first): inverse-variance over its unshifted accounts."""
        timed = [a for a in self.accounts if a.shift == 0] or self.accounts
        weights = [1 / max(a.var, 1e-6) for a in timed]
        total = math.fsum(weights)
        first = math.fsum(w * (a.first + a.shift) for w, a in zip(weights, timed, strict=True))
        # The salvo's length, not its members' spread: reports never chain the span onwards.
        length = max(a.last - a.first for a in self.accounts)
        return first / total, first / total + length, 1 / total

    def place(self) -> _Place | None:
        return _fuse_places([p for a in self.accounts for p in a.places])

    def site(self) -> Site | None:
        return next((a.site for a in self.accounts if a.site is not None), None)

    def classes(self) -> frozenset[MissileClass]:
        return frozenset(c for a in self.accounts for c in a.classes)


def _fit(a: _Account, c: _Cluster, window: float, reach: float, shift: float = 0.0) -> float | None:
    """d² (time + place + class) of account `a` joining cluster `c`, or None if not gated."""
    first, last, var = c.span()
    a_first, a_last = a.first + shift, a.last + shift
    gap = max(0.0, a_first - last, first - a_last)
    if gap > window:
        return None
    d2 = gap * gap / (a.var + var + TIME_SYSTEMATIC_S**2)
    if d2 > TIME_GATE:
        return None
    penalty = class_penalty(a.classes, c.classes())
    if penalty is None or sites_apart(a.site, c.site()):
        return None
    pa, pc = a.place, c.place()
    if pa is not None and pc is not None:
        far = distance_km(pa.lat, pa.lon, pc.lat, pc.lon)
        place2 = far * far / (pa.var + pc.var)
        if far > reach or place2 > PLACE_GATE:
            return None
        d2 += place2
    return d2 + penalty


def _accounts(reports: Sequence[Report], kind: ObservationKind) -> list[_Account]:
    """Each reporter's reports grouped into the salvos it saw (see step 1)."""
    by_reporter: dict[str, list[Report]] = {}
    for report in reports:
        by_reporter.setdefault(_reporter(report), []).append(report)
    out: list[_Account] = []
    for reporter in sorted(by_reporter):
        open_: list[_Account] = []
        for report in by_reporter[reporter]:
            when = _when(report)
            place, site = _place_of(report), _site_of(report)
            best: tuple[float, int] | None = None
            # Reports come in time order: a salvo an hour past its gap is closed for good.
            open_ = [acc for acc in open_ if when[0] - acc.last <= SALVO_GAP_S + 3600]
            if kind is ObservationKind.MISSILE_LAUNCH:
                for n, acc in enumerate(open_):
                    gap = when[0] - acc.last
                    spread = 2 * math.sqrt(when[1] + max(acc.times)[1])
                    if gap - spread > SALVO_GAP_S or sites_apart(site, acc.site):
                        continue
                    there = acc.place
                    if place is not None and there is not None:
                        far = distance_km(place.lat, place.lon, there.lat, there.lon)
                        if far * far / (place.var + there.var) > PLACE_GATE:
                            continue
                    if best is None or (gap, n) < best:
                        best = (gap, n)
            if best is None:
                acc = _Account(reporter, [], [], [], None, frozenset())
                acc.add(report, when)
                open_.append(acc)
                out.append(acc)
            else:
                open_[best[1]].add(report, when)
    return out


def _blocks(accounts: list[_Account], window: float, reach: float) -> list[list[_Account]]:
    """Accounts linked by the arrangement's windows (single linkage, as an outer bound)."""
    accounts.sort(key=lambda a: (a.first, a.key))
    parent = list(range(len(accounts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(accounts):
        pa = a.place
        j = i + 1
        while j < len(accounts) and accounts[j].first - a.last <= window:
            pb = accounts[j].place
            near = pa is None or pb is None or distance_km(pa.lat, pa.lon, pb.lat, pb.lon) <= reach
            if near:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
            j += 1
        # A long salvo account may reach past later accounts' firsts: the sweep above uses
        # its last missile, so the window is measured from there.
    blocks: dict[int, list[_Account]] = {}
    for i, a in enumerate(accounts):
        blocks.setdefault(find(i), []).append(a)
    return list(blocks.values())


def _who(a: _Account) -> str:
    r = a.reports[0]
    return f"{r.source.originator} ({r.source.product_id[:8]} v{r.source.version})"


def _where(c: _Cluster) -> str:
    site, place = c.site(), c.place()
    first = iso_utc(c.span()[0])
    if site is not None:
        return f"{site.name} {first}"
    if place is not None:
        return f"{place.lat:.2f}°N {place.lon:.2f}°E {first}"
    return first


def _assign(block: list[_Account], window: float, reach: float) -> list[_Cluster]:
    clusters: list[_Cluster] = []
    by_reporter: dict[str, list[_Account]] = {}
    for a in block:
        by_reporter.setdefault(a.reporter, []).append(a)
    for placed in (True, False):
        for reporter in sorted(by_reporter):
            mine = [a for a in by_reporter[reporter] if (a.place is not None) is placed]
            if not mine:
                continue
            open_ = [c for c in clusters if reporter not in c.reporters]
            fits = [[_fit(a, c, window, reach) for c in open_] for a in mine]
            joined: dict[int, int] = {}
            if open_:
                bonus = TIME_GATE + PLACE_GATE + CLASS_PENALTY + 1
                cost = [
                    [_UNASSIGNED if f is None else f - bonus for f in row] + [0.0] * len(mine)
                    for row in fits
                ]
                rows, cols = linear_sum_assignment(cost)
                for r, c in zip(rows, cols, strict=True):
                    if c < len(open_) and cost[r][c] < 0:
                        joined[int(r)] = int(c)
            for n, a in enumerate(mine):
                target = joined.get(n)
                if target is not None and not placed:
                    ranked = sorted(
                        (f, k) for k, f in enumerate(fits[n]) if f is not None and k != target
                    )
                    best = fits[n][target]
                    assert best is not None
                    rival = next(
                        (
                            k
                            for f, k in ranked
                            if f - best < AMBIGUOUS and _apart(open_[k], open_[target])
                        ),
                        None,
                    )
                    if rival is not None:
                        alone = _Cluster([a])
                        alone.notes.append(_alone_note(a, open_[target], open_[rival]))
                        clusters.append(alone)
                        continue
                if target is None:
                    clusters.append(_Cluster([a]))
                else:
                    open_[target].accounts.append(a)
    return clusters


def _apart(a: _Cluster, b: _Cluster) -> bool:
    """True when two events are at different places (so a report without one could be either
    and it matters which)."""
    if sites_apart(a.site(), b.site()):
        return True
    pa, pb = a.place(), b.place()
    if pa is None or pb is None:
        return True
    far = distance_km(pa.lat, pa.lon, pb.lat, pb.lon)
    return far * far / (pa.var + pb.var) > 1.0


def _alone_note(a: _Account, one: _Cluster, other: _Cluster) -> Note:
    r = a.reports[0]
    text = (
        f"{_who(a)} gives no position and fits two events about equally well, the launch at "
        f"{_where(one)} and the one at {_where(other)}: it is left as an event of its own "
        "rather than guessed into either"
    )
    return Note(NoteKind.ALONE, r.source, r.index, text)


def _zone_pass(clusters: list[_Cluster], window: float, reach: float) -> list[_Cluster]:
    """Link lone accounts off by whole hours to the event they otherwise fit (step 5)."""
    clusters.sort(key=lambda c: (c.span()[0], min(a.key for a in c.accounts)))
    starts = [c.span()[0] for c in clusters]
    gone: set[int] = set()
    for i, lone in enumerate(clusters):
        if i in gone or len(lone.accounts) != 1 or lone.notes:
            continue
        (a,) = lone.accounts
        if a.place is None and a.site is None:
            continue
        best: tuple[float, float, int, float] | None = None
        for hours in ZONE_SHIFTS_H:
            shift = hours * 3600.0
            lo = bisect.bisect_left(starts, a.first + shift - window - SALVO_GAP_S * 4)
            hi = bisect.bisect_right(starts, a.last + shift + window)
            for j in range(lo, hi):
                other = clusters[j]
                if j == i or j in gone or a.reporter in other.reporters:
                    continue
                # Place or class must confirm it on the event's side too: an hour's shift
                # on time alone finds some event too often.
                placed = other.place() is not None or other.site() is not None
                if not placed and not (a.classes & other.classes()):
                    continue
                # Between two lone accounts, the one reported first keeps its time.
                if len(other.accounts) == 1 and (
                    other.accounts[0].shift or other.accounts[0].key > a.key
                ):
                    continue
                d2 = _fit(a, other, window, reach, shift)
                if d2 is not None:
                    candidate = (d2, abs(hours), j, hours)
                    if best is None or candidate < best:
                        best = candidate
        if best is None:
            continue
        _, _, j, hours = best
        a.shift = hours * 3600.0
        target = clusters[j]
        target.accounts.append(a)
        target.notes.append(_zone_note(a, hours, target))
        gone.add(i)
    return [c for i, c in enumerate(clusters) if i not in gone]


def _zone_note(a: _Account, hours: float, target: _Cluster) -> Note:
    r = min(a.reports, key=lambda x: x.key)
    original = r.observation.time.original
    sign = "behind" if hours > 0 else "ahead of"
    text = (
        f"{_who(a)} reports {original} ({iso_utc(r.observation.time.utc.timestamp())}), "
        f"{_hours(abs(hours))} {sign} the event's other reports, which it otherwise fits (place, "
        "class): probably a time-zone error; its times are left out of the fused time"
    )
    del target
    return Note(NoteKind.ZONE, r.source, r.index, text)


def _hours(hours: float) -> str:
    whole = int(hours)
    return f"{whole} h" if hours == whole else f"{whole} h 30 min"


def _missiles(accounts: Sequence[_Account]) -> tuple[tuple[tuple[Report, ...], ...], int]:
    """The event's missiles (reports per missile, in time order) and its count (step 6)."""
    per = {
        a.reporter: sorted((r for r in a.reports if is_per_missile(r)), key=lambda r: r.key)
        for a in accounts
    }
    # A nation's "N missiles" report speaks for its first missile, unless the same nation also
    # reports missile by missile: then it only counts (a nation's reports are never one missile).
    counted = [
        r for a in accounts if not per[a.reporter] for r in a.reports if not is_per_missile(r)
    ]
    order = sorted(
        accounts,
        key=lambda a: (-len(per[a.reporter]), a.var, a.reporter),
    )
    slots: list[list[Report]] = []
    slot_times: list[tuple[float, float]] = []
    for acc in order:
        mine = per[acc.reporter]
        if not mine:
            continue
        shift = acc.shift
        whens = [(_when(r)[0] + shift, _when(r)[1]) for r in mine]
        if not slots:
            slots = [[r] for r in mine]
            slot_times = list(whens)
            continue
        new = 4.0 * 4.0
        cost = [
            [(t - st) ** 2 / (v + sv + TIME_SYSTEMATIC_S**2) for st, sv in slot_times]
            + [new] * len(mine)
            for t, v in whens
        ]
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            if c < len(slots) and cost[r][c] <= new:
                slots[int(c)].append(mine[int(r)])
            else:
                slots.append([mine[int(r)]])
                slot_times.append(whens[int(r)])
    if counted:
        if not slots:
            slots = [[]]
            slot_times = [(min(_when(r)[0] for r in counted), 0.0)]
        first = min(range(len(slots)), key=lambda k: slot_times[k][0])
        slots[first].extend(counted)
    ranked = sorted(range(len(slots)), key=lambda k: slot_times[k][0])
    missiles = tuple(tuple(sorted(slots[k], key=lambda r: r.key)) for k in ranked)
    nations: dict[str, int] = {}
    for acc in accounts:
        n = max([len(per[acc.reporter])] + [missiles_counted(r) for r in acc.reports])
        nations[acc.reporter] = max(nations.get(acc.reporter, 0), n)
    count = max([len(missiles), *nations.values()])
    return missiles, count


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
        clusters: list[_Cluster] = []
        for block in _blocks(_accounts(items, kind), window, reach):
            clusters.extend(_assign(block, window, reach))
        for cluster in _zone_pass(clusters, window, reach):
            groups.append(_group(kind, cluster))
    groups.sort(key=lambda g: (g.members[0].key, g.id))
    return tuple(groups)


def _group(kind: ObservationKind, cluster: _Cluster) -> Group:
    members = tuple(sorted((r for a in cluster.accounts for r in a.reports), key=lambda r: r.key))
    first = min(members, key=lambda r: (r.first_created_at, r.source.product_id, r.index))
    shifted = frozenset(
        (r.source.product_id, r.index) for a in cluster.accounts if a.shift for r in a.reports
    )
    if kind is ObservationKind.MISSILE_LAUNCH:
        missiles, count = _missiles(cluster.accounts)
    else:
        missiles, count = (members,), 1
    notes = tuple(sorted(cluster.notes, key=lambda n: (n.source, n.index, n.kind)))
    return Group(event_id(kind, first), kind, members, missiles, count, notes, shifted)
