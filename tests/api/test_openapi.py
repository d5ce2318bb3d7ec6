"""The analyst API's OpenAPI document states tisa's answers: one error body, 401 where sign-in
is needed, the media types that are not JSON, this node's channels, examples it accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from harness.nodes import Harness

from tisa.api.analyst import METRICS_TYPE, analyst_app
from tisa.api.openapi import Operation, corrected

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
READINESS_BODY = {"$ref": "#/components/schemas/Readiness"}
READINESS = {"GET /healthz", "GET /healthz/ready"}
# Anyone may sign in, sign out or ask whether the node is up.
OPEN = {
    "POST /api/v1/session",
    "DELETE /api/v1/session",
    "GET /healthz",
    "GET /healthz/ready",
    "GET /healthz/live",
}


def document(harness: Harness, party: str = "USA") -> dict[str, Any]:
    return harness.api(party).get("/openapi.json").json()  # type: ignore[no-any-return]


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


def test_every_error_answer_is_an_error_body(harness: Harness) -> None:
    doc = document(harness)
    assert "HTTPValidationError" not in json.dumps(doc)
    assert doc["components"]["schemas"]["ErrorBody"]["required"] == ["error", "detail"]
    for name, operation in operations(doc).items():
        for status, response in operation["responses"].items():
            if name in READINESS and status == "503":
                # A failing readiness check answers with the report naming what failed.
                assert response["content"] == {"application/json": {"schema": READINESS_BODY}}
            elif not status.startswith("2"):
                assert response["content"] == {"application/json": {"schema": ERROR_BODY}}, name


def test_operations_that_need_sign_in_say_so(harness: Harness) -> None:
    for name, operation in operations(document(harness)).items():
        if name in OPEN:
            assert "security" not in operation, name
            continue
        assert operation["security"] == [{"bearer": []}, {"session": []}], name
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], name
        if not name.startswith("GET "):
            assert "403" in operation["responses"], name


@pytest.mark.parametrize(
    ("name", "statuses"),
    [
        ("POST /api/v1/products", {"201", "400", "401", "403", "404", "409", "413", "422"}),
        ("GET /api/v1/products/{product_id}", {"200", "401", "404", "422"}),
        (
            "POST /api/v1/products/{product_id}/versions/{version}/release",
            {"200", "401", "403", "404", "409", "422"},
        ),
        ("GET /api/v1/status", {"200", "401", "403"}),
        ("GET /api/v1/me", {"200", "401"}),
        ("POST /api/v1/uploads", {"201", "401", "403", "409", "413", "422"}),
        ("DELETE /api/v1/session", {"204"}),  # any Authorization header will do
        ("GET /healthz", {"200", "503"}),
        ("GET /healthz/ready", {"200", "503"}),
        ("GET /healthz/live", {"200"}),
    ],
)
def test_each_operation_states_the_statuses_it_answers(
    harness: Harness, name: str, statuses: set[str]
) -> None:
    assert set(operations(document(harness))[name]["responses"]) == statuses


def test_what_is_not_json_is_stated_as_it_is(harness: Harness) -> None:
    ops = operations(document(harness))
    assert list(ops["GET /metrics"]["responses"]["200"]["content"]) == [METRICS_TYPE]
    attachment = "GET /api/v1/products/{product_id}/versions/{version}/attachments/{digest}"
    assert list(ops[attachment]["responses"]["200"]["content"]) == ["*/*"]
    assert list(ops[f"{attachment}/preview"]["responses"]["200"]["content"]) == ["image/jpeg"]
    assert list(ops["POST /api/v1/uploads"]["requestBody"]["content"]) == ["*/*"]
    assert "content" not in ops["DELETE /api/v1/session"]["responses"]["204"]
    metrics = harness.api("USA").get("/metrics", headers=harness.auth("usa-admin"))
    assert metrics.headers["content-type"] == METRICS_TYPE


@pytest.mark.parametrize(
    ("party", "channels"),
    [("USA", ["USA-KOR", "KOR-USA", "USA-JPN", "JPN-USA"]), ("KOR", ["USA-KOR", "KOR-USA"])],
)
def test_a_channel_is_one_of_the_nodes_own(
    harness: Harness, party: str, channels: list[str]
) -> None:
    for action in ("suspend", "resume"):
        operation = operations(document(harness, party))[
            f"POST /api/v1/channels/{{channel_id}}/{action}"
        ]
        (parameter,) = [p for p in operation["parameters"] if p["in"] == "path"]
        assert parameter["schema"]["enum"] == channels


@pytest.mark.parametrize("party", ["USA", "KOR", "JPN"])
def test_the_example_draft_is_one_the_node_accepts(harness: Harness, party: str) -> None:
    check = operations(document(harness, party))["POST /api/v1/products/check"]
    example = check["requestBody"]["content"]["application/json"]["example"]
    response = harness.api(party).post(
        "/api/v1/products/check", json=example, headers=harness.auth(f"{party.lower()}-analyst")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"problems": []}


def test_an_entry_for_an_operation_the_app_lacks_is_refused(harness: Harness) -> None:
    generated = analyst_app(harness.rt["USA"])
    with pytest.raises(KeyError, match="GET /api/v1/nothing"):
        corrected(
            generated.openapi(),  # already corrected; the stale entry is what matters
            {"GET /api/v1/nothing": Operation(errors={404: "gone"})},
        )
