"""What the STIX tests share: the OASIS checks every export must pass, and products to export.

``from stix_checks import ...`` (pytest puts tests/stix on sys.path: it has no __init__.py).

- `findings(obj)`: what stix2-validator, strict (its SHOULDs are errors), says of a STIX object or
  bundle: errors and warnings both; `[]` is a pass. One check is off, `uuid-check` (103): it asks
  UUIDv4 of every non-observable id, and tisa's ids are UUIDv5 by design, which STIX allows
  (docs/stix.md). `test_export.py` shows that it is the only finding with every check on.
- `extension_errors(obj)`: the tisa extensions of an object checked against their vendored
  JSON schemas.
- `exportable()`: products any party may hold (a party as originator), with observations.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jsonschema
from harness.factories import PARTIES, products, topic_sets
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from tisa.domain.model import Product
from tisa.stix.extensions import (
    TISA_EXTENSION_ID,
    TISA_MARKING_EXTENSION_ID,
    TISA_MARKING_SCHEMA,
    TISA_SCHEMA,
)

#: The one check of stix2-validator that tisa's ids do not pass, on purpose.
UUID_CHECK = "uuid-check"

_VALIDATORS = {
    TISA_EXTENSION_ID: jsonschema.Draft202012Validator(TISA_SCHEMA),
    TISA_MARKING_EXTENSION_ID: jsonschema.Draft202012Validator(TISA_MARKING_SCHEMA),
}


def findings(obj: Mapping[str, Any], *, every_check: bool = False) -> list[str]:
    """stix2-validator's errors and warnings, strict; `every_check` turns uuid-check back on."""
    disabled = [] if every_check else [UUID_CHECK]
    result = validate_instance(dict(obj), ValidationOptions(strict=True, disabled=disabled))
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
