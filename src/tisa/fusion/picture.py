"""The fused picture: events, each with every report's figures, fused figures and
disagreements.

An event's count: each product counts the missiles it reports in the event (the sum of its
observations' counts, an observation without a count being one missile); the event's count
is the largest of these, so a salvo reported missile by missile and one reported as "2
missiles" give the same count. Nuclear tests count 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tisa.domain.arrangement import FusionWindows
from tisa.domain.model import MissileClass, MissileLaunch, NuclearTest, ObservationKind, Qualifier
from tisa.fusion.correlation import Group, correlate
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

    @property
    def parties(self) -> tuple[str, ...]:
        """The originators of the reports, sorted."""
        return tuple(sorted({r.source.originator for r in self.reports}))


def _count(reports: Iterable[Report]) -> tuple[int, Fused | None, list[Figure]]:
    per_product: dict[str, int] = {}
    hedged: dict[str, bool] = {}
    counted: list[Figure] = []
    for report in reports:
        o = report.observation
        if not isinstance(o, MissileLaunch):
            continue
        n = 1
        if o.count is not None:
            n = max(1, round(o.count.value))
            hedged[report.source.product_id] = o.count.qualifier is not Qualifier.EXACT
            counted.extend(f for f in figures_of(report) if f.quantity is Quantity.COUNT)
        pid = report.source.product_id
        per_product[pid] = per_product.get(pid, 0) + n
    if not per_product:
        return 1, None, counted
    best = max(per_product.values())
    if not counted:
        return best, None, counted
    words = "at least " if any(hedged.get(p) for p, n in per_product.items() if n == best) else ""
    fused = Fused(
        Quantity.COUNT,
        float(best),
        None,
        float(best) if words else None,
        None,
        "largest count of any one product",
        f"{words}{number(best)}",
        sources_of(counted),
    )
    return best, fused, counted


def _label(kind: ObservationKind, reports: tuple[Report, ...], count: int, time: datetime) -> str:
    # To the nearest minute: 01:14:30 is '01:15Z'.
    stamp = (time.astimezone(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%d %H:%MZ")
    if kind is ObservationKind.NUCLEAR_TEST:
        tests = [r.observation for r in reports if isinstance(r.observation, NuclearTest)]
        if any(t.yield_kt is not None for t in tests):
            return f"Nuclear test {stamp}"
        return f"Seismic event at a test site {stamp}"
    classes: Counter[MissileClass] = Counter(
        r.observation.missile_class
        for r in reports
        if isinstance(r.observation, MissileLaunch)
        and r.observation.missile_class is not MissileClass.UNKNOWN
    )
    order = list(MissileClass)
    chosen = (
        min(classes, key=lambda c: (-classes[c], order.index(c)))
        if classes
        else MissileClass.UNKNOWN
    )
    words = _CLASS_WORDS.get(chosen, chosen.value)
    if count > 1:
        return f"{count} × {words} launch {stamp}"
    return f"{words} launch {stamp}"


def build_event(group: Group, k: float) -> Event:
    """The event of one correlated group: figures, fused figures and disagreements."""
    figures = tuple(figures_of(r) for r in group.members)
    flat = [f for fs in figures for f in fs if f.quantity is not Quantity.COUNT]
    by_quantity: dict[Quantity, list[Figure]] = {}
    for f in flat:
        by_quantity.setdefault(f.quantity, []).append(f)
    fused: dict[Quantity, Fused] = {}
    count, fused_count, _ = _count(group.members)
    for q in Quantity:
        if q is Quantity.COUNT:
            if fused_count is not None:
                fused[q] = fused_count
            continue
        made = fuse(by_quantity.get(q, []))
        if made is not None:
            fused[q] = made
    when = fused[Quantity.TIME]
    assert when.value is not None, "every report has a time"
    time = datetime.fromtimestamp(when.value, UTC)
    if group.kind is ObservationKind.NUCLEAR_TEST:
        count = 1
    return Event(
        id=group.id,
        kind=group.kind,
        time=time,
        count=count,
        label=_label(group.kind, group.members, count, time),
        reports=group.members,
        figures=figures,
        fused=fused,
        disagreements=find_disagreements(flat, k),
    )


def build_events(holdings: Iterable[Holding], windows: FusionWindows) -> tuple[Event, ...]:
    """Every event the holdings describe, newest first (then by id).

    Only each product's latest version counts; recalled products drop out (see
    tisa.fusion.reports). The result does not depend on the order of `holdings`.
    """
    groups = correlate(current_reports(holdings), windows)
    events = [build_event(g, windows.disagreement_sigmas) for g in groups]
    events.sort(key=lambda e: (-e.time.timestamp(), e.id))
    return tuple(events)
