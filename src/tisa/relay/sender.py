"""The outbox sender: delivers queued messages to each peer, most urgent lane first.

One task per (peer, lane), so a FLASH never waits behind routine traffic; each task leases a
batch, sends it in one request, and records each message's outcome. Failures of the network
are retried with exponential backoff and full jitter; refusals (policy, signature) go to the
dead-letter list with their reason and are never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Connection

from tisa.blobs.store import BlobStore
from tisa.crypto import jws
from tisa.domain.markings import Precedence
from tisa.domain.model import Product
from tisa.domain.policy import MOVE
from tisa.domain.questions import Movement
from tisa.domain.wire import ManifestIn, parse
from tisa.errors import DeliveryFailed, DeliveryRejected, TisaError
from tisa.relay import outcomes
from tisa.relay.audit_partner import AuditPartner
from tisa.relay.backoff import backoff
from tisa.relay.blob_transfer import ensure_at_peer
from tisa.relay.context import NodeContext
from tisa.relay.messages import AuditExchange, MessageKind
from tisa.relay.transmission import HEADER, REFUSED_FOR_GOOD, sign_transmission
from tisa.store import audit, network, outbox
from tisa.store.outbox import OutboxEntry

BATCH = 64
URGENT_FIRST = 0.05
EXCHANGE_EVERY = 2.0
IDLE_POLL = 1.0
MESSAGES_PATH = "/federation/v1/messages"


_log = logging.getLogger("tisa.sender")


Observer = Callable[[str, OutboxEntry, str, float], None]


class Sender:
    """Runs the per-(peer, lane) delivery tasks. Constructing it starts nothing; `run` does."""

    def __init__(
        self,
        ctx: NodeContext,
        clients: Mapping[str, httpx.AsyncClient],
        *,
        observe: Observer | None = None,
        rng: random.Random | None = None,
        audit_log: AuditPartner | None = None,
        blobs: BlobStore | None = None,
        on_fault: Callable[[str, str], None] | None = None,
    ) -> None:
        self._ctx = ctx
        self._blobs = blobs
        self._audit = audit_log
        self._peer_holds: dict[str, int] = {}
        self._spoke: dict[str, float] = {}
        self._clients = clients
        self._observe = observe
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._events: dict[tuple[str, int], asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_fault = on_fault
        # Peers whose last delivery failed; the first success resets their backoffs.
        self._failing: set[str] = set()

    def wake(self) -> None:
        """Tell every task there may be new work; safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for event in self._events.values():
            loop.call_soon_threadsafe(event.set)

    async def prepare(self) -> None:
        """Get ready to deliver, in the event loop the lanes will run in."""
        self._loop = asyncio.get_running_loop()
        for peer in self._clients:
            for precedence in Precedence:
                self._events[(peer, precedence.lane)] = asyncio.Event()
        # Leases held by a sender that died (kill -9, power loss) would delay those messages
        # until they expired; take them back now. A second copy is harmless: receiving is
        # idempotent.
        await asyncio.to_thread(self._release_leases)

    def lanes(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """One task per (peer, lane), named for the supervisor: `sender JPN/FLASH`."""
        return [
            (f"sender {peer}/{p.value}", functools.partial(self._lane, peer, p.lane))
            for peer in self._clients
            for p in Precedence
        ]

    async def run(self) -> None:
        """Deliver until cancelled, every lane in this task (tests; a node supervises each
        lane as a task of its own)."""
        await self.prepare()
        await asyncio.gather(*(body() for _, body in self.lanes()))

    def _release_leases(self) -> None:
        with self._ctx.db.begin() as conn:
            for peer in self._clients:
                outbox.release_leases(conn, peer)

    async def _wait(self, peer: str, lane: int, seconds: float) -> None:
        event = self._events[(peer, lane)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)
        event.clear()

    def _suspended(self, peer: str) -> bool:
        channel = self._ctx.arrangement.channel_between(self._ctx.party, peer)
        if channel is None:
            return True
        with self._ctx.db.read() as conn:
            return network.is_suspended(conn, channel)

    def _turn(self, peer: str, lane: int) -> tuple[list[OutboxEntry], float]:
        """One look at the lane, in one worker-thread hop: a batch to send, or how long to
        wait. The write lock is taken only when a plain read shows work is due, so a wake that
        finds nothing costs the other writers nothing. While a more urgent lane to the same
        peer has messages due, this one waits: after an outage FLASH goes first."""
        if self._suspended(peer):
            return [], IDLE_POLL
        now = self._ctx.clock()
        with self._ctx.db.read() as conn:
            lanes = outbox.lanes_of(conn, peer, upto=lane, now=now)
        # A more urgent lane to the same peer goes first: while it has messages due or in
        # flight this lane waits, and while the peer is failing it waits for any message
        # there at all (in its backoff too), so when the peer answers again FLASH is what
        # reaches it first.
        failing = peer in self._failing
        for urgent, state in lanes.items():
            if urgent < lane and (
                failing or state.in_flight or (state.due is not None and state.due <= now)
            ):
                return [], IDLE_POLL if failing else URGENT_FIRST
        mine = lanes[lane].due if lane in lanes else None
        if mine is not None and mine <= now:
            with self._ctx.db.begin() as conn:
                leased = outbox.lease(conn, peer=peer, lanes=(lane,), now=now, limit=BATCH)
                batch = self._admit(conn, peer, leased)
            if leased:
                return batch, 0.0
        if mine is None:
            return [], IDLE_POLL
        return [], max(0.0, min(IDLE_POLL, (mine - now).total_seconds()))

    def _admit(self, conn: Connection, peer: str, leased: list[OutboxEntry]) -> list[OutboxEntry]:
        """Ask the gate again, now, about every envelope just leased: what the rules refuse
        at this moment (recalled, consent revoked, ...) is cancelled with its reasons and
        never sent; what waits out a suspension goes back to the queue untouched."""
        envelopes = [e for e in leased if e.kind == MessageKind.ENVELOPE.value]
        if not envelopes:
            return leased
        moves = [Movement(_product(e), self._ctx.party, peer, e.consent_id) for e in envelopes]
        decisions = dict(
            zip(
                (e.id for e in envelopes),
                self._ctx.gate.moves(conn, MOVE, moves),
                strict=True,
            )
        )
        admitted: list[OutboxEntry] = []
        now = self._ctx.clock()
        for entry in leased:
            decision = decisions.get(entry.id)
            if decision is None or decision.allowed:
                admitted.append(entry)
            elif decision.held:
                outbox.release_lease(conn, entry.id)
            else:
                outcomes.cancelled(conn, self._ctx, peer, entry, decision, now)
        return admitted

    async def _lane(self, peer: str, lane: int) -> None:
        """Deliver one (peer, lane) until cancelled. A failure with no message to blame (the
        store refusing, the disk full) makes the lane wait and try again; it never ends it."""
        faults = 0
        while True:
            try:
                batch, wait = await asyncio.to_thread(self._turn, peer, lane)
                if batch:
                    await self._deliver(peer, batch)
                else:
                    await self._wait(peer, lane, wait)
                faults = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                faults += 1
                pause = backoff(faults, self._rng)
                _log.warning(
                    "sender %s lane %s: %s: %s; trying again in %.1f s",
                    peer,
                    lane,
                    type(exc).__name__,
                    exc,
                    pause,
                )
                if self._on_fault is not None:
                    self._on_fault(peer, type(exc).__name__)
                await self._wait(peer, lane, pause)

    async def _send_blobs(self, peer: str, batch: list[OutboxEntry]) -> list[OutboxEntry] | None:
        """Put every blob the batch's envelopes name at the peer first, so an envelope never
        arrives before its bytes. Returns the entries ready to send, or None to retry later.
        One entry whose blobs cannot go is that entry's failure, never the batch's."""
        if self._blobs is None:
            return batch
        ready: list[OutboxEntry] = []
        for entry in batch:
            try:
                for digest, size in _attachments(entry):
                    await ensure_at_peer(
                        self._clients[peer],
                        self._ctx.trust,
                        self._blobs,
                        peer,
                        digest,
                        size,
                        self._ctx.clock,
                    )
            except DeliveryRejected as exc:
                await self._dead(peer, entry, exc.reason)
                continue
            except DeliveryFailed as exc:
                rest = [e for e in batch if e not in ready]
                await asyncio.to_thread(self._retry_all, peer, rest, exc.reason)
                return ready or None
            except TisaError as exc:
                # This node cannot produce the bytes (withdrawn, damaged): sending the
                # envelope without them would only be refused, so it stops here, with why.
                await self._dead(peer, entry, f"attachment not sendable: {exc.reason}", local=True)
                continue
            except Exception as exc:
                await asyncio.to_thread(
                    self._retry_all, peer, [entry], f"{type(exc).__name__}: {exc}"
                )
                continue
            ready.append(entry)
        return ready

    async def _dead(
        self, peer: str, entry: OutboxEntry, reason: str, *, local: bool = False
    ) -> None:
        """`entry` goes for good to the dead letters: refused by the peer, or (`local`) not
        sendable from here."""
        refusal = {"status": "rejected", "permanent": True, "reason": reason, "local": local}
        await asyncio.to_thread(self._record, peer, [entry], [refusal], 0.0)

    async def _deliver(self, peer: str, batch: list[OutboxEntry]) -> None:
        ready = await self._send_blobs(peer, batch)
        if not ready:
            return
        batch = ready
        document: dict[str, Any] = {"messages": [entry.message for entry in batch]}
        now = asyncio.get_running_loop().time()
        if (
            self._audit is not None
            and now - self._spoke.get(peer, -EXCHANGE_EVERY) >= EXCHANGE_EVERY
        ):
            # Checkpoints change every few seconds; exchanging them on every batch would put
            # that work on the path of every FLASH.
            self._spoke[peer] = now
            said = await asyncio.to_thread(self._audit.speak, peer, self._peer_holds.get(peer, 0))
            document["audit"] = said.model_dump()
        body = json.dumps(document).encode()
        header = sign_transmission(self._ctx.trust, peer, body, self._ctx.clock())
        started = asyncio.get_running_loop().time()
        try:
            response = await self._clients[peer].post(
                MESSAGES_PATH,
                content=body,
                headers={HEADER: header, "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            await asyncio.to_thread(self._retry_all, peer, batch, f"{type(exc).__name__}: {exc}")
            return
        elapsed = asyncio.get_running_loop().time() - started
        if response.status_code == 200 and peer in self._failing:
            # The peer is back: what waited out its absence goes now, most urgent lane first.
            self._failing.discard(peer)
            await asyncio.to_thread(self._hurry, peer)
        if response.status_code != 200:
            reason = f"HTTP {response.status_code}: {_detail(response)}"
            if response.status_code in REFUSED_FOR_GOOD:
                await asyncio.to_thread(self._dead_all, peer, batch, reason)
            else:
                await asyncio.to_thread(self._retry_all, peer, batch, reason)
            return
        try:
            results = response.json()["results"]
            if not isinstance(results, list) or len(results) != len(batch):
                raise ValueError("result count differs from the batch")
        except (ValueError, KeyError, TypeError) as exc:
            await asyncio.to_thread(self._retry_all, peer, batch, f"bad answer: {exc}")
            return
        await asyncio.to_thread(self._record, peer, batch, results, elapsed)
        if self._audit is not None and "audit" in document:
            await asyncio.to_thread(self._hear, peer, response)

    def _hear(self, peer: str, response: httpx.Response) -> None:
        """Keep the peer's checkpoint from its answer; a bad one never fails a delivery."""
        assert self._audit is not None
        try:
            said = parse(AuditExchange, response.json().get("audit") or {})
            self._audit.hear(peer, said)
        except TisaError as exc:
            with self._ctx.db.begin() as conn:
                audit.record(
                    conn,
                    audit.Action.INCONSISTENT,
                    at=self._ctx.clock(),
                    actor=self._ctx.party,
                    party=peer,
                    detail={"problem": exc.reason},
                )
            return
        self._peer_holds[peer] = said.holding

    def recovered(self, peer: str) -> None:
        """`peer` answered (the audit heartbeat reached it): if its deliveries were failing,
        every backoff for it resets now, most urgent lane first. Safe from any thread."""
        if peer not in self._failing or self._loop is None:
            return
        self._failing.discard(peer)
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._recover(peer)))

    async def _recover(self, peer: str) -> None:
        try:
            await asyncio.to_thread(self._hurry, peer)
        except Exception as exc:  # the lanes retry by themselves; this only speeds them up
            _log.warning("sender %s: could not reset backoffs: %s", peer, exc)

    def _hurry(self, peer: str) -> None:
        with self._ctx.db.begin() as conn:
            outbox.hurry(conn, peer, self._ctx.clock())
        self.wake()

    def _retry_all(self, peer: str, batch: list[OutboxEntry], reason: str) -> None:
        self._failing.add(peer)
        now = self._ctx.clock()
        with self._ctx.db.begin() as conn:
            for entry in batch:
                wait = backoff(entry.attempts, self._rng)
                outbox.retry_later(conn, entry.id, reason, now + timedelta(seconds=wait))
            network.touch(conn, peer, now, error=reason)
        if self._observe:
            for entry in batch:
                self._observe(peer, entry, "retry", 0.0)

    def _dead_all(self, peer: str, batch: list[OutboxEntry], reason: str) -> None:
        self._record(
            peer,
            batch,
            [{"status": "rejected", "permanent": True, "reason": reason}] * len(batch),
            0.0,
        )

    def _record(
        self, peer: str, batch: list[OutboxEntry], results: list[Any], elapsed: float
    ) -> None:
        now = self._ctx.clock()
        with self._ctx.db.begin() as conn:
            network.touch(conn, peer, now)
            for entry, result in zip(batch, results, strict=True):
                outcome = outcomes.answered(conn, self._ctx, peer, entry, result, now, self._rng)
                if self._observe:
                    self._observe(peer, entry, outcome.value, elapsed)


def _product(entry: OutboxEntry) -> Product:
    """The product an outgoing envelope carries (our own outbox: signed by us or verified
    when it arrived, so its payload is read, not verified again)."""
    return parse(ManifestIn, jws.peek(entry.message["token"]).payload).product()


def _attachments(entry: OutboxEntry) -> list[tuple[str, int]]:
    """(digest, size) of each attachment an outgoing envelope names (our own outbox)."""
    if entry.kind != "envelope":
        return []
    named = jws.peek(entry.message["token"]).payload.get("attachments") or []
    return [(str(a["digest"]), int(a["size"])) for a in named if isinstance(a, dict)]


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])[:500]
    return str(data)[:200]
