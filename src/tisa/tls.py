"""TLS contexts for pinned mutual TLS between nodes (an edge module: it reads files).

Each side trusts only the exact peer certificates it was given, loaded as its only CAs;
the system trust store is never consulted.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from tisa.errors import ConfigInvalid


def _cadata(trusted_peer_certs: Sequence[bytes]) -> str:
    if not trusted_peer_certs:
        # An empty trust store would refuse everyone; say so now rather than at handshake.
        raise ConfigInvalid("no peer certificates to trust")
    try:
        return "\n".join(pem.decode("ascii").strip() for pem in trusted_peer_certs) + "\n"
    except UnicodeDecodeError as exc:
        raise ConfigInvalid("a trusted peer certificate is not ASCII PEM") from exc


def _context(
    purpose: ssl.Purpose,
    cert_file: Path,
    key_file: Path,
    trusted_peer_certs: Sequence[bytes],
) -> ssl.SSLContext:
    protocol = (
        ssl.PROTOCOL_TLS_SERVER if purpose is ssl.Purpose.CLIENT_AUTH else ssl.PROTOCOL_TLS_CLIENT
    )
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    # Strict RFC 5280 checks (Python 3.13's default) so a cert that works here works there.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    cadata = _cadata(trusted_peer_certs)
    try:
        context.load_cert_chain(certfile=cert_file, keyfile=key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigInvalid(f"cannot load TLS identity {cert_file} / {key_file}: {exc}") from exc
    try:
        context.load_verify_locations(cadata=cadata)
    except ssl.SSLError as exc:
        raise ConfigInvalid(f"cannot load trusted peer certificates: {exc}") from exc
    return context


def server_context(
    cert_file: Path, key_file: Path, trusted_peer_certs: Sequence[bytes]
) -> ssl.SSLContext:
    """A server context: TLS 1.3+, presents our cert, requires a client cert we pinned.

    Raises:
        ConfigInvalid: no trusted peer certificates, or a file or PEM cannot be loaded.
    """
    return _context(ssl.Purpose.CLIENT_AUTH, cert_file, key_file, trusted_peer_certs)


def client_context(
    cert_file: Path, key_file: Path, trusted_peer_certs: Sequence[bytes]
) -> ssl.SSLContext:
    """A client context: TLS 1.3+, presents our cert, trusts only the pinned server cert(s).

    Host names are checked against the server certificate's SAN.

    Raises:
        ConfigInvalid: no trusted peer certificates, or a file or PEM cannot be loaded.
    """
    context = _context(ssl.Purpose.SERVER_AUTH, cert_file, key_file, trusted_peer_certs)
    context.check_hostname = True
    return context


def write_trust_bundle(path: Path, certs: Sequence[bytes]) -> None:
    """Write `certs` as one concatenated PEM file (uvicorn's ``ssl_ca_certs``).

    Raises:
        ConfigInvalid: `certs` is empty or not ASCII PEM.
        OSError: the file cannot be written.
    """
    path.write_text(_cadata(certs), encoding="ascii")


def api_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """The analyst API's server context: TLS 1.2+, no client certificate (users sign in).

    Raises:
        ConfigInvalid: the node's key or certificate cannot be loaded.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=cert_file, keyfile=key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigInvalid(f"cannot load TLS identity {cert_file} / {key_file}: {exc}") from exc
    return context
