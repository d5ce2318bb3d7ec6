"""Tests for tisa.stix.observations: an observation's note and locations, and its words."""

from __future__ import annotations

from harness.factories import instant, launch, nuclear_test, observations
from hypothesis import given
from stix_checks import extension_errors

from tisa.domain.model import Estimate, MissileClass, Observation, Position, Qualifier
from tisa.domain.wire import observation_to_wire
from tisa.stix.extensions import TISA_EXTENSION_ID
from tisa.stix.observations import abstract, content, location_object, note_part, places


def test_hedges_are_words_and_exact_figures_are_bare() -> None:
    shot = launch(
        time=instant("2023-12-18T08:24+09:00", qualifier=Qualifier.EXACT, sigma_s=60.0),
        missile_class=MissileClass.ICBM,
        launch_position=None,
        count=Estimate(2, Qualifier.EXACT),
        apogee_km=Estimate(6000, Qualifier.MORE_THAN),
        range_km=Estimate(1000, Qualifier.UP_TO),
        flight_time_min=Estimate(73, Qualifier.LESS_THAN, 1.0),
        impact_time=instant("2023-12-18T09:37+09:00"),
        inside_eez=True,
        lofted=False,
    )
    assert content(shot) == (
        "Missile launch (ICBM) at 2023-12-18T08:24+09:00 ± 60 s; count 2; "
        "apogee more than 6000 km; range up to 1000 km; flight time less than 73 ± 1 min; "
        "impact at about 2023-12-18T09:37+09:00; inside the EEZ; not lofted."
    )
    assert abstract(shot) == "Missile launch (ICBM), 2023-12-18T08:24+09:00"


def test_a_bare_test_says_its_time() -> None:
    test = nuclear_test(position=None, magnitude=None, yield_kt=None)
    assert content(test) == "Nuclear test at about 2017-09-03T12:29:57+09:00."
    assert abstract(test) == "Nuclear test, 2017-09-03T12:29:57+09:00"


@given(observations())
def test_a_note_holds_the_wire_form_with_places_by_reference(o: Observation) -> None:
    found = places(o)
    refs = {
        kind: f"location--00000000-0000-5000-8000-00000000000{i}" for i, kind in enumerate(found)
    }
    part = note_part(o, refs)
    wire = observation_to_wire(o)
    assert {k: v for k, v in part.items() if not k.endswith("_ref")} == {
        "extension_type": "property-extension",
        **{
            k: v
            for k, v in wire.items()
            if k not in ("launch_position", "impact_position", "position")
        },
    }
    assert sorted(v for k, v in part.items() if k.endswith("_ref")) == sorted(refs.values())
    note = {"id": "note--x", "extensions": {TISA_EXTENSION_ID: part}}
    assert extension_errors(note) == []


def test_a_location_keeps_the_km_figure_and_gives_metres_too() -> None:
    common = {"spec_version": "2.1", "id": "location--x"}
    place = location_object(Position(39.0, 125.7, 0.5, "Sohae"), "launch-point", common)
    assert place["precision"] == 500.0
    assert place["name"] == "Sohae"
    assert next(iter(place["extensions"].values()))["sigma_km"] == 0.5


def test_an_uncertainty_beyond_metres_stays_in_km() -> None:
    common = {"spec_version": "2.1", "id": "location--x"}
    place = location_object(Position(0.0, 0.0, 1e306, ""), "impact-point", common)
    assert "precision" not in place
    assert place["extensions"][TISA_EXTENSION_ID]["sigma_km"] == 1e306
