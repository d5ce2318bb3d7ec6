"""The federation API refuses bad input clearly, stores nothing for it, and never answers 5xx.

Three layers, in the order the node checks them:
- the transmission (the `Tisa-Transmission` header: signer, arrangement, addressee, body, time)
  refuses the whole POST with a 4xx and `{"error", "detail"}`;
- the batch (JSON shape) refuses the whole POST with 422;
- each message (signatures, manifest, rules of release, relay proofs) is refused on its own:
  the POST answers 200 and that message's result is `{"status": "rejected", "error", "reason"}`.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness.nodes import Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from tisa.api.federation import MAX_BODY, federation_app
from tisa.crypto import jws
from tisa.crypto.keys import SigningKey
from tisa.crypto.trust import Signed
from tisa.domain.canonical import sha256_digest
from tisa.domain.wire import iso
from tisa.node.runtime import Runtime
from tisa.relay.messages import AuditExchange, MessageKind, Receipt, payload
from tisa.relay.transmission import HEADER, blob_subject
from tisa.store import audit, checkpoints, products

MESSAGES = "/federation/v1/messages"
HELLO = "/federation/v1/hello"
HELD = "/federation/v1/audit/held"
EXCHANGE = "/federation/v1/audit/exchange"
NO_BLOB = "sha256:" + "0" * 64


def utc_now() -> datetime:
    return datetime.now(UTC)


# -- assertions ----------------------------------------------------------------------------------


def refused(response: Any, status: int, error: str, *words: str) -> None:
    """The whole POST was refused with `status`, a named error, and a detail naming the issue."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    for word in words:
        assert word.lower() in body["detail"].lower(), body


def rejected(response: Any, error: str, *words: str, index: int = 0) -> dict[str, Any]:
    """The POST was taken (200) and message `index` was rejected with `error`."""
    assert response.status_code == 200, response.text
    result = response.json()["results"][index]
    assert result["status"] == "rejected", result
    assert result["error"] == error, result
    assert isinstance(result["permanent"], bool), result
    for word in words:
        assert word.lower() in result["reason"].lower(), result
    return dict(result)


def outcomes(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


# -- transmission helpers ------------------------------------------------------------------------


def claim(h: Harness, signed: bytes, **overrides: Any) -> dict[str, Any]:
    """A transmission payload, KOR to USA, over the bytes `signed`, with `overrides`."""
    data = {
        "type": "transmission",
        "sender": "KOR",
        "recipient": "USA",
        "arrangement": h.digest,
        "body": sha256_digest(signed),
        "sent_at": iso(utc_now()),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def forged(data: dict[str, Any], kid: str = "KOR:forged", typ: Signed = Signed.TRANSMISSION) -> str:
    """A well-formed JWS signed by a key no arrangement pins."""
    return jws.sign(data, SigningKey.generate(), kid=kid, typ=typ.value)


@pytest.fixture
def good_body(harness: Harness) -> bytes:
    """A batch holding one fresh, valid KOR envelope."""
    token, _ = harness.envelope("KOR")
    return json.dumps(harness.batch(harness.message("envelope", token))).encode()


# -- the control: what valid looks like ----------------------------------------------------------


def test_a_valid_envelope_is_stored_and_answered_with_a_receipt(harness: Harness) -> None:
    h = harness
    token, body = h.envelope("KOR")
    before = h.counts("USA")
    response = h.deliver("KOR", "USA", h.batch(h.message("envelope", token)))
    assert outcomes(response) == ["stored"]
    after = h.counts("USA")
    assert after["products"] == before["products"] + 1
    assert after["outbox"] == before["outbox"] + 1  # the receipt back to KOR
    with h.rt["USA"].ctx.db.read() as conn:
        row = products.get(conn, body["id"], 1)
    assert row is not None
    assert row.state == "received"
    assert row.received_from == "KOR"


def test_a_replayed_envelope_is_a_duplicate_and_stored_once(harness: Harness) -> None:
    h = harness
    token, _ = h.envelope("KOR")
    first = h.deliver("KOR", "USA", h.batch(h.message("envelope", token)))
    assert outcomes(first) == ["stored"]
    with h.unchanged("USA", "KOR", "JPN"):
        # The very same POST again (a sender retrying after a lost answer), with a new header.
        again = h.deliver("KOR", "USA", h.batch(h.message("envelope", token)))
        assert outcomes(again) == ["duplicate"]
        # And the same bytes with the same header (a replay of the captured request).
        raw = json.dumps(h.batch(h.message("envelope", token))).encode()
        header = h.transmission("KOR", "USA", raw)
        for _ in range(2):
            assert outcomes(h.deliver("KOR", "USA", raw, header=header)) == ["duplicate"]


def test_an_envelope_twice_in_one_batch_is_stored_once(harness: Harness) -> None:
    h = harness
    token, _ = h.envelope("KOR")
    before = h.counts("USA")
    msg = h.message("envelope", token)
    assert outcomes(h.deliver("KOR", "USA", h.batch(msg, msg))) == ["stored", "duplicate"]
    after = h.counts("USA")
    assert after["products"] == before["products"] + 1
    assert after["outbox"] == before["outbox"] + 1


def test_same_id_and_version_with_other_content_is_a_conflict(harness: Harness) -> None:
    h = harness
    token, body = h.envelope("KOR")
    assert outcomes(h.deliver("KOR", "USA", h.batch(h.message("envelope", token)))) == ["stored"]
    other = h.sign("KOR", Signed.PRODUCT, {**body, "title": "a different title"})
    with h.unchanged("USA"):
        response = h.deliver("KOR", "USA", h.batch(h.message("envelope", other)))
        result = rejected(response, "Conflict", body["id"], "other content")
        assert result["permanent"] is True


# -- the transmission header ---------------------------------------------------------------------

Header = Callable[[Any, bytes], str | None]

BAD_HEADERS: dict[str, tuple[Header, int, str, tuple[str, ...]]] = {
    "missing": (lambda h, b: None, 422, "SignatureInvalid", ("no Tisa-Transmission header",)),
    "garbage": (lambda h, b: "not-a-jws", 422, "SignatureInvalid", ("malformed",)),
    "three junk parts": (lambda h, b: "a.b.c", 422, "SignatureInvalid", ("malformed",)),
    "signed by an unpinned key": (
        lambda h, b: forged(claim(h, b)),
        422,
        "SignatureInvalid",
        ("transmission from KOR",),
    ),
    "JPN's key, claiming to be KOR": (
        lambda h, b: h.sign("JPN", Signed.TRANSMISSION, claim(h, b)),
        422,
        "SignatureInvalid",
        ("KOR",),
    ),
    "sender is no party": (
        lambda h, b: forged(claim(h, b, sender="CHN"), kid="CHN:x"),
        422,
        "SignatureInvalid",
        ("no known party",),
    ),
    "sender missing": (
        lambda h, b: h.sign("KOR", Signed.TRANSMISSION, claim(h, b, sender=None)),
        422,
        "SignatureInvalid",
        ("sender",),
    ),
    "another JWS typ (a receipt)": (
        lambda h, b: h.sign("KOR", Signed.RECEIPT, claim(h, b)),
        422,
        "SignatureInvalid",
        ("typ",),
    ),
    "payload field missing": (
        lambda h, b: h.sign("KOR", Signed.TRANSMISSION, claim(h, b, body=None)),
        422,
        "InputInvalid",
        ("body",),
    ),
    "unknown payload field": (
        lambda h, b: h.sign("KOR", Signed.TRANSMISSION, claim(h, b, extra="x")),
        422,
        "InputInvalid",
        ("extra",),
    ),
    "wrong arrangement digest": (
        lambda h, b: h.sign(
            "KOR", Signed.TRANSMISSION, claim(h, b, arrangement="sha256:" + "0" * 64)
        ),
        409,
        "PeerRefused",
        ("arrangement", "sha256:" + "0" * 64),
    ),
    "addressed to JPN": (
        lambda h, b: h.transmission("KOR", "JPN", b),
        409,
        "PeerRefused",
        ("addressed to JPN",),
    ),
    "body digest mismatch": (
        lambda h, b: h.transmission("KOR", "USA", b + b" "),
        422,
        "InputInvalid",
        ("body",),
    ),
    "sent 6 minutes ago": (
        lambda h, b: h.transmission("KOR", "USA", b, utc_now() - timedelta(minutes=6)),
        409,  # a clock to fix, not a bad message: the sender retries
        "PeerRefused",
        ("clock",),
    ),
    "sent 6 minutes from now": (
        lambda h, b: h.transmission("KOR", "USA", b, utc_now() + timedelta(minutes=6)),
        409,  # a clock to fix, not a bad message: the sender retries
        "PeerRefused",
        ("clock",),
    ),
    "sent_at without a zone": (
        lambda h, b: h.sign("KOR", Signed.TRANSMISSION, claim(h, b, sent_at="2030-01-01T00:00:00")),
        422,
        "InputInvalid",
        ("sent_at",),
    ),
    "sent_at not a time": (
        lambda h, b: h.sign("KOR", Signed.TRANSMISSION, claim(h, b, sent_at="yesterday")),
        422,
        "InputInvalid",
        ("sent_at",),
    ),
}


@pytest.mark.parametrize("path", [MESSAGES, HELLO, HELD], ids=["messages", "hello", "held"])
@pytest.mark.parametrize("case", list(BAD_HEADERS), ids=list(BAD_HEADERS))
def test_a_bad_transmission_refuses_the_whole_post(
    harness: Harness, good_body: bytes, case: str, path: str
) -> None:
    make, status, error, words = BAD_HEADERS[case]
    h = harness
    header = make(h, good_body)
    with h.unchanged():
        headers = {} if header is None else {HEADER: header}
        response = h.federation("USA").post(path, content=good_body, headers=headers)
        refused(response, status, error, *words)


def test_the_same_post_with_a_fresh_header_is_taken(harness: Harness, good_body: bytes) -> None:
    """The control for the header cases: the body they carry is itself acceptable."""
    h = harness
    early = h.transmission("KOR", "USA", good_body, utc_now() - timedelta(minutes=4))
    response = h.federation("USA").post(MESSAGES, content=good_body, headers={HEADER: early})
    assert outcomes(response) == ["stored"]


def test_no_channel_between_spokes_is_refused(harness: Harness) -> None:
    """JPN may not send to KOR at all: there is no JPN–KOR channel."""
    h = harness
    token, _ = h.envelope("JPN", rel_to={"USA", "JPN", "KOR"})
    raw = json.dumps(h.batch(h.message("envelope", token))).encode()
    with h.unchanged():
        response = h.deliver("JPN", "KOR", raw)
        refused(response, 409, "PeerRefused", "no channel")


def test_a_header_replayed_over_another_body_is_refused(harness: Harness, good_body: bytes) -> None:
    h = harness
    header = h.transmission("KOR", "USA", good_body)
    token, _ = h.envelope("KOR")
    other = json.dumps(h.batch(h.message("envelope", token))).encode()
    with h.unchanged():
        response = h.deliver("KOR", "USA", other, header=header)
        refused(response, 422, "InputInvalid", "body")


def test_a_suspended_channel_refuses_with_503_and_stores_nothing(
    harness: Harness, good_body: bytes
) -> None:
    h = harness
    admin = h.auth("usa-admin")
    assert h.api("USA").post("/api/v1/channels/USA-KOR/suspend", headers=admin).status_code == 200
    try:
        with h.unchanged():
            response = h.deliver("KOR", "USA", good_body)
            refused(response, 503, "ChannelSuspended", "USA–KOR", "suspended")
    finally:
        assert (
            h.api("USA").post("/api/v1/channels/USA-KOR/resume", headers=admin).status_code == 200
        )
    assert outcomes(h.deliver("KOR", "USA", good_body)) == ["stored"]


# -- the batch -----------------------------------------------------------------------------------


def _token(h: Harness) -> str:
    return h.envelope("KOR")[0]


BAD_BATCHES: dict[str, tuple[Callable[[Any], bytes], tuple[str, ...]]] = {
    "empty body": (lambda h: b"", ("not JSON",)),
    "malformed JSON": (lambda h: b'{"messages": [', ("not JSON",)),
    "not UTF-8": (lambda h: b"\xff\xfe\xfa", ("not JSON",)),
    "nested too deep": (lambda h: b"[" * 100_000, ("not JSON",)),
    "a list": (lambda h: b"[]", ("body",)),
    "a string": (lambda h: b'"messages"', ("body",)),
    "null": (lambda h: b"null", ("body",)),
    "no messages field": (lambda h: b"{}", ("messages",)),
    "no messages": (lambda h: b'{"messages": []}', ("messages",)),
    "messages not a list": (lambda h: b'{"messages": {"kind": "envelope"}}', ("messages",)),
    "unknown top-level field": (
        lambda h: json.dumps({**h.batch(h.message("envelope", _token(h))), "x": 1}).encode(),
        ("x",),
    ),
    "unknown message kind": (
        lambda h: json.dumps(h.batch({"kind": "telegram", "token": _token(h)})).encode(),
        ("kind",),
    ),
    "message without token": (
        lambda h: json.dumps(h.batch({"kind": "envelope"})).encode(),
        ("token",),
    ),
    "token not a string": (
        lambda h: json.dumps(h.batch({"kind": "envelope", "token": 12345678901})).encode(),
        ("token",),
    ),
    "token too short": (
        lambda h: json.dumps(h.batch({"kind": "envelope", "token": "a.b.c"})).encode(),
        ("token",),
    ),
    "unknown message field": (
        lambda h: json.dumps(h.batch({**h.message("envelope", _token(h)), "via": "USA"})).encode(),
        ("via",),
    ),
    "attestation not a string": (
        lambda h: json.dumps(
            h.batch({**h.message("envelope", _token(h)), "attestation": ["x"]})
        ).encode(),
        ("attestation",),
    ),
    "audit not an object": (
        lambda h: json.dumps({**h.batch(h.message("envelope", _token(h))), "audit": "x"}).encode(),
        ("audit",),
    ),
    "audit with a negative size held": (
        lambda h: json.dumps(
            {**h.batch(h.message("envelope", _token(h))), "audit": {"holding": -1}}
        ).encode(),
        ("holding",),
    ),
    "audit with an unknown field": (
        lambda h: json.dumps(
            {**h.batch(h.message("envelope", _token(h))), "audit": {"root": "x"}}
        ).encode(),
        ("root",),
    ),
    "257 messages": (
        lambda h: json.dumps(h.batch(*[h.message("envelope", "x" * 20)] * 257)).encode(),
        ("messages",),
    ),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES), ids=list(BAD_BATCHES))
def test_a_malformed_batch_is_refused_whole(harness: Harness, case: str) -> None:
    make, words = BAD_BATCHES[case]
    h = harness
    raw = make(h)
    with h.unchanged():
        refused(h.deliver("KOR", "USA", raw), 422, "InputInvalid", *words)


def test_an_oversize_body_is_refused_before_it_is_read_whole(harness: Harness) -> None:
    h = harness
    raw = b" " * (MAX_BODY + 1)
    with h.unchanged():
        # Declared (Content-Length): refused up front, even before the header is checked.
        response = h.federation("USA").post(MESSAGES, content=raw, headers={HEADER: "x"})
        refused(response, 413, "BodyTooLarge", str(MAX_BODY))
        # Streamed without a length: refused once the limit is passed.
        chunk = b" " * (1024 * 1024)
        chunks = iter([chunk] * 17)
        response = h.federation("USA").post(MESSAGES, content=chunks, headers={HEADER: "x"})
        refused(response, 413, "BodyTooLarge", str(MAX_BODY))


def test_a_body_of_exactly_the_limit_is_read(harness: Harness) -> None:
    """The limit is inclusive: 16 MiB is read (and then refused for what it says, not its size)."""
    h = harness
    raw = b'{"messages": []}'.ljust(MAX_BODY, b" ")
    with h.unchanged():
        refused(h.deliver("KOR", "USA", raw), 422, "InputInvalid", "messages")


# -- one message at a time -----------------------------------------------------------------------


def test_an_envelope_signed_by_an_unpinned_key_is_rejected(harness: Harness) -> None:
    h = harness
    body = h.manifest_body("KOR")
    token = forged(body, kid="KOR:forged", typ=Signed.PRODUCT)
    with h.unchanged():
        result = rejected(
            h.deliver("KOR", "USA", h.batch(h.message("envelope", token))),
            "SignatureInvalid",
            "KOR",
        )
        assert result["permanent"] is True


def test_an_envelope_signed_by_another_party_is_rejected(harness: Harness) -> None:
    """A manifest naming KOR as originator but signed with JPN's (pinned) key."""
    h = harness
    token = h.sign("JPN", Signed.PRODUCT, h.manifest_body("KOR"))
    with h.unchanged():
        rejected(
            h.deliver("KOR", "USA", h.batch(h.message("envelope", token))),
            "SignatureInvalid",
            "KOR",
        )


def test_an_envelope_token_of_another_typ_is_rejected(harness: Harness) -> None:
    h = harness
    token = h.sign("KOR", Signed.CONSENT, h.manifest_body("KOR"))
    with h.unchanged():
        rejected(
            h.deliver("KOR", "USA", h.batch(h.message("envelope", token))),
            "SignatureInvalid",
            "typ",
        )


def test_a_tampered_envelope_is_rejected(harness: Harness) -> None:
    h = harness
    token, _ = h.envelope("KOR")
    head, body, sig = token.split(".")
    tampered = f"{head}.{body}.{sig[:-4]}AAAA"
    with h.unchanged():
        rejected(
            h.deliver("KOR", "USA", h.batch(h.message("envelope", tampered))),
            "SignatureInvalid",
        )


def _manifest(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(body: dict[str, Any]) -> dict[str, Any]:
        out = {**body, **changes}
        return {k: v for k, v in out.items() if v is not None}

    return change


BAD_MANIFESTS: dict[
    str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str, tuple[str, ...]]
] = {
    "wrong arrangement digest": (
        _manifest(arrangement="sha256:" + "1" * 64),
        "InputInvalid",
        ("arrangement", "sha256:" + "1" * 64),
    ),
    "unknown classification": (
        _manifest(classification="ULTRA SECRET"),
        "MarkingInvalid",
        ("classification", "ULTRA SECRET"),
    ),
    "REL TO without the originator": (
        _manifest(rel_to=["USA"]),
        "MarkingInvalid",
        ("REL TO", "originator KOR"),
    ),
    "NOFORN in REL TO": (_manifest(rel_to=["USA", "KOR", "NOFORN"]), "MarkingInvalid", ("NOFORN",)),
    "lowercase party in REL TO": (
        _manifest(rel_to=["USA", "KOR", "jpn"]),
        "MarkingInvalid",
        ("jpn",),
    ),
    "REL TO lacks the hub": (
        _manifest(rel_to=["KOR", "JPN"]),
        "PolicyDenied",
        ("REL TO",),
    ),
    "out-of-scope topic": (
        _manifest(topics=["dprk.cyber.theft"]),
        "PolicyDenied",
        ("dprk.cyber.theft",),
    ),
    "no topics": (_manifest(topics=[]), "InputInvalid", ("topics",)),
    "malformed topic": (_manifest(topics=["DPRK Missile"]), "InputInvalid", ("DPRK Missile",)),
    "unknown field": (_manifest(noforn=True), "InputInvalid", ("noforn",)),
    "missing id": (_manifest(id=None), "InputInvalid", ("id",)),
    "version 0": (_manifest(version=0), "InputInvalid", ("version",)),
    "version as a word": (_manifest(version="one"), "InputInvalid", ("version",)),
    "version as a list": (_manifest(version=[1]), "InputInvalid", ("version",)),
    "title as a number": (_manifest(title=7), "InputInvalid", ("title",)),
    "empty title": (_manifest(title="   "), "InputInvalid", ("title",)),
    "unknown precedence": (_manifest(precedence="URGENT"), "InputInvalid", ("precedence",)),
    "created_at without a zone": (
        _manifest(created_at="2024-01-14T05:55:00"),
        "InputInvalid",
        ("created_at",),
    ),
    "not a product": (_manifest(type="consent"), "InputInvalid", ("type",)),
    "observation of an unknown kind": (
        _manifest(observations=[{"kind": "ufo-sighting"}]),
        "InputInvalid",
        ("observations",),
    ),
}


@pytest.mark.parametrize("case", list(BAD_MANIFESTS), ids=list(BAD_MANIFESTS))
def test_a_bad_manifest_is_rejected_and_not_stored(harness: Harness, case: str) -> None:
    change, error, words = BAD_MANIFESTS[case]
    h = harness
    body = change(h.manifest_body("KOR", rel_to={"USA", "KOR", "JPN"}))
    token = h.sign("KOR", Signed.PRODUCT, body)
    with h.unchanged():
        result = rejected(
            h.deliver("KOR", "USA", h.batch(h.message("envelope", token))), error, *words
        )
        assert result["permanent"] is True


def test_a_bad_message_does_not_spoil_its_batch(harness: Harness) -> None:
    h = harness
    good, _ = h.envelope("KOR")
    bad = h.sign("KOR", Signed.PRODUCT, h.manifest_body("KOR", topics={"dprk.cyber.theft"}))
    before = h.counts("USA")
    response = h.deliver(
        "KOR", "USA", h.batch(h.message("envelope", bad), h.message("envelope", good))
    )
    assert outcomes(response) == ["rejected", "stored"]
    assert h.counts("USA")["products"] == before["products"] + 1


def test_an_envelope_passed_on_by_a_spoke_is_rejected(harness: Harness) -> None:
    """JPN hands USA a KOR product: no relay attestation from the hub, no consent."""
    h = harness
    token, _ = h.envelope("KOR", rel_to={"USA", "KOR", "JPN"})
    with h.unchanged():
        rejected(
            h.deliver("JPN", "USA", h.batch(h.message("envelope", token))),
            "SignatureInvalid",
            "came from JPN without USA's relay attestation",
        )


# -- relayed envelopes at JPN --------------------------------------------------------------------


def _relay(h: Harness, **consent_times: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """A KOR product relayed by USA to JPN under a per-product consent: (message, body)."""
    token, body = h.envelope("KOR", rel_to={"USA", "KOR", "JPN"})
    times = {"issued_at": utc_now() - timedelta(hours=1), **consent_times}
    consent, consent_id = h.consent_token(body["id"], **times)
    attestation = h.attestation(body, token, consent_id)
    return h.message("envelope", token, attestation=attestation, consent=consent), body


def test_a_relay_with_a_valid_consent_is_stored_at_jpn(harness: Harness) -> None:
    """The control for the relay cases."""
    h = harness
    msg, _ = _relay(h, expires_at=utc_now() + timedelta(days=1))
    before = h.counts("JPN")
    assert outcomes(h.deliver("USA", "JPN", h.batch(msg))) == ["stored"]
    assert h.counts("JPN")["products"] == before["products"] + 1


def test_a_relay_under_an_expired_consent_is_rejected(harness: Harness) -> None:
    h = harness
    msg, _ = _relay(
        h,
        issued_at=utc_now() - timedelta(days=2),
        expires_at=utc_now() - timedelta(days=1),
    )
    with h.unchanged():
        result = rejected(h.deliver("USA", "JPN", h.batch(msg)), "PolicyDenied", "consent")
        assert result["permanent"] is True


def test_a_relay_under_a_consent_not_yet_issued_is_rejected(harness: Harness) -> None:
    h = harness
    msg, _ = _relay(h, issued_at=utc_now() + timedelta(days=1))
    with h.unchanged():
        rejected(h.deliver("USA", "JPN", h.batch(msg)), "PolicyDenied", "consent")


def test_a_relay_without_attestation_or_consent_is_rejected(harness: Harness) -> None:
    h = harness
    msg, _ = _relay(h)
    for missing in ("attestation", "consent"):
        stripped = {k: v for k, v in msg.items() if k != missing}
        with h.unchanged():
            rejected(
                h.deliver("USA", "JPN", h.batch(stripped)),
                "SignatureInvalid",
                "relay attestation and the originator's consent",
            )


def test_a_relay_attested_for_another_recipient_is_rejected(harness: Harness) -> None:
    h = harness
    token, body = h.envelope("KOR", rel_to={"USA", "KOR", "JPN"})
    consent, consent_id = h.consent_token(body["id"], issued_at=utc_now() - timedelta(hours=1))
    attestation = h.attestation(body, token, consent_id, recipient="KOR")
    msg = h.message("envelope", token, attestation=attestation, consent=consent)
    with h.unchanged():
        rejected(h.deliver("USA", "JPN", h.batch(msg)), "SignatureInvalid", "another party")


def test_a_relay_attesting_another_manifest_is_rejected(harness: Harness) -> None:
    h = harness
    token, body = h.envelope("KOR", rel_to={"USA", "KOR", "JPN"})
    other, _ = h.envelope("KOR", rel_to={"USA", "KOR", "JPN"})
    consent, consent_id = h.consent_token(body["id"], issued_at=utc_now() - timedelta(hours=1))
    attestation = h.attestation(body, other, consent_id)  # the digest of another manifest
    msg = h.message("envelope", token, attestation=attestation, consent=consent)
    with h.unchanged():
        rejected(h.deliver("USA", "JPN", h.batch(msg)), "SignatureInvalid", "another product")


def test_a_relay_with_a_consent_other_than_the_attested_one_is_rejected(harness: Harness) -> None:
    h = harness
    token, body = h.envelope("KOR", rel_to={"USA", "KOR", "JPN"})
    consent, _ = h.consent_token(body["id"], issued_at=utc_now() - timedelta(hours=1))
    attestation = h.attestation(body, token, str(uuid.uuid4()))
    msg = h.message("envelope", token, attestation=attestation, consent=consent)
    with h.unchanged():
        rejected(h.deliver("USA", "JPN", h.batch(msg)), "SignatureInvalid", "not the one attested")


def test_a_relay_with_a_consent_forged_by_the_hub_is_rejected(harness: Harness) -> None:
    """The hub cannot sign the originator's consent itself."""
    h = harness
    token, body = h.envelope("KOR", rel_to={"USA", "KOR", "JPN"})
    consent, consent_id = h.consent_token(body["id"], issued_at=utc_now() - timedelta(hours=1))
    _, payload_b64, _ = consent.split(".")
    forged_consent = h.sign("USA", Signed.CONSENT, json.loads(jws.b64url_decode(payload_b64)))
    attestation = h.attestation(body, token, consent_id)
    msg = h.message("envelope", token, attestation=attestation, consent=forged_consent)
    with h.unchanged():
        rejected(h.deliver("USA", "JPN", h.batch(msg)), "SignatureInvalid", "consent from KOR")


# -- other message kinds -------------------------------------------------------------------------


def test_a_receipt_for_an_unknown_product_is_rejected(harness: Harness) -> None:
    h = harness
    receipt = h.sign(
        "KOR",
        Signed.RECEIPT,
        payload(
            Receipt(
                type="receipt",
                product_id=str(uuid.uuid4()),
                version=1,
                digest=sha256_digest(b"nothing"),
                originator="USA",
                recipient="KOR",
                received_at=utc_now(),
            )
        ),
    )
    with h.unchanged():
        rejected(h.deliver("KOR", "USA", h.batch(h.message("receipt", receipt))), "NotFound")


def test_a_receipt_with_a_zoneless_time_is_rejected(harness: Harness) -> None:
    h = harness
    token, body = h.envelope("KOR")
    assert outcomes(h.deliver("KOR", "USA", h.batch(h.message("envelope", token)))) == ["stored"]
    receipt = {
        "type": "receipt",
        "product_id": body["id"],
        "version": 1,
        "digest": jws.payload_digest(token),
        "originator": "KOR",
        "recipient": "KOR",
        "received_at": "2030-01-01T00:00:00",
    }
    signed = h.sign("KOR", Signed.RECEIPT, receipt)
    with h.unchanged():
        rejected(
            h.deliver("KOR", "USA", h.batch(h.message("receipt", signed))),
            "InputInvalid",
            "received_at",
        )


def test_a_consent_naming_another_originator_is_rejected(harness: Harness) -> None:
    """KOR sends (and signs) a consent that claims to be JPN's."""
    h = harness
    _, body = h.envelope("KOR")
    _, payload_b64, _ = h.consent_token(body["id"], issued_at=utc_now())[0].split(".")
    terms = {**json.loads(jws.b64url_decode(payload_b64)), "originator": "JPN", "recipient": "KOR"}
    consent = h.sign("KOR", Signed.CONSENT, terms)
    with h.unchanged():
        rejected(
            h.deliver("KOR", "USA", h.batch(h.message("consent", consent))),
            "InputInvalid",
            "originator",
        )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"expires_at": "2030-01-01T00:00:00"}, ("expires_at",)),
        ({"issued_at": "2024-01-01T00:00:00"}, ("issued_at",)),
        ({"max_classification": "SECRET"}, ("standing rule",)),
        ({"recipient": "USA"}, ("third party",)),
        ({"hub": "JPN"}, ("hub",)),
        ({"precedences": ["URGENT"]}, ("precedences",)),
    ],
    ids=[
        "zoneless expiry",
        "zoneless issue",
        "product and rule",
        "hub as recipient",
        "hub",
        "prec",
    ],
)
def test_a_malformed_consent_message_is_rejected(
    harness: Harness, change: dict[str, Any], words: tuple[str, ...]
) -> None:
    h = harness
    product_id = str(uuid.uuid4())
    token, _ = h.consent_token(product_id, issued_at=utc_now())
    _, payload_b64, _ = token.split(".")
    terms = {**json.loads(jws.b64url_decode(payload_b64)), **change}
    consent = h.sign("KOR", Signed.CONSENT, terms)
    with h.unchanged():
        rejected(
            h.deliver("KOR", "USA", h.batch(h.message("consent", consent))),
            "InputInvalid",
            *words,
        )


def test_a_consent_request_from_a_spoke_is_rejected(harness: Harness) -> None:
    h = harness
    token = h.sign("JPN", Signed.CONSENT_REQUEST, {"type": "consent-request"})
    raw = json.dumps(h.batch(h.message("consent-request", token))).encode()
    with h.unchanged():
        # Sent to the hub by a spoke: only the hub asks for consent.
        rejected(h.deliver("JPN", "USA", raw), "InputInvalid", "only the hub")


def test_a_revocation_of_an_unknown_consent_is_kept_once(harness: Harness) -> None:
    """A revocation may overtake what it revokes (or name a consent this node never held):
    it is kept, so a relay citing that consent is refused later."""
    h = harness
    revocation = h.sign(
        "KOR",
        Signed.REVOCATION,
        {
            "type": "consent-revocation",
            "consent_id": str(uuid.uuid4()),
            "originator": "KOR",
            "revoked_at": iso(utc_now()),
        },
    )
    batch = h.batch(h.message("revocation", revocation))
    assert outcomes(h.deliver("KOR", "USA", batch)) == ["stored"]
    assert outcomes(h.deliver("KOR", "USA", batch)) == ["duplicate"]


def test_a_revocation_passed_on_by_a_spoke_is_rejected(harness: Harness) -> None:
    h = harness
    revocation = h.sign(
        "KOR",
        Signed.REVOCATION,
        {
            "type": "consent-revocation",
            "consent_id": str(uuid.uuid4()),
            "originator": "KOR",
            "revoked_at": iso(utc_now()),
        },
    )
    with h.unchanged():
        rejected(
            h.deliver("JPN", "USA", h.batch(h.message("revocation", revocation))),
            "InputInvalid",
            "may not pass on KOR's revocation",
        )


# -- hello ---------------------------------------------------------------------------------------


def test_hello_answers_a_valid_transmission_with_a_signed_statement(harness: Harness) -> None:
    h = harness
    response = h.deliver("KOR", "USA", b"{}", path=HELLO)
    assert response.status_code == 200, response.text
    statement = h.rt["KOR"].ctx.trust.verify(Signed.HELLO, response.json()["hello"], signer="USA")
    assert statement["to"] == "KOR"
    assert statement["arrangement"] == h.digest


def test_hello_refuses_bad_headers_and_oversize_bodies(harness: Harness) -> None:
    h = harness
    client = h.federation("USA")
    with h.unchanged():
        refused(client.post(HELLO, content=b"{}"), 422, "SignatureInvalid", "no Tisa-Transmission")
        wrong = h.sign("KOR", Signed.TRANSMISSION, claim(h, b"{}", arrangement="sha256:x"))
        refused(client.post(HELLO, content=b"{}", headers={HEADER: wrong}), 409, "PeerRefused")
        big = b" " * (64 * 1024 + 1)
        refused(h.deliver("KOR", "USA", big, path=HELLO), 413, "BodyTooLarge")


def test_held_checkpoints_answer_a_valid_transmission(harness: Harness) -> None:
    h = harness
    response = h.deliver("KOR", "USA", b"{}", path=HELD)
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["checkpoints"], list)
    refused(h.deliver("KOR", "USA", b" " * (64 * 1024 + 1), path=HELD), 413, "BodyTooLarge")


def _checkpoint(h: Harness, signer: str = "KOR", **changes: Any) -> str:
    body = {
        "type": "checkpoint",
        "issuer": signer,
        "size": 3,
        "root": "ab" * 32,
        "at": iso(utc_now()),
        **changes,
    }
    return str(h.sign(signer, Signed.CHECKPOINT, body))


@pytest.mark.parametrize(
    "said",
    [
        lambda h: {"checkpoint": forged({"type": "checkpoint"}, typ=Signed.CHECKPOINT)},
        lambda h: {"checkpoint": _checkpoint(h, "JPN")},
        lambda h: {"checkpoint": _checkpoint(h, issuer="JPN")},
        lambda h: {"checkpoint": _checkpoint(h, root="not hex")},
        lambda h: {"checkpoint": "garbage.garbage.garbage"},
        lambda h: {"checkpoint": _checkpoint(h), "proof_from": 1, "proof": ["zz", ""]},
    ],
    ids=["unpinned key", "JPN's key", "names JPN", "bad root", "garbage", "bad proof"],
)
def test_a_bad_audit_checkpoint_never_blocks_delivery(harness: Harness, said: Any) -> None:
    """A peer's checkpoint that does not verify is put on record; the messages still land."""
    h = harness
    token, _ = h.envelope("KOR")
    before = h.counts("USA")
    response = h.deliver("KOR", "USA", {**h.batch(h.message("envelope", token)), "audit": said(h)})
    assert outcomes(response) == ["stored"]
    assert h.counts("USA")["products"] == before["products"] + 1


def test_an_audit_exchange_alone_is_answered_with_the_hubs_checkpoint(harness: Harness) -> None:
    """The heartbeat's endpoint: checkpoints, no messages."""
    h = harness
    ours = h.rt["USA"].audit.checkpoint()
    response = h.deliver("KOR", "USA", {"holding": 0}, path=EXCHANGE)
    assert response.status_code == 200, response.text
    answer = AuditExchange.model_validate(response.json())
    assert ours is not None
    assert answer.checkpoint == h.rt["USA"].audit.checkpoint().token  # type: ignore[union-attr]
    # USA now knows what KOR says it holds of USA's log.
    with h.rt["USA"].ctx.db.read() as conn:
        assert checkpoints.holdings(conn)["KOR"].size == 0


def test_the_audit_exchange_refuses_bad_headers_bodies_and_shapes(harness: Harness) -> None:
    h = harness
    client = h.federation("USA")
    with h.unchanged():
        refused(
            client.post(EXCHANGE, content=b"{}"), 422, "SignatureInvalid", "no Tisa-Transmission"
        )
        refused(h.deliver("KOR", "USA", b"{not json", path=EXCHANGE), 422, "InputInvalid", "JSON")
        refused(h.deliver("KOR", "USA", {"holding": -1}, path=EXCHANGE), 422, "InputInvalid")
        refused(h.deliver("KOR", "USA", {"messages": []}, path=EXCHANGE), 422, "InputInvalid")
        refused(h.deliver("KOR", "JPN", {}, path=EXCHANGE), 409, "PeerRefused", "channel")
        big = b" " * (64 * 1024 + 1)
        refused(h.deliver("KOR", "USA", big, path=EXCHANGE), 413, "BodyTooLarge")


def test_a_bad_checkpoint_over_the_exchange_is_on_record_once(harness: Harness) -> None:
    """Heartbeats repeat the same exchange every few seconds: one alarm, not one per beat."""
    h = harness
    said = {"checkpoint": _checkpoint(h, "JPN")}
    for _ in range(3):
        response = h.deliver("KOR", "USA", said, path=EXCHANGE)
        assert response.status_code == 200, response.text
    with h.rt["USA"].ctx.db.read() as conn:
        found = audit.entries(conn, action=audit.Action.INCONSISTENT.value, limit=10_000)
    problems = Counter(e.detail["problem"] for e in found if e.party == "KOR")
    assert problems, "the bad checkpoint is on record"
    assert max(problems.values()) == 1, problems


# -- blobs ---------------------------------------------------------------------------------------


def _blob_url(digest: str = NO_BLOB, offset: int = 0, size: int = 5) -> str:
    return f"/federation/v1/blobs/{digest}?offset={offset}&size={size}"


def _blob_header(
    h: Harness, digest: str = NO_BLOB, offset: int = 0, size: int = 5
) -> dict[str, str]:
    return {HEADER: h.transmission("KOR", "USA", blob_subject(digest, offset, size))}


def test_blob_status_refuses_bad_headers_and_digests(harness: Harness) -> None:
    h = harness
    client = h.federation("USA")
    status = f"/federation/v1/blobs/{NO_BLOB}"
    with h.unchanged():
        refused(client.get(status), 422, "SignatureInvalid", "no Tisa-Transmission")
        other = {HEADER: h.transmission("KOR", "USA", "blob-status sha256:" + "1" * 64)}
        refused(client.get(status, headers=other), 422, "InputInvalid", "body")
        refused(client.get("/federation/v1/blobs/md5:00"), 422, "InputInvalid", "digest")
        addressed_to_jpn = {HEADER: h.transmission("KOR", "JPN", f"blob-status {NO_BLOB}")}
        refused(client.get(status, headers=addressed_to_jpn), 409, "PeerRefused", "JPN")
    valid = {HEADER: h.transmission("KOR", "USA", f"blob-status {NO_BLOB}")}
    answer = client.get(status, headers=valid)
    assert answer.status_code == 200, answer.text
    assert answer.json()["complete"] is False


def test_blob_put_refuses_bad_headers_offsets_and_sizes(harness: Harness) -> None:
    h = harness
    client = h.federation("USA")
    with h.unchanged():
        refused(client.put(_blob_url(), content=b"hello"), 422, "SignatureInvalid")
        # The header signs offset 0 and size 5; the URL says otherwise.
        refused(
            client.put(_blob_url(size=6), content=b"hello", headers=_blob_header(h)),
            422,
            "InputInvalid",
            "body",
        )
        refused(
            client.put(_blob_url(offset=-1), content=b"hello", headers=_blob_header(h, offset=-1)),
            422,
            "InputInvalid",
            "offset",
        )
        refused(
            client.put(_blob_url(size=-5), content=b"", headers=_blob_header(h, size=-5)),
            422,
            "InputInvalid",
            "size",
        )
        refused(
            client.put("/federation/v1/blobs/x?offset=0&size=5", content=b"hello"),
            422,
            "InputInvalid",
            "digest",
        )
        huge = 2**62
        refused(
            client.put(_blob_url(size=huge), content=b"", headers=_blob_header(h, size=huge)),
            413,
            "BodyTooLarge",
            "limit",
        )


def test_a_blob_whose_bytes_do_not_match_its_digest_is_not_kept(harness: Harness) -> None:
    h = harness
    client = h.federation("USA")
    digest = sha256_digest(b"the real bytes")
    size = len(b"the real bytes")
    with h.unchanged():
        response = client.put(
            _blob_url(digest, 0, size),
            content=b"other bytes!!!",
            headers=_blob_header(h, digest, 0, size),
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"] in ("SignatureInvalid", "InputInvalid"), response.text
        status = client.get(
            f"/federation/v1/blobs/{digest}",
            headers={HEADER: h.transmission("KOR", "USA", f"blob-status {digest}")},
        )
        assert status.status_code == 200, status.text
        assert status.json()["complete"] is False


def test_unknown_paths_and_methods_answer_json_errors(harness: Harness) -> None:
    client = harness.federation("USA")
    refused(client.get(MESSAGES), 405, "HTTPError", "method not allowed")
    refused(client.post("/federation/v1/nothing"), 404, "HTTPError", "not found")


# -- a node on PostgreSQL ------------------------------------------------------------------------


@pytest.fixture
def pg_hub(harness: Harness, pg_databases: Any) -> Iterator[Any]:
    """The USA node's keys and arrangement over a fresh PostgreSQL store."""
    settings = dataclasses.replace(
        harness.cluster.nodes["USA"].settings, database_url=pg_databases.new()
    )
    rt = Runtime(settings).open()
    client = harness.client(federation_app(rt))
    try:
        yield rt, client
    finally:
        client.close()
        rt.close()


def _count_products(rt: Any) -> int:

    with rt.ctx.db.read() as conn:
        return products.count(conn)


@pytest.mark.postgres
def test_a_manifest_with_a_nul_character_is_rejected_on_postgresql(
    harness: Harness, pg_hub: Any
) -> None:
    h = harness
    rt, client = pg_hub
    body = h.manifest_body("KOR", title="IRBM\x00launch")
    token = h.sign("KOR", Signed.PRODUCT, body)
    raw = json.dumps(h.batch(h.message("envelope", token))).encode()
    response = client.post(
        MESSAGES, content=raw, headers={HEADER: h.transmission("KOR", "USA", raw)}
    )
    assert response.status_code < 500, response.text
    rejected(response, "InputInvalid")
    assert _count_products(rt) == 0


@pytest.mark.postgres
def test_a_receipt_with_a_huge_version_is_rejected_on_postgresql(
    harness: Harness, pg_hub: Any
) -> None:
    h = harness
    _, client = pg_hub
    receipt = {
        "type": "receipt",
        "product_id": str(uuid.uuid4()),
        "version": 2**40,
        "digest": sha256_digest(b"x"),
        "originator": "USA",
        "recipient": "KOR",
        "received_at": iso(utc_now()),
    }
    signed = h.sign("KOR", Signed.RECEIPT, receipt)
    raw = json.dumps(h.batch(h.message("receipt", signed))).encode()
    response = client.post(
        MESSAGES, content=raw, headers={HEADER: h.transmission("KOR", "USA", raw)}
    )
    assert response.status_code < 500, response.text
    rejected(response, "InputInvalid", "version")


@pytest.mark.postgres
def test_a_checkpoint_with_a_huge_size_is_put_on_record_on_postgresql(
    harness: Harness, pg_hub: Any
) -> None:
    h = harness
    _, client = pg_hub
    token, _ = h.envelope("KOR")
    said = {"checkpoint": _checkpoint(h, size=2**40)}
    raw = json.dumps({**h.batch(h.message("envelope", token)), "audit": said}).encode()
    response = client.post(
        MESSAGES, content=raw, headers={HEADER: h.transmission("KOR", "USA", raw)}
    )
    assert response.status_code < 500, response.text
    assert outcomes(response) == ["stored"]


# -- fuzzing -------------------------------------------------------------------------------------

FIELD_NAMES = (
    "messages",
    "audit",
    "checkpoint",
    "proof",
    "proof_from",
    "holding",
    "kind",
    "token",
    "attestation",
    "consent",
    "type",
    "id",
    "version",
    "originator",
    "recipient",
    "title",
    "classification",
    "rel_to",
    "topics",
    "created_at",
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["envelope", "receipt", "consent", "KOR", "USA", "SECRET", "x" * 12])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.slow  # API fuzzing: 120 requests, each between two snapshots of the store
@FUZZ
@given(value=json_values)
def test_fuzz_any_json_batch_body_is_refused_without_5xx(harness: Harness, value: Any) -> None:
    h = harness
    raw = json.dumps(value).encode()  # NaN and Infinity included, as Python writes them
    with h.unchanged("USA"):
        response = h.deliver("KOR", "USA", raw)
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code == 200:
        assert all(r["status"] == "rejected" for r in body["results"]), body
    else:
        assert body["error"] == "InputInvalid", body
        assert body["detail"], body


canonical_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
canonical_values = st.recursive(
    canonical_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def _base_payload(h: Harness, kind: str) -> dict[str, Any]:
    """A valid payload KOR could sign for each message kind it may send to USA."""
    now = iso(utc_now())
    some_id = str(uuid.uuid4())
    if kind == "envelope":
        return h.manifest_body("KOR")
    if kind == "consent":
        token, _ = h.consent_token(some_id, issued_at=utc_now())
        return dict(json.loads(jws.b64url_decode(token.split(".")[1])))
    common = {"product_id": some_id, "version": 1, "originator": "KOR"}
    return {
        "receipt": {
            **common,
            "type": "receipt",
            "digest": sha256_digest(b"x"),
            "originator": "USA",
            "recipient": "KOR",
            "received_at": now,
        },
        "revocation": {
            "type": "consent-revocation",
            "consent_id": some_id,
            "originator": "KOR",
            "revoked_at": now,
        },
        "consent-denial": {
            **common,
            "type": "consent-denial",
            "request_id": str(uuid.uuid4()),
            "recipient": "JPN",
            "reason": "no",
            "denied_at": now,
        },
        "recall": {**common, "type": "recall", "reason": "wrong", "recalled_at": now},
    }[kind]


KINDS = ("envelope", "receipt", "consent", "revocation", "consent-denial", "recall")


@pytest.mark.slow  # API fuzzing: 120 requests, each between two snapshots of the store
@FUZZ
@given(kind=st.sampled_from(KINDS), data=st.data(), value=canonical_values)
def test_fuzz_signed_messages_with_one_bad_field_never_answer_5xx(
    harness: Harness, kind: str, data: st.DataObject, value: Any
) -> None:
    """A KOR-signed, valid payload of each kind with one field replaced (or added) by anything.

    Whatever verifies is either taken (stored/duplicate) or rejected with a named error and
    then changes nothing; no payload may crash the batch.
    """
    h = harness
    base = _base_payload(h, kind)
    field = data.draw(st.sampled_from(sorted(base)) | st.sampled_from(FIELD_NAMES), label="field")
    token = h.sign("KOR", MessageKind(kind).signed, {**base, field: value})
    before = h.snapshot("USA")
    response = h.deliver("KOR", "USA", h.batch(h.message(kind, token)))
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    if result["status"] == "rejected":
        assert result["error"], result
        assert result["reason"], result
        assert h.snapshot("USA") == before
    else:
        assert result["status"] in ("stored", "duplicate"), result
        # A revocation or recall is kept even of what is not held here (it may overtake it).
        assert kind in ("envelope", "consent", "revocation", "recall"), result


def test_this_nodes_store_failing_during_an_exchange_is_no_alarm(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint that could not be stored because this node's store failed says nothing
    of the peer's history: it is logged, not recorded as an audit alarm."""
    h = harness
    usa = h.rt["USA"]

    def failing(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT INTO checkpoints …", {}, Exception("connection refused"))

    def alarms() -> int:
        with usa.ctx.db.read() as conn:
            return len(audit.entries(conn, action="audit.inconsistent", limit=10_000))

    before = alarms()
    monkeypatch.setattr(usa.audit, "hear", failing)
    said = h.sign("KOR", Signed.CHECKPOINT, {"type": "checkpoint"})  # never read: hear fails
    response = h.deliver("KOR", "USA", {"checkpoint": said, "holding": 0}, path=EXCHANGE)
    assert response.status_code == 200, response.text
    assert alarms() == before
