"""JWS compact serialisation (RFC 7515) with Ed25519 ("EdDSA", RFC 8037), done by hand.

No JWS library is used: joserfc 1.6 refuses "EdDSA" unless allowed explicitly and then warns
(RFC 9864 deprecates the name), and the compact form is small enough to own outright, which
lets us verify exactly the received bytes and map every failure to one error. The
signature itself is `cryptography`'s Ed25519.

Every failure, for any input, is `SignatureInvalid`; nothing else escapes `peek` or `verify`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tisa.crypto.keys import SigningKey, VerifyKey, b64url_decode, b64url_encode
from tisa.domain.canonical import canonical_json, sha256_digest
from tisa.errors import InputInvalid, SignatureInvalid

ALG = "EdDSA"
_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})
_SAFE_INT = 2**53 - 1


@dataclass(frozen=True)
class Unverified:
    """A parsed JWS whose signature has NOT been checked; use it only to pick a key."""

    header: dict[str, Any]
    payload: dict[str, Any]


@dataclass(frozen=True)
class _Parts:
    signing_input: bytes
    header: dict[str, Any]
    payload_bytes: bytes
    payload: dict[str, Any]
    signature: bytes


def sign(payload: Mapping[str, Any], key: SigningKey, *, kid: str, typ: str) -> str:
    """Sign the canonical JSON of `payload` as a compact JWS.

    The protected header is ``{"alg": "EdDSA", "kid": kid, "typ": typ}``.

    Raises:
        InputInvalid: `payload` cannot be serialised as canonical JSON.
    """
    header = canonical_json({"alg": ALG, "kid": kid, "typ": typ})
    body = canonical_json(payload)
    signing_input = f"{b64url_encode(header)}.{b64url_encode(body)}"
    signature = key.sign_raw(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def _number(literal: str) -> int | float:
    # RFC 8785 numbers are doubles. rfc8785 refuses Python ints beyond ±(2**53 - 1) yet
    # writes integral doubles below 1e21 as bare digits, so a signed 2.0**53 comes back as
    # "9007199254740992". Reading such literals as doubles keeps sign and verify symmetric;
    # a literal no double can hold exactly does not re-serialise to the same bytes, and
    # `verify` refuses it as non-canonical. float() also spares us int()'s ValueError on
    # literals over 4300 digits (they become inf, which is likewise refused).
    if len(literal.lstrip("-")) <= len(str(_SAFE_INT)):
        value = int(literal)
        if abs(value) <= _SAFE_INT:
            return value
    return float(literal)


def _json_object(segment: str, what: str) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = b64url_decode(segment)
    except ValueError as exc:
        raise SignatureInvalid(f"malformed JWS: {what} is not base64url ({exc})") from exc
    try:
        # Decode as UTF-8 ourselves: json.loads(bytes) would also guess UTF-16 and UTF-32.
        value = json.loads(raw.decode("utf-8"), parse_int=_number)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON and over-long integer literals.
        raise SignatureInvalid(f"malformed JWS: {what} is not UTF-8 JSON") from exc
    if not isinstance(value, dict):
        raise SignatureInvalid(f"malformed JWS: {what} is not a JSON object")
    return raw, value


def _parse(token: str) -> _Parts:
    if not isinstance(token, str):
        raise SignatureInvalid("malformed JWS: not a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise SignatureInvalid(f"malformed JWS: {len(parts)} parts, expected 3")
    header_b64, payload_b64, signature_b64 = parts
    _, header = _json_object(header_b64, "header")
    for member in ("alg", "kid", "typ"):
        if not isinstance(header.get(member), str):
            raise SignatureInvalid(f"malformed JWS: header has no string {member!r}")
    payload_bytes, payload = _json_object(payload_b64, "payload")
    try:
        signature = b64url_decode(signature_b64)
    except ValueError as exc:
        raise SignatureInvalid(f"malformed JWS: signature is not base64url ({exc})") from exc
    return _Parts(
        # The three segments matched the base64url alphabet, so this is ASCII.
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        header=header,
        payload_bytes=payload_bytes,
        payload=payload,
        signature=signature,
    )


def peek(token: str) -> Unverified:
    """Parse `token` without checking its signature, to choose which pinned key to use.

    Nothing in the result may be trusted; call `verify` before acting on the payload.

    Raises:
        SignatureInvalid: ("malformed JWS: ...") wrong number of parts, bad base64url,
            non-JSON, payload not an object, or a header without string alg, kid and typ.
    """
    parts = _parse(token)
    return Unverified(header=parts.header, payload=parts.payload)


def verify(token: str, key: VerifyKey, *, typ: str, kid: str) -> dict[str, Any]:
    """Verify `token` against the pinned `key`, whose key id is `kid`, and return its payload.

    The signature is checked over exactly the received segments, and the payload returned
    is parsed from exactly the bytes that were signed. The payload bytes must also be
    canonical JSON, so one signed meaning has one byte string (and one digest).

    Raises:
        SignatureInvalid: the token is malformed (see `peek`), alg is not "EdDSA", the
            header carries members other than alg, kid and typ (e.g. "crit", "b64"), typ
            differs from `typ`, kid does not name `key` (differs from `kid`), the signature
            does not verify against `key`, or the payload is not canonical JSON.
    """
    parts = _parse(token)
    alg = parts.header["alg"]
    if alg != ALG:
        raise SignatureInvalid(f"JWS alg is {alg!r}, expected {ALG!r}")
    extra = sorted(set(parts.header) - _HEADER_MEMBERS)
    if extra:
        # Members such as "crit" or "b64" change how the token must be read; we read
        # only our own three, so anything else is refused rather than ignored.
        raise SignatureInvalid(f"JWS header has unsupported members {extra}")
    if parts.header["typ"] != typ:
        raise SignatureInvalid(f"JWS typ is {parts.header['typ']!r}, expected {typ!r}")
    if parts.header["kid"] != kid:
        # The kid says which key signed; a token naming another key is not this key's,
        # even if the bytes happen to verify (a relabelled or confused signer).
        raise SignatureInvalid(f"JWS kid is {parts.header['kid']!r}, not the pinned {kid!r}")
    key.verify_raw(parts.signature, parts.signing_input)
    try:
        canonical = canonical_json(parts.payload)
    except InputInvalid as exc:
        raise SignatureInvalid(f"JWS payload is not canonical JSON: {exc.reason}") from exc
    if canonical != parts.payload_bytes:
        raise SignatureInvalid("JWS payload is not canonical JSON (RFC 8785)")
    return parts.payload


def payload_digest(token: str) -> str:
    """The content digest ``"sha256:<hex>"`` of the token's decoded payload bytes.

    This does not verify the token; compute it on a token `verify` has accepted.

    Raises:
        SignatureInvalid: the token is malformed (see `peek`).
    """
    return sha256_digest(_parse(token).payload_bytes)
