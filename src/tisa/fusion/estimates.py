"""Fused estimates: one figure per quantity from every report's figure, with provenance.

Values (exact or "about") are combined by inverse-variance weighting:

    value = Σ(vᵢ/σᵢ²) / Σ(1/σᵢ²)        sigma = sqrt(1 / Σ(1/σᵢ²))

with each report's stated one-sigma, or the default of tisa.fusion.quantities when it states
none (a relative default, such as 10 % of an apogee, is taken of the fused value). The fused
sigma is the Cramér–Rao bound for independent, unbiased Gaussian reports.

Bounds are bounds, never averaged. The tightest lower bound ("more than", "at least") and the
tightest upper bound ("up to", "less than") are kept as `lower`/`upper` and truncate the fused
distribution: value and sigma are then the mean and standard deviation of the Gaussian above
restricted to [lower, upper]. Bounds that contradict each other (a lower above an upper) are
reported as a disagreement and do not truncate. With bounds and no value, the fused figure is
the bound itself (`method` says so; `value` is the bound, or the middle of two bounds).

Places are fused the same way in a local plane (km east and north of the first report):
`lat`/`lon` are the weighted mean, `sigma` the per-axis bound in km, `value` is None.

Outliers: with three or more values, a value further than `OUTLIER_SIGMAS` combined sigmas
from the inverse-variance fusion of the others, which agree among themselves, is left out of
the fused value and named in `left_out` with how far it lay (a 216 "km" that was nautical
miles, a time in the wrong zone). With two values that far apart, or a group with no value to
single out, nothing tells which is wrong: both stay, and the fused sigma is widened by the
Birge ratio sqrt(χ² / (n − 1)), so the fused figure does not claim a precision the reports
contradict. Within the threshold, nothing changes: the fused sigma is the bound above.

Counts are not averaged: the event's count is the largest any one product reports (see
tisa.fusion.picture).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tisa.fusion.quantities import (
    Figure,
    Quantity,
    default_sigma,
    format_place,
    format_value,
    number,
)
from tisa.fusion.reports import Source

KM_PER_DEGREE = 6371.0 * math.pi / 180
# Beyond this many combined sigmas a value is not one more measurement of the same thing:
# unbiased Gaussian reports land this far from the rest about 3 times in 1,000.
OUTLIER_SIGMAS = 3.0


@dataclass(frozen=True)
class LeftOut:
    """A value left out of a fused figure, and why."""

    source: Source
    text: str
    sigmas: float | None  # None: infinitely many (a value against an exact one)
    reason: str


@dataclass(frozen=True)
class Fused:
    """One fused figure: value, one-sigma, bounds, how it was made and from which products."""

    quantity: Quantity
    value: float | None
    sigma: float | None
    lower: float | None
    upper: float | None
    method: str
    text: str
    sources: tuple[Source, ...]
    lat: float | None = None
    lon: float | None = None
    left_out: tuple[LeftOut, ...] = ()
    # Some figure it rests on stated no uncertainty: the sigma rests on a documented default.
    assumed_sigma: bool = False


def sources_of(figures: Sequence[Figure]) -> tuple[Source, ...]:
    """The distinct product versions behind `figures`, sorted."""
    return tuple(sorted({f.source for f in figures}))


def inverse_variance(values: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(mean, sigma) of (value, sigma) pairs; a zero sigma is taken as exact (it dominates)."""
    if len(values) == 1:
        return values[0]
    exact = [v for v, s in values if s <= 0]
    if exact:
        return math.fsum(exact) / len(exact), 0.0
    weights = [1 / (s * s) for _, s in values]
    total = math.fsum(weights)
    mean = math.fsum(w * v for w, (v, _) in zip(weights, values, strict=True)) / total
    return mean, math.sqrt(1 / total)


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def truncated(
    mean: float, sigma: float, lower: float | None, upper: float | None
) -> tuple[float, float]:
    """Mean and sigma of N(mean, sigma²) restricted to [lower, upper] (None: unbounded).

    Far in a tail, where the normal's mass underflows, the value sits on the nearer bound.
    """
    if sigma <= 0:
        low = -math.inf if lower is None else lower
        high = math.inf if upper is None else upper
        return min(max(mean, low), high), 0.0
    a = -math.inf if lower is None else (lower - mean) / sigma
    b = math.inf if upper is None else (upper - mean) / sigma
    mass = (_cdf(b) if b != math.inf else 1.0) - (_cdf(a) if a != -math.inf else 0.0)
    if mass < 1e-12:
        edge = lower if lower is not None and mean < lower else upper
        assert edge is not None
        return edge, 0.0
    pa = 0.0 if a == -math.inf else _pdf(a)
    pb = 0.0 if b == math.inf else _pdf(b)
    shift = (pa - pb) / mass
    aa = 0.0 if a == -math.inf else a * pa
    bb = 0.0 if b == math.inf else b * pb
    variance = sigma * sigma * max(0.0, 1 + (aa - bb) / mass - shift * shift)
    return mean + sigma * shift, math.sqrt(variance)


def _bound_text(quantity: Quantity, lower: float | None, upper: float | None) -> str:
    if lower is not None and upper is not None:
        return f"between {format_value(quantity, lower)} and {format_value(quantity, upper)}"
    if lower is not None:
        return f"more than {format_value(quantity, lower)}"
    assert upper is not None
    return f"less than {format_value(quantity, upper)}"


def fuse(figures: Sequence[Figure]) -> Fused | None:
    """The fused figure of one quantity's figures (all of one quantity), or None if empty.

    Raises:
        ValueError: figures of more than one quantity.
    """
    if not figures:
        return None
    quantity = figures[0].quantity
    if any(f.quantity is not quantity for f in figures):
        raise ValueError("fuse takes the figures of one quantity")
    sources = sources_of(figures)
    if quantity.is_place:
        return _fuse_places(quantity, figures, sources)
    if quantity is Quantity.COUNT:
        raise ValueError("counts are fused per event, not averaged (tisa.fusion.picture)")
    values = [f for f in figures if f.value is not None and not f.qualifier.is_bound]
    lowers = [f.value for f in figures if f.value is not None and f.is_lower_bound]
    uppers = [f.value for f in figures if f.value is not None and f.is_upper_bound]
    lower = max(lowers) if lowers else None
    upper = min(uppers) if uppers else None
    contradicting = lower is not None and upper is not None and lower > upper
    if contradicting:
        lower = upper = None
    note = "; bounds contradict each other (not applied)" if contradicting else ""
    if not values:
        if lower is None and upper is None:
            return Fused(
                quantity, None, None, None, None, "none" + note, "no usable figure", sources
            )
        value = lower if upper is None else upper if lower is None else (lower + upper) / 2
        assert value is not None
        sigma = None if lower is None or upper is None else (upper - lower) / math.sqrt(12)
        text = _bound_text(quantity, lower, upper)
        return Fused(quantity, value, sigma, lower, upper, "bound only" + note, text, sources)
    values, left_out = _without_outliers(values)
    mean, sigma = _weighted(values)
    method = "single report" if len(values) == 1 else f"inverse-variance ({len(values)} values)"
    if left_out:
        method += f", {len(left_out)} left out as outliers"
    widen = _birge(values, mean)
    if widen > 1:
        sigma *= widen
        method += f", uncertainty widened ×{widen:.1f} (the values disagree)"
    if lower is not None or upper is not None:
        mean, sigma = truncated(mean, sigma, lower, upper)
        method += ", truncated by bounds"
    text = f"{format_value(quantity, mean)} ± {_sigma_text(quantity, sigma)}"
    if lower is not None or upper is not None:
        text += f" ({_bound_text(quantity, lower, upper)})"
    assumed = any(f.stated_sigma is None for f in values)
    return Fused(
        quantity,
        mean,
        sigma,
        lower,
        upper,
        method + note,
        text,
        sources,
        left_out=left_out,
        assumed_sigma=assumed,
    )


def _apart(values: Sequence[Figure]) -> list[float]:
    """How many combined sigmas each value lies from the inverse-variance fusion of the
    others, all at once: with W = Σ 1/σ² and S = Σ v/σ², leaving one out leaves W − 1/σᵢ²
    and S − vᵢ/σᵢ² (each report's own sigma; a relative default taken of its own value).
    Empty when a value is exact (zero sigma): it dominates, nothing is left out."""
    if len(values) < 2 or any(f.sigma <= 0 for f in values):
        return []
    weights = [1 / (f.sigma * f.sigma) for f in values]
    total = math.fsum(weights)
    summed = math.fsum(w * (f.value or 0.0) for w, f in zip(weights, values, strict=True))
    out = []
    for w, f in zip(weights, values, strict=True):
        rest = total - w
        mean = (summed - w * (f.value or 0.0)) / rest
        out.append(abs((f.value or 0.0) - mean) / math.sqrt(f.sigma * f.sigma + 1 / rest))
    return out


def _consistent(values: Sequence[Figure]) -> bool:
    return all(z <= OUTLIER_SIGMAS for z in _apart(values))


def _without_outliers(values: list[Figure]) -> tuple[list[Figure], tuple[LeftOut, ...]]:
    """`values` less those lying beyond OUTLIER_SIGMAS of the others, one at a time, worst
    first, only while at least two remain and those remaining agree among themselves."""
    kept, left = list(values), []
    while len(kept) >= 3:
        far = _apart(kept)
        if not far:
            break
        sigmas = max(far)
        if sigmas <= OUTLIER_SIGMAS:
            break
        worst = far.index(sigmas)
        rest = kept[:worst] + kept[worst + 1 :]
        if not _consistent(rest):
            break  # the others do not agree either: no one value to blame
        f = kept[worst]
        reason = (
            f"{f.source.originator}'s {f.text} lies "
            + ("far" if not math.isfinite(sigmas) else f"{sigmas:.1f}×")
            + f" beyond the uncertainty of the other {len(rest)} reports"
        )
        left.append(LeftOut(f.source, f.text, _finite(sigmas), reason))
        kept = rest
    return kept, tuple(left)


def _finite(sigmas: float) -> float | None:
    # A zero stated sigma makes any gap infinitely many sigmas; JSON has no infinity.
    return sigmas if math.isfinite(sigmas) else None


def _birge(values: Sequence[Figure], mean: float) -> float:
    """sqrt(χ² / (n − 1)) of `values` about their fused `mean` when some value lies beyond
    OUTLIER_SIGMAS of the others; 1 otherwise (and for one value, or an exact one)."""
    if len(values) < 2 or any(f.sigma <= 0 for f in values) or _consistent(values):
        return 1.0
    chi2 = math.fsum(((f.value or 0.0) - mean) ** 2 / (f.sigma * f.sigma) for f in values)
    return max(1.0, math.sqrt(chi2 / (len(values) - 1)))


def _weighted(values: Sequence[Figure]) -> tuple[float, float]:
    """Inverse-variance mean and sigma; a relative default sigma is a share of the fused value,
    found by iterating from the plain mean (it settles in a few rounds)."""
    plain = [(f.value, f.sigma) for f in values if f.value is not None]
    if not any(f.relative is not None for f in values):
        return inverse_variance(plain)
    mean = math.fsum(v for v, _ in plain) / len(plain)
    sigma = 0.0
    for _ in range(8):
        pairs = []
        for f in values:
            assert f.value is not None
            s = f.sigma if f.relative is None else default_sigma(f.quantity, f.qualifier, mean)
            pairs.append((f.value, s))
        mean, sigma = inverse_variance(pairs)
    return mean, sigma


def _sigma_text(quantity: Quantity, sigma: float) -> str:
    if quantity.is_time:
        return f"{number(round(sigma, 1))} s"
    if quantity is Quantity.MAGNITUDE:
        return number(round(sigma, 2))
    return f"{number(round(sigma, 2))} {quantity.unit}"


def _fuse_places(
    quantity: Quantity, figures: Sequence[Figure], sources: tuple[Source, ...]
) -> Fused:
    places = [f for f in figures if f.lat is not None and f.lon is not None]
    assert places, "place figures carry lat and lon"
    lat0, lon0 = places[0].lat, places[0].lon
    assert lat0 is not None
    assert lon0 is not None
    scale = math.cos(math.radians(lat0))
    east = []
    north = []
    for f in places:
        assert f.lat is not None
        assert f.lon is not None
        dlon = (f.lon - lon0 + 180) % 360 - 180
        east.append((dlon * scale * KM_PER_DEGREE, f.sigma))
        north.append(((f.lat - lat0) * KM_PER_DEGREE, f.sigma))
    x, sigma = inverse_variance(east)
    y, _ = inverse_variance(north)
    lat = max(-90.0, min(90.0, lat0 + y / KM_PER_DEGREE))
    lon = lon0 + (x / (scale * KM_PER_DEGREE) if scale > 1e-9 else 0.0)
    lon = (lon + 180) % 360 - 180
    method = "single report" if len(places) == 1 else f"inverse-variance ({len(places)} places)"
    text = format_place(lat, lon, round(sigma, 1))
    assumed = any(f.stated_sigma is None for f in places)
    return Fused(
        quantity, None, sigma, None, None, method, text, sources, lat, lon, assumed_sigma=assumed
    )
