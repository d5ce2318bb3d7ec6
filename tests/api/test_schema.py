"""Schemathesis over the analyst API, in process, with every check on: no failures.

This is what `schemathesis run` does in CI (its examples, coverage and fuzzing phases, every
check: server errors, status codes, content types, response schemas and headers, positive and
negative data, auth, undeclared methods), driven through its engine over ASGI against a node
of a cluster of this module's own (the run suspends channels and drafts products at random).
Each user sees other refusals (an analyst may not read the status an admin may; an admin may
not draft), so the whole run is made once per user, on the hub and on a spoke.

A failure is printed with the check, the request as curl and what the API answered.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from harness.nodes import Harness
from schemathesis.engine import Status, events, from_schema

from tisa.api.analyst import analyst_app

#: Examples per operation in the fuzzing phase (the coverage phase adds its own); enough to
#: reach every status each user can get, small enough for CI.
MAX_EXAMPLES = 30
SEED = 20141229  # the arrangement's date: runs are reproducible

# A rule of the arrangement refuses some well-formed requests with 422 (PolicyDenied, a marking
# or consent rule, an unknown classification, a time that is not ISO 8601, a file type that
# may not travel, a track that is not this node's): no JSON Schema states those rules, so here
# 422 is an accepted answer to schema-valid input too. Everywhere else positive data must be
# accepted as the check expects.
RULED = [
    "POST /api/v1/products",
    "POST /api/v1/products/check",
    "PUT /api/v1/products/{product_id}/versions/{version}",
    "POST /api/v1/products/{product_id}/amend",
    "POST /api/v1/products/{product_id}/versions/{version}/release",
    "POST /api/v1/products/{product_id}/versions/{version}/recall",
    "POST /api/v1/uploads",
    "POST /api/v1/consents",
    "POST /api/v1/consent-requests/{request_id}/grant",
    "POST /api/v1/consent-requests/{request_id}/deny",
    # A track stream's marking must parse and name its nation; its nation must be this node.
    "POST /api/v1/tracks",
    # A replay names an event or a window, one of the two: each parameter alone is optional.
    "GET /api/v1/tracks/replay",
    # The inbox: a search must hold a word, a date must be a real one and come before the
    # other, a cursor must be one this node gave.
    "GET /api/v1/products",
    # A bundle's objects must be STIX 2.1 with a report among them: STIX's own schemas, not
    # this document, say what each object holds.
    "POST /api/v1/stix",
]
# 400 too: a cursor this node did not give, a replay window too long (each documented).
ACCEPTED_OR_REFUSED_BY_A_RULE = [
    "2xx",
    "3xx",
    "400",
    "401",
    "403",
    "404",
    "409",
    "422",
    "429",
    "5xx",
]

CONFIG: dict[str, Any] = {
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    # The stateless phases; the stateful one would need links between operations.
    "phases": {"stateful": {"enabled": False}},
    "operations": [
        {
            "include-name": RULED,
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ACCEPTED_OR_REFUSED_BY_A_RULE}
            },
        },
        {
            # A failing readiness check answers 503, as documented: the answer, not a fault
            # (in process no task seals the log, so the checkpoint check soon fails).
            "include-name": ["GET /healthz", "GET /healthz/ready"],
            "checks": {"not_a_server_error": {"enabled": False}},
        },
        {
            # `/api/v1/products/check` is also `/api/v1/products/{product_id}` with an id that
            # is not a UUID: GET there is that operation's 422, and OPTIONS names GET too.
            "include-name": "POST /api/v1/products/check",
            "checks": {
                "unsupported_method": {"enabled": False},
                "allow_header_conformance": {"enabled": False},
            },
        },
    ],
}


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection to an address other than 127.0.0.1 (the run is in process)."""
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> None:
        # Internet addresses are (host, port, ...) tuples; a Unix socket's is a path.
        if isinstance(address, tuple) and address[0] != "127.0.0.1":
            raise AssertionError(f"the schema run tried to reach {address}")
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def run(schema: Any) -> tuple[list[str], set[str]]:
    """Run schemathesis: every failed check and error, as text to read; and the operations
    its fuzzing phase tested."""
    found: list[str] = []
    fuzzed: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.phase.name == "FUZZING" and event.status is not Status.SKIP:
                fuzzed.add(event.recorder.label)
            found.extend(_failed_checks(event.recorder))
        elif isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: error: {event.info.title}\n{event.info.message}")
        elif isinstance(event, events.FatalError):
            found.append(f"the run failed: {event.exception!r}")
        elif isinstance(event, events.Interrupted):
            found.append("the run was interrupted")
    return found, fuzzed


def _failed_checks(recorder: Any) -> Iterator[str]:
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            answer = (
                "no answer"
                if response is None
                else f"{response.status_code} {response.content[:500]!r}"
            )
            failure = check.failure_info.failure
            yield (
                f"{recorder.label}: {check.name}: {failure.title}\n{failure.message}\n"
                f"{check.failure_info.code_sample}\n-> {answer}"
            )


@pytest.mark.slow
@pytest.mark.parametrize("username", ["usa-admin", "usa-analyst", "kor-officer"])
@pytest.mark.usefixtures("loopback_only")
def test_the_analyst_api_conforms_to_its_openapi_document(
    own_harness: Harness, username: str
) -> None:
    h = own_harness
    party = username.split("-")[0].upper()
    config = schemathesis.Config.from_dict(
        {**CONFIG, "auth": {"openapi": {"bearer": {"bearer": h.token(username)}}}}
    )
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", analyst_app(h.rt[party]), config=config
    )
    found, fuzzed = run(schema)
    assert not found, f"{len(found)} failures as {username}:\n\n" + "\n\n".join(found)
    operations = {result.ok().label for result in schema.get_all_operations()}
    assert fuzzed == operations, f"not tested: {sorted(operations - fuzzed)}"
