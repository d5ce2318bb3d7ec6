"""Tests for tisa.crypto.jws."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tisa.crypto import jws
from tisa.crypto.keys import SigningKey, b64url_decode, b64url_encode
from tisa.domain.canonical import sha256_digest
from tisa.errors import InputInvalid, SignatureInvalid

TYP = "tisa-product+jws"
KEY = SigningKey.generate()
PAYLOAD = {"id": "product--1", "n": 3, "tags": ["a", "b"], "text": "héllo"}


def _token(payload: dict[str, Any] | None = None) -> str:
    return jws.sign(PAYLOAD if payload is None else payload, KEY, kid="k1", typ=TYP)


def _forge(header: dict[str, Any], payload: bytes, key: SigningKey = KEY) -> str:
    """A token with any header and payload bytes, correctly signed by `key`."""
    signing_input = f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(payload)}"
    signature = key.sign_raw(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def _header(**changes: Any) -> dict[str, Any]:
    return {"alg": "EdDSA", "kid": "k1", "typ": TYP, **changes}


def test_round_trip() -> None:
    token = _token()
    assert jws.verify(token, KEY.public(), typ=TYP, kid="k1") == PAYLOAD


def test_header_and_payload_bytes_are_canonical() -> None:
    header_b64, payload_b64, signature_b64 = _token().split(".")
    assert b64url_decode(header_b64) == b'{"alg":"EdDSA","kid":"k1","typ":"tisa-product+jws"}'
    assert b64url_decode(payload_b64) == (
        b'{"id":"product--1","n":3,"tags":["a","b"],"text":"h\xc3\xa9llo"}'
    )
    assert len(b64url_decode(signature_b64)) == 64


def test_sign_rejects_unrepresentable_payload() -> None:
    with pytest.raises(InputInvalid):
        jws.sign({"x": float("nan")}, KEY, kid="k1", typ=TYP)


def test_peek_returns_header_and_payload_without_key() -> None:
    seen = jws.peek(_token())
    assert seen.header == {"alg": "EdDSA", "kid": "k1", "typ": TYP}
    assert seen.payload == PAYLOAD


def test_payload_digest_is_over_payload_bytes() -> None:
    token = _token()
    assert jws.payload_digest(token) == sha256_digest(b64url_decode(token.split(".")[1]))
    with pytest.raises(SignatureInvalid, match="malformed"):
        jws.payload_digest("a.b")


def test_tampered_payload_rejected() -> None:
    header_b64, _, signature_b64 = _token().split(".")
    other = b64url_encode(b'{"id":"product--2","n":3,"tags":["a","b"],"text":"h\xc3\xa9llo"}')
    with pytest.raises(SignatureInvalid, match="does not verify"):
        jws.verify(f"{header_b64}.{other}.{signature_b64}", KEY.public(), typ=TYP, kid="k1")


def test_tampered_header_rejected() -> None:
    _, payload_b64, signature_b64 = _token().split(".")
    header = b64url_encode(json.dumps(_header(kid="k2")).encode())
    with pytest.raises(SignatureInvalid, match="does not verify"):
        jws.verify(f"{header}.{payload_b64}.{signature_b64}", KEY.public(), typ=TYP, kid="k2")


def test_kid_must_name_the_key_that_verifies() -> None:
    # Signed by KEY, correctly, but labelled as another key's: refused before the signature.
    token = jws.sign(PAYLOAD, KEY, kid="JPN:other-thumbprint", typ=TYP)
    with pytest.raises(SignatureInvalid, match="JWS kid is 'JPN:other-thumbprint', not the"):
        jws.verify(token, KEY.public(), typ=TYP, kid="k1")
    assert jws.verify(token, KEY.public(), typ=TYP, kid="JPN:other-thumbprint") == PAYLOAD


def test_tampered_signature_rejected() -> None:
    header_b64, payload_b64, signature_b64 = _token().split(".")
    signature = bytearray(b64url_decode(signature_b64))
    signature[0] ^= 1
    token = f"{header_b64}.{payload_b64}.{b64url_encode(bytes(signature))}"
    with pytest.raises(SignatureInvalid, match="does not verify"):
        jws.verify(token, KEY.public(), typ=TYP, kid="k1")


def test_non_canonical_signature_encoding_rejected() -> None:
    # 64 bytes encode to 86 chars whose last carries 4 unused bits; flipping one of them
    # decodes to the same signature, which must not give a second valid token.
    header_b64, payload_b64, signature_b64 = _token().split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature_b64[-1]) ^ 1]
    token = f"{header_b64}.{payload_b64}.{signature_b64[:-1]}{last}"
    with pytest.raises(SignatureInvalid, match="malformed"):
        jws.verify(token, KEY.public(), typ=TYP, kid="k1")


def test_wrong_key_rejected_with_its_thumbprint() -> None:
    other = SigningKey.generate().public()
    with pytest.raises(SignatureInvalid, match=f"against key {other.thumbprint()}"):
        jws.verify(_token(), other, typ=TYP, kid="k1")


def test_wrong_typ_rejected() -> None:
    with pytest.raises(
        SignatureInvalid, match=re.escape(f"JWS typ is '{TYP}', expected 'consent'")
    ):
        jws.verify(_token(), KEY.public(), typ="consent", kid="k1")


def test_alg_none_rejected() -> None:
    header = b64url_encode(json.dumps(_header(alg="none")).encode())
    payload = _token().split(".")[1]
    with pytest.raises(SignatureInvalid, match="alg is 'none'"):
        jws.verify(f"{header}.{payload}.", KEY.public(), typ=TYP, kid="k1")


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", "Ed25519", "eddsa", "EdDSA "])
def test_other_algs_rejected_even_if_signed(alg: str) -> None:
    token = _forge(_header(alg=alg), b'{"a":1}')
    with pytest.raises(SignatureInvalid, match="alg is"):
        jws.verify(token, KEY.public(), typ=TYP, kid="k1")


@pytest.mark.parametrize("extra", [{"crit": ["b64"]}, {"b64": False}, {"jwk": {}}])
def test_unknown_header_members_rejected(extra: dict[str, Any]) -> None:
    token = _forge(_header(**extra), b'{"a":1}')
    with pytest.raises(SignatureInvalid, match="unsupported members"):
        jws.verify(token, KEY.public(), typ=TYP, kid="k1")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"b":1,"a":2}',  # unsorted keys
        b'{"a": 1}',  # whitespace
        b'{"a":1,"a":1}',  # duplicate key
        b'{"a":1.0}',  # number not in shortest form
        b'{"a":"\\u0041"}',  # needless escape
        b'{"a":1e400}',  # infinite once parsed
        b'{"a":NaN}',  # not JSON at all, though Python reads it
        b'{"a":9007199254740993}',  # beyond the safe range and not a double
        b'{"a":"\\ud800"}',  # lone surrogate
        b'{"a":1}\n',  # trailing newline
    ],
)
def test_non_canonical_payload_rejected_even_if_signed(payload: bytes) -> None:
    token = _forge(_header(), payload)
    jws.peek(token)  # well-formed: only verify insists on canonical bytes
    with pytest.raises(SignatureInvalid, match="not canonical"):
        jws.verify(token, KEY.public(), typ=TYP, kid="k1")


def test_canonical_forged_payload_accepted() -> None:
    # The control for the test above: same path, canonical bytes, verifies.
    assert jws.verify(_forge(_header(), b'{"a":1}'), KEY.public(), typ=TYP, kid="k1") == {"a": 1}


def _b64(data: bytes) -> str:
    return b64url_encode(data)


_GOOD_HEADER = _b64(json.dumps(_header()).encode())


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("", "1 parts"),
        ("a.b", "2 parts"),
        ("a.b.c.d", "4 parts"),
        ("!!.e30.", "header is not base64url"),
        (_b64(b"[]") + ".e30.", "header is not a JSON object"),
        (_b64(b"nope") + ".e30.", "header is not UTF-8 JSON"),
        (_b64(b"\xff") + ".e30.", "header is not UTF-8 JSON"),
        (_b64(b'{"alg":"EdDSA","typ":"t"}') + ".e30.", "no string 'kid'"),
        (_b64(b'{"kid":1,"alg":"EdDSA","typ":"t"}') + ".e30.", "no string 'kid'"),
        (_b64(b'{"kid":"k","typ":"t"}') + ".e30.", "no string 'alg'"),
        (_b64(b'{"kid":"k","alg":"EdDSA"}') + ".e30.", "no string 'typ'"),
        (_GOOD_HEADER + "." + _b64(b"[1]") + ".", "payload is not a JSON object"),
        (_GOOD_HEADER + ".e30.***", "signature is not base64url"),
        (_GOOD_HEADER + "." + "W" * 5000 + ".", "payload is not UTF-8 JSON"),
        (_GOOD_HEADER + ".e30=.", "payload is not base64url"),
    ],
)
def test_malformed_tokens(token: str, words: str) -> None:
    with pytest.raises(SignatureInvalid, match=f"malformed JWS: .*{words}"):
        jws.peek(token)
    with pytest.raises(SignatureInvalid, match="malformed JWS"):
        jws.verify(token, KEY.public(), typ=TYP, kid="k1")


def test_deeply_nested_payload_is_malformed_not_a_crash() -> None:
    header = b64url_encode(json.dumps(_header()).encode())
    payload = b64url_encode(b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    with pytest.raises(SignatureInvalid):
        jws.verify(f"{header}.{payload}.", KEY.public(), typ=TYP, kid="k1")


def test_huge_integer_literal_is_refused_not_a_crash() -> None:
    # Python refuses int literals over 4300 digits with ValueError; 400 digits overflow a
    # double. Either way the payload is not canonical JSON.
    for digits in (400, 5000):
        token = _forge(_header(), b'{"a":' + b"9" * digits + b"}")
        with pytest.raises(SignatureInvalid, match="not canonical"):
            jws.verify(token, KEY.public(), typ=TYP, kid="k1")


def test_integral_double_beyond_safe_range_round_trips() -> None:
    # RFC 8785 writes integral doubles below 1e21 as bare shortest digits (2**60 as
    # ...847000); verify must read them back as those doubles, not refuse them.
    token = _token({"big": 2.0**53, "bigger": 1e20, "neg": -(2.0**60)})
    assert b64url_decode(token.split(".")[1]) == (
        b'{"big":9007199254740992,"bigger":100000000000000000000,"neg":-1152921504606847000}'
    )
    assert jws.verify(token, KEY.public(), typ=TYP, kid="k1") == {
        "big": 2.0**53,
        "bigger": 1e20,
        "neg": -(2.0**60),
    }


def _check_only_signature_invalid(token: str) -> None:
    for call in (
        lambda: jws.peek(token),
        lambda: jws.verify(token, KEY.public(), typ=TYP, kid="k1"),
        lambda: jws.payload_digest(token),
    ):
        with contextlib.suppress(SignatureInvalid):
            call()


@given(st.text())
def test_arbitrary_text_raises_only_signature_invalid(text: str) -> None:
    _check_only_signature_invalid(text)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."))
def test_arbitrary_base64url_text_raises_only_signature_invalid(text: str) -> None:
    _check_only_signature_invalid(text)


_VALID = _token()


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(_VALID)),
            st.sampled_from(["del", "ins", "sub"]),
            st.characters(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_mutated_tokens_never_verify_and_raise_only_signature_invalid(
    edits: list[tuple[int, str, str]],
) -> None:
    token = list(_VALID)
    for position, kind, char in edits:
        at = min(position, len(token))
        if kind == "ins":
            token.insert(at, char)
        elif at < len(token):
            if kind == "del":
                del token[at]
            else:
                token[at] = char
    mutated = "".join(token)
    if mutated == _VALID:
        return
    _check_only_signature_invalid(mutated)
    with pytest.raises(SignatureInvalid):
        jws.verify(mutated, KEY.public(), typ=TYP, kid="k1")


@given(
    st.dictionaries(
        st.text(),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**53) + 1, 2**53 - 1)
            | st.text()
            | st.floats(allow_nan=False, allow_infinity=False),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)
            ),
            max_leaves=10,
        ),
    )
)
def test_any_json_payload_round_trips(payload: dict[str, Any]) -> None:
    try:
        token = jws.sign(payload, KEY, kid="k1", typ=TYP)
    except InputInvalid:
        return  # lone surrogates in text cannot be canonical JSON
    assert jws.verify(token, KEY.public(), typ=TYP, kid="k1") == json.loads(json.dumps(payload))
