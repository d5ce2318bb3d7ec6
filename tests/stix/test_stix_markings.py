"""Tests for tisa.stix.markings: ISA ACS 3.0, tisa's national schemes and the banner, as marking
definitions, and markings read back from them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import stix2
from harness.factories import PARTIES, arrangement, markings
from hypothesis import given
from hypothesis import strategies as st
from stix_checks import extension_errors, findings

from tisa.domain.markings import Classification, Markings, Precedence
from tisa.stix.extensions import ACS_EXTENSION_ID, TISA_MARKING_EXTENSION_ID
from tisa.stix.markings import (
    Claim,
    Unreadable,
    acs_marking,
    claim_of,
    party_identity_id,
    statement_marking,
    tisa_marking,
)

# From the ACS 3.0 extension's schema (isa-acs-3-0.json): what it requires, and the shapes of
# the values tisa writes.
ACS_REQUIRED = {
    "identifier",
    "create_date_time",
    "responsible_entity_custodian",
    "policy_reference",
    "control_set",
    "extension_type",
}
ACS_CUSTODIAN = re.compile(r"[A-Z0-9]+\.[A-Z0-9]+(\.[A-Z0-9][A-Z0-9-]+)?")
ACS_POLICY = re.compile(
    r"(urn:isa:policy:acs:ns:v3\.0\?privdefault=(permit|deny)&sharedefault=(permit|deny)\s?)+"
)
ACS_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")


def all_markings() -> st.SearchStrategy[Markings]:
    """Markings of products the parties hold (REL TO may name outsiders)."""
    return st.builds(
        lambda originator, level, extra, orcon: markings(
            originator=originator, classification=level, rel_to=extra | {originator}, orcon=orcon
        ),
        st.sampled_from(PARTIES),
        st.sampled_from(Classification),
        st.frozensets(st.sampled_from((*PARTIES, "GBR", "AUS"))),
        st.booleans(),
    )


def _acs(definition: dict[str, Any]) -> dict[str, Any]:
    part: dict[str, Any] = definition["extensions"][ACS_EXTENSION_ID]
    return part


def test_acs_says_the_us_level_and_rel_to_in_marking_order() -> None:
    m = markings(originator="KOR", classification=Classification.SECRET)
    part = _acs(acs_marking(m, arrangement(), "JPN"))
    assert part["control_set"] == {
        "classification": "S",
        "permitted_nationalities": ["USA", "JPN", "KOR"],
    }
    assert part["responsible_entity_custodian"] == "JPN.GOV"
    assert part["responsible_entity_originator"] == "KOR.GOV"
    assert part["name"] == "S//REL TO USA, JPN, KOR"


@pytest.mark.parametrize(
    ("level", "letter"),
    [
        (Classification.CONFIDENTIAL, "C"),
        (Classification.SECRET, "S"),
        (Classification.TOP_SECRET, "TS"),
    ],
)
def test_acs_classification_letters(level: Classification, letter: str) -> None:
    definition = acs_marking(markings(classification=level), arrangement(), "USA")
    assert _acs(definition)["control_set"]["classification"] == letter


def test_orcon_is_further_sharing_denied_by_default() -> None:
    # ACS 3.0 has no ORCON; "further sharing denied unless permitted" is what it asks.
    open_ = _acs(acs_marking(markings(orcon=False), arrangement(), "USA"))["policy_reference"]
    held = _acs(acs_marking(markings(orcon=True), arrangement(), "USA"))["policy_reference"]
    assert open_ == "urn:isa:policy:acs:ns:v3.0?privdefault=permit&sharedefault=permit"
    assert held == "urn:isa:policy:acs:ns:v3.0?privdefault=permit&sharedefault=deny"


@given(all_markings(), st.sampled_from(PARTIES))
def test_acs_markings_are_what_the_acs_schema_asks(m: Markings, here: str) -> None:
    definition = acs_marking(m, arrangement(), here)
    part = _acs(definition)
    assert set(part) >= ACS_REQUIRED
    assert part["extension_type"] == "property-extension"
    assert ACS_CUSTODIAN.fullmatch(part["responsible_entity_custodian"])
    assert ACS_CUSTODIAN.fullmatch(part["responsible_entity_originator"])
    assert ACS_POLICY.fullmatch(part["policy_reference"])
    assert ACS_TIMESTAMP.fullmatch(part["create_date_time"])
    assert part["control_set"]["classification"] in {"U", "C", "S", "TS"}
    assert part["identifier"].endswith(definition["id"].removeprefix("marking-definition--"))
    assert findings(definition) == []
    stix2.parse(definition, allow_custom=False)


def test_the_tisa_marking_names_both_national_terms() -> None:
    m = markings(originator="KOR", classification=Classification.SECRET, orcon=True)
    definition = tisa_marking(m, arrangement(), "JPN")
    assert definition["extensions"][TISA_MARKING_EXTENSION_ID] == {
        "extension_type": "property-extension",
        "arrangement": "tisa-2014",
        "level": "SECRET",
        "originator": "KOR",
        "originator_term": "군사Ⅱ급비밀",
        "holder": "JPN",
        "holder_term": "極秘",
        "rel_to": ["USA", "JPN", "KOR"],
        "orcon": True,
    }
    assert definition["name"] == "KOR 군사Ⅱ급비밀, held by JPN as 極秘"


@given(all_markings(), st.sampled_from(PARTIES))
def test_tisa_markings_pass_their_schema_and_the_validator(m: Markings, here: str) -> None:
    definition = tisa_marking(m, arrangement(), here)
    assert extension_errors(definition) == []
    assert findings(definition) == []
    stix2.parse(definition, allow_custom=False)


def test_the_statement_is_the_banner_in_the_holders_scheme() -> None:
    m = markings(originator="KOR", classification=Classification.SECRET)
    at_jpn = statement_marking(m, arrangement(), "JPN")
    assert at_jpn["definition"] == {"statement": "極秘//FGI KOR//REL TO USA, JPN, KOR"}
    assert at_jpn["definition_type"] == "statement"
    at_kor = statement_marking(m, arrangement(), "KOR")
    assert at_kor["definition"]["statement"] == "군사Ⅱ급비밀//REL TO USA, JPN, KOR"
    orcon = statement_marking(markings(orcon=True), arrangement(), "USA")
    assert orcon["definition"]["statement"] == "SECRET//FGI KOR//ORCON/REL TO USA, JPN, KOR"
    assert findings(at_jpn) == []


def test_markings_are_made_by_the_holder() -> None:
    # The holder marks what it holds with the originator's name and its own equivalent level.
    m = markings(originator="KOR")
    for make in (acs_marking, tisa_marking, statement_marking):
        assert make(m, arrangement(), "JPN")["created_by_ref"] == party_identity_id(
            arrangement(), "JPN"
        )


def test_the_same_markings_at_the_same_party_are_the_same_objects() -> None:
    one = markings(precedence=Precedence.FLASH)
    two = markings(precedence=Precedence.ROUTINE)  # precedence is no marking
    for make in (acs_marking, tisa_marking, statement_marking):
        assert make(one, arrangement(), "USA") == make(two, arrangement(), "USA")
        assert make(one, arrangement(), "USA")["id"] != make(one, arrangement(), "JPN")["id"]
    secret, confidential = markings(), markings(classification=Classification.CONFIDENTIAL)
    assert (
        acs_marking(secret, arrangement(), "USA")["id"]
        != (acs_marking(confidential, arrangement(), "USA")["id"])
    )


@given(all_markings(), st.sampled_from(PARTIES))
def test_what_is_written_reads_back(m: Markings, here: str) -> None:
    acs = claim_of(acs_marking(m, arrangement(), here))
    tisa = claim_of(tisa_marking(m, arrangement(), here))
    assert acs is not None
    assert tisa is not None
    for claim in (acs, tisa):
        assert (claim.level, claim.rel_to, claim.orcon) == (m.classification, m.rel_to, m.orcon)
    assert claim_of(statement_marking(m, arrangement(), here)) is None


def test_tlp_says_nothing_of_classification() -> None:
    assert claim_of(json.loads(stix2.TLP_AMBER.serialize())) is None


def test_an_unclassified_acs_marking_is_not_read_as_a_level() -> None:
    definition = acs_marking(markings(), arrangement(), "USA")
    _acs(definition)["control_set"]["classification"] = "U"
    with pytest.raises(Unreadable, match="'U' has no tisa level"):
        claim_of(definition)


def test_an_acs_marking_without_nationalities_says_no_rel_to() -> None:
    definition = acs_marking(markings(), arrangement(), "USA")
    del _acs(definition)["control_set"]["permitted_nationalities"]
    claim = claim_of(definition)
    assert claim == Claim(definition["id"], Classification.SECRET, None, False)


@pytest.mark.parametrize("rel_to", [[], "USA", ["usa"], ["USA", 3]])
def test_nationalities_must_be_trigraphs(rel_to: object) -> None:
    definition = tisa_marking(markings(), arrangement(), "USA")
    definition["extensions"][TISA_MARKING_EXTENSION_ID]["rel_to"] = rel_to
    with pytest.raises(Unreadable, match="REL TO"):
        claim_of(definition)
