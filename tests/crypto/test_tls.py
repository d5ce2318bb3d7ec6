"""Tests for tisa.crypto.tls: real pinned mutual TLS over 127.0.0.1.

Servers come in the two kinds a node's code meets: a blocking socket (`OneShotServer`, through
`SSLContext.sslsocket_class`) and an asyncio server, as uvicorn runs (`AsyncioServer`, through
`SSLContext.sslobject_class`). Clients are blocking sockets, asyncio streams and
``httpx.AsyncClient`` (anyio), the three ways nodes dial.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol

import httpx
import pytest
from harness.factories import legacy_tls_identity, minted_tls_identity

from tisa.crypto.certs import fingerprint, make_tls_identity
from tisa.crypto.tls import (
    Port,
    Refusal,
    UnpinnedCertificate,
    api_context,
    client_context,
    server_context,
    write_trust_bundle,
)
from tisa.errors import ConfigInvalid

NOW = datetime.now(UTC)
TIMEOUT = 10.0


@dataclass(frozen=True)
class Identity:
    key_pem: bytes
    cert_pem: bytes
    cert_file: Path
    key_file: Path


def _write(directory: Path, name: str, key_pem: bytes, cert_pem: bytes) -> Identity:
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    return Identity(key_pem, cert_pem, cert_file, key_file)


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Identity]:
    """Nodes as tisa makes them now ("server", "a", "b"), as it made them before leaf-only
    identities ("legacy-server", "legacy-a"), and certificates minted with each one's key
    ("minted-by-<name>", for another party's name and a fresh key)."""
    directory = tmp_path_factory.mktemp("tls")
    made = {
        party: _write(directory, party, *make_tls_identity(party, now=NOW))
        for party in ("server", "a", "b")
    }
    for party in ("server", "a"):
        made[f"legacy-{party}"] = _write(directory, f"legacy-{party}", *legacy_tls_identity(party))
    for issuer in ("server", "a", "legacy-server", "legacy-a"):
        minted = minted_tls_identity(made[issuer].key_pem, made[issuer].cert_pem, "b")
        made[f"minted-by-{issuer}"] = _write(directory, f"minted-by-{issuer}", *minted)
    return made


class Refusals:
    """An `OnRefused` that remembers what it was told, from any thread."""

    def __init__(self) -> None:
        self.seen: list[tuple[Port, Refusal]] = []
        self._changed = threading.Condition()

    def __call__(self, port: Port, reason: Refusal) -> None:
        with self._changed:
            self.seen.append((port, reason))
            self._changed.notify_all()

    def wait(self, count: int = 1) -> list[tuple[Port, Refusal]]:
        """What was seen, once at least `count` refusals were (a server may still be busy)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.seen) >= count, TIMEOUT)
            return list(self.seen)


# -- servers ----------------------------------------------------------------------------------


class Server(Protocol):
    @property
    def port(self) -> int: ...

    def finish(self) -> None: ...


@dataclass
class OneShotServer:
    """Serves one TLS connection on 127.0.0.1 from a blocking socket: echoes what it reads,
    prefixed."""

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


@dataclass
class AsyncioServer:
    """Serves TLS connections on 127.0.0.1 from an asyncio loop in a thread, as uvicorn does:
    echoes what it reads, prefixed."""

    context: ssl.SSLContext
    port: int = 0
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread = field(init=False)
    _loop: asyncio.AbstractEventLoop = field(init=False)
    _stop: asyncio.Event = field(init=False)

    def __enter__(self) -> AsyncioServer:
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(TIMEOUT)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()

    def finish(self) -> None:
        """Nothing to wait for: a refusal is reported before the connection closes."""

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._echo, "127.0.0.1", 0, ssl=self.context)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    @staticmethod
    async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"echo:" + await reader.read(1024))
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


Serve = Callable[[ssl.SSLContext], Server]


@pytest.fixture(params=["blocking", "asyncio"])
def serve(request: pytest.FixtureRequest) -> Iterator[Serve]:
    """Start a server of each kind with the context given; stopped at the end."""
    with contextlib.ExitStack() as stack:

        def start(context: ssl.SSLContext) -> Server:
            kind = OneShotServer if request.param == "blocking" else AsyncioServer
            return stack.enter_context(kind(context))

        yield start


# -- clients ----------------------------------------------------------------------------------


def _exchange(context: ssl.SSLContext, port: int, hostname: str = "127.0.0.1") -> bytes:
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    with context.wrap_socket(raw, server_hostname=hostname, do_handshake_on_connect=False) as conn:
        conn.do_handshake()
        conn.sendall(b"hello")
        return conn.recv(1024)


def _refused_by_server(context: ssl.SSLContext, port: int) -> None:
    """Dial and fail: in TLS 1.3 the client finishes its side before the server judges its
    certificate, so the refusal reaches the client at its first read, as an alert, a reset
    or a plain end of stream, and never as the server's answer."""
    try:
        answer = _exchange(context, port)
    except OSError:  # SSLError is one
        return
    assert answer == b""


async def _exchange_asyncio(context: ssl.SSLContext, port: int) -> bytes:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
    )
    try:
        writer.write(b"hello")
        return await reader.read(1024)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _get_httpx(context: ssl.SSLContext, port: int) -> None:
    async with httpx.AsyncClient(verify=context, timeout=TIMEOUT) as http:
        await http.get(f"https://127.0.0.1:{port}/")


def _server(
    identities: dict[str, Identity], me: str, pins: str, refusals: Refusals
) -> ssl.SSLContext:
    srv = identities[me]
    return server_context(
        srv.cert_file, srv.key_file, [identities[pins].cert_pem], on_refused=refusals
    )


def _client(
    identities: dict[str, Identity], who: str, pinned: str, refusals: Refusals | None = None
) -> ssl.SSLContext:
    me = identities[who]
    return client_context(
        me.cert_file, me.key_file, [identities[pinned].cert_pem], on_refused=refusals or Refusals()
    )


@pytest.fixture
def server(identities: dict[str, Identity]) -> Iterator[OneShotServer]:
    """A blocking server as "server", pinning "a"."""
    with OneShotServer(_server(identities, "server", "a", Refusals())) as running:
        yield running


# -- the pinned handshake ---------------------------------------------------------------------


def test_pinned_client_completes_handshake_and_exchanges_bytes(
    identities: dict[str, Identity], serve: Serve
) -> None:
    refusals = Refusals()
    running = serve(_server(identities, "server", "a", refusals))
    assert _exchange(_client(identities, "a", "server", refusals), running.port) == b"echo:hello"
    running.finish()
    assert refusals.seen == []


def test_nodes_with_ca_certificates_keep_working(
    identities: dict[str, Identity], serve: Serve
) -> None:
    # Nodes set up before leaf-only identities keep their CA certificates until they rotate.
    refusals = Refusals()
    running = serve(_server(identities, "legacy-server", "legacy-a", refusals))
    client = _client(identities, "legacy-a", "legacy-server", refusals)
    assert _exchange(client, running.port) == b"echo:hello"
    running.finish()
    assert refusals.seen == []


def test_hostname_by_dns_name_also_accepted(
    identities: dict[str, Identity], server: OneShotServer
) -> None:
    assert _exchange(_client(identities, "a", "server"), server.port, "localhost") == b"echo:hello"


# -- what the server refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pinned", "reason"),
    [
        # A CA certificate (as older nodes have): OpenSSL accepts the chain, the pin does not.
        ("legacy-a", Refusal.UNPINNED),
        # A leaf: OpenSSL itself refuses to treat it as an issuer.
        ("a", Refusal.UNTRUSTED),
    ],
)
def test_server_refuses_a_client_certificate_minted_with_a_pinned_key(
    identities: dict[str, Identity], serve: Serve, pinned: str, reason: Refusal
) -> None:
    refusals = Refusals()
    running = serve(_server(identities, "server", pinned, refusals))
    _refused_by_server(_client(identities, f"minted-by-{pinned}", "server"), running.port)
    assert refusals.wait() == [(Port.FEDERATION, reason)]
    running.finish()
    if isinstance(running, OneShotServer):
        assert len(running.errors) == 1
        assert isinstance(running.errors[0], ssl.SSLCertVerificationError)
        assert isinstance(running.errors[0], UnpinnedCertificate) == (reason is Refusal.UNPINNED)


def test_unpinned_client_is_refused_and_counted(
    identities: dict[str, Identity], serve: Serve
) -> None:
    refusals = Refusals()
    running = serve(_server(identities, "server", "a", refusals))
    _refused_by_server(_client(identities, "b", "server"), running.port)
    assert refusals.wait() == [(Port.FEDERATION, Refusal.UNTRUSTED)]
    running.finish()
    if isinstance(running, OneShotServer):
        assert len(running.errors) == 1
        assert isinstance(running.errors[0], ssl.SSLCertVerificationError)


def test_a_refusal_is_one_warning_naming_the_peer_and_the_reason(
    identities: dict[str, Identity], serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    refusals = Refusals()
    running = serve(_server(identities, "server", "legacy-a", refusals))
    minted = identities["minted-by-legacy-a"]
    raw = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
    client_port = raw.getsockname()[1]
    context = _client(identities, "minted-by-legacy-a", "server")
    with caplog.at_level(logging.WARNING, logger="tisa.crypto.tls"):
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            conn.sendall(b"hello")
            with contextlib.suppress(OSError):  # an alert, a reset or the end of stream
                assert conn.recv(1024) == b""
        refusals.wait()
        running.finish()
    lines = [r for r in caplog.records if r.name == "tisa.crypto.tls"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    message = lines[0].getMessage()
    assert "\n" not in message
    assert f"port=federation peer=127.0.0.1:{client_port} reason=unpinned" in message
    assert fingerprint(minted.cert_pem) in message


def test_client_without_certificate_is_refused_and_counted(
    identities: dict[str, Identity], serve: Serve
) -> None:
    refusals = Refusals()
    running = serve(_server(identities, "server", "a", refusals))
    anonymous = ssl.create_default_context(cadata=identities["server"].cert_pem.decode())
    _refused_by_server(anonymous, running.port)
    assert refusals.wait() == [(Port.FEDERATION, Refusal.PROTOCOL)]


def test_tls12_client_is_refused(identities: dict[str, Identity], server: OneShotServer) -> None:
    old = _client(identities, "a", "server")
    old.minimum_version = ssl.TLSVersion.TLSv1_2
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        _exchange(old, server.port)


# -- what the client refuses ------------------------------------------------------------------


def _client_refuses(dial: str, context: ssl.SSLContext, port: int) -> None:
    if dial == "blocking":
        with pytest.raises(ssl.SSLCertVerificationError):
            _exchange(context, port)
    elif dial == "asyncio":
        with pytest.raises(ssl.SSLCertVerificationError):
            asyncio.run(_exchange_asyncio(context, port))
    else:
        with pytest.raises(httpx.ConnectError):
            asyncio.run(_get_httpx(context, port))


@pytest.mark.parametrize("dial", ["blocking", "asyncio", "httpx"])
@pytest.mark.parametrize(
    ("pinned", "reason"), [("legacy-server", Refusal.UNPINNED), ("server", Refusal.UNTRUSTED)]
)
def test_client_refuses_a_server_certificate_minted_with_the_pinned_key(
    identities: dict[str, Identity], dial: str, pinned: str, reason: Refusal
) -> None:
    refusals = Refusals()
    impostor = identities[f"minted-by-{pinned}"]
    context = server_context(
        impostor.cert_file, impostor.key_file, [identities["a"].cert_pem], on_refused=Refusals()
    )
    with OneShotServer(context) as running:
        _client_refuses(dial, _client(identities, "a", pinned, refusals), running.port)
    assert refusals.seen == [(Port.CLIENT, reason)]


def test_client_pinning_another_cert_refuses_the_server(
    identities: dict[str, Identity], server: OneShotServer
) -> None:
    refusals = Refusals()
    with pytest.raises(ssl.SSLCertVerificationError):
        _exchange(_client(identities, "a", "b", refusals), server.port)
    server.finish()
    assert len(server.errors) == 1
    assert isinstance(server.errors[0], ssl.SSLError)
    assert refusals.seen == [(Port.CLIENT, Refusal.UNTRUSTED)]


def test_client_checks_hostname(identities: dict[str, Identity], server: OneShotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        _exchange(_client(identities, "a", "server"), server.port, "node.example")


# -- the analyst API --------------------------------------------------------------------------


def _api(identities: dict[str, Identity], refusals: Refusals) -> ssl.SSLContext:
    srv = identities["server"]
    return api_context(srv.cert_file, srv.key_file, on_refused=refusals)


def _browser(identities: dict[str, Identity], version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=identities["server"].cert_pem.decode())
    context.minimum_version = context.maximum_version = version
    return context


def test_api_refuses_cbc_suites_on_tls12(identities: dict[str, Identity], serve: Serve) -> None:
    refusals = Refusals()
    running = serve(_api(identities, refusals))
    cbc = _browser(identities, ssl.TLSVersion.TLSv1_2)
    cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA")
    with pytest.raises(ssl.SSLError):
        _exchange(cbc, running.port)
    assert refusals.wait() == [(Port.API, Refusal.PROTOCOL)]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_api_speaks_aead_on_tls12_and_tls13(
    identities: dict[str, Identity], serve: Serve, version: ssl.TLSVersion
) -> None:
    refusals = Refusals()
    running = serve(_api(identities, refusals))
    assert _exchange(_browser(identities, version), running.port) == b"echo:hello"
    running.finish()
    assert refusals.seen == []


def test_api_offers_only_aead_suites(identities: dict[str, Identity]) -> None:
    context = _api(identities, Refusals())
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_NONE
    suites = context.get_ciphers()
    assert {s["protocol"] for s in suites} == {"TLSv1.2", "TLSv1.3"}
    assert all(s["aead"] for s in suites)
    assert all(s["kea"] == "kx-ecdhe" for s in suites if s["protocol"] == "TLSv1.2")


# -- configuration ----------------------------------------------------------------------------


def test_context_settings(identities: dict[str, Identity]) -> None:
    srv, a = identities["server"], identities["a"]
    for context in (
        server_context(srv.cert_file, srv.key_file, [a.cert_pem], on_refused=Refusals()),
        client_context(a.cert_file, a.key_file, [srv.cert_pem], on_refused=Refusals()),
    ):
        assert context.minimum_version is ssl.TLSVersion.TLSv1_3
        assert context.verify_mode is ssl.CERT_REQUIRED
        # Only the pinned certificate: no system trust store.
        assert context.cert_store_stats()["x509"] == 1
    assert client_context(
        a.cert_file, a.key_file, [srv.cert_pem], on_refused=Refusals()
    ).check_hostname


def test_bad_configuration_is_config_invalid(
    identities: dict[str, Identity], tmp_path: Path
) -> None:
    srv = identities["server"]
    refusals = Refusals()
    with pytest.raises(ConfigInvalid, match="no peer"):
        server_context(srv.cert_file, srv.key_file, [], on_refused=refusals)
    with pytest.raises(ConfigInvalid, match="trusted peer"):
        client_context(srv.cert_file, srv.key_file, [b"garbage"], on_refused=refusals)
    with pytest.raises(ConfigInvalid, match="identity"):
        server_context(tmp_path / "missing.crt", srv.key_file, [srv.cert_pem], on_refused=refusals)
    with pytest.raises(ConfigInvalid, match="identity"):
        server_context(srv.cert_file, identities["a"].key_file, [srv.cert_pem], on_refused=refusals)
    with pytest.raises(ConfigInvalid, match="identity"):
        api_context(tmp_path / "missing.crt", srv.key_file, on_refused=refusals)


def test_write_trust_bundle(identities: dict[str, Identity], tmp_path: Path) -> None:
    bundle = tmp_path / "peers.pem"
    write_trust_bundle(bundle, [identities["a"].cert_pem, identities["b"].cert_pem])
    assert bundle.read_text().count("BEGIN CERTIFICATE") == 2
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_verify_locations(cafile=bundle)
    assert context.cert_store_stats()["x509"] == 2
    with pytest.raises(ConfigInvalid):
        write_trust_bundle(tmp_path / "empty.pem", [])
