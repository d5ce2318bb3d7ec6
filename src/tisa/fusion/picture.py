"""The fused picture: events, each with every report's figures, fused figures and
disagreements, and its missiles.

An event's count is tisa.fusion.correlation's: the largest number of missiles any one nation
reports in it (its per-missile reports, or its "N missiles"), and at least the number of
missiles matched across nations. So a salvo reported missile by missile — in one product or
one product per missile — and one reported as "3 missiles" give the same count. Nuclear
tests count 1.

Salvos keep each missile's figures its own (`Event.missiles`): times of different missiles
are never fused as one measurement. The event's fused time is its first missile's; its
launch position is fused over every report (one place); its other figures are fused over the
whole salvo only when every missile is of one class (or unknown) — a salvo of two types keeps
per-missile figures only. Reports off by a probable zone error (`Group.shifted`) give no
time to fusion; the event's notes say so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from tisa.domain.arrangement import FusionWindows
from tisa.domain.model import MissileClass, MissileLaunch, NuclearTest, ObservationKind, Qualifier
from tisa.fusion.correlation import Group, Note, correlate, event_id
from tisa.fusion.disagreement import Disagreement, find_disagreements
from tisa.fusion.estimates import Fused, fuse, sources_of
from tisa.fusion.quantities import Figure, Quantity, figures_of, number
from tisa.fusion.reports import Holding, Report, current_reports

_CLASS_WORDS = {
    MissileClass.CRUISE: "Cruise missile",
    MissileClass.HYPERSONIC: "Hypersonic missile",
    MissileClass.SLV: "Space launch vehicle",
    MissileClass.UNKNOWN: "Missile",
}


@dataclass(frozen=True)
class Missile:
    """One missile of an event: the reports that describe it and its own fused figures (a
    salvo's "N missiles" reports go with its first missile, unless their nation reports
    missile by missile too)."""

    number: int
    missile_class: MissileClass
    reports: tuple[Report, ...]
    fused: Mapping[Quantity, Fused]


@dataclass(frozen=True)
class Event:
    """One real-world event as the reports a user may read describe it."""

    id: str
    kind: ObservationKind
    time: datetime
    count: int
    label: str
    reports: tuple[Report, ...]
    figures: tuple[tuple[Figure, ...], ...]
    fused: Mapping[Quantity, Fused]
    disagreements: tuple[Disagreement, ...]
    missiles: tuple[Missile, ...] = ()
    notes: tuple[Note, ...] = ()

    @property
    def parties(self) -> tuple[str, ...]:
        """The originators of the reports, sorted."""
        return tuple(sorted({r.source.originator for r in self.reports}))

    @property
    def aliases(self) -> tuple[str, ...]:
        """Ids this event had, or would have had, in a picture holding fewer of its reports:
        an id comes from the first-reported member, so a report arriving late but reported
        earlier, or two events found to be one, changes it. Each old id still leads here."""
        ids = {event_id(self.kind, r) for r in self.reports}
        ids.discard(self.id)
        return tuple(sorted(ids))


def _count(group: Group) -> tuple[int, Fused | None]:
    per_nation: dict[str, tuple[int, bool]] = {}
    counted: list[Figure] = []
    for report in group.members:
        o = report.observation
        if not isinstance(o, MissileLaunch) or o.count is None:
            continue
        counted.extend(f for f in figures_of(report) if f.quantity is Quantity.COUNT)
        n = max(1, round(o.count.value))
        hedged = o.count.qualifier is not Qualifier.EXACT
        was = per_nation.get(report.source.originator)
        if was is None or n > was[0] or (n == was[0] and not hedged):
            per_nation[report.source.originator] = (n, hedged)
    best = group.count
    if not counted:
        return best, None
    reaching = [h for n, h in per_nation.values() if n == best]
    hedged = bool(reaching) and all(reaching) and len(group.missiles) < best
    words = "at least " if hedged else ""
    fused = Fused(
        Quantity.COUNT,
        float(best),
        None,
        float(best) if words else None,
        None,
        "largest count of any one nation",
        f"{words}{number(best)}",
        sources_of(counted),
    )
    return best, fused


def _label(kind: ObservationKind, reports: tuple[Report, ...], count: int, time: datetime) -> str:
    # As a clock reads it, like the reports: 01:14:30 is '01:14Z'.
    stamp = time.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")
    if kind is ObservationKind.NUCLEAR_TEST:
        tests = [r.observation for r in reports if isinstance(r.observation, NuclearTest)]
        if any(t.yield_kt is not None for t in tests):
            return f"Nuclear test {stamp}"
        return f"Seismic event at a test site {stamp}"
    chosen = _class_of(reports)
    words = _CLASS_WORDS.get(chosen, chosen.value)
    if count > 1:
        return f"{count} × {words} launch {stamp}"
    return f"{words} launch {stamp}"


_WHOLE_EVENT = (Quantity.LAUNCH_POSITION, Quantity.SITE)


def _usable(figures: Iterable[Figure], shifted: frozenset[tuple[str, int]]) -> list[Figure]:
    """Figures fusion may use: no counts, and no times of a report off by a zone error."""
    return [
        f
        for f in figures
        if f.quantity is not Quantity.COUNT
        and not (f.quantity.is_time and (f.source.product_id, f.index) in shifted)
    ]


def _fuse_all(figures: Iterable[Figure]) -> dict[Quantity, Fused]:
    by_quantity: dict[Quantity, list[Figure]] = {}
    for f in figures:
        by_quantity.setdefault(f.quantity, []).append(f)
    out: dict[Quantity, Fused] = {}
    for q in Quantity:
        made = fuse(by_quantity.get(q, []))
        if made is not None:
            out[q] = made
    return out


def _class_of(reports: Iterable[Report]) -> MissileClass:
    classes: Counter[MissileClass] = Counter(
        r.observation.missile_class
        for r in reports
        if isinstance(r.observation, MissileLaunch)
        and r.observation.missile_class is not MissileClass.UNKNOWN
    )
    order = list(MissileClass)
    if not classes:
        return MissileClass.UNKNOWN
    return min(classes, key=lambda c: (-classes[c], order.index(c)))


def build_event(group: Group, k: float) -> Event:
    """The event of one correlated group: figures, fused figures, disagreements, missiles."""
    figures = tuple(figures_of(r) for r in group.members)
    of_report = {
        (r.source.product_id, r.index): fs for r, fs in zip(group.members, figures, strict=True)
    }
    usable = _usable((f for fs in figures for f in fs), group.shifted)
    missiles_of = group.missiles or (group.members,)
    missiles: list[Missile] = []
    disagreements: list[Disagreement] = list(
        find_disagreements([f for f in usable if f.quantity in _WHOLE_EVENT], k)
    )
    for n, reports in enumerate(missiles_of, start=1):
        own = _usable(
            (f for r in reports for f in of_report[(r.source.product_id, r.index)]),
            group.shifted,
        )
        missiles.append(Missile(n, _class_of(reports), reports, _fuse_all(own)))
        disagreements.extend(
            find_disagreements([f for f in own if f.quantity not in _WHOLE_EVENT], k)
        )
    count, fused_count = _count(group)
    if group.kind is ObservationKind.NUCLEAR_TEST:
        count = 1
    salvo = len(missiles) > 1
    mixed = len({m.missile_class for m in missiles} - {MissileClass.UNKNOWN}) > 1
    whole = _fuse_all(usable)
    fused: dict[Quantity, Fused] = {}
    for q in Quantity:
        if q is Quantity.COUNT:
            if fused_count is not None:
                fused[q] = fused_count
            continue
        if not salvo or q in _WHOLE_EVENT:
            made = whole.get(q)
        elif q.is_time:
            made = missiles[0].fused.get(q)
        else:
            made = None if mixed else whole.get(q)
        if made is not None:
            fused[q] = made
    if Quantity.TIME not in fused:
        # Every report of the first missile is off by a zone error: its time, as reported.
        fallback = fuse([f for fs in figures for f in fs if f.quantity is Quantity.TIME])
        assert fallback is not None, "every report has a time"
        fused[Quantity.TIME] = fallback
    when = fused[Quantity.TIME]
    assert when.value is not None, "every report has a time"
    time = datetime.fromtimestamp(when.value, UTC)
    return Event(
        id=group.id,
        kind=group.kind,
        time=time,
        count=count,
        label=_label(group.kind, group.members, count, time),
        reports=group.members,
        figures=figures,
        fused=fused,
        disagreements=_ordered(disagreements),
        missiles=tuple(missiles),
        notes=group.notes,
    )


def _ordered(found: Iterable[Disagreement]) -> tuple[Disagreement, ...]:
    order = list(Quantity)
    return tuple(sorted(found, key=lambda d: (order.index(d.quantity), d.sources, d.gap)))


def build_events(holdings: Iterable[Holding], windows: FusionWindows) -> tuple[Event, ...]:
    """Every event the holdings describe, newest first (then by id).

    Only each product's latest version counts; recalled products drop out (see
    tisa.fusion.reports). The result does not depend on the order of `holdings`.
    """
    groups = correlate(current_reports(holdings), windows)
    events = [build_event(g, windows.disagreement_sigmas) for g in groups]
    events.sort(key=lambda e: (-e.time.timestamp(), e.id))
    return tuple(events)
