"""Tests for tisa.tls: real pinned mutual TLS over 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import pytest

from tisa.crypto.certs import make_tls_identity
from tisa.errors import ConfigInvalid
from tisa.tls import client_context, server_context, write_trust_bundle

NOW = datetime.now(UTC)
TIMEOUT = 10.0


@dataclass(frozen=True)
class Identity:
    cert_pem: bytes
    cert_file: Path
    key_file: Path


def _identity(directory: Path, party: str) -> Identity:
    key_pem, cert_pem = make_tls_identity(party, now=NOW)
    cert_file, key_file = directory / f"{party}.crt", directory / f"{party}.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    return Identity(cert_pem, cert_file, key_file)


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Identity]:
    directory = tmp_path_factory.mktemp("tls")
    return {party: _identity(directory, party) for party in ("server", "a", "b")}


@dataclass
class OneShotServer:
    """Serves one TLS connection on 127.0.0.1: echoes what it reads, prefixed."""

    context: ssl.SSLContext
    errors: list[BaseException] = field(default_factory=list)
    _listener: socket.socket = field(init=False)
    _thread: threading.Thread = field(init=False)

    @property
    def port(self) -> int:
        port: int = self._listener.getsockname()[1]
        return port

    def __enter__(self) -> OneShotServer:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TIMEOUT)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()
        self._listener.close()

    def finish(self) -> None:
        """Wait for the one connection to be served (or refused)."""
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()

    def _serve(self) -> None:
        # Everything is caught: an exception escaping a thread would fail the run as a
        # warning, and the test wants to see what the server saw.
        try:
            raw, _ = self._listener.accept()
            raw.settimeout(TIMEOUT)
            with self.context.wrap_socket(
                raw, server_side=True, do_handshake_on_connect=False
            ) as conn:
                conn.do_handshake()
                conn.sendall(b"echo:" + conn.recv(1024))
        except BaseException as exc:
            self.errors.append(exc)


def _exchange(context: ssl.SSLContext, port: int, hostname: str = "127.0.0.1") -> bytes:
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    with context.wrap_socket(raw, server_hostname=hostname, do_handshake_on_connect=False) as conn:
        conn.do_handshake()
        conn.sendall(b"hello")
        return conn.recv(1024)


@pytest.fixture
def server(identities: dict[str, Identity]) -> Iterator[OneShotServer]:
    srv = identities["server"]
    context = server_context(srv.cert_file, srv.key_file, [identities["a"].cert_pem])
    with OneShotServer(context) as running:
        yield running


def _client(identities: dict[str, Identity], who: str, pinned: str) -> ssl.SSLContext:
    me = identities[who]
    return client_context(me.cert_file, me.key_file, [identities[pinned].cert_pem])


def test_pinned_client_completes_handshake_and_exchanges_bytes(
    identities: dict[str, Identity], server: OneShotServer
) -> None:
    assert _exchange(_client(identities, "a", "server"), server.port) == b"echo:hello"
    assert server.errors == []


def test_hostname_by_dns_name_also_accepted(
    identities: dict[str, Identity], server: OneShotServer
) -> None:
    assert _exchange(_client(identities, "a", "server"), server.port, "localhost") == b"echo:hello"


def test_unpinned_client_is_refused(identities: dict[str, Identity], server: OneShotServer) -> None:
    # In TLS 1.3 the client finishes its side of the handshake before the server judges
    # its certificate, so the refusal may reach the client only at its first read.
    with pytest.raises(ssl.SSLError):
        _exchange(_client(identities, "b", "server"), server.port)
    server.finish()
    assert len(server.errors) == 1
    assert isinstance(server.errors[0], ssl.SSLCertVerificationError)


def test_client_pinning_another_cert_refuses_the_server(
    identities: dict[str, Identity], server: OneShotServer
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _exchange(_client(identities, "a", "b"), server.port)
    server.finish()
    assert len(server.errors) == 1
    assert isinstance(server.errors[0], ssl.SSLError)


def test_client_checks_hostname(identities: dict[str, Identity], server: OneShotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        _exchange(_client(identities, "a", "server"), server.port, "node.example")


def test_client_without_certificate_is_refused(
    identities: dict[str, Identity], server: OneShotServer
) -> None:
    anonymous = ssl.create_default_context(cadata=identities["server"].cert_pem.decode())
    with pytest.raises(ssl.SSLError):
        _exchange(anonymous, server.port)


def test_tls12_client_is_refused(identities: dict[str, Identity], server: OneShotServer) -> None:
    old = _client(identities, "a", "server")
    old.minimum_version = ssl.TLSVersion.TLSv1_2
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        _exchange(old, server.port)


def test_context_settings(identities: dict[str, Identity]) -> None:
    srv, a = identities["server"], identities["a"]
    for context in (
        server_context(srv.cert_file, srv.key_file, [a.cert_pem]),
        client_context(a.cert_file, a.key_file, [srv.cert_pem]),
    ):
        assert context.minimum_version is ssl.TLSVersion.TLSv1_3
        assert context.verify_mode is ssl.CERT_REQUIRED
        # Only the pinned certificate: no system trust store.
        assert len(context.get_ca_certs()) == 1
    assert client_context(a.cert_file, a.key_file, [srv.cert_pem]).check_hostname


def test_bad_configuration_is_config_invalid(
    identities: dict[str, Identity], tmp_path: Path
) -> None:
    srv = identities["server"]
    with pytest.raises(ConfigInvalid, match="no peer"):
        server_context(srv.cert_file, srv.key_file, [])
    with pytest.raises(ConfigInvalid, match="trusted peer"):
        client_context(srv.cert_file, srv.key_file, [b"garbage"])
    with pytest.raises(ConfigInvalid, match="identity"):
        server_context(tmp_path / "missing.crt", srv.key_file, [srv.cert_pem])
    with pytest.raises(ConfigInvalid, match="identity"):
        server_context(srv.cert_file, identities["a"].key_file, [srv.cert_pem])


def test_write_trust_bundle(identities: dict[str, Identity], tmp_path: Path) -> None:
    bundle = tmp_path / "peers.pem"
    write_trust_bundle(bundle, [identities["a"].cert_pem, identities["b"].cert_pem])
    assert bundle.read_text().count("BEGIN CERTIFICATE") == 2
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_verify_locations(cafile=bundle)
    assert len(context.get_ca_certs()) == 2
    with pytest.raises(ConfigInvalid):
        write_trust_bundle(tmp_path / "empty.pem", [])
