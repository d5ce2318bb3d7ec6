"""Real TAK ends for tests, all on 127.0.0.1.

- `TakPki`: a TAK network's certificates, as TAK servers have them: a CA, the server's
  certificate (for 127.0.0.1) and clients' certificates, each a PEM file.
- `CotReceiver`: an asyncio TLS server that requires a client certificate from that CA, reads
  the CoT stream and decodes each event with takproto (TAK's own codec), as a TAK end would.
- `Taky`: taky, a TAK server from PyPI, run as a process with TLS and client certificates.
- `TakWatcher`: a TAK client (blocking TLS socket, reader thread) connected to a server,
  collecting every event the server passes on.

Every event received becomes a `Received`: the takproto message and our own detail element.
"""

from __future__ import annotations

import asyncio
import configparser
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import takproto
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from defusedxml import ElementTree as SafeET

LOCALHOST = "127.0.0.1"
_END = b"</event>"


# -- certificates -----------------------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class TakPki:
    """A CA and the certificates it issued, as files in `root`."""

    root: Path
    _key: ec.EllipticCurvePrivateKey = field(init=False, repr=False)
    _cert: x509.Certificate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._key, self._cert = self._make_ca("tak test ca")
        self.ca.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _make_ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common))
            .issuer_name(_name(common))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    def issue(self, name: str, *, server: bool = False) -> tuple[Path, Path]:
        """A leaf certificate and key for `name` (a server's names 127.0.0.1): (cert, key)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOCALHOST))]),
                critical=False,
            )
        cert = builder.sign(self._key, hashes.SHA256())
        cert_file, key_file = self.root / f"{name}.crt", self.root / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_key_pem(key))
        return cert_file, key_file

    def stranger(self) -> Path:
        """Another CA's certificate (one that issued nothing here), as a file."""
        _, cert = self._make_ca("another ca")
        path = self.root / "stranger-ca.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path


# -- what arrives -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One CoT event as a TAK end reads it: takproto's message, and our detail elements."""

    xml: bytes
    message: Any  # takproto's TakMessage (generated protobuf, untyped)

    @property
    def cot(self) -> Any:
        return self.message.cotEvent

    def detail(self, tag: str) -> dict[str, str] | None:
        """The attributes of detail element `tag` (one takproto keeps as XML detail)."""
        extra = SafeET.fromstring(f"<detail>{self.cot.detail.xmlDetail}</detail>")
        found = extra.find(f".//{tag}")
        return None if found is None else dict(found.attrib)


class CotStream:
    """Splits a byte stream of CoT XML into events and decodes each with takproto."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[Received]:
        self._buffer += data
        out = []
        while (end := self._buffer.find(_END)) >= 0:
            chunk, self._buffer = self._buffer[: end + len(_END)], self._buffer[end + len(_END) :]
            chunk = chunk.strip()
            if chunk.startswith(b"<?xml"):
                chunk = chunk[chunk.index(b"?>") + 2 :].strip()
            message = takproto.parse_proto(bytearray(b'<?xml version="1.0"?>' + chunk))
            assert message is not None, chunk
            out.append(Received(chunk, message))
        return out


def wait_until(found: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """`found()`'s first truthy answer, asked every 50 ms for `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer := found():
            return answer
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- an in-process receiver --------------------------------------------------------------------


class CotReceiver:
    """A TLS CoT receiver on 127.0.0.1 (its port chosen by the system), requiring a client
    certificate from `pki`'s CA. Use inside a running event loop: ``async with``."""

    def __init__(self, pki: TakPki, *, port: int = 0) -> None:
        cert, key = pki.issue("receiver", server=True)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_verify_locations(cafile=pki.ca)
        self.context.load_cert_chain(cert, key)
        self.port = port
        self.events: list[Received] = []
        self.connections = 0
        self.peers: list[str] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> CotReceiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, LOCALHOST, self.port, ssl=self.context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection at once, as a server that dies does (the
        sender sees its connection end)."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        for handler in self._handlers:
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        self._handlers.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        cert = writer.get_extra_info("peercert") or {}
        subject = dict(pair for rdn in cert.get("subject", ()) for pair in rdn)
        self.peers.append(subject.get("commonName", "?"))
        self._writers.append(writer)
        stream = CotStream()
        try:
            while data := await reader.read(65536):
                self.events.extend(stream.feed(data))
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()

    async def wait_for(self, found: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
        """`found()`'s first truthy answer, asked every 20 ms for `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if answer := found():
                return answer
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")


# -- taky, a TAK server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def taky(pki: TakPki, root: Path) -> Iterator[int]:
    """Run taky with TLS on 127.0.0.1 (clients need a certificate from `pki`'s CA); its port.
    Its log is `root`/taky.log; it is stopped (SIGTERM, then SIGKILL) whatever happens."""
    root.mkdir(parents=True, exist_ok=True)
    cert, key = pki.issue("taky", server=True)
    port = free_port()
    config = configparser.ConfigParser()
    config.read_dict(
        {
            "taky": {"hostname": "localhost", "node_id": "TISATEST", "bind_ip": LOCALHOST},
            "cot_server": {"port": str(port)},
            "ssl": {
                "enabled": "true",
                "client_cert_required": "true",
                "ca": str(pki.ca),
                "cert": str(cert),
                "key": str(key),
                "cert_db": str(root / "cert-db.txt"),
            },
        }
    )
    config.set("taky", "root_dir", str(root))
    conf = root / "taky.conf"
    with conf.open("w") as handle:
        config.write(handle)
    log = (root / "taky.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "taky.cot", "-c", str(conf), "-l", "debug"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    try:

        def listening() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"taky exited with {process.returncode}; see {root}")
            try:
                socket.create_connection((LOCALHOST, port), timeout=0.5).close()
            except OSError:
                return False
            return True

        wait_until(listening, "taky to listen")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class TakWatcher:
    """A TAK client connected to a server at 127.0.0.1:`port` with a certificate from `pki`,
    collecting every event the server sends it (a reader thread)."""

    def __init__(self, pki: TakPki, port: int, name: str = "watcher") -> None:
        cert, key = pki.issue(name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=pki.ca)
        context.load_cert_chain(cert, key)
        raw = socket.create_connection((LOCALHOST, port), timeout=10)
        self._sock = context.wrap_socket(raw, server_hostname=LOCALHOST)
        self._sock.settimeout(0.2)
        self.events: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stream = CotStream()
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            received = stream.feed(data)
            with self._lock:
                self.events.extend(received)

    def seen(self) -> list[Received]:
        with self._lock:
            return list(self.events)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
