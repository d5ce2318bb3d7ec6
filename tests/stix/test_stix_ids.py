"""Tests for tisa.stix.ids: ids named by what they identify, and STIX timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from harness.factories import PRODUCT_ID, aware_datetimes
from hypothesis import given

from tisa.stix.ids import TISA_NAMESPACE, content_id, stix_id, timestamp


def test_an_id_is_the_uuid5_hash_of_its_type_and_names_stamped_version_4() -> None:
    made = uuid.UUID(stix_id("report", PRODUCT_ID).removeprefix("report--"))
    named = uuid.uuid5(TISA_NAMESPACE, "report/" + PRODUCT_ID)
    # The hash is kept but for the version field: STIX asks SDO ids to be UUIDv4.
    assert (made.version, made.variant) == (4, uuid.RFC_4122)
    assert made.int ^ named.int == (4 ^ 5) << 76


def test_ids_consumers_already_hold_never_change() -> None:
    # A consumer updates what it holds by id: a changed namespace or spelling would make every
    # product a new object to it.
    assert stix_id("report", PRODUCT_ID) == "report--60750371-0e04-473d-bdc0-67bf99c22201"
    assert stix_id("note", PRODUCT_ID, 2, 0) == stix_id("note", PRODUCT_ID, "2", "0")


def test_names_are_kept_apart() -> None:
    assert stix_id("note", PRODUCT_ID, 1, 0) != stix_id("note", PRODUCT_ID, 2, 0)
    assert stix_id("note", PRODUCT_ID, 1, 0) != stix_id("note", PRODUCT_ID, 1, 1)
    assert stix_id("location", "a", "b") != stix_id("location", "a/b", "")


def test_content_ids_follow_content_not_key_order() -> None:
    one = content_id("marking-definition", {"a": 1, "b": "極秘"})
    assert one == content_id("marking-definition", {"b": "極秘", "a": 1})
    assert one != content_id("marking-definition", {"a": 1, "b": "秘"})


def test_timestamps_are_utc_to_the_millisecond() -> None:
    kst = timezone(timedelta(hours=9))
    moment = datetime(2024, 1, 14, 14, 55, 1, 123_999, tzinfo=kst)
    assert timestamp(moment) == "2024-01-14T05:55:01.123Z"
    assert timestamp(datetime(2024, 1, 14, tzinfo=UTC)) == "2024-01-14T00:00:00.000Z"


@given(aware_datetimes(), aware_datetimes())
def test_timestamps_keep_the_order_of_times(a: datetime, b: datetime) -> None:
    # Versions are ordered by `modified`: truncating to milliseconds must never reverse two.
    if a <= b:
        assert timestamp(a) <= timestamp(b)
