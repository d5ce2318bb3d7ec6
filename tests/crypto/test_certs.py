"""Tests for tisa.crypto.certs (the handshake itself is tested in tests/test_tls.py)."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from harness.factories import legacy_tls_identity

from tisa.crypto.certs import fingerprint, is_ca, load_cert, make_tls_identity
from tisa.errors import ConfigInvalid

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_identity_fields() -> None:
    key_pem, cert_pem = make_tls_identity("GBR", ("node.example", "localhost", "::1"), now=NOW)
    cert = load_cert(cert_pem)

    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "tisa node GBR"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "GBR"
    assert cert.not_valid_before_utc <= NOW
    assert cert.not_valid_after_utc == NOW + timedelta(days=825)

    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["node.example", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("::1")]

    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca is False
    assert basic.value.path_length is None
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}

    key = serialization.load_pem_private_key(key_pem, password=None)
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert key.public_key() == cert.public_key()


def test_identity_is_a_leaf_that_signs_no_certificate() -> None:
    # Were it a CA, whoever holds the node's TLS key could mint certificates chaining to it.
    _, cert_pem = make_tls_identity("KOR", now=NOW)
    usage = load_cert(cert_pem).extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    assert not usage.value.crl_sign
    assert not usage.value.key_encipherment
    assert not is_ca(cert_pem)


def test_is_ca_finds_certificates_made_before_leaf_identities() -> None:
    _, legacy = legacy_tls_identity("KOR")
    assert is_ca(legacy)
    with pytest.raises(ConfigInvalid):
        is_ca(b"garbage")


def test_default_hosts_and_lifetime() -> None:
    _, cert_pem = make_tls_identity("USA", now=NOW, days=30)
    cert = load_cert(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert cert.not_valid_after_utc == NOW + timedelta(days=30)


def test_each_identity_is_fresh() -> None:
    first = make_tls_identity("AUS", now=NOW)
    second = make_tls_identity("AUS", now=NOW)
    assert first[0] != second[0]
    assert fingerprint(first[1]) != fingerprint(second[1])


def test_fingerprint_is_sha256_of_der() -> None:
    _, cert_pem = make_tls_identity("CAN", now=NOW)
    der = load_cert(cert_pem).public_bytes(serialization.Encoding.DER)
    assert fingerprint(cert_pem) == "sha256:" + hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_garbage_is_config_invalid(garbage: bytes) -> None:
    with pytest.raises(ConfigInvalid, match="not a PEM certificate"):
        load_cert(garbage)
    with pytest.raises(ConfigInvalid):
        fingerprint(garbage)


@pytest.mark.parametrize(
    ("party", "hosts", "now", "days", "words"),
    [
        ("", ("localhost",), NOW, 1, "party"),
        ("NZL", (), NOW, 1, "at least one"),
        ("NZL", ("bad host",), NOW, 1, "neither"),
        ("NZL", ("ホスト",), NOW, 1, "neither"),
        ("NZL", ("localhost",), NOW, 0, "positive"),
        ("NZL", ("localhost",), NOW.replace(tzinfo=None), 1, "timezone-aware"),
    ],
)
def test_bad_arguments_are_config_invalid(
    party: str, hosts: tuple[str, ...], now: datetime, days: int, words: str
) -> None:
    with pytest.raises(ConfigInvalid, match=words):
        make_tls_identity(party, hosts, now=now, days=days)
