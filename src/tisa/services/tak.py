"""Publishing this node's fused tracks to a TAK server or client as Cursor-on-Target.

When a node's config has a [tak] table, a supervised task (`TakFeed.run`) keeps one TLS
connection to that endpoint and, every second, writes the CoT events of the fused pictures
the node's warnings hold (`tisa.services.warnings`): per fused track a hostile missile and its
predicted impact area (`tisa.tracks.cot`). It reads and discards whatever the endpoint sends
(a TAK server passes other clients' events on), and writes a ping when it has had nothing to
say for a while, so a dead connection shows itself.

**What goes.** The node's own fused pictures, real and exercise (marked as such), of every
stream it holds: a TAK endpoint is a display for the node's own people. It watches as one
reader: cleared to the [tak] `clearance` (the level the TAK network is accredited for), with
need-to-know for missile tracks; a fused track goes only if that reader may watch every
stream it rests on (policy WATCH, the rule a user of the node meets), asked every second.

**Failures.** A connection that cannot be made or breaks is a `DeliveryFailed`: logged, kept
in `status()` (which `/healthz` reports), and retried after a backoff with jitter, for ever. A
track that cannot become CoT is that track's failure (logged, skipped). Anything else ends the
task for the supervisor to log, count and restart.

**Why plain asyncio + ssl.** One connection, one writer, a byte stream of CoT XML: asyncio's
streams do it in a few lines, under the node's supervisor and with the node's TLS context
(client certificate, the TAK CA only, host name checked). pytak brings its own queues, worker
classes and configuration (with switches that turn certificate verification off), which
would sit beside the node's instead of inside it. CoT XML rather than TAK Protocol v1
(protobuf): every TAK server takes XML on its TLS streaming port from the first byte, while
protobuf needs the TAK protocol negotiation first, and some servers (taky) speak XML only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from tisa.domain.markings import Classification
from tisa.domain.policy import WATCH
from tisa.domain.questions import TRACK_TOPIC, Reader
from tisa.errors import DeliveryFailed, TisaError
from tisa.relay import live
from tisa.relay.backoff import backoff
from tisa.relay.context import NodeContext
from tisa.services.warnings import Warnings
from tisa.tracks.cot import CotEvent, CotType, combined_marking, events_for, ping

EVERY = 1.0
#: Seconds allowed to connect (TCP and TLS) and to write one second's events.
TIMEOUT = 10.0
#: With nothing else to send for this long, a ping.
QUIET = 15.0
_READ = 65536

_log = logging.getLogger("tisa.tak")


@dataclass(frozen=True)
class TakStatus:
    """Where the feed stands: `connected` since `since` (or not, since `since`), the last
    failure, and how many track events (missiles and impact points) it has written."""

    url: str
    connected: bool
    since: datetime
    last_error: str | None = None
    sent: int = 0


class TakFeed:
    """This node's CoT feed to one TAK endpoint. Constructing it does no I/O; `prepare` builds
    the TLS context, `run` connects and sends."""

    def __init__(
        self,
        ctx: NodeContext,
        warnings: Warnings,
        *,
        host: str,
        port: int,
        clearance: Classification,
        context: Callable[[], ssl.SSLContext],
        on_sent: Callable[[CotType], None],
        rng: random.Random | None = None,
    ) -> None:
        """`context` makes the TLS context (read once, by `prepare`); `on_sent` is told of
        each missile or impact event written (to count it)."""
        self.ctx = ctx
        self._warnings = warnings
        self._host = host
        self._port = port
        self._make_context = context
        self._context: ssl.SSLContext | None = None
        self._on_sent = on_sent
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        shown = f"[{host}]" if ":" in host else host
        self.url = f"tls://{shown}:{port}"
        self.reader = Reader(
            username=f"TAK {self.url}",
            party=ctx.party,
            clearance=clearance,
            need_to_know=frozenset({TRACK_TOPIC}),
        )
        self._status = TakStatus(self.url, connected=False, since=ctx.clock())
        self._withheld: set[tuple[bool, str]] = set()

    def prepare(self) -> None:
        """Build the TLS context now, so a bad certificate, key or CA stops the node from
        starting rather than failing each second.

        Raises:
            ConfigInvalid: a TLS file cannot be loaded.
        """
        self._context = self._make_context()

    def status(self) -> TakStatus:
        """Where the feed stands now."""
        return self._status

    # -- what goes ---------------------------------------------------------------------------

    def events(self, now_ms: int) -> list[CotEvent]:
        """The CoT events of every fused track the TAK reader may watch, real and exercise,
        made at `now_ms`. A track that cannot become CoT is logged and left out."""
        out: list[CotEvent] = []
        for exercise, picture in self._warnings.pictures.items():
            for track in picture.fused:
                streams = [picture.streams.get(key) for key in track.sources]
                held = [s for s in streams if s is not None]
                if len(held) != len(streams) or not all(
                    self.ctx.gate.watches(WATCH, self.reader, live.stream_of(s)).allowed
                    for s in held
                ):
                    self._withhold(exercise, track.fused_id)
                    continue
                try:
                    marking = combined_marking(s.markings() for s in held)
                    out.extend(
                        events_for(
                            track,
                            marking=marking,
                            exercise=exercise,
                            origin=self.ctx.party,
                            now_ms=now_ms,
                        )
                    )
                except TisaError as exc:
                    _log.warning("fused track %s left out of TAK: %s", track.fused_id, exc.reason)
        return out

    def _withhold(self, exercise: bool, fused_id: str) -> None:
        """Say once per fused track that it is kept from the TAK endpoint."""
        if (exercise, fused_id) not in self._withheld:
            self._withheld.add((exercise, fused_id))
            _log.info(
                "%sfused track %s not sent to TAK at %s: it rests on a stream above %s",
                "exercise " if exercise else "",
                fused_id,
                self.url,
                self.reader.clearance.label,
            )

    # -- the connection ----------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, send every EVERY seconds, and on any failure of the connection say so
        and connect again after a backoff; until cancelled."""
        if self._context is None:
            self.prepare()
        failures = 0
        while True:
            try:
                await self._session()
            except DeliveryFailed as exc:
                # A connection that worked starts the backoff afresh.
                failures = 1 if self._status.connected else failures + 1
                self._failed(exc.reason)
            await asyncio.sleep(backoff(failures, self._rng))

    async def _session(self) -> None:
        """One connection, from opening to the failure that ends it.

        Raises:
            DeliveryFailed: the endpoint could not be reached, refused the handshake, closed
                the connection, or stopped taking what is written.
        """
        assert self._context is not None
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # lands as its awaitable completes, and the task would never stop.
        try:
            async with asyncio.timeout(TIMEOUT):
                incoming, outgoing = await asyncio.open_connection(
                    self._host, self._port, ssl=self._context, server_hostname=self._host
                )
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            raise DeliveryFailed(f"cannot connect to {self.url}: {_said(exc)}") from exc
        self._status = TakStatus(self.url, connected=True, since=self.ctx.clock(), sent=self.sent)
        _log.info("connected to TAK at %s", self.url)
        discard = asyncio.create_task(_discard(incoming))
        try:
            await self._send(outgoing, discard)
        finally:
            discard.cancel()
            outgoing.close()
            # A TLS goodbye the endpoint does not answer must not hold the next attempt (a
            # cancellation, though, goes through).
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await outgoing.wait_closed()

    async def _send(self, outgoing: asyncio.StreamWriter, discard: asyncio.Task[None]) -> None:
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            if discard.done():
                raise DeliveryFailed(f"{self.url} closed the connection")
            now_ms = int(self.ctx.clock().timestamp() * 1000)
            events = self.events(now_ms)
            if not events and loop.time() - quiet_since >= QUIET:
                events = [ping(self.ctx.party, now_ms)]
            if events:
                quiet_since = loop.time()
                outgoing.write(b"".join(e.to_xml() + b"\n" for e in events))
                try:
                    async with asyncio.timeout(TIMEOUT):
                        await outgoing.drain()
                except (OSError, TimeoutError) as exc:
                    raise DeliveryFailed(f"writing to {self.url}: {_said(exc)}") from exc
                told = [e.type for e in events if e.type is not CotType.PING]
                for kind in told:
                    self._on_sent(kind)
                self._status = replace(self._status, sent=self._status.sent + len(told))
            await asyncio.sleep(EVERY)

    @property
    def sent(self) -> int:
        """Track events written since the node started."""
        return self._status.sent

    def _failed(self, reason: str) -> None:
        was = self._status
        if was.connected or was.last_error != reason:
            _log.warning("TAK at %s: %s; trying again", self.url, reason)
        since = self.ctx.clock() if was.connected else was.since
        self._status = TakStatus(self.url, False, since, last_error=reason, sent=was.sent)


async def _discard(incoming: asyncio.StreamReader) -> None:
    """Read and drop what the endpoint sends until it closes (the task then ends)."""
    with contextlib.suppress(OSError):
        while await incoming.read(_READ):
            pass


def _said(exc: BaseException) -> str:
    """One line for a log or /healthz: the error's own words, or its kind."""
    words = " ".join(str(exc).split())
    return words or type(exc).__name__
