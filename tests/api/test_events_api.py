"""GET /api/v1/events and /api/v1/events/{id} on the in-process harness: the JSON shape, the
access rule per user, and 404s (never 500s)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from harness.nodes import Harness
from harness.users import bearer

from tisa.api.analyst import analyst_app
from tisa.api.events import events_router
from tisa.services.accounts import Role

WHEN = "2031-05-05T12:00+09:00"
# "12:00" names the minute from 03:00:00Z: the fused time is its middle.
WHEN_UTC = "2031-05-05T03:00:30Z"


def draft(magnitude: float, topics: list[str]) -> dict[str, Any]:
    return {
        "title": f"Seismic event M{magnitude}",
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "topics": topics,
        "observations": [
            {
                "kind": "nuclear-test",
                "time": {"original": WHEN, "qualifier": "exact"},
                "position": {"lat": 41.28, "lon": 129.08, "sigma_km": 5, "description": "site"},
                "magnitude": {"value": magnitude, "qualifier": "exact"},
            }
        ],
    }


@pytest.fixture(scope="module")
def api(harness: Harness) -> Iterator[Any]:
    """USA's analyst app with the events router (included once, whoever includes it)."""
    rt = harness.rt["USA"]
    app = analyst_app(rt)
    if not any(getattr(r, "path", "") == "/api/v1/events" for r in app.routes):
        app.include_router(events_router(rt))
    with harness.client(app) as client:
        yield client


@pytest.fixture(scope="module")
def event_id(harness: Harness, api: Any) -> str:
    for magnitude, topics in (
        (5.0, ["dprk.nuclear.test"]),
        (6.0, ["dprk.nuclear.test", "dprk.nuclear.site-activity"]),
    ):
        made = api.post(
            "/api/v1/products", json=draft(magnitude, topics), headers=harness.auth("usa-analyst")
        )
        assert made.status_code == 201, made.text
        pid = made.json()["id"]
        released = api.post(
            f"/api/v1/products/{pid}/versions/1/release", headers=harness.auth("usa-officer")
        )
        assert released.status_code == 200, released.text
    listed = api.get("/api/v1/events", headers=harness.auth("usa-analyst"))
    assert listed.status_code == 200, listed.text
    ours = [e for e in listed.json()["events"] if e["time"] == WHEN_UTC]
    assert len(ours) == 1
    return str(ours[0]["id"])


def narrow_user(harness: Harness, need_to_know: list[str]) -> dict[str, str]:
    rt = harness.rt["USA"]
    name = f"usa-narrow-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    rt.accounts.add(name, password, Role.ANALYST, "SECRET", need_to_know)
    return bearer(rt.accounts.sign_in(name, password))


def test_the_list_has_exactly_the_agreed_shape(harness: Harness, api: Any, event_id: str) -> None:
    body = api.get("/api/v1/events", headers=harness.auth("usa-analyst")).json()
    assert set(body) == {"events"}
    (item,) = [e for e in body["events"] if e["id"] == event_id]
    assert item == {
        "id": event_id,
        "kind": "nuclear-test",
        "time": WHEN_UTC,
        "count": 1,
        "parties": ["USA"],
        "reports": 2,
        "disagreements": 1,
        "label": "Seismic event at a test site 2031-05-05 03:00Z",
        "notes": 0,
    }
    times = [e["time"] for e in body["events"]]
    assert times == sorted(times, reverse=True)


def test_the_event_has_exactly_the_agreed_shape(harness: Harness, api: Any, event_id: str) -> None:
    response = api.get(f"/api/v1/events/{event_id}", headers=harness.auth("usa-analyst"))
    assert response.status_code == 200, response.text
    e = response.json()
    assert set(e) == {
        "id", "kind", "time", "count", "label", "parties", "reports", "fused",
        "disagreements", "map", "tracks", "missiles", "notes", "aliases",
    }  # fmt: skip
    (missile,) = e["missiles"]  # a nuclear test is one
    assert set(missile) == {"number", "class", "reports", "fused"}
    assert missile["number"] == 1
    assert missile["class"] == "UNKNOWN"
    assert set(missile["reports"][0]) == {"product_id", "version", "originator", "index"}
    assert len(missile["reports"]) == 2
    assert missile["fused"]["magnitude"]["value"] == pytest.approx(5.5)
    assert e["notes"] == []
    assert e["tracks"] is None  # a nuclear test has no missile tracks
    report = e["reports"][0]
    assert set(report) == {
        "product_id", "version", "originator", "title", "created_at", "received_at", "figures",
    }  # fmt: skip
    assert set(report["figures"]) == {"time", "site", "magnitude"}
    assert set(report["figures"]["magnitude"]) == {
        "value",
        "qualifier",
        "sigma",
        "unit",
        "text",
        "original",
    }
    assert report["figures"]["time"]["text"].endswith(f"(reported as {WHEN})")
    assert report["figures"]["time"]["original"] == WHEN
    assert report["figures"]["site"]["value"] is None
    assert report["figures"]["site"]["lat"] == 41.28
    fused = e["fused"]["magnitude"]
    assert set(fused) == {
        "value", "sigma", "lower", "upper", "unit", "text", "method", "sources", "left_out",
        "assumed_sigma",
    }  # fmt: skip
    assert fused["left_out"] == []
    assert fused["value"] == pytest.approx(5.5)
    assert {s["originator"] for s in fused["sources"]} == {"USA"}
    assert set(fused["sources"][0]) == {"product_id", "version", "originator"}
    (d,) = e["disagreements"]
    assert set(d) == {"quantity", "gap", "unit", "sigmas", "sources", "text"}
    assert d["quantity"] == "magnitude"
    assert d["gap"] == pytest.approx(1.0)
    assert len(d["sources"]) == 2
    points = e["map"]["points"]
    assert {p["role"] for p in points} == {"site"}
    assert {p["originator"] for p in points} == {"USA", "FUSED"}
    assert set(points[0]) == {"role", "lat", "lon", "sigma_km", "originator", "fused", "label"}
    assert [p["fused"] for p in points].count(True) == 1


def test_a_user_sees_only_figures_of_products_they_may_read(
    harness: Harness, api: Any, event_id: str
) -> None:
    tests_only = narrow_user(harness, ["dprk.nuclear.test"])
    e = api.get(f"/api/v1/events/{event_id}", headers=tests_only).json()
    assert len(e["reports"]) == 1
    assert e["reports"][0]["figures"]["magnitude"]["value"] == 5.0
    assert e["fused"]["magnitude"]["value"] == 5.0
    assert e["disagreements"] == []


def test_an_event_with_nothing_readable_is_a_404(harness: Harness, api: Any, event_id: str) -> None:
    missiles_only = narrow_user(harness, ["dprk.missile.*"])
    response = api.get(f"/api/v1/events/{event_id}", headers=missiles_only)
    assert response.status_code == 404
    listed = api.get("/api/v1/events", headers=missiles_only).json()["events"]
    assert event_id not in [e["id"] for e in listed]


@pytest.mark.parametrize("unknown", ["ev-0000000000000000", "nonsense", "ev-%E2%9C%93"])
def test_unknown_ids_are_404(harness: Harness, api: Any, unknown: str) -> None:
    response = api.get(f"/api/v1/events/{unknown}", headers=harness.auth("usa-analyst"))
    assert response.status_code == 404, response.text


def test_signing_in_is_required(api: Any) -> None:
    assert api.get("/api/v1/events").status_code == 401
    assert api.get("/api/v1/events/ev-0000000000000000").status_code == 401


def test_an_id_the_event_once_had_redirects_to_it(
    harness: Harness, api: Any, event_id: str
) -> None:
    event = api.get(f"/api/v1/events/{event_id}", headers=harness.auth("usa-analyst")).json()
    (alias,) = event["aliases"]  # two reports: the other could have named it
    moved = api.get(
        f"/api/v1/events/{alias}", headers=harness.auth("usa-analyst"), follow_redirects=False
    )
    assert moved.status_code == 307
    assert moved.headers["location"] == f"/api/v1/events/{event_id}"
    unknown = api.get("/api/v1/events/ev-0000000000000000", headers=harness.auth("usa-analyst"))
    assert unknown.status_code == 404
