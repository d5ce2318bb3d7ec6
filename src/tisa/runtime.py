"""A running node: settings opened into a store, trust, services, HTTP servers and the sender.

`Runtime` is a context manager; constructing it does no I/O and starts nothing.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn

from tisa.accounts import Accounts
from tisa.audit_log import AuditLog
from tisa.blobs import BlobStore
from tisa.crypto.keys import SigningKey
from tisa.errors import ConfigInvalid
from tisa.metrics import Metrics
from tisa.node import Node
from tisa.relay.context import NodeContext
from tisa.relay.heartbeat import Heartbeat
from tisa.relay.sender import Sender
from tisa.settings import Settings, load_arrangement
from tisa.store.database import Database
from tisa.store.outbox import OutboxEntry
from tisa.tls import api_context, client_context, server_context, write_trust_bundle
from tisa.trust import Trust

CHECKPOINT_EVERY = 5.0


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


class Runtime:
    """Everything one node runs with."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self._sender: Sender | None = None
        self._db: Database | None = None
        self._ctx: NodeContext | None = None

    # -- opening -----------------------------------------------------------------------------

    def open(self) -> Runtime:
        """Load the arrangement and keys, open the store.

        Raises:
            ArrangementInvalid: the arrangement file is invalid.
            ConfigInvalid: keys or pins missing or mismatched; the store cannot be opened.
        """
        paths = self.settings.paths
        arrangement = load_arrangement(paths.arrangement)
        if not arrangement.pinned:
            raise ConfigInvalid(
                f"{paths.arrangement}: not every party is pinned; run `tisa arrangement pin`"
            )
        try:
            key = SigningKey.from_pem(paths.signing_key.read_bytes())
        except OSError as exc:
            raise ConfigInvalid(f"{paths.signing_key}: {exc.strerror}") from exc
        trust = Trust(arrangement, self.settings.party, key)
        own_cert = paths.tls_cert.read_bytes().decode("ascii").strip()
        pinned = arrangement.party(self.settings.party).tls_certificate or ""
        if pinned.strip() != own_cert:
            raise ConfigInvalid(
                f"{paths.tls_cert} is not the certificate {paths.arrangement} pins for "
                f"{self.settings.party}"
            )
        if not paths.blob_key.exists():
            BlobStore.create_key(paths.blob_key)
        self.blobs = BlobStore(paths.blobs, BlobStore.load_key(paths.blob_key))
        self.blobs.open_store()
        self._db = Database(self.settings.database_url).open()
        self.metrics = Metrics(self._db)
        self._ctx = NodeContext(
            party=self.settings.party,
            arrangement=arrangement,
            trust=trust,
            db=self._db,
            clock=self.clock,
            wake=self._wake,
            count_denial=lambda rule: self.metrics.denials.labels(rule).inc(),
            blobs=self.blobs,
        )
        self.node = Node(self._ctx)
        self.audit = AuditLog(self._ctx)
        self.accounts = Accounts(self._db, arrangement, self.settings.party, self.clock)
        return self

    def close(self) -> None:
        """Close the store."""
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> Runtime:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ctx(self) -> NodeContext:
        """The shared node context (once open)."""
        if self._ctx is None:
            raise ConfigInvalid("the node is not open")
        return self._ctx

    def _wake(self) -> None:
        if self._sender is not None:
            self._sender.wake()

    # -- TLS ---------------------------------------------------------------------------------

    def peer_certs(self, parties: list[str]) -> list[bytes]:
        """The pinned TLS certificates of `parties`."""
        out = []
        for code in parties:
            pem = self.ctx.arrangement.party(code).tls_certificate
            assert pem is not None
            out.append(pem.encode("ascii"))
        return out

    def federation_server_context(self) -> ssl.SSLContext:
        """Mutual TLS that admits only this node's channel peers (a spoke: only the hub)."""
        paths = self.settings.paths
        peers = list(self.ctx.arrangement.peers_of(self.settings.party))
        write_trust_bundle(paths.trust_bundle, self.peer_certs(peers))
        return server_context(paths.tls_cert, paths.tls_key, self.peer_certs(peers))

    def client_context_for(self, peer: str) -> ssl.SSLContext:
        """Client TLS to `peer`: presents our certificate, trusts only the peer's pinned one."""
        paths = self.settings.paths
        return client_context(paths.tls_cert, paths.tls_key, self.peer_certs([peer]))

    def peer_client(self, peer: str) -> httpx.AsyncClient:
        """An HTTP client to one peer, presenting our certificate and pinning the peer's."""
        url = self.settings.peers.get(peer)
        if url is None:
            raise ConfigInvalid(f"no address for peer {peer}; run `tisa peer add {peer} URL`")
        return httpx.AsyncClient(
            base_url=url,
            verify=self.client_context_for(peer),
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )

    # -- serving -----------------------------------------------------------------------------

    def _on_sent(self, peer: str, entry: OutboxEntry, outcome: str, _elapsed: float) -> None:
        self.metrics.sent.labels(peer, entry.kind, outcome).inc()
        if outcome == "sent":
            waited = (self.clock() - entry.created_at).total_seconds()
            self.metrics.latency.labels(peer, self.metrics.lane_name(entry.lane)).observe(waited)

    async def _checkpoints(self) -> None:
        """Sign a checkpoint whenever the log has grown, every CHECKPOINT_EVERY seconds."""
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY)
            await asyncio.to_thread(self.audit.checkpoint)

    async def serve(self, *, ready: Callable[[], None] | None = None) -> None:
        """Run the federation server, the analyst API server and the sender until stopped."""
        from tisa.api.analyst import analyst_app
        from tisa.api.federation import federation_app

        peers = list(self.ctx.arrangement.peers_of(self.settings.party))
        clients = {peer: self.peer_client(peer) for peer in peers}
        self._sender = Sender(
            self.ctx, clients, observe=self._on_sent, audit_log=self.audit, blobs=self.blobs
        )
        federation = _Server(
            federation_app(self),
            self.settings.host,
            self.settings.federation_port,
            self.federation_server_context(),
        )
        paths = self.settings.paths
        api_app = analyst_app(self)
        api = _Server(
            api_app,
            self.settings.host,
            self.settings.api_port,
            api_context(paths.tls_cert, paths.tls_key),
        )
        sender_task = asyncio.create_task(self._sender.run())
        checkpoint_task = asyncio.create_task(self._checkpoints())
        heartbeat_task = asyncio.create_task(Heartbeat(self.ctx, clients, self.audit).run())
        servers = [asyncio.create_task(federation.serve()), asyncio.create_task(api.serve())]
        try:
            while not (federation.started and api.started):
                if any(task.done() for task in servers):
                    break
                await asyncio.sleep(0.02)
            if ready is not None and federation.started and api.started:
                ready()
            await asyncio.wait(servers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            api_app.state.feed.close()  # open pages' live streams end, so the server can stop
            federation.should_exit = True
            api.should_exit = True
            sender_task.cancel()
            checkpoint_task.cancel()
            heartbeat_task.cancel()
            await asyncio.gather(
                sender_task, checkpoint_task, heartbeat_task, *servers, return_exceptions=True
            )
            for client in clients.values():
                await client.aclose()
        for task in servers:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise ConfigInvalid(f"a server failed: {task.exception()}")


class _Server(uvicorn.Server):
    """One uvicorn server with our own TLS context (pinned peers, TLS 1.3 for federation)."""

    def __init__(self, app: Any, host: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                server_header=False,
                ssl_context_factory=lambda _config, _default: context,
                # A connection still open after this (a slow client) does not hold a stop up.
                timeout_graceful_shutdown=5,
            )
        )

    def install_signal_handlers(self) -> None:
        # The CLI owns signals; two servers in one loop must not fight over them.
        return


def witnessed_checkpoints(rt: Runtime) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Ask each peer, over mutual TLS, which of this node's checkpoints it holds.

    Returns (tokens per peer, error per unreachable peer).
    """
    from tisa.relay.transmission import HEADER, sign_transmission

    held: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for peer in rt.ctx.arrangement.peers_of(rt.settings.party):
        url = rt.settings.peers.get(peer)
        if url is None:
            errors[peer] = "no address configured"
            continue
        body = b"{}"
        header = sign_transmission(rt.ctx.trust, peer, body, rt.clock())
        try:
            with httpx.Client(base_url=url, verify=rt.client_context_for(peer), timeout=10) as http:
                answer = http.post(
                    "/federation/v1/audit/held",
                    content=body,
                    headers={HEADER: header, "Content-Type": "application/json"},
                )
            answer.raise_for_status()
            tokens = answer.json().get("checkpoints", [])
            held[peer] = [t for t in tokens if isinstance(t, str)]
        except (httpx.HTTPError, ValueError) as exc:
            errors[peer] = str(exc)
    return held, errors
