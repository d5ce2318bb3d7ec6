"""The analyst API refuses bad input clearly, changes nothing for it, and never answers 5xx.

Every refusal is a 4xx with `{"error": <kind>, "detail": <what is wrong>}` naming the problem
(the field, the value, the rule); refusals may be audited, but no product, consent, request,
outbox entry, delivery, token or user changes.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness.nodes import Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tisa.api.analyst import MAX_BODY, analyst_app
from tisa.crypto.trust import Signed
from tisa.node.runtime import Runtime
from tisa.relay.messages import ConsentRequest, payload
from tisa.services.accounts import Accounts, Role
from tisa.store import accounts as account_rows

NOBODY = "3f0c8a2e-6b1d-4c5e-9a7f-0e2d4b6c8a1f"  # a well-formed id nothing has
NO_BLOB = "sha256:" + "0" * 64  # a well-formed attachment digest nothing has

DRAFT: dict[str, Any] = {
    "title": "IRBM-class launch from the Pyongyang area",
    "text": "One IRBM-class missile launched at about 14:55 KST.",
    "classification": "SECRET",
    "rel_to": ["USA", "KOR", "JPN"],
    "precedence": "FLASH",
    "topics": ["dprk.missile.launch"],
    "source_reliability": "B",
    "information_credibility": "2",
    "observations": [
        {
            "kind": "missile-launch",
            "time": {"original": "2024-01-14T14:55+09:00"},
            "missile_class": "IRBM",
            "launch_position": {"lat": 39.0, "lon": 125.7, "sigma_km": 10.0},
            "range_km": {"value": 1000, "qualifier": "about", "sigma": 50.0},
        }
    ],
}

STANDING_RULE: dict[str, Any] = {
    "recipient": "JPN",
    "topics": ["dprk.missile.*"],
    "max_classification": "SECRET",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def refused(response: Any, status: int, error: str | tuple[str, ...], *words: str) -> None:
    """A 4xx with a named error and a detail that mentions each of `words`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "detail"}, body
    errors = (error,) if isinstance(error, str) else error
    assert body["error"] in errors, body
    assert isinstance(body["detail"], str), body
    assert body["detail"].strip(), body
    for word in words:
        assert word.lower() in body["detail"].lower(), body


def post_raw(client: Any, path: str, raw: bytes, headers: dict[str, str]) -> Any:
    return client.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`base` with `changes`; a change to None removes the field."""
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not None}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def usa(harness: Harness) -> Any:
    return harness.api("USA")


@pytest.fixture(scope="module")
def kor(harness: Harness) -> Any:
    return harness.api("KOR")


@pytest.fixture(scope="module")
def expired_token(harness: Harness) -> str:
    """A real usa-auditor token whose twelve hours ended an hour ago."""
    rt = harness.rt["USA"]
    past = utc_now() - timedelta(hours=13)
    accounts = Accounts(rt.ctx.db, rt.ctx.arrangement, "USA", lambda: past)
    return accounts.sign_in("usa-auditor", harness.password("usa-auditor"))


@pytest.fixture(scope="module")
def signed_out_token(harness: Harness) -> str:
    rt = harness.rt["USA"]
    token = rt.accounts.sign_in("usa-auditor", harness.password("usa-auditor"))
    rt.accounts.sign_out(token)
    return token


def create(h: Harness, party: str, username: str, draft: dict[str, Any] | None = None) -> str:
    """A new draft at `party`, by `username`; its id."""
    response = h.api(party).post("/api/v1/products", json=draft or DRAFT, headers=h.auth(username))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def release(h: Harness, party: str, product_id: str, version: int = 1) -> None:
    officer = f"{party.lower()}-officer"
    response = h.api(party).post(
        f"/api/v1/products/{product_id}/versions/{version}/release", headers=h.auth(officer)
    )
    assert response.status_code == 200, response.text


# -- authentication: every endpoint -------------------------------------------------------------

ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/me", None),
    ("GET", "/api/v1/arrangement", None),
    ("POST", "/api/v1/products", DRAFT),
    ("GET", "/api/v1/products", None),
    ("GET", f"/api/v1/products/{NOBODY}", None),
    ("GET", f"/api/v1/products/{NOBODY}/versions/1", None),
    ("POST", f"/api/v1/products/{NOBODY}/amend", DRAFT),
    ("POST", f"/api/v1/products/{NOBODY}/versions/1/release", None),
    ("POST", f"/api/v1/products/{NOBODY}/versions/1/recall", {"reason": "wrong"}),
    ("GET", f"/api/v1/products/{NOBODY}/deliveries", None),
    ("POST", "/api/v1/uploads?name=photo.jpg", None),
    ("GET", f"/api/v1/products/{NOBODY}/versions/1/attachments/{NO_BLOB}", None),
    ("GET", f"/api/v1/products/{NOBODY}/versions/1/attachments/{NO_BLOB}/preview", None),
    ("GET", "/api/v1/consents", None),
    ("POST", "/api/v1/consents", STANDING_RULE),
    ("POST", f"/api/v1/consents/{NOBODY}/revoke", None),
    ("GET", "/api/v1/consent-requests", None),
    ("POST", f"/api/v1/consent-requests/{NOBODY}/grant", None),
    ("POST", f"/api/v1/consent-requests/{NOBODY}/deny", {"reason": "no"}),
    ("POST", "/api/v1/channels/USA-KOR/suspend", None),
    ("POST", "/api/v1/channels/USA-KOR/resume", None),
    ("GET", "/api/v1/status", None),
    ("GET", "/api/v1/audit", None),
]
ENDPOINT_IDS = [
    f"{m} {p.replace(NOBODY, '{id}').replace(NO_BLOB, '{digest}')}" for m, p, _ in ENDPOINTS
]

BAD_AUTH = {
    "no header": lambda tokens: {},
    "empty bearer": lambda tokens: {"Authorization": "Bearer "},
    "garbage bearer": lambda tokens: {"Authorization": "Bearer not-a-token"},
    "basic scheme": lambda tokens: {"Authorization": "Basic dXNhOnB3"},
    "token without scheme": lambda tokens: {"Authorization": tokens["valid"]},
    "expired token": lambda tokens: {"Authorization": f"Bearer {tokens['expired']}"},
    "signed-out token": lambda tokens: {"Authorization": f"Bearer {tokens['signed_out']}"},
    "another node's token": lambda tokens: {"Authorization": f"Bearer {tokens['kor']}"},
}


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_every_endpoint_refuses_missing_or_bad_tokens(
    harness: Harness,
    usa: Any,
    expired_token: str,
    signed_out_token: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    h = harness
    tokens = {
        "valid": h.token("usa-auditor"),
        "expired": expired_token,
        "signed_out": signed_out_token,
        "kor": h.token("kor-officer"),
    }
    with h.unchanged():
        for case, make in BAD_AUTH.items():
            response = usa.request(method, path, json=body, headers=make(tokens))
            refused(response, 401, "AuthenticationFailed", "sign in first")
            assert response.headers.get("www-authenticate") == "Bearer", case


def test_health_needs_no_token_metrics_and_status_need_an_admin(harness: Harness, usa: Any) -> None:
    assert usa.get("/healthz/live").json() == {"status": "ok", "party": "USA"}
    ready = usa.get("/healthz/ready").json()
    assert ready["checks"]["tasks"] == {"ok": True, "detail": "no background tasks (not serving)"}
    assert ready["checks"]["database"]["ok"]
    refused(usa.get("/metrics"), 401, "AuthenticationFailed", "sign in first")
    for path in ("/metrics", "/api/v1/status"):
        refused(usa.get(path, headers=harness.auth("usa-analyst")), 403, "AccessDenied", "admin")
    metrics = usa.get("/metrics", headers=harness.auth("usa-admin"))
    assert metrics.status_code == 200
    assert metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "tisa_messages_sent" in metrics.text
    assert usa.get("/api/v1/status", headers=harness.auth("usa-admin")).status_code == 200


def test_unknown_paths_and_methods_answer_json_errors(harness: Harness, usa: Any) -> None:
    refused(usa.get("/api/v1/nothing"), 404, "HTTPError", "not found")
    refused(usa.put("/api/v1/products", json=DRAFT), 405, "HTTPError", "method not allowed")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/products", "GET, POST"),
        ("/api/v1/session", "DELETE, POST"),
        ("/api/v1/consents", "GET, POST"),
        ("/api/v1/me", "GET"),
    ],
)
def test_a_wrong_method_is_told_every_method_the_path_takes(
    harness: Harness, usa: Any, path: str, allowed: str
) -> None:
    # Each method is a route of its own; the answer names them all, not the first route's.
    response = usa.request("PATCH", path, headers=harness.auth("usa-analyst"))
    refused(response, 405, "HTTPError", "method not allowed")
    assert response.headers["allow"] == allowed


# -- sign-in -------------------------------------------------------------------------------------

BAD_SIGN_INS: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "malformed JSON": (b'{"username": "usa-analyst", ', ("JSON",)),
    "a list": (b'["usa-analyst", "pw"]', ("dictionary",)),
    "empty body": (b"", ("required",)),
    "missing password": (b'{"username": "usa-analyst"}', ("password", "required")),
    "missing username": (b'{"password": "x"}', ("username", "required")),
    "password not a string": (b'{"username": "usa-analyst", "password": 12345678}', ("password",)),
    "username null": (b'{"username": null, "password": "x"}', ("username",)),
    "empty username": (b'{"username": "", "password": "x"}', ("username",)),
    "unknown field": (b'{"username": "a", "password": "b", "role": "admin"}', ("role",)),
    "password too long": (
        json.dumps({"username": "usa-analyst", "password": "x" * 1001}).encode(),
        ("password",),
    ),
}


@pytest.mark.parametrize("case", list(BAD_SIGN_INS), ids=list(BAD_SIGN_INS))
def test_a_malformed_sign_in_is_refused(harness: Harness, usa: Any, case: str) -> None:
    raw, words = BAD_SIGN_INS[case]
    with harness.unchanged():
        refused(post_raw(usa, "/api/v1/session", raw, {}), 422, "InputInvalid", *words)


@pytest.mark.parametrize(
    "raw", [b"[" * 100_000, b"\xff\xfe\xfd"], ids=["nested too deep", "not UTF-8"]
)
def test_an_unparseable_body_is_refused(harness: Harness, usa: Any, raw: bytes) -> None:
    with harness.unchanged():
        response = post_raw(usa, "/api/v1/session", raw, {})
        refused(response, 400, "HTTPError", "parsing the body")


def test_an_unknown_user_is_refused_without_saying_which_part_was_wrong(
    harness: Harness, usa: Any
) -> None:
    with harness.unchanged():
        response = usa.post("/api/v1/session", json={"username": "nobody", "password": "x" * 12})
        refused(response, 401, "AuthenticationFailed", "unknown user or wrong password")


def test_a_wrong_password_is_refused_and_counted(harness: Harness, usa: Any) -> None:
    h = harness
    rt = h.rt["USA"]
    name = f"usa-probe-{uuid.uuid4().hex[:8]}"
    rt.accounts.add(name, "right-password", Role.ANALYST, "SECRET")
    before = h.counts("USA")
    response = usa.post("/api/v1/session", json={"username": name, "password": "wrong-password"})
    refused(response, 401, "AuthenticationFailed", "unknown user or wrong password")
    assert h.counts("USA")["tokens"] == before["tokens"]
    with rt.ctx.db.read() as conn:
        row = account_rows.get(conn, name)
    assert row is not None
    assert row.failed_logins == 1


def test_signing_out_a_garbage_token_changes_nothing(harness: Harness, usa: Any) -> None:
    with harness.unchanged():
        assert usa.delete("/api/v1/session").status_code == 204
        response = usa.delete("/api/v1/session", headers={"Authorization": "Bearer nonsense"})
        assert response.status_code == 204


# -- products ------------------------------------------------------------------------------------

NAN_RANGE = json.dumps(DRAFT).replace('"value": 1000', '"value": NaN').encode()

BAD_DRAFTS: dict[str, tuple[Any, str | tuple[str, ...], tuple[str, ...]]] = {
    "malformed JSON": (b'{"title": "x", ', "InputInvalid", ("JSON",)),
    "a list": ([DRAFT], "InputInvalid", ("dictionary",)),
    "a string": ("DRAFT", "InputInvalid", ("dictionary",)),
    "missing title": (with_(DRAFT, title=None), "InputInvalid", ("title", "required")),
    "missing classification": (
        with_(DRAFT, classification=None),
        "InputInvalid",
        ("classification", "required"),
    ),
    "missing rel_to": (with_(DRAFT, rel_to=None), "InputInvalid", ("rel_to", "required")),
    "missing topics": (with_(DRAFT, topics=None), "InputInvalid", ("topics", "required")),
    "title a number": (with_(DRAFT, title=5), "InputInvalid", ("title", "string")),
    "rel_to a string": (with_(DRAFT, rel_to="USA"), "InputInvalid", ("rel_to", "list")),
    "topics an object": (with_(DRAFT, topics={"a": 1}), "InputInvalid", ("topics", "list")),
    "orcon a word": (with_(DRAFT, orcon="maybe"), "InputInvalid", ("orcon", "boolean")),
    "observations an object": (
        with_(DRAFT, observations={}),
        "InputInvalid",
        ("observations", "list"),
    ),
    "unknown field": (with_(DRAFT, noforn=True), "InputInvalid", ("noforn", "extra")),
    "unknown originator field": (
        with_(DRAFT, originator="KOR"),
        "InputInvalid",
        ("originator", "extra"),
    ),
    "empty title": (with_(DRAFT, title=""), "InputInvalid", ("title",)),
    "blank title": (with_(DRAFT, title="   "), "InputInvalid", ("title is empty",)),
    "title too long": (with_(DRAFT, title="x" * 301), "InputInvalid", ("title",)),
    "text too long": (with_(DRAFT, text="x" * 100_001), "InputInvalid", ("text",)),
    "out-of-scope topic": (
        with_(DRAFT, topics=["dprk.cyber.theft"]),
        "PolicyDenied",
        ("dprk.cyber.theft",),
    ),
    "one out-of-scope topic among good ones": (
        with_(DRAFT, topics=["dprk.missile.launch", "prc.missile.launch"]),
        "PolicyDenied",
        ("prc.missile.launch",),
    ),
    "malformed topic": (with_(DRAFT, topics=["DPRK Missile"]), "InputInvalid", ("DPRK Missile",)),
    "no topics": (with_(DRAFT, topics=[]), "InputInvalid", ("topics",)),
    "17 topics": (
        with_(DRAFT, topics=[f"dprk.missile.t{i}" for i in range(17)]),
        "InputInvalid",
        ("topics",),
    ),
    "unknown classification": (
        with_(DRAFT, classification="ULTRA"),
        "MarkingInvalid",
        ("unknown classification", "ULTRA"),
    ),
    "empty classification": (
        with_(DRAFT, classification=""),
        "MarkingInvalid",
        ("classification",),
    ),
    "national term, not a common level": (
        with_(DRAFT, classification="극비"),
        "MarkingInvalid",
        ("classification",),
    ),
    "REL TO without originator": (
        with_(DRAFT, rel_to=["KOR", "JPN"]),
        "MarkingInvalid",
        ("REL TO must name the originator USA",),
    ),
    "NOFORN in REL TO": (
        with_(DRAFT, rel_to=["USA", "NOFORN"]),
        "MarkingInvalid",
        ("NOFORN", "trigraph"),
    ),
    "lowercase REL TO": (with_(DRAFT, rel_to=["usa"]), "MarkingInvalid", ("usa",)),
    "empty REL TO": (with_(DRAFT, rel_to=[]), "InputInvalid", ("rel_to",)),
    "unknown precedence": (with_(DRAFT, precedence="URGENT"), "InputInvalid", ("precedence",)),
    "unknown source reliability": (
        with_(DRAFT, source_reliability="Z"),
        "InputInvalid",
        ("source_reliability",),
    ),
    "unknown observation kind": (
        with_(DRAFT, observations=[{"kind": "ufo", "time": {"original": "2024-01-14"}}]),
        "InputInvalid",
        ("observations",),
    ),
    "observation time without zone": (
        with_(
            DRAFT,
            observations=[{"kind": "missile-launch", "time": {"original": "2024-01-14T14:55"}}],
        ),
        "InputInvalid",
        ("time zone",),
    ),
    "observation time not a time": (
        with_(
            DRAFT,
            observations=[{"kind": "missile-launch", "time": {"original": "last tuesday"}}],
        ),
        "InputInvalid",
        ("ISO 8601",),
    ),
    "latitude out of range": (
        with_(
            DRAFT,
            observations=[
                {
                    "kind": "missile-launch",
                    "time": {"original": "2024-01-14T14:55+09:00"},
                    "launch_position": {"lat": 91, "lon": 125},
                }
            ],
        ),
        "InputInvalid",
        ("latitude",),
    ),
    "negative missile count": (
        with_(
            DRAFT,
            observations=[
                {
                    "kind": "missile-launch",
                    "time": {"original": "2024-01-14T14:55+09:00"},
                    "count": {"value": -2},
                }
            ],
        ),
        "InputInvalid",
        ("negative",),
    ),
    "NaN range (JSON extension)": (NAN_RANGE, "InputInvalid", ("range_km", "finite number")),
}


@pytest.mark.parametrize("case", list(BAD_DRAFTS), ids=list(BAD_DRAFTS))
def test_a_bad_draft_is_refused_and_nothing_is_stored(
    harness: Harness, usa: Any, case: str
) -> None:
    body, error, words = BAD_DRAFTS[case]
    h = harness
    auth = h.auth("usa-analyst")
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with h.unchanged():
        refused(post_raw(usa, "/api/v1/products", raw, auth), 422, error, *words)


def test_a_good_draft_is_stored(harness: Harness, usa: Any) -> None:
    """The control for the draft cases."""
    h = harness
    before = h.counts("USA")
    product_id = create(h, "USA", "usa-analyst")
    assert h.counts("USA")["products"] == before["products"] + 1
    response = usa.get(f"/api/v1/products/{product_id}", headers=h.auth("usa-analyst"))
    assert response.status_code == 200
    assert response.json()["state"] == "draft"


@pytest.mark.parametrize("username", ["usa-admin", "usa-auditor"])
def test_only_analysts_and_officers_write_products(
    harness: Harness, usa: Any, username: str
) -> None:
    h = harness
    auth = h.auth(username)
    with h.unchanged():
        refused(usa.post("/api/v1/products", json=DRAFT, headers=auth), 403, "AccessDenied")


BAD_PRODUCT_PATHS: dict[str, tuple[str, int, str, tuple[str, ...]]] = {
    "not a UUID": ("/api/v1/products/not-a-uuid", 422, "InputInvalid", ("product_id",)),
    "uppercase UUID": (
        f"/api/v1/products/{NOBODY.upper()}",
        422,
        "InputInvalid",
        ("product_id",),
    ),
    "UUID with braces": (f"/api/v1/products/{{{NOBODY}}}", 422, "InputInvalid", ("product_id",)),
    "SQL in the id": ("/api/v1/products/1' OR '1'='1", 422, "InputInvalid", ("product_id",)),
    "unknown id": (f"/api/v1/products/{NOBODY}", 404, "NotFound", (NOBODY,)),
    "version not a number": (
        f"/api/v1/products/{NOBODY}/versions/one",
        422,
        "InputInvalid",
        ("version",),
    ),
    "version 0": (f"/api/v1/products/{NOBODY}/versions/0", 422, "InputInvalid", ("version",)),
    "unknown version": (f"/api/v1/products/{NOBODY}/versions/7", 404, "NotFound", (NOBODY,)),
    "deliveries of an unknown id": (
        f"/api/v1/products/{NOBODY}/deliveries",
        404,
        "NotFound",
        (NOBODY,),
    ),
    "deliveries of a bad id": (
        "/api/v1/products/xyz/deliveries",
        422,
        "InputInvalid",
        ("product_id",),
    ),
    "attachment with a bad digest": (
        f"/api/v1/products/{NOBODY}/versions/1/attachments/md5:abc",
        422,
        "InputInvalid",
        ("digest",),
    ),
    "attachment with an uppercase digest": (
        f"/api/v1/products/{NOBODY}/versions/1/attachments/{NO_BLOB.upper()}",
        422,
        "InputInvalid",
        ("digest",),
    ),
    "preview with a bad digest": (
        f"/api/v1/products/{NOBODY}/versions/1/attachments/x/preview",
        422,
        "InputInvalid",
        ("digest",),
    ),
    "attachment of an unknown product": (
        f"/api/v1/products/{NOBODY}/versions/1/attachments/{NO_BLOB}",
        404,
        "NotFound",
        (NOBODY,),
    ),
    "preview of an unknown product": (
        f"/api/v1/products/{NOBODY}/versions/1/attachments/{NO_BLOB}/preview",
        404,
        "NotFound",
        (NOBODY,),
    ),
    "attachment with a bad product id": (
        f"/api/v1/products/nope/versions/1/attachments/{NO_BLOB}",
        422,
        "InputInvalid",
        ("product_id",),
    ),
    "listing in an unknown state": (
        "/api/v1/products?state=deleted",
        422,
        "InputInvalid",
        ("state",),
    ),
    "listing limit 0": ("/api/v1/products?limit=0", 422, "InputInvalid", ("limit",)),
    "listing limit too high": ("/api/v1/products?limit=1001", 422, "InputInvalid", ("limit",)),
    "listing limit a word": ("/api/v1/products?limit=all", 422, "InputInvalid", ("limit",)),
}


@pytest.mark.parametrize("case", list(BAD_PRODUCT_PATHS), ids=list(BAD_PRODUCT_PATHS))
def test_bad_product_paths_and_queries_are_refused(harness: Harness, usa: Any, case: str) -> None:
    path, status, error, words = BAD_PRODUCT_PATHS[case]
    h = harness
    auth = h.auth("usa-analyst")
    with h.unchanged():
        refused(usa.get(path, headers=auth), status, error, *words)


@pytest.mark.parametrize(
    ("method", "suffix", "username"),
    [
        ("GET", "", "usa-analyst"),
        ("POST", "/release", "usa-officer"),
        ("POST", "/recall", "usa-officer"),
        ("GET", f"/attachments/{NO_BLOB}", "usa-analyst"),
    ],
    ids=["read", "release", "recall", "download"],
)
def test_a_version_beyond_any_integer_column_is_refused(
    harness: Harness, usa: Any, method: str, suffix: str, username: str
) -> None:
    h = harness
    auth = h.auth(username)
    path = f"/api/v1/products/{NOBODY}/versions/{10**20}{suffix}"
    body = {"reason": "wrong"} if suffix == "/recall" else None
    with h.unchanged():
        response = usa.request(method, path, json=body, headers=auth)
        assert response.status_code < 500, response.text
        refused(response, 422, "InputInvalid", "version")


def test_amend_refuses_bad_targets_and_bodies(harness: Harness, usa: Any) -> None:
    h = harness
    analyst = h.auth("usa-analyst")
    draft_id = create(h, "USA", "usa-analyst")
    received_id = _received_kor_product(h)
    with h.unchanged():
        refused(
            usa.post(f"/api/v1/products/{NOBODY}/amend", json=DRAFT, headers=analyst),
            404,
            "NotFound",
            NOBODY,
        )
        refused(
            usa.post("/api/v1/products/nope/amend", json=DRAFT, headers=analyst),
            422,
            "InputInvalid",
            "product_id",
        )
        refused(
            usa.post(f"/api/v1/products/{draft_id}/amend", json=DRAFT, headers=analyst),
            409,
            "Conflict",
            "still a draft",
        )
        refused(
            usa.post(f"/api/v1/products/{received_id}/amend", json=DRAFT, headers=analyst),
            409,
            "Conflict",
            "only the originator amends",
        )
        refused(
            usa.post(
                f"/api/v1/products/{draft_id}/amend",
                json=with_(DRAFT, classification="ULTRA"),
                headers=analyst,
            ),
            409,
            "Conflict",
        )
        refused(
            usa.post(f"/api/v1/products/{draft_id}/amend", json=[], headers=analyst),
            422,
            "InputInvalid",
            "dictionary",
        )


def _received_kor_product(h: Harness) -> str:
    """A KOR product USA has received over the federation; its id."""
    token, body = h.envelope("KOR")
    response = h.deliver("KOR", "USA", h.batch(h.message("envelope", token)))
    assert response.json()["results"] == [{"status": "stored"}], response.text
    return str(body["id"])


def test_release_refuses_wrong_roles_unknown_drafts_and_repeats(harness: Harness, usa: Any) -> None:
    h = harness
    analyst, officer = h.auth("usa-analyst"), h.auth("usa-officer")
    draft_id = create(h, "USA", "usa-analyst")
    lonely_id = create(h, "USA", "usa-analyst", with_(DRAFT, rel_to=["USA"]))
    received_id = _received_kor_product(h)
    path = f"/api/v1/products/{draft_id}/versions/1/release"
    with h.unchanged():
        refused(usa.post(path, headers=analyst), 403, "AccessDenied", "release-officer")
        refused(usa.post(path, headers=h.auth("usa-admin")), 403, "AccessDenied")
        refused(
            usa.post(f"/api/v1/products/{NOBODY}/versions/1/release", headers=officer),
            404,
            "NotFound",
            NOBODY,
        )
        refused(
            usa.post(f"/api/v1/products/{draft_id}/versions/2/release", headers=officer),
            404,
            "NotFound",
            "v2",
        )
        refused(
            usa.post(f"/api/v1/products/{received_id}/versions/1/release", headers=officer),
            404,
            "NotFound",
        )
        refused(
            usa.post(f"/api/v1/products/{draft_id}/versions/x/release", headers=officer),
            422,
            "InputInvalid",
            "version",
        )
        # A policy denial is audited, and nothing else changes.
        refused(
            usa.post(f"/api/v1/products/{lonely_id}/versions/1/release", headers=officer),
            422,
            "PolicyDenied",
            "REL TO names no other party",
        )
    release(h, "USA", draft_id)
    with h.unchanged():
        refused(usa.post(path, headers=officer), 409, "Conflict", "already released")


def test_recall_refuses_bad_reasons_targets_and_repeats(harness: Harness, usa: Any) -> None:
    h = harness
    officer = h.auth("usa-officer")
    draft_id = create(h, "USA", "usa-analyst")
    released_id = create(h, "USA", "usa-analyst")
    release(h, "USA", released_id)
    recall = f"/api/v1/products/{released_id}/versions/1/recall"
    with h.unchanged():
        refused(usa.post(recall, headers=officer), 422, "InputInvalid", "required")
        refused(usa.post(recall, json={}, headers=officer), 422, "InputInvalid", "reason")
        refused(usa.post(recall, json={"reason": ""}, headers=officer), 422, "InputInvalid")
        refused(
            usa.post(recall, json={"reason": "   "}, headers=officer),
            422,
            "InputInvalid",
            "needs a reason",
        )
        refused(
            usa.post(recall, json={"reason": "x", "urgent": True}, headers=officer),
            422,
            "InputInvalid",
            "urgent",
        )
        refused(
            usa.post(recall, json={"reason": 5}, headers=officer), 422, "InputInvalid", "reason"
        )
        refused(
            usa.post(recall, json={"reason": "wrong"}, headers=h.auth("usa-analyst")),
            403,
            "AccessDenied",
        )
        refused(
            usa.post(
                f"/api/v1/products/{draft_id}/versions/1/recall",
                json={"reason": "wrong"},
                headers=officer,
            ),
            404,
            "NotFound",
            "no released",
        )
    assert usa.post(recall, json={"reason": "wrong"}, headers=officer).status_code == 200
    with h.unchanged():
        refused(
            usa.post(recall, json={"reason": "again"}, headers=officer),
            409,
            "Conflict",
            "already recalled",
        )


@pytest.mark.parametrize("path", ["/api/v1/products", "/api/v1/session"])
def test_an_oversize_analyst_body_is_refused_with_413(
    harness: Harness, usa: Any, path: str
) -> None:
    """Declared (Content-Length) or streamed without a length, before the token is checked."""
    h = harness
    auth = h.auth("usa-analyst") if path.endswith("products") else {}
    raw = json.dumps(with_(DRAFT, text="x" * (MAX_BODY + 1))).encode()
    with h.unchanged():
        refused(post_raw(usa, path, raw, auth), 413, "BodyTooLarge", str(MAX_BODY))
        refused(post_raw(usa, path, raw, {}), 413, "BodyTooLarge", str(MAX_BODY))
        chunks = iter([raw[k : k + 65536] for k in range(0, len(raw), 65536)])
        response = usa.post(
            path, content=chunks, headers={**auth, "Content-Type": "application/json"}
        )
        refused(response, 413, "BodyTooLarge", str(MAX_BODY))


def test_a_body_of_exactly_the_analyst_limit_is_read(harness: Harness, usa: Any) -> None:
    """The limit is inclusive: MAX_BODY bytes are read, and refused for what they say."""
    h = harness
    raw = json.dumps(with_(DRAFT, text="x" * 100_001)).encode()
    raw = raw.ljust(MAX_BODY, b" ")
    auth = h.auth("usa-analyst")
    with h.unchanged():
        refused(post_raw(usa, "/api/v1/products", raw, auth), 422, "InputInvalid", "text")


def test_uploads_refuse_bad_names_and_roles(harness: Harness, usa: Any) -> None:
    h = harness
    analyst = {**h.auth("usa-analyst"), "Content-Type": "text/plain"}
    with h.unchanged():
        refused(
            usa.post("/api/v1/uploads", content=b"x", headers=analyst), 422, "InputInvalid", "name"
        )
        refused(
            usa.post("/api/v1/uploads?name=", content=b"x", headers=analyst),
            422,
            "InputInvalid",
            "name",
        )
        refused(
            usa.post(f"/api/v1/uploads?name={'n' * 256}", content=b"x", headers=analyst),
            422,
            "InputInvalid",
            "name",
        )
        for username in ("usa-auditor", "usa-admin"):
            refused(
                usa.post("/api/v1/uploads?name=a.txt", content=b"x", headers=h.auth(username)),
                403,
                "AccessDenied",
            )


# -- consents ------------------------------------------------------------------------------------

BAD_CONSENTS: dict[str, tuple[Any, int, str | tuple[str, ...], tuple[str, ...]]] = {
    "malformed JSON": (b'{"recipient": ', 422, "InputInvalid", ("JSON",)),
    "a list": ([STANDING_RULE], 422, "InputInvalid", ("dictionary",)),
    "missing recipient": (
        with_(STANDING_RULE, recipient=None),
        422,
        "InputInvalid",
        ("recipient",),
    ),
    "recipient not a party": (
        with_(STANDING_RULE, recipient="CHN"),
        422,
        "InputInvalid",
        ("CHN", "not a party"),
    ),
    "recipient lowercase": (
        with_(STANDING_RULE, recipient="jpn"),
        422,
        "InputInvalid",
        ("jpn",),
    ),
    "recipient too long": (
        with_(STANDING_RULE, recipient="JAPAN"),
        422,
        "InputInvalid",
        ("recipient",),
    ),
    "recipient the originator": (
        with_(STANDING_RULE, recipient="KOR"),
        422,
        "InputInvalid",
        ("third party",),
    ),
    "recipient the hub": (
        with_(STANDING_RULE, recipient="USA"),
        422,
        "InputInvalid",
        ("third party",),
    ),
    "out-of-scope topic": (
        with_(STANDING_RULE, topics=["dprk.cyber.theft"]),
        422,
        "InputInvalid",
        ("dprk.cyber.theft", "scope"),
    ),
    "unknown classification": (
        with_(STANDING_RULE, max_classification="COSMIC"),
        422,
        "MarkingInvalid",
        ("COSMIC",),
    ),
    "rule without ceiling": (
        with_(STANDING_RULE, max_classification=None),
        422,
        "InputInvalid",
        ("maximum classification",),
    ),
    "rule without topics": (
        with_(STANDING_RULE, topics=None),
        422,
        "InputInvalid",
        ("topics",),
    ),
    "nothing consented to": (
        {"recipient": "JPN"},
        422,
        "InputInvalid",
        ("product or a standing rule",),
    ),
    "product and rule at once": (
        with_(STANDING_RULE, product_id=NOBODY),
        422,
        "InputInvalid",
        ("either a product or a standing rule",),
    ),
    "unknown product": ({"recipient": "JPN", "product_id": NOBODY}, 404, "NotFound", (NOBODY,)),
    "product id too short": (
        {"recipient": "JPN", "product_id": "abc"},
        422,
        "InputInvalid",
        ("product_id",),
    ),
    "expiry in the past": (
        with_(STANDING_RULE, expires_at="2020-01-01T00:00:00Z"),
        422,
        "InputInvalid",
        ("expire",),
    ),
    "expiry without zone": (
        with_(STANDING_RULE, expires_at="2030-01-01T00:00:00"),
        422,
        "InputInvalid",
        ("expires_at",),
    ),
    "expiry not a time": (
        with_(STANDING_RULE, expires_at="next year"),
        422,
        "InputInvalid",
        ("expires_at",),
    ),
    "unknown precedence": (
        with_(STANDING_RULE, precedences=["URGENT"]),
        422,
        "InputInvalid",
        ("precedences",),
    ),
    "topics a string": (
        with_(STANDING_RULE, topics="dprk.missile.*"),
        422,
        "InputInvalid",
        ("topics",),
    ),
    "unknown field": (
        with_(STANDING_RULE, revocable=False),
        422,
        "InputInvalid",
        ("revocable",),
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONSENTS), ids=list(BAD_CONSENTS))
def test_a_bad_consent_is_refused_and_nothing_is_signed_or_queued(
    harness: Harness, kor: Any, case: str
) -> None:
    body, status, error, words = BAD_CONSENTS[case]
    h = harness
    auth = h.auth("kor-officer")
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with h.unchanged():
        refused(post_raw(kor, "/api/v1/consents", raw, auth), status, error, *words)


def test_a_good_consent_is_signed_and_queued_for_the_hub(harness: Harness, kor: Any) -> None:
    """The control for the consent cases."""
    h = harness
    before = h.counts("KOR")
    response = kor.post("/api/v1/consents", json=STANDING_RULE, headers=h.auth("kor-officer"))
    assert response.status_code == 201, response.text
    after = h.counts("KOR")
    assert after["consents"] == before["consents"] + 1
    assert after["outbox"] == before["outbox"] + 1


@pytest.mark.parametrize("pattern", ["NOFORN*", "dprk*", "*.missile", "dprk.**"])
def test_a_malformed_consent_pattern_is_refused(harness: Harness, kor: Any, pattern: str) -> None:
    h = harness
    auth = h.auth("kor-officer")
    with h.unchanged():
        response = kor.post(
            "/api/v1/consents", json=with_(STANDING_RULE, topics=[pattern]), headers=auth
        )
        refused(response, 422, "InputInvalid", pattern)


@pytest.mark.parametrize("pattern", ["prc.*", "dprk.cyber.*"])
def test_a_consent_pattern_matching_nothing_in_scope_is_refused(
    harness: Harness, kor: Any, pattern: str
) -> None:
    h = harness
    auth = h.auth("kor-officer")
    with h.unchanged():
        response = kor.post(
            "/api/v1/consents", json=with_(STANDING_RULE, topics=[pattern]), headers=auth
        )
        refused(response, 422, "InputInvalid", pattern)


def test_consent_endpoints_refuse_wrong_roles_and_the_hub(harness: Harness, kor: Any) -> None:
    h = harness
    auths = {u: h.auth(u) for u in ("kor-analyst", "kor-admin", "kor-auditor", "usa-officer")}
    with h.unchanged():
        for username in ("kor-analyst", "kor-admin", "kor-auditor"):
            response = kor.post("/api/v1/consents", json=STANDING_RULE, headers=auths[username])
            refused(response, 403, "AccessDenied", "release-officer")
        refused(kor.get("/api/v1/consents", headers=h.auth("kor-analyst")), 403, "AccessDenied")
        refused(
            kor.get("/api/v1/consent-requests", headers=h.auth("kor-analyst")),
            403,
            "AccessDenied",
        )
        refused(
            h.api("USA").post(
                "/api/v1/consents", json=STANDING_RULE, headers=h.auth("usa-officer")
            ),
            422,
            "InputInvalid",
            "hub",
        )


def test_revoke_refuses_unknown_bad_and_repeated_ids(harness: Harness, kor: Any) -> None:
    h = harness
    officer = h.auth("kor-officer")
    granted = kor.post("/api/v1/consents", json=STANDING_RULE, headers=officer)
    assert granted.status_code == 201, granted.text
    consent_id = granted.json()["id"]
    with h.unchanged():
        refused(
            kor.post(f"/api/v1/consents/{NOBODY}/revoke", headers=officer),
            404,
            "NotFound",
            NOBODY,
        )
        refused(
            kor.post("/api/v1/consents/123/revoke", headers=officer),
            422,
            "InputInvalid",
            "consent_id",
        )
        refused(
            kor.post(f"/api/v1/consents/{consent_id}/revoke", headers=h.auth("kor-analyst")),
            403,
            "AccessDenied",
        )
    assert kor.post(f"/api/v1/consents/{consent_id}/revoke", headers=officer).status_code == 200
    with h.unchanged():
        refused(
            kor.post(f"/api/v1/consents/{consent_id}/revoke", headers=officer),
            409,
            "Conflict",
            "already revoked",
        )


# -- consent requests ----------------------------------------------------------------------------


@pytest.fixture
def open_request(harness: Harness) -> str:
    """An open consent request at KOR: USA asks to pass a released KOR product to JPN."""
    h = harness
    product_id = create(h, "KOR", "kor-analyst")
    release(h, "KOR", product_id)
    request_id = str(uuid.uuid4())
    token = h.sign(
        "USA",
        Signed.CONSENT_REQUEST,
        payload(
            ConsentRequest(
                type="consent-request",
                request_id=request_id,
                product_id=product_id,
                version=1,
                originator="KOR",
                hub="USA",
                recipient="JPN",
                requested_at=utc_now(),
                reasons=["no consent from KOR for JPN"],
            )
        ),
    )
    response = h.deliver("USA", "KOR", h.batch(h.message("consent-request", token)))
    assert response.json()["results"] == [{"status": "stored"}], response.text
    return request_id


def test_consent_requests_refuse_bad_answers(harness: Harness, kor: Any, open_request: str) -> None:
    h = harness
    officer = h.auth("kor-officer")
    base = f"/api/v1/consent-requests/{open_request}"
    with h.unchanged():
        refused(
            kor.get("/api/v1/consent-requests?state=pending", headers=officer),
            422,
            "InputInvalid",
            "state",
        )
        refused(
            kor.post(f"/api/v1/consent-requests/{NOBODY}/grant", headers=officer),
            404,
            "NotFound",
            NOBODY,
        )
        refused(
            kor.post("/api/v1/consent-requests/zzz/grant", headers=officer),
            422,
            "InputInvalid",
            "request_id",
        )
        refused(kor.post(f"{base}/grant", headers=h.auth("kor-analyst")), 403, "AccessDenied")
        refused(kor.post(f"{base}/deny", headers=officer), 422, "InputInvalid", "required")
        refused(
            kor.post(f"{base}/deny", json={"reason": "   "}, headers=officer),
            422,
            "InputInvalid",
            "say why",
        )
        refused(
            kor.post(f"{base}/deny", json={"reason": "x" * 2001}, headers=officer),
            422,
            "InputInvalid",
            "reason",
        )
        refused(
            kor.post(f"{base}/deny", json={"because": "no"}, headers=officer),
            422,
            "InputInvalid",
        )
    response = kor.post(f"{base}/deny", json={"reason": "source protection"}, headers=officer)
    assert response.status_code == 200, response.text
    with h.unchanged():
        refused(kor.post(f"{base}/grant", headers=officer), 409, "Conflict", "already denied")
        refused(
            kor.post(f"{base}/deny", json={"reason": "again"}, headers=officer),
            409,
            "Conflict",
            "already denied",
        )


# -- channels, status, audit ---------------------------------------------------------------------


def test_channel_endpoints_refuse_bad_channels_and_roles(harness: Harness, usa: Any) -> None:
    h = harness
    admin = h.auth("usa-admin")
    with h.unchanged():
        for channel in ("USA-CHN", "nothing", "USA-KOR-JPN", "usa-kor"):
            refused(
                usa.post(f"/api/v1/channels/{channel}/suspend", headers=admin),
                422,
                "InputInvalid",
                channel,
                "USA-KOR",
            )
        refused(
            h.api("KOR").post("/api/v1/channels/USA-JPN/suspend", headers=h.auth("kor-admin")),
            422,
            "InputInvalid",
            "does not join KOR",
        )
        for username in ("usa-analyst", "usa-officer", "usa-auditor"):
            refused(
                usa.post("/api/v1/channels/USA-KOR/suspend", headers=h.auth(username)),
                403,
                "AccessDenied",
                "admin",
            )


def test_audit_refuses_bad_filters_and_roles(harness: Harness, usa: Any) -> None:
    h = harness
    auditor = h.auth("usa-auditor")
    with h.unchanged():
        refused(
            usa.get("/api/v1/audit?product_id=nope", headers=auditor),
            422,
            "InputInvalid",
            "product_id",
        )
        refused(
            usa.get(f"/api/v1/audit?action={'x' * 41}", headers=auditor),
            422,
            "InputInvalid",
            "action",
        )
        for username in ("usa-analyst", "usa-officer"):
            refused(usa.get("/api/v1/audit", headers=h.auth(username)), 403, "AccessDenied")
    assert usa.get(f"/api/v1/audit?product_id={NOBODY}", headers=auditor).json() == {"entries": []}


# -- a node on PostgreSQL ------------------------------------------------------------------------


@pytest.fixture
def pg_usa(harness: Harness, pg_databases: Any) -> Iterator[tuple[Any, Any]]:
    """USA's keys and arrangement over a fresh PostgreSQL store, with one analyst."""
    settings = dataclasses.replace(
        harness.cluster.nodes["USA"].settings, database_url=pg_databases.new()
    )
    rt = Runtime(settings).open()
    rt.accounts.add("pg-analyst", "pg-analyst-password", Role.ANALYST, "SECRET")
    client = harness.client(analyst_app(rt))
    try:
        yield rt, client
    finally:
        client.close()
        rt.close()


NUL_REASON = (
    "src bug: strings are not checked for U+0000, which PostgreSQL text columns refuse; "
    "the store raises DataError (not a TisaError) and the API answers 500 "
    "(tisa/wire.py DraftIn.title, tisa/api/analyst.py SignIn.username); refuse NUL at the "
    "wire models, and map sqlalchemy DataError to 422 as a backstop in tisa/api/errors.py"
)


@pytest.mark.postgres
def test_a_nul_character_in_a_username_is_refused_on_postgresql(pg_usa: Any) -> None:
    _, client = pg_usa
    response = client.post("/api/v1/session", json={"username": "pg\x00analyst", "password": "x"})
    assert response.status_code < 500, response.text
    refused(response, 422, "InputInvalid", "username")


@pytest.mark.postgres
def test_a_nul_character_in_a_title_is_refused_on_postgresql(pg_usa: Any) -> None:
    _, client = pg_usa
    signed_in = client.post(
        "/api/v1/session", json={"username": "pg-analyst", "password": "pg-analyst-password"}
    )
    auth = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    response = client.post("/api/v1/products", json=with_(DRAFT, title="IRBM\x00"), headers=auth)
    assert response.status_code < 500, response.text
    refused(response, 422, "InputInvalid", "title")


# -- fuzzing -------------------------------------------------------------------------------------

FIELD_NAMES = sorted(
    {*DRAFT, *STANDING_RULE, "username", "password", "product_id", "expires_at", "kind", "time"}
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    # Never a real user's name: a fuzzed wrong password would count towards their lock.
    | st.sampled_from(["USA", "KOR", "JPN", "SECRET", "dprk.missile.launch", "usa-nobody"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=15,
)
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _fuzz_post(h: Harness, party: str, path: str, value: Any, auth: dict[str, str]) -> Any:
    raw = json.dumps(value).encode()  # NaN and Infinity as Python writes them
    return post_raw(h.api(party), path, raw, auth)


def _assert_clear_refusal(response: Any) -> None:
    assert response.status_code < 500, response.text
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["error"], body
    assert isinstance(body["detail"], str), body


def _created_or_refused(
    h: Harness, party: str, path: str, value: Any, auth: Any, grew: str
) -> None:
    """POST `value`: either it was valid (201, one more row in `grew`), or it was refused with
    a clear 4xx and nothing changed. Never a 5xx."""
    before = h.snapshot(party)
    response = _fuzz_post(h, party, path, value, auth)
    if response.status_code == 201:
        assert len(h.snapshot(party)[grew]) == len(before[grew]) + 1
    else:
        _assert_clear_refusal(response)
        assert h.snapshot(party) == before


@pytest.mark.slow  # API fuzzing: 120 requests, each between two snapshots of the store
@FUZZ
@given(value=json_values)
def test_fuzz_products(harness: Harness, value: Any) -> None:
    h = harness
    auth = h.auth("usa-analyst")
    _created_or_refused(h, "USA", "/api/v1/products", value, auth, "products")


@pytest.mark.slow  # API fuzzing: 120 requests, each between two snapshots of the store
@FUZZ
@given(value=json_values)
def test_fuzz_consents(harness: Harness, value: Any) -> None:
    h = harness
    auth = h.auth("kor-officer")
    _created_or_refused(h, "KOR", "/api/v1/consents", value, auth, "consents")


@pytest.mark.slow  # API fuzzing: 120 requests, each between two snapshots of the store
@FUZZ
@given(value=json_values)
def test_fuzz_session(harness: Harness, value: Any) -> None:
    """No fuzzed name is a real user's (see `scalars`), so every attempt fails cleanly."""
    h = harness
    with h.unchanged("USA"):
        _assert_clear_refusal(_fuzz_post(h, "USA", "/api/v1/session", value, {}))


@pytest.mark.slow  # API fuzzing: 120 requests, each between two snapshots of the store
@FUZZ
@given(field=st.sampled_from(sorted(DRAFT)), value=json_values)
def test_fuzz_a_draft_with_one_field_replaced(harness: Harness, field: str, value: Any) -> None:
    """A valid draft with one field replaced by anything: stored or clearly refused."""
    h = harness
    auth = h.auth("usa-analyst")
    value = {**DRAFT, field: value}
    _created_or_refused(h, "USA", "/api/v1/products", value, auth, "products")


def test_a_spoke_release_whose_rel_to_lacks_the_hub_is_refused_by_the_releasability_rule(
    harness: Harness,
) -> None:
    """Everything a spoke shares goes through the hub; the REL TO rule names what is missing."""
    h = harness
    draft_id = create(h, "KOR", "kor-analyst", with_(DRAFT, rel_to=["KOR", "JPN"]))
    with h.unchanged():
        refused(
            h.api("KOR").post(
                f"/api/v1/products/{draft_id}/versions/1/release", headers=h.auth("kor-officer")
            ),
            422,
            "PolicyDenied",
            "REL TO lacks USA",
        )
