"""Ed25519 signing and verification keys, and their JWK form (RFC 8037, RFC 7638)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tisa.domain.canonical import canonical_json
from tisa.errors import ConfigInvalid, SignatureInvalid

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2). Raises nothing."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, strictly.

    Only the canonical encoding is accepted: no padding, no characters outside the
    alphabet, no stray bits in the last character. So each byte string has one text form.

    Raises:
        ValueError: `text` is not the canonical unpadded base64url form of any bytes.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not unpadded base64url") from exc
    # The decoder ignores unused low bits of the last character; "QQ" and "QR" both
    # give b"A". Re-encoding rejects the variants.
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


@dataclass(frozen=True)
class VerifyKey:
    """An Ed25519 public key a peer pins to check our signatures."""

    key: Ed25519PublicKey

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> VerifyKey:
        """Build a key from an OKP/Ed25519 public JWK.

        Raises:
            ConfigInvalid: not an OKP JWK on curve Ed25519, `x` is missing or not 32 bytes
                of base64url, or the JWK carries a private part `d` (a public key must never
                travel with its secret).
        """
        if not isinstance(jwk, Mapping):
            raise ConfigInvalid("JWK is not an object")
        if jwk.get("kty") != "OKP":
            raise ConfigInvalid(f"JWK kty is {jwk.get('kty')!r}, expected 'OKP'")
        if jwk.get("crv") != "Ed25519":
            raise ConfigInvalid(f"JWK crv is {jwk.get('crv')!r}, expected 'Ed25519'")
        if "d" in jwk:
            raise ConfigInvalid("JWK holds a private key ('d'); give the public key only")
        x = jwk.get("x")
        if not isinstance(x, str):
            raise ConfigInvalid("JWK has no string member 'x'")
        try:
            raw = b64url_decode(x)
        except ValueError as exc:
            raise ConfigInvalid(f"JWK x is not base64url: {exc}") from exc
        if len(raw) != 32:
            raise ConfigInvalid(f"JWK x is {len(raw)} bytes, expected 32")
        try:
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ConfigInvalid(f"JWK x is not an Ed25519 public key: {exc}") from exc

    def raw(self) -> bytes:
        """The 32 raw public key bytes. Raises nothing."""
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def to_jwk(self) -> dict[str, str]:
        """The public JWK ``{"kty": "OKP", "crv": "Ed25519", "x": ...}``. Raises nothing."""
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(self.raw())}

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint: base64url (no padding) SHA-256 of crv, kty, x.

        Raises nothing.
        """
        return self._thumbprint

    @cached_property
    def _thumbprint(self) -> str:
        # Every signature names and checks its key id: computed once per key, not per token.
        # RFC 7638 asks for the required members only, sorted, no whitespace: exactly
        # what RFC 8785 produces for these three ASCII strings.
        return b64url_encode(hashlib.sha256(canonical_json(self.to_jwk())).digest())

    def verify_raw(self, signature: bytes, data: bytes) -> None:
        """Check an Ed25519 `signature` over exactly `data`.

        Raises:
            SignatureInvalid: the signature does not verify against this key.
        """
        try:
            self.key.verify(signature, data)
        except InvalidSignature as exc:
            raise SignatureInvalid(
                f"signature does not verify against key {self.thumbprint()}"
            ) from exc


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key a node signs with; its public half goes to peers."""

    key: Ed25519PrivateKey

    def __repr__(self) -> str:
        # The private key must never show up in logs or tracebacks.
        return f"SigningKey(thumbprint={self.public().thumbprint()!r})"

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random key. Raises nothing."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        """Load an unencrypted PKCS#8 PEM Ed25519 private key.

        Raises:
            ConfigInvalid: not PEM, encrypted, or not an Ed25519 private key.
        """
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigInvalid(f"signing key is not an unencrypted PKCS#8 PEM: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigInvalid(
                f"signing key is {type(key).__name__}, expected an Ed25519 private key"
            )
        return cls(key)

    def to_pem(self) -> bytes:
        """The key as unencrypted PKCS#8 PEM; keep it out of logs. Raises nothing."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public(self) -> VerifyKey:
        """The public half, for peers to pin. Raises nothing."""
        return VerifyKey(self.key.public_key())

    def sign_raw(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature over exactly `data`. Raises nothing."""
        return self.key.sign(data)
