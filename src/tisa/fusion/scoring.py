"""How close a fused picture comes to a generated scenario's truth."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tisa.fusion.picture import Event
from tisa.fusion.quantities import Quantity, default_sigma
from tisa.fusion.scenario import Scenario, TrueEvent


@dataclass(frozen=True)
class Score:
    """How fused events compare with the truth.

    precision/recall are pairwise over reports: of the pairs of reports put in one event,
    the share that describe one true event; of the pairs that describe one true event, the
    share put in one event. `exact_events` is the share of true events recovered exactly.
    `normalised_error` is, per quantity, the root mean square of (fused − truth) / bound, with
    bound = sqrt(1 / Σ 1/σᵢ²) over the values fused, each σᵢ the stated sigma or the default at
    the true value (the Cramér–Rao bound for independent Gaussian reports): 1.0 means the
    fused error is the bound.
    """

    precision: float
    recall: float
    exact_events: float
    normalised_error: Mapping[str, float]
    samples: Mapping[str, int]
    #: Of the true salvos (count > 1), the share whose event (the one holding most of its
    #: reports) has exactly the true count; 1.0 when there are none.
    salvo_count_exact: float = 1.0
    salvos: int = 0
    #: Fused events holding no true event's majority: split-off pieces, such as a report
    #: whose zone mistake made it an event of its own.
    phantoms: int = 0


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _scalar_truth(q: Quantity, event: TrueEvent) -> float | None:
    values = {
        Quantity.TIME: event.time.timestamp(),
        Quantity.APOGEE_KM: event.apogee_km,
        Quantity.RANGE_KM: event.range_km,
        Quantity.FLIGHT_TIME_MIN: event.flight_time_min,
        Quantity.MAGNITUDE: event.magnitude,
        Quantity.YIELD_KT: event.yield_kt if not event.collapse else None,
    }
    return values.get(q)


def score(scenario: Scenario, fused: Iterable[Event]) -> Score:
    """Compare `fused` (built from `scenario.holdings`) with the scenario's truth.

    Fused errors are taken over single-missile events only (a salvo's time and figures mix
    missiles) and over quantities no bound truncated.
    """
    predicted: dict[tuple[str, int], str] = {}
    events = list(fused)
    for event in events:
        for report in event.reports:
            predicted[(report.source.product_id, report.index)] = event.id
    keys = [k for k in scenario.membership if k in predicted]
    joint = Counter((predicted[k], scenario.membership[k]) for k in keys)
    by_pred = Counter(predicted[k] for k in keys)
    by_true = Counter(scenario.membership[k] for k in keys)
    both = sum(_pairs(n) for n in joint.values())
    pred_pairs = sum(_pairs(n) for n in by_pred.values())
    true_pairs = sum(_pairs(n) for n in by_true.values())
    precision = both / pred_pairs if pred_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    members_of_true: dict[str, set[tuple[str, int]]] = {}
    for k in keys:
        members_of_true.setdefault(scenario.membership[k], set()).add(k)
    members_of_pred: dict[str, set[tuple[str, int]]] = {}
    for k in keys:
        members_of_pred.setdefault(predicted[k], set()).add(k)
    exact = sum(
        1 for t, ms in members_of_true.items() if members_of_pred[predicted[next(iter(ms))]] == ms
    )
    exact_share = exact / len(members_of_true) if members_of_true else 1.0

    truth = {t.id: t for t in scenario.truth}
    by_event = {e.id: e for e in events}
    home: dict[str, str] = {}
    for t, ms in members_of_true.items():
        home[t] = Counter(predicted[k] for k in ms).most_common(1)[0][0]
    salvos = [t for t in members_of_true if truth[t].count > 1]
    right = sum(1 for t in salvos if by_event[home[t]].count == truth[t].count)
    phantoms = sum(1 for e in members_of_pred if e not in set(home.values()))
    squares: dict[str, list[float]] = {}
    for event in events:
        ids = {scenario.membership.get((r.source.product_id, r.index)) for r in event.reports}
        if len(ids) != 1 or None in ids:
            continue
        true_event = truth[str(next(iter(ids)))]
        if true_event.count != 1:
            continue
        figures = [f for fs in event.figures for f in fs if not f.qualifier.is_bound]
        for q, made in event.fused.items():
            target = _scalar_truth(q, true_event)
            bounded = made.lower is not None or made.upper is not None
            if target is None or made.value is None or bounded:
                continue
            # The bound at the truth: each report's sigma as the generator drew its noise.
            sigmas = [
                # Times: the figure's own sigma (its wording's interval included).
                f.sigma
                if q.is_time
                else f.stated_sigma
                if f.stated_sigma is not None
                else default_sigma(q, f.qualifier, target)
                for f in figures
                if f.quantity is q
            ]
            if not sigmas or min(sigmas) <= 0:
                continue
            bound = math.sqrt(1 / math.fsum(1 / (s * s) for s in sigmas))
            squares.setdefault(q.value, []).append(((made.value - target) / bound) ** 2)
    rms = {q: math.sqrt(math.fsum(v) / len(v)) for q, v in sorted(squares.items())}
    return Score(
        precision,
        recall,
        exact_share,
        rms,
        {q: len(v) for q, v in sorted(squares.items())},
        right / len(salvos) if salvos else 1.0,
        len(salvos),
        phantoms,
    )
