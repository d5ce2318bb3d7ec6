"""Self-signed TLS identities for nodes, pinned peer to peer.

Each node's certificate is a self-signed leaf: CA:FALSE and no keyCertSign, so it can sign
nothing but handshakes. A peer loads it as its only trust anchor (OpenSSL accepts a self-signed
leaf there) and then requires the exact certificate (see `tisa.crypto.tls`). Nodes made before leaf
certificates had a CA limited to itself; `is_ca` finds them, `tisa init --rotate-tls` replaces
them.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tisa.errors import ConfigInvalid

# Peers' clocks drift; a certificate made a moment ago must not be "not yet valid" next door.
_BACKDATE = timedelta(minutes=5)


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        if not host or not host.isascii() or any(c.isspace() for c in host):
            raise ConfigInvalid(f"TLS host {host!r} is neither an IP address nor an ASCII DNS name")
        names.append(x509.DNSName(host))
    if not names:
        raise ConfigInvalid("a TLS identity needs at least one host name or IP address")
    return x509.SubjectAlternativeName(names)


def make_tls_identity(
    party: str,
    hosts: Sequence[str] = ("localhost", "127.0.0.1"),
    *,
    now: datetime,
    days: int = 825,
) -> tuple[bytes, bytes]:
    """Make a node's TLS key and self-signed certificate.

    Returns ``(key_pem, cert_pem)``: an ECDSA P-256 key as unencrypted PKCS#8 PEM and a
    certificate with CN "tisa node <party>", O <party>, the `hosts` as SAN DNS names or IP
    addresses, valid from shortly before `now` for `days` days. It is a leaf (CA:FALSE, key
    usage digitalSignature only) for TLS servers and clients, for pinned mutual TLS.

    Raises:
        ConfigInvalid: `party` is empty, `hosts` is empty or holds something that is neither
            an IP address nor an ASCII DNS name, `days` is not positive, or `now` is naive.
    """
    if not party:
        raise ConfigInvalid("a TLS identity needs a party")
    if days <= 0:
        raise ConfigInvalid(f"certificate lifetime must be positive, got {days} days")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ConfigInvalid("now must be timezone-aware")
    san = _san(hosts)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"tisa node {party}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, party),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(san, critical=False)
        # A leaf: were it a CA, whoever holds this key could mint certificates that chain to it.
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        # OpenSSL's strict checks (VERIFY_X509_STRICT, default in Python 3.13) want key
        # identifiers on a certificate that is its own trust anchor.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def load_cert(cert_pem: bytes) -> x509.Certificate:
    """Parse the first certificate in `cert_pem`.

    Raises:
        ConfigInvalid: `cert_pem` holds no parseable PEM certificate.
    """
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as exc:
        raise ConfigInvalid(f"not a PEM certificate: {exc}") from exc


def fingerprint(cert_pem: bytes) -> str:
    """The certificate's ``"sha256:<lowercase hex>"`` fingerprint over its DER encoding.

    Raises:
        ConfigInvalid: `cert_pem` holds no parseable PEM certificate.
    """
    der = load_cert(cert_pem).public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def is_ca(cert_pem: bytes) -> bool:
    """Whether the certificate may sign others (BasicConstraints CA:TRUE or keyCertSign),
    as node certificates made before leaf-only identities were.

    Raises:
        ConfigInvalid: `cert_pem` holds no parseable PEM certificate.
    """
    cert = load_cert(cert_pem)
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ca = basic.ca
    except x509.ExtensionNotFound:
        ca = False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        signs_certs = usage.key_cert_sign
    except x509.ExtensionNotFound:
        signs_certs = False
    return ca or signs_certs
