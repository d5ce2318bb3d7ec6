"""tisa's two STIX extensions, their definitions, and the ACS 3.0 marking extension's id.

STIX 2.1 carries what it has no property for in an extension whose `extension-definition`
object names its schema. tisa defines two, each with a JSON schema vendored in
`tisa/stix/schemas/` and embedded in the definition, so a consumer without network access still
holds the normative text:

- `tisa` (schemas/tisa.json): on reports, notes, locations and identities, the figures of a
  product and its observations (hedges, bounds, uncertainties, original time wording...).
- `tisa-marking` (schemas/tisa-marking.json): on a marking definition, the classification in the
  originator's and the holder's national schemes.

The schemas are read once, at import (the package's only I/O).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from tisa.stix.ids import MAPPING_EPOCH, stix_id, timestamp

#: The ISA Access Control Specification 3.0 marking extension, as OASIS publishes it in
#: cti-stix-common-objects (extension-definition-specifications/acs-marking-definition-3a6).
ACS_EXTENSION_ID = "extension-definition--3a65884d-005a-4290-8335-cb2d778a83ce"

#: Both extensions' version: bump it, with EXTENSION_MODIFIED, whenever a schema changes,
#: since a STIX object of one id and `modified` must never change content. 1.1.0: a figure
#: may carry the unit it was reported in.
EXTENSION_VERSION = "1.1.0"
#: When this version was released: the definitions' `modified` (their `created` stays the
#: mapping's epoch, when version 1.0.0 was).
EXTENSION_MODIFIED = datetime(2026, 12, 1, 18, tzinfo=UTC)

TISA_EXTENSION_ID = stix_id("extension-definition", "tisa")
TISA_MARKING_EXTENSION_ID = stix_id("extension-definition", "tisa-marking")

#: The identity that made the extension definitions: tisa itself, a system, not any party.
TISA_IDENTITY_ID = stix_id("identity", "tisa")


def _schema(name: str) -> dict[str, Any]:
    text = (files("tisa.stix") / "schemas" / name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


TISA_SCHEMA = _schema("tisa.json")
TISA_MARKING_SCHEMA = _schema("tisa-marking.json")


def _schema_text(schema: dict[str, Any]) -> str:
    # Sorted and compact: the definition's content, and so its bytes, depend on the schema's
    # meaning only, not on how the vendored file happens to be laid out.
    return json.dumps(schema, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def tisa_identity() -> dict[str, Any]:
    """The identity of tisa, the system that defines the tisa extensions."""
    moment = timestamp(MAPPING_EPOCH)
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": TISA_IDENTITY_ID,
        "created": moment,
        "modified": moment,
        "name": "tisa",
        "description": (
            "The network for sharing intelligence among the parties to an arrangement through "
            "a relay hub; author of the tisa STIX extensions."
        ),
        "identity_class": "system",
    }


def extension_definitions() -> list[dict[str, Any]]:
    """The `tisa` and `tisa-marking` extension-definition objects."""
    common = {
        "created": timestamp(MAPPING_EPOCH),
        "modified": timestamp(EXTENSION_MODIFIED),
        "created_by_ref": TISA_IDENTITY_ID,
        "version": EXTENSION_VERSION,
        "extension_types": ["property-extension"],
    }
    return [
        {
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": TISA_EXTENSION_ID,
            **common,
            "name": "tisa",
            "description": TISA_SCHEMA["description"],
            "schema": _schema_text(TISA_SCHEMA),
        },
        {
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": TISA_MARKING_EXTENSION_ID,
            **common,
            "name": "tisa-marking",
            "description": TISA_MARKING_SCHEMA["description"],
            "schema": _schema_text(TISA_MARKING_SCHEMA),
        },
    ]
