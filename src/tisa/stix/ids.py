"""Identifiers and timestamps for tisa's STIX objects.

Every id tisa writes is named, not drawn: the UUIDv5 hash of a name in one fixed namespace, so
the same product exported twice, at any node, names its objects alike and a consumer that
fetches it again updates what it holds instead of holding it twice. Its version field says 4:
STIX 2.1 asks every non-observable id to be a UUIDv4 and strict validators (stix2-validator's
uuid-check) hold it, and a UUID's bits cannot tell a hash from a draw. Which name goes into
which id is listed in docs/stix.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tisa.domain.canonical import canonical_json

#: tisa's namespace for STIX ids (chosen once at random; never change it: every id a consumer
#: holds was made with it).
TISA_NAMESPACE = uuid.UUID("c73e6037-3711-43bf-ae2e-43accccc3ee9")

#: The date of version 1.0.0 of this mapping: `created` of the objects whose content does not
#: come from a product (identities, extension definitions, marking definitions), which must
#: still carry one timestamp, the same at every export.
MAPPING_EPOCH = datetime(2026, 12, 1, tzinfo=UTC)


def stix_id(object_type: str, *names: str | int) -> str:
    """`object_type--<uuid>` named by the names, joined with '/': one spelling per role, so
    `stix_id("report", product_id)` is the report of that product at every node. The uuid is
    the UUIDv5 hash of the name with its version field set to 4 (see the module's note)."""
    name = "/".join(str(part) for part in (object_type, *names))
    named = uuid.uuid5(TISA_NAMESPACE, name)
    return f"{object_type}--{uuid.UUID(bytes=named.bytes, version=4)}"


def content_id(object_type: str, content: Mapping[str, Any]) -> str:
    """An id named by the object's content (its canonical JSON): for objects that never
    change, such as marking definitions, where the same content must be the same object.

    Raises:
        InputInvalid: content that JSON cannot carry canonically.
    """
    return stix_id(object_type, canonical_json(content).decode("utf-8"))


def timestamp(moment: datetime) -> str:
    """A STIX timestamp: UTC, to the millisecond, with a Z (STIX asks `created` and
    `modified` to be precise to the millisecond)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
