"""TLS contexts for pinned mutual TLS between nodes, and for the analyst API (an edge module:
it reads files).

Pinning is exact. Each side loads the peer certificates it was given as its only trust anchors
(the system trust store is never consulted) and lets OpenSSL verify; then, as the last step of
the handshake and before the application reads a byte, the certificate the peer presented must
be one of them, byte for byte (SHA-256 over DER). A certificate that merely chains to a pinned
one (minted with the key of a node whose certificate is still a CA) is refused.

The check sits in the context's `ssl.SSLContext.sslobject_class` (asyncio's TLS transport, so
uvicorn, and anyio, so ``httpx.AsyncClient``) and `ssl.SSLContext.sslsocket_class` (blocking
sockets, so ``httpx.Client``). Every refused handshake, whether OpenSSL or the pin check
refused it, is logged on the ``tisa.crypto.tls`` logger (one WARNING line: port, peer, reason) and
reported to the context's `OnRefused` callback, which the node counts.

Federation (server and client) speaks TLS 1.3 only; the analyst API speaks TLS 1.2 or 1.3, and
on 1.2 only ECDHE key exchange with AEAD ciphers. The client to a TAK server (`tak_context`) is
not pinned: a TAK server's certificate is issued by its own CA, which the node is given.
"""

from __future__ import annotations

import asyncio.sslproto
import hashlib
import logging
import ssl
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tisa.errors import ConfigInvalid

_log = logging.getLogger("tisa.crypto.tls")

# TLS 1.2 suites the API accepts: forward secret and AEAD (no CBC, no RSA key exchange).
# TLS 1.3 suites are all AEAD and are not set by this string.
API_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"

# OpenSSL's X509_V_ERR_APPLICATION_VERIFICATION: "application verification failure".
_APPLICATION_VERIFICATION = 50


class Port(StrEnum):
    """Which TLS endpoint of a node refused a handshake."""

    FEDERATION = "federation"
    API = "api"
    CLIENT = "client"
    TAK = "tak"


class Refusal(StrEnum):
    """Why a handshake was refused."""

    UNPINNED = "unpinned"
    """The certificate verified (it chains to a pinned one) but is not itself pinned."""
    UNTRUSTED = "untrusted"
    """OpenSSL's verification failed: unknown issuer, not a CA, expired, wrong host name…"""
    ALERT = "alert"
    """The peer sent a TLS alert: it refused us."""
    PROTOCOL = "protocol"
    """Anything else: version, no shared cipher, no certificate, a broken handshake."""


OnRefused = Callable[[Port, Refusal], None]
"""Told of every refused handshake (after it is logged), e.g. to count it."""


class UnpinnedCertificate(ssl.SSLCertVerificationError):
    """The peer's certificate is not one of the pinned certificates.

    An `ssl.SSLError` on purpose: asyncio, anyio and the blocking socket then fail the
    handshake as they would for any certificate OpenSSL refused.
    """

    def __init__(self, message: str) -> None:
        super().__init__(1, message)
        self.verify_code = _APPLICATION_VERIFICATION
        self.verify_message = message


@dataclass(frozen=True)
class _Guard:
    """What one context checks after each handshake, and whom it tells of a refusal."""

    port: Port
    # SHA-256 digests of the pinned certificates' DER; None: no peer certificate is asked for.
    pins: frozenset[bytes] | None
    on_refused: OnRefused

    def check(self, peer_der: bytes | None) -> None:
        """Require the peer's certificate to be pinned (when this context pins).

        Raises:
            UnpinnedCertificate: the peer presented no certificate or an unpinned one.
        """
        if self.pins is None:
            return
        if peer_der is None:
            raise UnpinnedCertificate("the peer presented no certificate")
        digest = hashlib.sha256(peer_der).digest()
        if digest not in self.pins:
            raise UnpinnedCertificate(f"certificate sha256:{digest.hex()} is not pinned")

    def refused(self, exc: ssl.SSLError, peer: str | None) -> None:
        """Log and report one refused handshake."""
        reason = _refusal(exc)
        _log.warning(
            "TLS handshake refused: port=%s peer=%s reason=%s: %s",
            self.port.value,
            peer or "unknown",
            reason.value,
            _describe(exc),
        )
        self.on_refused(self.port, reason)


def _refusal(exc: ssl.SSLError) -> Refusal:
    if isinstance(exc, UnpinnedCertificate):
        return Refusal.UNPINNED
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Refusal.UNTRUSTED
    if "ALERT" in str(getattr(exc, "reason", None) or ""):
        return Refusal.ALERT
    return Refusal.PROTOCOL


def _describe(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and getattr(exc, "verify_message", None):
        return str(exc.verify_message)
    return " ".join(str(exc).split())  # one log line, whatever the message holds


def _address(peername: Any) -> str | None:
    if isinstance(peername, tuple) and len(peername) >= 2:
        host, port = peername[0], peername[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return None


def _asyncio_peer(caller: FrameType | None) -> str | None:
    # asyncio gives the SSL object memory buffers, never the socket; the SSL protocol that
    # drives the handshake holds the transport, which knows the address an operator needs.
    owner = caller.f_locals.get("self") if caller is not None else None
    if isinstance(owner, asyncio.sslproto.SSLProtocol) and owner._transport is not None:
        return _address(owner._transport.get_extra_info("peername"))
    return None


class _GuardedObject(ssl.SSLObject):
    """An SSL object (memory BIOs: asyncio, anyio) that checks the pin as its handshake ends."""

    guard: ClassVar[_Guard]

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
            self.guard.check(self.getpeercert(binary_form=True))
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # the handshake goes on when more bytes arrive
        except ssl.SSLError as exc:
            peer = self.server_hostname or _asyncio_peer(sys._getframe(1))
            self.guard.refused(exc, peer)
            raise


class _GuardedSocket(ssl.SSLSocket):
    """A TLS socket (blocking I/O) that checks the pin as its handshake ends."""

    guard: ClassVar[_Guard]

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
            self.guard.check(self.getpeercert(binary_form=True))
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # a non-blocking socket: the caller retries when it is ready
        except ssl.SSLError as exc:
            try:
                peer = _address(self.getpeername())
            except OSError:
                peer = self.server_hostname
            self.guard.refused(exc, peer)
            raise


def _guard(context: ssl.SSLContext, guard: _Guard) -> None:
    """Make every TLS connection `context` opens check and report through `guard`."""

    # A class per context, so the guard travels with the context and nothing else changes.
    class GuardedObject(_GuardedObject):
        pass

    class GuardedSocket(_GuardedSocket):
        pass

    GuardedObject.guard = guard
    GuardedSocket.guard = guard
    context.sslobject_class = GuardedObject
    context.sslsocket_class = GuardedSocket


def _cadata(trusted_peer_certs: Sequence[bytes]) -> str:
    if not trusted_peer_certs:
        # An empty trust store would refuse everyone; say so now rather than at handshake.
        raise ConfigInvalid("no peer certificates to trust")
    try:
        return "\n".join(pem.decode("ascii").strip() for pem in trusted_peer_certs) + "\n"
    except UnicodeDecodeError as exc:
        raise ConfigInvalid("a trusted peer certificate is not ASCII PEM") from exc


def _pins(trusted_peer_certs: Sequence[bytes]) -> frozenset[bytes]:
    """SHA-256 digests of the DER of every certificate given (each PEM may hold several)."""
    try:
        certs = [c for pem in trusted_peer_certs for c in x509.load_pem_x509_certificates(pem)]
    except ValueError as exc:
        raise ConfigInvalid(f"cannot load trusted peer certificates: {exc}") from exc
    return frozenset(hashlib.sha256(c.public_bytes(Encoding.DER)).digest() for c in certs)


def _load_identity(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    try:
        context.load_cert_chain(certfile=cert_file, keyfile=key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigInvalid(f"cannot load TLS identity {cert_file} / {key_file}: {exc}") from exc


def _pinned_context(
    port: Port,
    cert_file: Path,
    key_file: Path,
    trusted_peer_certs: Sequence[bytes],
    on_refused: OnRefused,
) -> ssl.SSLContext:
    server = port is not Port.CLIENT
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    # Strict RFC 5280 checks (Python 3.13's default) so a cert that works here works there.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    cadata = _cadata(trusted_peer_certs)
    _load_identity(context, cert_file, key_file)
    try:
        context.load_verify_locations(cadata=cadata)
    except ssl.SSLError as exc:
        raise ConfigInvalid(f"cannot load trusted peer certificates: {exc}") from exc
    _guard(context, _Guard(port, _pins(trusted_peer_certs), on_refused))
    return context


def server_context(
    cert_file: Path,
    key_file: Path,
    trusted_peer_certs: Sequence[bytes],
    *,
    on_refused: OnRefused,
) -> ssl.SSLContext:
    """The federation server's context: TLS 1.3, presents our certificate, requires a client
    certificate that is exactly one of `trusted_peer_certs`. Refusals go to `on_refused`
    (as `Port.FEDERATION`).

    Raises:
        ConfigInvalid: no trusted peer certificates, or a file or PEM cannot be loaded.
    """
    return _pinned_context(Port.FEDERATION, cert_file, key_file, trusted_peer_certs, on_refused)


def client_context(
    cert_file: Path,
    key_file: Path,
    trusted_peer_certs: Sequence[bytes],
    *,
    on_refused: OnRefused,
) -> ssl.SSLContext:
    """A client context: TLS 1.3, presents our certificate, requires a server certificate
    that is exactly one of `trusted_peer_certs` and names the host dialled (its SAN).
    Refusals go to `on_refused` (as `Port.CLIENT`).

    Raises:
        ConfigInvalid: no trusted peer certificates, or a file or PEM cannot be loaded.
    """
    context = _pinned_context(Port.CLIENT, cert_file, key_file, trusted_peer_certs, on_refused)
    context.check_hostname = True
    return context


def write_trust_bundle(path: Path, certs: Sequence[bytes]) -> None:
    """Write `certs` as one concatenated PEM file (uvicorn's ``ssl_ca_certs``).

    Raises:
        ConfigInvalid: `certs` is empty or not ASCII PEM.
        OSError: the file cannot be written.
    """
    path.write_text(_cadata(certs), encoding="ascii")


def api_context(cert_file: Path, key_file: Path, *, on_refused: OnRefused) -> ssl.SSLContext:
    """The analyst API's server context: TLS 1.2+ with AEAD suites only, no client
    certificate (users sign in). Refusals go to `on_refused` (as `Port.API`).

    Raises:
        ConfigInvalid: the node's key or certificate cannot be loaded.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(API_TLS12_CIPHERS)
    _load_identity(context, cert_file, key_file)
    _guard(context, _Guard(Port.API, None, on_refused))
    return context


def tak_context(
    cert_file: Path, key_file: Path, ca_file: Path, *, on_refused: OnRefused
) -> ssl.SSLContext:
    """A client context to a TAK server: presents `cert_file`/`key_file`, and requires a server
    certificate that chains to `ca_file` (the TAK server's CA, and nothing from the system
    store) and names the host dialled. TLS 1.2 or 1.3 (TAK servers speak 1.2), on 1.2 only
    ECDHE with AEAD ciphers. Refusals go to `on_refused` (as `Port.TAK`).

    Raises:
        ConfigInvalid: a file cannot be read, or holds no usable key, certificate or CA.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(API_TLS12_CIPHERS)
    _load_identity(context, cert_file, key_file)
    try:
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigInvalid(f"cannot load the TAK server's CA {ca_file}: {exc}") from exc
    _guard(context, _Guard(Port.TAK, None, on_refused))
    return context
