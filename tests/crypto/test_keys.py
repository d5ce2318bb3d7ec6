"""Tests for tisa.crypto.keys."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tisa.crypto.keys import SigningKey, VerifyKey, b64url_decode, b64url_encode
from tisa.errors import ConfigInvalid, SignatureInvalid

# RFC 8037 appendix A.1 / A.3: an Ed25519 public JWK and its RFC 7638 thumbprint.
RFC8037_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_thumbprint_matches_rfc8037_example() -> None:
    assert VerifyKey.from_jwk(RFC8037_JWK).thumbprint() == RFC8037_THUMBPRINT


def test_thumbprint_is_sha256_of_required_members() -> None:
    key = SigningKey.generate().public()
    members = json.dumps(key.to_jwk(), sort_keys=True, separators=(",", ":")).encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(members).digest()).rstrip(b"=")
    assert key.thumbprint() == expected.decode()


def test_jwk_round_trip() -> None:
    key = SigningKey.generate().public()
    jwk = key.to_jwk()
    assert set(jwk) == {"kty", "crv", "x"}
    assert VerifyKey.from_jwk(jwk).to_jwk() == jwk


@pytest.mark.parametrize(
    ("jwk", "words"),
    [
        ({**RFC8037_JWK, "kty": "EC"}, "kty"),
        ({**RFC8037_JWK, "crv": "X25519"}, "crv"),
        ({"kty": "OKP", "crv": "Ed25519"}, "'x'"),
        ({**RFC8037_JWK, "x": 5}, "'x'"),
        ({**RFC8037_JWK, "x": "not base64!"}, "base64url"),
        ({**RFC8037_JWK, "x": b64url_encode(b"\x01" * 31)}, "31 bytes"),
        ({**RFC8037_JWK, "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}, "private"),
    ],
)
def test_from_jwk_rejects(jwk: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigInvalid, match=words):
        VerifyKey.from_jwk(jwk)


def test_sign_and_verify_raw() -> None:
    key = SigningKey.generate()
    signature = key.sign_raw(b"data")
    key.public().verify_raw(signature, b"data")
    with pytest.raises(SignatureInvalid, match=key.public().thumbprint()):
        key.public().verify_raw(signature, b"datA")
    with pytest.raises(SignatureInvalid):
        SigningKey.generate().public().verify_raw(signature, b"data")
    with pytest.raises(SignatureInvalid):
        key.public().verify_raw(signature[:-1], b"data")


def test_pem_round_trip() -> None:
    key = SigningKey.generate()
    pem = key.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert SigningKey.from_pem(pem).public().to_jwk() == key.public().to_jwk()


def test_repr_hides_private_key() -> None:
    key = SigningKey.generate()
    assert key.public().thumbprint() in repr(key)
    assert "PRIVATE" not in repr(key)


def test_from_pem_rejects_garbage_encrypted_and_other_curves() -> None:
    with pytest.raises(ConfigInvalid):
        SigningKey.from_pem(b"garbage")
    encrypted = SigningKey.generate().key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(ConfigInvalid):
        SigningKey.from_pem(encrypted)
    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ConfigInvalid, match="Ed25519"):
        SigningKey.from_pem(p256)


def test_b64url_round_trip_and_strictness() -> None:
    for data in (b"", b"A", b"AB", b"ABC", bytes(range(256))):
        assert b64url_decode(b64url_encode(data)) == data
    for bad in ("QQ==", "QR", "Q", "a+b/", "ab cd", "ab\ncd"):
        with pytest.raises(ValueError, match="base64url"):
            b64url_decode(bad)
