"""A running node: settings opened into a store, trust, services, TLS and the sender's
parts (`tisa.server.serve` puts them to work).

`Runtime` is a context manager; constructing it does no I/O and starts nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import httpx

from tisa.attachments.uploads import sweep_workspaces
from tisa.audit.log import AuditLog
from tisa.blobs import keyfile
from tisa.blobs.store import BlobStore
from tisa.crypto.certs import is_ca
from tisa.crypto.keys import SigningKey
from tisa.crypto.tls import (
    api_context,
    client_context,
    server_context,
    tak_context,
    write_trust_bundle,
)
from tisa.crypto.trust import Trust
from tisa.errors import ConfigInvalid
from tisa.node.health import Health
from tisa.node.integrity import quick_check
from tisa.node.metrics import Metrics
from tisa.node.settings import Settings, load_arrangement
from tisa.node.supervisor import Supervisor
from tisa.relay import stix_feed, witnesses
from tisa.relay.context import NodeContext
from tisa.relay.gate import Gate
from tisa.relay.live_links import LiveLinks
from tisa.relay.sender import Sender
from tisa.relay.streamer import Streamer
from tisa.services.accounts import Accounts
from tisa.services.channels import Channels
from tisa.services.consents import Consents
from tisa.services.drafts import Drafts
from tisa.services.events import Events
from tisa.services.inbox import Inbox
from tisa.services.reading import Reading
from tisa.services.releases import Releases
from tisa.services.replay import Replays
from tisa.services.tak import TakFeed
from tisa.services.taxii import Taxii
from tisa.services.track_events import TrackEvents
from tisa.services.tracks import Tracks
from tisa.services.warning_webhook import WarningWebhook
from tisa.services.warnings import Warnings
from tisa.store.database import Database
from tisa.store.disk import MIB, Reserve
from tisa.store.outbox import OutboxEntry
from tisa.tracks.areas import BOUNDARIES_FILE, WarningArea, areas_for

CHECKPOINT_EVERY = 5.0
# A partial download nobody has written to for this long is abandoned: its disk is freed.
PARTIAL_IDLE = 24 * 3600.0
SWEEP_EVERY = 3600.0

_log = logging.getLogger("tisa.node.runtime")


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
        # What the quick integrity check at start-up found damaged; None until it has run.
        self.integrity: tuple[str, ...] | None = None

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
            keyfile.create_key(paths.blob_key)
        self.reserve = Reserve(paths.root, self.settings.disk_reserve_mb * MIB)
        self.blobs = BlobStore(paths.blobs, keyfile.load_key(paths.blob_key), space=self.reserve)
        self.blobs.open_store()
        self._db = Database(self.settings.database_url).open()
        self.metrics = Metrics(self._db)
        self._ctx = NodeContext(
            party=self.settings.party,
            arrangement=arrangement,
            trust=trust,
            gate=Gate(self.settings.party, arrangement, self.clock),
            db=self._db,
            blobs=self.blobs,
            clock=self.clock,
            wake=self._wake,
            count_denial=lambda rule: self.metrics.denials.labels(rule).inc(),
            live=LiveLinks(arrangement.peers_of(self.settings.party)),
        )
        # What users do, each a service with what it needs; the API, the UI and the CLI call
        # these same objects.
        self.reading = Reading(self._ctx)
        self.inbox = Inbox(
            self._ctx, reading=self.reading, secret=_secret(paths.work / "inbox-cursor.key")
        )
        self.releases = Releases(self._ctx)
        self.drafts = Drafts(self._ctx, reading=self.reading, releases=self.releases)
        self.consents = Consents(self._ctx)
        self.channels = Channels(self._ctx)
        self.tracks = Tracks(self._ctx)
        self.warnings = Warnings(
            self._ctx,
            self._warning_areas,
            reached=lambda o, seconds: self.metrics.fusion_latency.labels(o).observe(seconds),
        )
        self.webhook: WarningWebhook | None = None
        if self.settings.warning_webhook is not None:
            tls = WarningWebhook.tls(self.settings.warning_webhook_ca)
            self.webhook = WarningWebhook(
                self._ctx,
                self.settings.warning_webhook,
                paths.work / "warning-webhook.cursor",
                client=lambda: httpx.AsyncClient(verify=tls, timeout=10.0),
                clearance=self.settings.warning_webhook_clearance,
            )
        # One picture per node, shared by the events API and the UI, so both answer from one
        # cache.
        self.events = Events(self.reading)
        # The tracks joined to that picture, and past flights replayed from the history.
        self.track_events = TrackEvents(self._ctx, self.events)
        self.replays = Replays(self._ctx, self.track_events)
        self.tak = self._tak_feed()
        self.supervisor = Supervisor(
            self.clock, on_crash=lambda name: self.metrics.task_restarts.labels(name).inc()
        )
        self.metrics.watch_tasks(self.supervisor.health)
        self.metrics.watch_live(self._ctx.live)
        self.health = Health(
            party=self.settings.party,
            arrangement=arrangement,
            db=self._db,
            data_dir=paths.root,
            reserve_bytes=self.reserve.reserve_bytes,
            supervisor=self.supervisor,
            clock=self.clock,
            integrity=lambda: self.integrity,
            tak=None if self.tak is None else self.tak.status,
        )
        self.audit = AuditLog(self._ctx)
        self.accounts = Accounts(self._db, arrangement, self.settings.party, self.clock)
        self.taxii = Taxii(
            self._ctx,
            reading=self.reading,
            drafts=self.drafts,
            secret=_secret(paths.work / "taxii-next.key"),
        )
        with self._db.begin() as conn:
            added = stix_feed.catch_up(conn, arrangement, self.settings.party, self.clock())
        if added:
            _log.info("the STIX feed caught up with %d stored versions", added)
        return self

    def _tak_feed(self) -> TakFeed | None:
        """The feed of fused tracks to the configured TAK endpoint; None without one."""
        tak = self.settings.tak
        if tak is None:
            return None
        return TakFeed(
            self.ctx,
            self.warnings,
            host=tak.host,
            port=tak.port,
            clearance=tak.clearance,
            context=lambda: tak_context(
                tak.cert, tak.key, tak.ca, on_refused=self.metrics.count_tls_refusal
            ),
            on_sent=self.metrics.count_tak_event,
        )

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
        """Mutual TLS that admits only this node's channel peers (a spoke: only the hub),
        each by its exact pinned certificate; refusals are logged and counted.

        Called as the node starts serving, so it also warns if our own certificate is still
        a CA (made before leaf-only identities): pinning holds, but it should be rotated.
        """
        paths = self.settings.paths
        if is_ca(paths.tls_cert.read_bytes()):
            _log.warning(
                "%s is a CA certificate, as tisa made them before leaf-only identities; "
                "replace it: `tisa init --rotate-tls --dir %s`, then re-pin the arrangement",
                paths.tls_cert,
                paths.root,
            )
        peers = list(self.ctx.arrangement.peers_of(self.settings.party))
        write_trust_bundle(paths.trust_bundle, self.peer_certs(peers))
        return server_context(
            paths.tls_cert,
            paths.tls_key,
            self.peer_certs(peers),
            on_refused=self.metrics.count_tls_refusal,
        )

    def client_context_for(self, peer: str) -> ssl.SSLContext:
        """Client TLS to `peer`: presents our certificate, accepts only the peer's exact
        pinned one; refusals are logged and counted."""
        paths = self.settings.paths
        return client_context(
            paths.tls_cert,
            paths.tls_key,
            self.peer_certs([peer]),
            on_refused=self.metrics.count_tls_refusal,
        )

    def api_server_context(self) -> ssl.SSLContext:
        """The analyst API's TLS (AEAD suites only, no client certificate); refusals are
        logged and counted."""
        paths = self.settings.paths
        return api_context(paths.tls_cert, paths.tls_key, on_refused=self.metrics.count_tls_refusal)

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

    def witnessed_checkpoints(self) -> tuple[dict[str, list[str]], dict[str, str]]:
        """Ask each peer, over mutual TLS, which of this node's checkpoints it holds.

        Returns (tokens per peer, error per unreachable peer).
        """
        return witnesses.held_by_peers(
            self.ctx.trust,
            {p: self.settings.peers.get(p) for p in self.ctx.arrangement.peers_of(self.ctx.party)},
            self.client_context_for,
            self.clock,
        )

    # -- serving -----------------------------------------------------------------------------

    def _warning_areas(self) -> tuple[WarningArea, ...]:
        """This node's warning areas: its territory and approximate EEZ from the vendored
        Natural Earth boundaries (built once, when the warnings first run)."""
        text = (resources.files("tisa") / BOUNDARIES_FILE).read_text(encoding="utf-8")
        return areas_for(self.settings.party, json.loads(text))

    def start_streamer(self, clients: Mapping[str, httpx.AsyncClient]) -> Streamer:
        """The node's live track links over `clients` (one per peer). Constructing it starts
        nothing."""
        return Streamer(self.ctx, clients, on_fault=self._on_fault)

    def start_sender(self, clients: Mapping[str, httpx.AsyncClient]) -> Sender:
        """The node's one sender over `clients` (one per peer); what is released, received
        or answered from now on wakes it. Constructing it starts nothing."""
        self._sender = Sender(
            self.ctx,
            clients,
            observe=self._on_sent,
            audit_log=self.audit,
            blobs=self.blobs,
            on_fault=self._on_fault,
        )
        return self._sender

    def _on_sent(self, peer: str, entry: OutboxEntry, outcome: str, _elapsed: float) -> None:
        self.metrics.sent.labels(peer, entry.kind, outcome).inc()
        if outcome == "sent":
            waited = (self.clock() - entry.created_at).total_seconds()
            self.metrics.latency.labels(peer, self.metrics.lane_name(entry.lane)).observe(waited)

    async def checkpoints(self) -> None:
        """Sign a checkpoint whenever the log has grown, every CHECKPOINT_EVERY seconds. A
        failure ends this task for the supervisor to log, count and restart: a node that
        stops sealing its log says so (`/healthz` checkpoint and tasks checks)."""
        while True:
            await asyncio.to_thread(self.audit.checkpoint)
            await asyncio.sleep(CHECKPOINT_EVERY)

    def count_disk_full(self, what: str) -> None:
        """Count a write refused for want of disk (`what`: upload, blob, preview, database)."""
        self.metrics.disk_full.labels(what).inc()

    def check_store(self) -> tuple[str, ...]:
        """The quick integrity check of the database (as at start-up): what is damaged, each
        logged as an error naming it; `/healthz/ready` fails while anything is."""
        report = quick_check(self.ctx.db)
        for note in report.notes:
            _log.warning("integrity: %s", note)
        for problem in report.problems:
            _log.error(
                "integrity: %s; run `tisa check --dir %s`", problem, self.settings.paths.root
            )
        return tuple(report.problems)

    async def sweep_partials(self) -> None:
        """Remove partial downloads (and uploads' scratch folders) untouched for
        PARTIAL_IDLE, at start and every SWEEP_EVERY: an abandoned transfer gives its disk
        back."""
        while True:
            now = self.clock().timestamp()
            swept = await asyncio.to_thread(self.blobs.sweep_partials, idle=PARTIAL_IDLE, now=now)
            scratch = await asyncio.to_thread(
                sweep_workspaces, self.settings.paths.work, idle=PARTIAL_IDLE, now=now
            )
            if swept.count or scratch:
                _log.warning(
                    "removed %d partial downloads (%.1f MiB) and %d upload scratch folders "
                    "untouched for %d h",
                    swept.count,
                    swept.size / MIB,
                    scratch,
                    PARTIAL_IDLE // 3600,
                )
            await asyncio.sleep(SWEEP_EVERY)

    def _on_fault(self, peer: str, error: str) -> None:
        self.metrics.sender_faults.labels(peer, error).inc()


def _secret(path: Path) -> bytes:
    """A node's key for signing the tokens it gives to resume a walk (TAXII's `next`, the
    inbox's cursor), made on first use (owner-only)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        return key
