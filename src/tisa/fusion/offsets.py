"""Systematic differences: how far each nation's figures of a quantity sit from the others'.

Over past events, each nation's value of a quantity is compared with the inverse-variance
fusion of the other nations' values of that event:

    rᵢ = vᵢ − m₋ᵢ        var(rᵢ) = σᵢ² + σ₋ᵢ²

and the nation's offset is the weighted mean of its residuals, with its standard error:

    offset = Σ(rᵢ / var(rᵢ)) / Σ(1 / var(rᵢ))        sigma = sqrt(1 / Σ(1 / var(rᵢ)))

Only what compares like with like counts: single-missile events (a salvo's reports may each
be another missile), values rather than bounds, and no time of a report linked by a probable
zone error (its hours are the error, not a bias). An offset rests on at least `MIN_EVENTS`
events; it is `significant` when it lies more than `SIGNIFICANT_SIGMAS` standard errors from
zero. Nothing is corrected by it: the events page and the API show it for people to judge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tisa.fusion.correlation import NoteKind
from tisa.fusion.estimates import inverse_variance
from tisa.fusion.picture import Event
from tisa.fusion.quantities import Figure, Quantity

MIN_EVENTS = 3
SIGNIFICANT_SIGMAS = 3.0


@dataclass(frozen=True)
class Offset:
    """One nation's systematic difference in one quantity (its unit; seconds for times)."""

    originator: str
    quantity: Quantity
    offset: float
    sigma: float
    events: int

    @property
    def significant(self) -> bool:
        """Further from zero than chance would put it (SIGNIFICANT_SIGMAS standard errors)."""
        return abs(self.offset) > SIGNIFICANT_SIGMAS * self.sigma


def _comparable(event: Event) -> Iterable[Figure]:
    if event.count != 1:
        return ()
    shifted = {(n.source.product_id, n.index) for n in event.notes if n.kind is NoteKind.ZONE}
    return (
        f
        for figures in event.figures
        for f in figures
        if f.value is not None
        and not f.qualifier.is_bound
        and not f.quantity.is_place
        and f.quantity is not Quantity.COUNT
        and not (f.quantity.is_time and (f.source.product_id, f.index) in shifted)
    )


def residuals(event: Event) -> list[tuple[str, Quantity, float, float]]:
    """(nation, quantity, residual, variance) of each nation's value in `event` against the
    other nations' fused value."""
    by: dict[Quantity, dict[str, list[Figure]]] = {}
    for f in _comparable(event):
        by.setdefault(f.quantity, {}).setdefault(f.source.originator, []).append(f)
    out = []
    for quantity, nations in by.items():
        if len(nations) < 2:
            continue
        for nation, own in nations.items():
            others = [
                (f.value, f.sigma)
                for n, fs in nations.items()
                if n != nation
                for f in fs
                if f.value is not None
            ]
            mine = [(f.value, f.sigma) for f in own if f.value is not None]
            value, sigma = inverse_variance(mine)
            rest, rest_sigma = inverse_variance(others)
            variance = sigma * sigma + rest_sigma * rest_sigma
            if variance > 0:
                out.append((nation, quantity, value - rest, variance))
    return out


def nation_offsets(events: Sequence[Event], min_events: int = MIN_EVENTS) -> tuple[Offset, ...]:
    """Each nation's offset per quantity over `events`, where it rests on `min_events` or
    more; sorted by nation, then quantity."""
    sums: dict[tuple[str, Quantity], list[float]] = {}
    for event in events:
        for nation, quantity, r, variance in residuals(event):
            acc = sums.setdefault((nation, quantity), [0.0, 0.0, 0.0])
            acc[0] += r / variance
            acc[1] += 1 / variance
            acc[2] += 1
    found = []
    for (nation, quantity), (weighted, weight, n) in sums.items():
        if n < min_events:
            continue
        found.append(Offset(nation, quantity, weighted / weight, math.sqrt(1 / weight), int(n)))
    order = list(Quantity)
    return tuple(sorted(found, key=lambda o: (o.originator, order.index(o.quantity))))
