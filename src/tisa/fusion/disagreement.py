"""Disagreements: figures further apart than their stated uncertainties allow.

Two values a and b of one quantity, from different products, disagree when

    |a − b| > k · sqrt(σa² + σb²)

with σ each report's stated one-sigma (or the default of tisa.fusion.quantities) and k the
arrangement's `disagreement_sigmas` (2 by default: two independent, unbiased reports of one
figure land that far apart about one time in twenty). Places compare by great-circle distance.

A bound is a disagreement too when another report's value lies beyond it by more than k of
that value's sigmas ("more than 6,000 km" against "about 5,000 km ± 100"), and two bounds
disagree when one's lower bound is above the other's upper bound (then `sigmas` is None: a
bound has no uncertainty to measure the gap in; nor when a figure states a zero sigma).

Each disagreement names both sources (originator, product id, version), the gap with its unit
and how many combined sigmas it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tisa.fusion.correlation import distance_km
from tisa.fusion.quantities import Figure, Quantity, number
from tisa.fusion.reports import Source


@dataclass(frozen=True)
class Disagreement:
    """Two figures of one quantity that do not fit together."""

    quantity: Quantity
    gap: float
    unit: str
    sigmas: float | None
    sources: tuple[Source, Source]
    text: str


def _who(f: Figure) -> str:
    return f"{f.source.originator} ({f.source.product_id[:8]} v{f.source.version})"


def _gap_text(quantity: Quantity, gap: float) -> str:
    if quantity.is_time:
        return f"{number(round(gap))} s"
    if quantity is Quantity.MAGNITUDE:
        return number(round(gap, 2))
    return f"{number(round(gap, 1))} {quantity.unit}"


def _gap_unit(quantity: Quantity) -> str:
    return quantity.unit


def _pair(a: Figure, b: Figure, k: float) -> Disagreement | None:
    q = a.quantity
    if q.is_place:
        assert a.lat is not None
        assert a.lon is not None
        assert b.lat is not None
        assert b.lon is not None
        gap = distance_km(a.lat, a.lon, b.lat, b.lon)
        combined = math.hypot(a.sigma, b.sigma)
        return _points(a, b, gap, combined, k)
    assert a.value is not None
    assert b.value is not None
    a_bound, b_bound = a.qualifier.is_bound, b.qualifier.is_bound
    if not a_bound and not b_bound:
        return _points(a, b, abs(a.value - b.value), math.hypot(a.sigma, b.sigma), k)
    if a_bound and b_bound:
        low, high = (a, b) if a.is_lower_bound else (b, a)
        assert low.value is not None
        assert high.value is not None
        if low.is_lower_bound and high.is_upper_bound and low.value > high.value:
            gap = low.value - high.value
            text = (
                f"{q.label}: {_who(low)} says {low.text} but {_who(high)} says {high.text}; "
                f"the bounds leave no value ({_gap_text(q, gap)} apart)"
            )
            return Disagreement(q, gap, _gap_unit(q), None, _order(low, high), text)
        return None
    bound, point = (a, b) if a_bound else (b, a)
    assert bound.value is not None
    assert point.value is not None
    gap = bound.value - point.value if bound.is_lower_bound else point.value - bound.value
    if gap <= 0:
        return None
    sigmas = gap / point.sigma if point.sigma > 0 else math.inf
    if sigmas <= k:
        return None
    text = (
        f"{q.label}: {_who(point)} says {point.text}, outside {_who(bound)}'s bound "
        f"{bound.text} by {_gap_text(q, gap)} ({_sigmas_text(sigmas)} its uncertainty)"
    )
    return Disagreement(q, gap, _gap_unit(q), _finite(sigmas), _order(a, b), text)


def _finite(sigmas: float) -> float | None:
    # A zero stated sigma makes any gap infinitely many sigmas; JSON has no infinity.
    return sigmas if math.isfinite(sigmas) else None


def _sigmas_text(sigmas: float) -> str:
    return "far beyond" if not math.isfinite(sigmas) else f"{sigmas:.1f}×"


def _points(a: Figure, b: Figure, gap: float, combined: float, k: float) -> Disagreement | None:
    if gap <= 0:
        return None
    sigmas = gap / combined if combined > 0 else math.inf
    if sigmas <= k:
        return None
    q = a.quantity
    text = (
        f"{q.label}: {_who(a)} says {a.text}, {_who(b)} says {b.text}: "
        f"{_gap_text(q, gap)} apart, {_sigmas_text(sigmas)} their combined uncertainty"
    )
    return Disagreement(q, gap, _gap_unit(q), _finite(sigmas), _order(a, b), text)


def _order(a: Figure, b: Figure) -> tuple[Source, Source]:
    return (a.source, b.source) if a.source <= b.source else (b.source, a.source)


def find_disagreements(figures: Sequence[Figure], k: float) -> tuple[Disagreement, ...]:
    """Every pair of figures of one quantity, from different products, that disagree.

    Counts are not compared (a product may count only the missiles it saw). The result is in
    `Quantity` order, then by sources, independent of the order of `figures`.
    """
    by_quantity: dict[Quantity, list[Figure]] = {}
    for f in figures:
        if f.quantity is not Quantity.COUNT:
            by_quantity.setdefault(f.quantity, []).append(f)
    out: list[Disagreement] = []
    for q in Quantity:
        group = sorted(by_quantity.get(q, []), key=lambda f: (f.source, f.index))
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.source.product_id == b.source.product_id:
                    continue
                found = _pair(a, b, k)
                if found is not None:
                    out.append(found)
    return tuple(out)
