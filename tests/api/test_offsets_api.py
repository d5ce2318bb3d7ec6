"""GET /api/v1/offsets: each nation's systematic difference per quantity, shown, not applied."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness.nodes import Harness

from tisa.api.analyst import analyst_app
from tisa.api.events import events_router, offset_view
from tisa.fusion import Quantity
from tisa.fusion.offsets import Offset


@pytest.fixture(scope="module")
def api(harness: Harness) -> Iterator[Any]:
    rt = harness.rt["JPN"]
    app = analyst_app(rt)
    if not any(getattr(r, "path", "") == "/api/v1/offsets" for r in app.routes):
        app.include_router(events_router(rt))
    with harness.client(app) as client:
        yield client


def test_the_answer_says_what_it_rests_on_and_that_nothing_is_applied(
    harness: Harness, api: Any
) -> None:
    answer = api.get("/api/v1/offsets", headers=harness.auth("jpn-analyst"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["applied"] is False
    assert body["min_events"] >= 2
    assert isinstance(body["offsets"], list)


def test_signing_in_is_needed(api: Any) -> None:
    assert api.get("/api/v1/offsets").status_code == 401


def test_an_offset_reads_with_its_unit_and_significance() -> None:
    view = offset_view(Offset("KOR", Quantity.RANGE_KM, 49.0, 5.5, 5))
    assert view == {
        "originator": "KOR",
        "quantity": "range_km",
        "offset": 49.0,
        "sigma": 5.5,
        "unit": "km",
        "events": 5,
        "significant": True,
    }
