"""Tests for tisa.stix.extensions: the extension definitions and their vendored schemas."""

from __future__ import annotations

import hashlib
import json

import jsonschema
import pytest
import stix2
from stix_checks import findings

from tisa.stix.extensions import (
    ACS_EXTENSION_ID,
    EXTENSION_VERSION,
    TISA_EXTENSION_ID,
    TISA_IDENTITY_ID,
    TISA_MARKING_EXTENSION_ID,
    TISA_MARKING_SCHEMA,
    TISA_SCHEMA,
    extension_definitions,
    tisa_identity,
)

# The schema text each released version of the extensions embeds. A STIX object of one id and
# `modified` must never change: a changed schema is a new version (EXTENSION_VERSION, and
# EXTENSION_MODIFIED for its `modified`), pinned here beside the old.
RELEASED = {
    "1.0.0": {
        "tisa": "9f794ae864e7199a0ee1b119a124b17d0ca5864ae918934b874d2929979475b1",
        "tisa-marking": "7d4d22e270b925b83da0ca0c85a224669e01b1da0aa7b7bf30ab8ab9091db928",
    },
    # A figure's unit as reported.
    "1.1.0": {
        "tisa": "70d5c2b6b50e1d5ad40b2817fae0ab4dbf624f370394b0868ecaf22a182137de",
        "tisa-marking": "7d4d22e270b925b83da0ca0c85a224669e01b1da0aa7b7bf30ab8ab9091db928",
    },
}


def test_the_acs_extension_is_the_one_oasis_publishes() -> None:
    # cti-stix-common-objects: extension-definition-specifications/acs-marking-definition-3a6
    assert ACS_EXTENSION_ID == "extension-definition--3a65884d-005a-4290-8335-cb2d778a83ce"


def test_tisa_extension_ids_never_change() -> None:
    # Every tisa object consumers hold names its extension by these ids.
    assert TISA_EXTENSION_ID == "extension-definition--8b37ff2c-a020-4f55-bfb4-b9a94e1823ef"
    assert TISA_MARKING_EXTENSION_ID == (
        "extension-definition--b78c3476-3220-4f9a-9df2-99498cf9d088"
    )


@pytest.mark.parametrize("schema", [TISA_SCHEMA, TISA_MARKING_SCHEMA], ids=["tisa", "marking"])
def test_the_vendored_schemas_are_json_schemas(schema: dict[str, object]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)


def test_each_definition_embeds_its_schema_as_released() -> None:
    definitions = {d["name"]: d for d in extension_definitions()}
    assert json.loads(definitions["tisa"]["schema"]) == TISA_SCHEMA
    assert json.loads(definitions["tisa-marking"]["schema"]) == TISA_MARKING_SCHEMA
    embedded = {
        name: hashlib.sha256(d["schema"].encode("utf-8")).hexdigest()
        for name, d in definitions.items()
    }
    assert embedded == RELEASED[EXTENSION_VERSION], "a schema changed: release a new version"
    assert all(d["version"] == EXTENSION_VERSION for d in definitions.values())


def test_definitions_and_their_author_pass_the_strict_validator_and_load() -> None:
    for obj in [tisa_identity(), *extension_definitions()]:
        assert findings(obj) == []
        stix2.parse(obj, allow_custom=False)
    assert {d["created_by_ref"] for d in extension_definitions()} == {TISA_IDENTITY_ID}
    assert tisa_identity()["identity_class"] == "system"


def test_every_definition_is_a_property_extension() -> None:
    # tisa adds properties to STIX objects; it defines no object types of its own.
    for definition in extension_definitions():
        assert definition["extension_types"] == ["property-extension"]
