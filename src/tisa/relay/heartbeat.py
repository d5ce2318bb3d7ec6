"""The audit heartbeat: checkpoints reach every peer every few seconds, traffic or not.

Outgoing message batches carry an audit exchange too, but only while messages flow; a quiet
channel would leave a peer holding a stale checkpoint of ours, and entries after it could be
cut off unseen. So every BEAT_EVERY seconds this node seals a checkpoint if its log grew and,
for each peer over a channel it does not hold suspended, exchanges checkpoints with it at
EXCHANGE_PATH: the peer keeps ours, we keep the peer's, and each notes how much of the other's
log it holds.

A failed exchange with one peer is logged and tried again at a later beat; it never ends the
loop. A peer that answers with a refusal is given more time before the next try (each refusal
is on record at the peer), one that cannot be reached is tried at the next beat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping

import httpx
from sqlalchemy.exc import SQLAlchemyError

from tisa.domain.wire import parse
from tisa.errors import AuditTampered, DeliveryFailed, TisaError
from tisa.relay.audit_partner import AuditPartner
from tisa.relay.backoff import backoff
from tisa.relay.context import NodeContext
from tisa.relay.messages import AuditExchange
from tisa.relay.transmission import HEADER, sign_transmission
from tisa.store import network

BEAT_EVERY = 3.0
EXCHANGE_PATH = "/federation/v1/audit/exchange"

log = logging.getLogger(__name__)


class Heartbeat:
    """Seals and exchanges checkpoints with every peer, every `every` seconds.

    Constructing it starts nothing; `run` beats until cancelled.
    """

    def __init__(
        self,
        ctx: NodeContext,
        clients: Mapping[str, httpx.AsyncClient],
        audit_log: AuditPartner,
        *,
        every: float = BEAT_EVERY,
        rng: random.Random | None = None,
        on_contact: Callable[[str], None] = lambda _peer: None,
    ) -> None:
        self._ctx = ctx
        self._clients = clients
        self._audit = audit_log
        self._every = every
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._refused: dict[str, int] = {}
        self._resume_at: dict[str, float] = {}
        self._failing: dict[str, str] = {}
        self._seal_error: str | None = None
        self._on_contact = on_contact

    async def run(self) -> None:
        """Beat until cancelled."""
        while True:
            await self.beat()
            await asyncio.sleep(self._every)

    async def beat(self) -> None:
        """Seal a checkpoint if the log grew, then exchange with every peer due, at once."""
        await asyncio.to_thread(self._seal)
        now = asyncio.get_running_loop().time()
        due = [p for p in self._clients if self._resume_at.get(p, 0.0) <= now]
        await asyncio.gather(*(self._exchange_with(peer) for peer in due))

    def _seal(self) -> None:
        # A log that cannot be sealed is raised by the checkpoint task, where it is counted;
        # here the last good checkpoint still goes out, and the reason is logged once.
        try:
            self._audit.checkpoint()
        except (AuditTampered, SQLAlchemyError) as exc:
            reason = getattr(exc, "reason", None) or f"the store failed: {exc}"
            if reason != self._seal_error:
                log.error("audit heartbeat: no fresh checkpoint: %s", reason)
            self._seal_error = reason
            return
        self._seal_error = None

    def _suspended(self, peer: str) -> bool:
        channel = self._ctx.arrangement.channel_between(self._ctx.party, peer)
        if channel is None:
            return True
        with self._ctx.db.read() as conn:
            return network.is_suspended(conn, channel)

    async def _exchange_with(self, peer: str) -> None:
        """One exchange; whatever goes wrong is this peer's, this beat's, and logged."""
        try:
            if await asyncio.to_thread(self._suspended, peer):
                return  # nothing moves over a suspended channel, not even a checkpoint
            await self.exchange(peer)
        except DeliveryFailed as exc:
            self._failed(peer, exc.reason)
            return
        except AuditTampered as exc:
            self._failed(peer, f"this node's log: {exc.reason}", level=logging.ERROR)
            return
        except SQLAlchemyError as exc:
            self._failed(peer, f"the store failed: {exc}")
            return
        except TisaError as exc:
            # The peer's answer does not hold together (a checkpoint not its own, or
            # malformed): on record for the auditor, once.
            self._failed(peer, exc.reason)
            try:
                await asyncio.to_thread(self._audit.alarm, peer, exc.reason)
            except SQLAlchemyError as failed:
                self._failed(peer, f"the store failed: {failed}")
            return
        self._refused.pop(peer, None)
        # The peer answers: whatever waited out its absence may go (the sender decides).
        self._on_contact(peer)
        if self._failing.pop(peer, None) is not None:
            log.warning("audit heartbeat with %s: exchanging again", peer)

    def _failed(self, peer: str, reason: str, *, level: int = logging.WARNING) -> None:
        # A peer down for an hour is one line in the log, not one per beat.
        if self._failing.get(peer) != reason:
            log.log(level, "audit heartbeat with %s: %s", peer, reason)
        self._failing[peer] = reason

    async def exchange(self, peer: str) -> None:
        """Tell `peer` our latest checkpoint (with a consistency proof from the one it holds)
        and keep the one it answers with.

        Raises:
            DeliveryFailed: the peer cannot be reached or refused (it is tried again later).
            SignatureInvalid: the peer's checkpoint is not its own.
            InputInvalid: the peer's answer is malformed.
            AuditTampered: this node's own log cannot be read for the proof.
        """
        ctx = self._ctx
        held = await asyncio.to_thread(self._audit.held_by, peer)
        said = await asyncio.to_thread(self._audit.speak, peer, held)
        body = json.dumps(said.model_dump()).encode()
        header = sign_transmission(ctx.trust, peer, body, ctx.clock())
        try:
            response = await self._clients[peer].post(
                EXCHANGE_PATH,
                content=body,
                headers={HEADER: header, "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            # Each refusal is written to the peer's audit log: do not knock every beat.
            refusals = self._refused[peer] = self._refused.get(peer, 0) + 1
            wait = backoff(refusals, self._rng)
            self._resume_at[peer] = asyncio.get_running_loop().time() + wait
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            answer = parse(AuditExchange, response.json())
        except ValueError as exc:
            raise DeliveryFailed(f"the answer is not JSON: {exc}") from exc
        await asyncio.to_thread(self._audit.hear, peer, answer)
