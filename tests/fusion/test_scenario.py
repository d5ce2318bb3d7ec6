"""Generated scenarios: reproducible, realistic in form, and fusion recovers their truth."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.domain.arrangement import FusionWindows
from tisa.domain.model import MissileLaunch, NuclearTest, ObservationKind, Qualifier
from tisa.fusion import Group, Quantity, build_event, build_events, current_reports
from tisa.fusion.scenario import FAMILIES, Scenario, generate
from tisa.fusion.scoring import score

WINDOWS = FusionWindows()


@pytest.fixture(scope="module")
def big() -> Scenario:
    return generate(7, events=600, bias=False)


def test_the_same_seed_gives_the_same_scenario() -> None:
    assert generate(3, events=20) == generate(3, events=20)
    assert generate(3, events=20).products != generate(4, events=20).products


def test_scenarios_carry_what_real_reporting_does(big: Scenario) -> None:
    observations = [o for p in big.products for o in p.observations]
    endings = {o.time.original[-6:] for o in observations}
    assert {"+09:00", "-10:00", "+08:30"} <= endings
    assert any(o.time.original.endswith("Z") for o in observations)
    assert any(p.version == 2 for p in big.products)
    assert any(h.recalled for h in big.holdings)
    launches = [o for o in observations if isinstance(o, MissileLaunch)]
    assert any(o.apogee_km and o.apogee_km.qualifier is Qualifier.MORE_THAN for o in launches)
    assert any(o.count and o.count.qualifier is Qualifier.AT_LEAST for o in launches)
    assert any(t.count > 1 for t in big.truth)
    assert any(t.collapse for t in big.truth)
    tests = [o for o in observations if isinstance(o, NuclearTest)]
    assert tests
    assert {p.originator for p in big.products} == {"KOR", "JPN", "USA"}


def test_correlation_recovers_the_events(big: Scenario) -> None:
    result = score(big, build_events(big.holdings, WINDOWS))
    assert result.precision >= 0.99
    assert result.recall >= 0.99
    assert result.exact_events >= 0.98


def test_the_score_punishes_lumping_and_splitting() -> None:
    small = generate(5, events=40, bias=False)
    reports = current_reports(small.holdings)
    lumped = [
        build_event(Group(f"ev-{kind}", kind, tuple(r for r in reports if r.kind is kind)), 2.0)
        for kind in ObservationKind
    ]
    assert score(small, lumped).precision < 0.2
    split = [build_event(Group(f"ev-{n}", r.kind, (r,)), 2.0) for n, r in enumerate(reports)]
    assert score(small, split).recall < 0.2


def test_fused_error_is_near_the_inverse_variance_bound(big: Scenario) -> None:
    result = score(big, build_events(big.holdings, WINDOWS))
    for quantity in (Quantity.TIME, Quantity.APOGEE_KM, Quantity.RANGE_KM, Quantity.MAGNITUDE):
        assert result.samples[quantity.value] >= 50
        assert 0.8 <= result.normalised_error[quantity.value] <= 1.2, quantity


def test_sensor_bias_shows_as_error_beyond_the_bound() -> None:
    fair = generate(11, events=600, bias=False)
    biased = generate(11, events=600, bias=True)
    m = Quantity.MAGNITUDE.value
    fair_error = score(fair, build_events(fair.holdings, WINDOWS)).normalised_error[m]
    biased_error = score(biased, build_events(biased.holdings, WINDOWS)).normalised_error[m]
    assert biased_error > fair_error + 0.2


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.randoms(use_true_random=False))
def test_permuting_a_scenario_gives_the_same_events(seed: int, rnd: random.Random) -> None:
    scenario = generate(seed, events=12)
    shuffled = list(scenario.holdings)
    rnd.shuffle(shuffled)
    assert build_events(shuffled, WINDOWS) == build_events(scenario.holdings, WINDOWS)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_stress_family_generates_its_truth(family: str) -> None:
    scenario = generate(2, events=6, family=family, bias=False)
    assert scenario.observations > 0
    assert set(scenario.membership.values()) <= {t.id for t in scenario.truth}
    assert len(scenario.truth) >= 6
    result = score(scenario, build_events(scenario.holdings, WINDOWS))
    # The picture finds the family's events at all (how well: bench/fusion.py).
    assert result.recall > 0


def test_the_zone_family_writes_mistaken_zones() -> None:
    def hours_off(family: str) -> tuple[set[str], set[str]]:
        """The true events some report of which is hours away from them, and the events more
        than one nation reported (only those get a mistaken report)."""
        scenario = generate(3, events=30, family=family)
        truth = {t.id: t for t in scenario.truth}
        off: set[str] = set()
        nations: dict[str, set[str]] = {}
        for p in scenario.products:
            for index, o in enumerate(p.observations):
                member = scenario.membership.get((p.id, index))
                if member is None:  # a recalled report: outside the truth it is scored on
                    continue
                event = truth[member]
                nations.setdefault(event.id, set()).add(p.originator)
                if abs(o.time.utc - event.time) >= timedelta(minutes=50):
                    off.add(event.id)
        return off, {e for e, seen in nations.items() if len(seen) > 1}

    # A KST clock reading tagged as UTC, or an offset with its sign flipped: every launch two
    # nations report has a report hours away; a family without the mistake has none.
    off, shared = hours_off("zone")
    assert shared
    assert shared <= off
    assert hours_off("base")[0] == set()


def test_an_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown family"):
        generate(1, family="nonsense")
