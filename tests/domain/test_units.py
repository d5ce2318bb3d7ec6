"""Figures in the unit the originator wrote: converted for computing, kept as written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from harness.factories import identity_of, launch, product

from tisa.domain.model import Estimate, NuclearTest, Qualifier, Unit
from tisa.domain.wire import DraftIn, draft_to_wire, observation_to_wire, parse, to_product
from tisa.errors import InputInvalid


@pytest.mark.parametrize(
    ("written", "base", "value", "sigma"),
    [
        (Estimate(216, Qualifier.ABOUT, 10, Unit.NMI), Unit.KM, 400.032, 18.52),
        (Estimate(250, Qualifier.ABOUT, 5, Unit.MI), Unit.KM, 402.336, 8.04672),
        (Estimate(400_000, Qualifier.ABOUT, None, Unit.M), Unit.KM, 400.0, None),
        (Estimate(90, Qualifier.ABOUT, 30, Unit.S), Unit.MIN, 1.5, 0.5),
        (Estimate(400, Qualifier.ABOUT, 20, Unit.KM), Unit.KM, 400.0, 20.0),
    ],
)
def test_a_figure_converts_to_its_fields_unit(
    written: Estimate, base: Unit, value: float, sigma: float | None
) -> None:
    got = written.converted(base)
    assert got.value == pytest.approx(value)
    assert got.sigma == (None if sigma is None else pytest.approx(sigma))
    assert got.qualifier is written.qualifier
    assert got.unit is None


def test_a_unit_of_another_dimension_is_refused_with_words() -> None:
    with pytest.raises(InputInvalid, match="cannot be a distance"):
        launch(range_km=Estimate(5, unit=Unit.MIN))
    with pytest.raises(InputInvalid, match="cannot be a duration"):
        launch(flight_time_min=Estimate(5, unit=Unit.NMI))
    with pytest.raises(InputInvalid, match="takes no unit"):
        launch(count=Estimate(2, unit=Unit.KM))
    with pytest.raises(InputInvalid, match="takes no unit"):
        NuclearTest(time=launch().time, magnitude=Estimate(5, unit=Unit.KM))


def test_the_wire_keeps_the_unit_as_written_and_old_figures_byte_for_byte() -> None:
    p = product(observations=(launch(range_km=Estimate(216, Qualifier.ABOUT, 10, Unit.NMI)),))
    wire = draft_to_wire(p)
    (observation,) = wire["observations"]
    assert observation["range_km"] == {
        "value": 216,
        "qualifier": "about",
        "sigma": 10,
        "unit": "nmi",
    }
    again = to_product(parse(DraftIn, json.loads(json.dumps(wire))), **identity_of(p))
    assert again == p
    plain = observation_to_wire(launch(range_km=Estimate(400, Qualifier.ABOUT, 20)))
    assert "unit" not in plain["range_km"]


def test_a_bad_unit_on_the_wire_is_a_clear_error() -> None:
    body: dict[str, Any] = {
        "title": "t",
        "classification": "SECRET",
        "rel_to": ["KOR"],
        "topics": ["dprk.missile.launch"],
        "observations": [
            {
                "kind": "missile-launch",
                "time": {"original": "2023-12-18T08:24+09:00"},
                "range_km": {"value": 216, "unit": "furlong"},
            }
        ],
    }
    with pytest.raises(InputInvalid, match="unit"):
        parse(DraftIn, body)
    body["observations"][0]["range_km"]["unit"] = "min"
    draft = parse(DraftIn, body)
    with pytest.raises(InputInvalid, match="cannot be a distance"):
        to_product(draft, **identity_of(product()))
