"""What the STIX tests share: the OASIS checks every export must pass, and products to export.

``from stix_checks import ...`` (pytest puts tests/stix on sys.path: it has no __init__.py).

- `findings(obj)`: what stix2-validator, strict (its SHOULDs are errors), says of a STIX object or
  bundle, every check on: errors and warnings both; `[]` is a pass.
- `extension_errors(obj)`: the tisa extensions of an object checked against their vendored
  JSON schemas.
- `exportable()`: products any party may hold (a party as originator), with observations.
- `example_product()`: the launch report of docs/stix.md's worked example.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jsonschema
from harness.factories import PARTIES, products, topic_sets
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from tisa.demo.launches import JPN_LAUNCH
from tisa.domain.model import Product
from tisa.domain.wire import DraftIn, parse, to_product
from tisa.stix.extensions import (
    TISA_EXTENSION_ID,
    TISA_MARKING_EXTENSION_ID,
    TISA_MARKING_SCHEMA,
    TISA_SCHEMA,
)

_VALIDATORS = {
    TISA_EXTENSION_ID: jsonschema.Draft202012Validator(TISA_SCHEMA),
    TISA_MARKING_EXTENSION_ID: jsonschema.Draft202012Validator(TISA_MARKING_SCHEMA),
}


def findings(obj: Mapping[str, Any]) -> list[str]:
    """stix2-validator's errors and warnings, strict, every check on."""
    result = validate_instance(dict(obj), ValidationOptions(strict=True))
    found = [str(error) for error in result.errors] + [str(w) for w in result.warnings]
    assert result.is_valid == (not result.errors)
    return found


def extension_errors(obj: Mapping[str, Any]) -> list[str]:
    """Schema errors of the tisa extensions an object carries (none: `[]`)."""
    errors = []
    for extension_id, part in obj.get("extensions", {}).items():
        validator = _VALIDATORS.get(extension_id)
        if validator is not None:
            errors += [f"{obj['id']}: {e.message}" for e in validator.iter_errors(part)]
    return errors


def exportable(in_scope: bool = False) -> st.SearchStrategy[Product]:
    """Products with observations whose originator is a party (REL TO may name outsiders)."""
    topics = topic_sets(in_scope_only=True) if in_scope else None
    return products(originators=st.sampled_from(PARTIES), topics=topics, with_observations=True)


def heres() -> st.SearchStrategy[str]:
    """A party holding a copy."""
    return st.sampled_from(PARTIES)


def earlier(moment: datetime) -> st.SearchStrategy[datetime]:
    """`first_created` for a version made at `moment`: that moment or any time before it."""
    wall = moment.replace(tzinfo=None)
    before = st.datetimes(min_value=min(wall, datetime(2000, 1, 1)), max_value=wall)
    return st.just(moment) | before.map(lambda d: d.replace(tzinfo=moment.tzinfo))


# --- the worked example of docs/stix.md ----------------------------------------------------

EXAMPLE_ID = "3b0f6c1e-8d2a-4f5b-9c7e-1a2b3c4d5e6f"
EXAMPLE_FIRST_CREATED = datetime(2023, 12, 18, 0, 40, tzinfo=UTC)


def example_product() -> Product:
    """JPN's report of the 18 December 2023 launch (tisa.demo.launches), version 1."""
    observation = {
        "kind": "missile-launch",
        **JPN_LAUNCH,
        "launch_position": {
            "lat": 39.03,
            "lon": 125.75,
            "sigma_km": 15,
            "description": "Pyongyang area",
        },
    }
    draft = parse(
        DraftIn,
        {
            "title": "ICBM-class launch from the Pyongyang area, impact outside the EEZ",
            "text": "One ICBM-class missile, lofted, flew about 73 minutes and fell about 250 km "
            "west of Okushiri Island, outside Japan's EEZ.",
            "classification": "SECRET",
            "rel_to": ["USA", "KOR", "JPN"],
            "precedence": "FLASH",
            "topics": ["dprk.missile.launch"],
            "source_reliability": "B",
            "information_credibility": "2",
            "observations": [observation],
        },
    )
    return to_product(
        draft,
        id=EXAMPLE_ID,
        version=1,
        originator="JPN",
        author="jpn.analyst",
        created_at=EXAMPLE_FIRST_CREATED,
    )
