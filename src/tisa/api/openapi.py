"""The analyst API's OpenAPI document, made to say what the API really answers.

FastAPI documents what it sees in a route's signature: parameters, bodies, success bodies and
its own 422. tisa's answers come from elsewhere (the error mapping in `tisa.api.errors`, the
sign-in dependency, the body limit), so `describe(app, operations)` corrects the generated
document once, when it is first asked for:

    every operation        error bodies are `ErrorBody` (tisa's 422 replaces FastAPI's)
    needs sign-in          401 (with WWW-Authenticate); a change also 403, for a browser
                           session that did not send its CSRF token
    has a body             413: over the body limit; a JSON body also 400: not JSON text
    a body or a parameter  422: the request does not parse (an optional parameter that
    that can be refused    takes any text never is refused)
    has path parameters    404: what the path names is not here (or not for this reader)
    `operations[...]`      what only the route knows: roles (403), conflicts (409), a body
                           or an answer that is not JSON, the values a path parameter takes

`analyst_operations(arrangement, party)` is that route knowledge for the analyst API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from tisa.api.errors import ErrorBody
from tisa.api.idempotency import KEY
from tisa.api.probes import METRICS_TYPE
from tisa.api.session import SAFE_METHODS
from tisa.domain.arrangement import Arrangement
from tisa.domain.markings import Classification

__all__ = ["Operation", "analyst_operations", "describe"]

Document = dict[str, Any]

_ERROR_REF = "#/components/schemas/ErrorBody"
_BINARY: Document = {"type": "string", "format": "binary"}

#: What each error status means, where the route says nothing more specific.
MEANING: Mapping[int, str] = {
    400: "The body is not JSON text at all (not UTF-8, or nested too deeply to read).",
    401: "Not signed in: no credentials, or an unknown or expired token.",
    403: "Signed in, but not allowed: the user's role may not do this, or a browser session "
    "sent a change without its CSRF token.",
    404: "Not here: no such resource, or none this user may see.",
    409: "The request contradicts what is stored.",
    413: "The body is over its limit.",
    422: "The request does not parse, or a rule refuses it (PolicyDenied lists each reason).",
}


@dataclass(frozen=True)
class Operation:
    """What the generated document cannot know about one operation.

    `errors` adds statuses (or a more specific meaning for a generic one); `media_type` is the
    success body's type when it is not JSON (`*/*`: whatever the stored file is); `body` the
    type of a body read raw from the stream; `path_values` the values a path parameter takes;
    `example` a JSON body this node would accept.
    """

    errors: Mapping[int, str] = field(default_factory=dict)
    media_type: str | None = None
    body: str | None = None
    path_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    example: Mapping[str, Any] | None = None


IDEMPOTENCY_KEY: Document = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Send the same key with a retry: the first answer comes back, nothing is "
    "done twice (the key with another request is refused, 409).",
    "schema": {"type": "string", "pattern": KEY.pattern},
}
REPEATED = (
    "Or: this Idempotency-Key was used for another request, or its first request is still "
    "being carried out."
)


def describe(app: FastAPI, operations: Mapping[str, Operation]) -> None:
    """Make `app.openapi()` state tisa's real answers; `operations` is keyed "METHOD /path".

    Raises:
        KeyError: (when the document is first made) an entry of `operations` names an
            operation the app does not have.
    """
    generate: Callable[[], Document] = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            app.openapi_schema = corrected(generate(), operations)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def corrected(document: Document, operations: Mapping[str, Operation]) -> Document:
    """`document` (as FastAPI generated it) with tisa's answers; see the module docstring.

    Raises:
        KeyError: an entry of `operations` names an operation `document` does not have.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's own validation error shape is never sent: tisa answers 422 with an ErrorBody.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ErrorBody"] = ErrorBody.model_json_schema()
    known = set()
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            key = f"{method.upper()} {path}"
            known.add(key)
            _correct(operation, method, operations.get(key, Operation()))
    stale = sorted(set(operations) - known)
    if stale:
        raise KeyError(f"no such operations in the analyst API: {', '.join(stale)}")
    return document


def _correct(operation: Document, method: str, extra: Operation) -> None:
    if operation.get("security") and method.upper() not in SAFE_METHODS:
        # Every signed-in change takes an Idempotency-Key (tisa.api.idempotency).
        operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    parameters = operation.get("parameters", [])
    if extra.body is not None:
        operation["requestBody"] = {"required": True, "content": {extra.body: {"schema": _BINARY}}}
    if extra.example is not None:
        operation["requestBody"]["content"]["application/json"]["example"] = dict(extra.example)
    for parameter in parameters:
        values = extra.path_values.get(parameter["name"])
        if parameter["in"] == "path" and values is not None:
            parameter["schema"] = {**parameter["schema"], "enum": list(values)}
    # FastAPI's own error entry (its 422) is replaced by what tisa answers; what a route
    # declares itself (a readiness check's 503) stays.
    responses = {
        code: response for code, response in operation.get("responses", {}).items() if code != "422"
    }
    if extra.media_type is not None:
        success = next(r for code, r in responses.items() if code.startswith("2"))
        text = extra.media_type.startswith("text/")
        success["content"] = {extra.media_type: {"schema": {"type": "string"} if text else _BINARY}}
    for status, meaning in _errors(operation, method, extra).items():
        responses[str(status)] = _error_response(status, meaning)
    operation["responses"] = dict(sorted(responses.items()))


def _errors(operation: Document, method: str, extra: Operation) -> dict[int, str]:
    """The error statuses an operation answers, each with what it means there."""
    parameters = operation.get("parameters", [])
    content = operation.get("requestBody", {}).get("content", {})
    errors: dict[int, str] = {}
    if operation.get("security"):
        errors[401] = MEANING[401]
        if method.upper() not in SAFE_METHODS:
            errors[403] = MEANING[403]
    if "application/json" in content:
        errors[400] = MEANING[400]
    if content:
        errors[413] = MEANING[413]
    if content or any(_can_fail(p) for p in parameters):
        errors[422] = MEANING[422]
    if any(p["in"] == "path" for p in parameters):
        errors[404] = MEANING[404]
    if any(p["name"] == IDEMPOTENCY_KEY["name"] for p in parameters):
        errors[409] = extra.errors.get(409, MEANING[409]) + " " + REPEATED
    errors.update({k: v for k, v in extra.errors.items() if k != 409})
    return errors


def _can_fail(parameter: Document) -> bool:
    """Whether a parameter's value can be refused: it is required, or it must be more than
    any text (a number, a pattern, a length)."""
    if parameter.get("required"):
        return True
    schema = parameter.get("schema", {})
    for option in schema.get("anyOf", [schema]):
        constraints = set(option) - {"title", "description", "default"}
        if constraints != {"type"} or option["type"] not in ("string", "null"):
            return True
    return False


def _error_response(status: int, meaning: str) -> Document:
    response: Document = {
        "description": meaning,
        "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return response


def analyst_operations(arrangement: Arrangement, party: str) -> dict[str, Operation]:
    """What the analyst API's routes answer beyond the generic rules, at `party`'s node."""
    product = "/api/v1/products/{product_id}"
    version = f"{product}/versions/{{version}}"
    attachment = f"{version}/attachments/{{digest}}"
    no_upload = "An attachment names a digest not uploaded here."
    no_product = "No such product here, or an attachment names a digest not uploaded here."
    not_draft = "That version is no longer a draft."
    answered = "The request was already answered."
    staff = "Only release officers, administrators and auditors see this."
    # A channel is named in either order (USA-KOR or KOR-USA); only this node's channels.
    channels = tuple(
        name
        for channel in arrangement.channels
        if party in channel.parties
        for name in (channel.id, "-".join(reversed(channel.parties)))
    )
    channel_values = {"channel_id": channels}
    # Examples this node accepts: in scope, REL TO every party, at the lowest channel ceiling.
    ceilings = [channel.ceiling for channel in arrangement.channels]
    level = min(ceilings, default=Classification.CONFIDENTIAL).label
    topic = min(arrangement.scope)
    draft = {
        "title": "Ballistic missile launch",
        "text": "One short-range ballistic missile launched eastward.",
        "classification": level,
        "rel_to": sorted(arrangement.parties),
        "precedence": "PRIORITY",
        "topics": [topic],
    }
    # A standing rule for another spoke (there is none in a network of one spoke).
    others = sorted(set(arrangement.parties) - {party, arrangement.hub})
    consent = None
    if others:
        consent = {"recipient": others[0], "topics": [topic], "max_classification": level}
    return {
        "POST /api/v1/session": Operation(errors={401: "Unknown user or wrong password."}),
        "POST /api/v1/products": Operation(errors={404: no_upload}, example=draft),
        "POST /api/v1/products/check": Operation(example=draft),
        f"PUT {version}": Operation(errors={409: not_draft}, example=draft),
        f"POST {version}/send-back": Operation(errors={409: not_draft}),
        f"POST {product}/amend": Operation(
            errors={
                404: no_product,
                409: "Not this node's product, or its latest version is still a draft.",
            },
            example=draft,
        ),
        f"POST {version}/release": Operation(errors={409: "That version was already released."}),
        f"POST {version}/recall": Operation(errors={409: "That version was already recalled."}),
        "POST /api/v1/uploads": Operation(body="*/*"),
        f"GET {attachment}": Operation(media_type="*/*"),
        f"GET {attachment}/preview": Operation(media_type="image/jpeg"),
        f"GET {product}/stix": Operation(
            errors={404: "No such signed version, or none you may read."},
            media_type="application/stix+json;version=2.1",
        ),
        "POST /api/v1/stix": Operation(errors={403: "Only analysts and release officers."}),
        "GET /api/v1/consents": Operation(errors={403: staff}),
        "POST /api/v1/consents": Operation(
            errors={404: "No such product of this node."}, example=consent
        ),
        "POST /api/v1/consents/{consent_id}/revoke": Operation(
            errors={409: "That consent was already revoked."}
        ),
        "GET /api/v1/consent-requests": Operation(errors={403: staff}),
        "POST /api/v1/consent-requests/{request_id}/grant": Operation(errors={409: answered}),
        "POST /api/v1/consent-requests/{request_id}/deny": Operation(errors={409: answered}),
        "POST /api/v1/channels/{channel_id}/suspend": Operation(path_values=channel_values),
        "POST /api/v1/channels/{channel_id}/resume": Operation(path_values=channel_values),
        "GET /api/v1/status": Operation(errors={403: "Only administrators and auditors."}),
        "GET /api/v1/audit": Operation(errors={403: "Only administrators and auditors."}),
        "GET /api/v1/products": Operation(
            errors={
                400: "The cursor is not one this node gave you for these filters: ask again "
                "without it for the first page."
            }
        ),
        "GET /api/v1/tracks/replay": Operation(
            errors={
                400: "The window is too long, or holds too many updates or frames: narrow it.",
                404: "No such event, or none you may read.",
            }
        ),
        "GET /metrics": Operation(
            errors={403: "Only administrators."},
            media_type=METRICS_TYPE,
        ),
    }
