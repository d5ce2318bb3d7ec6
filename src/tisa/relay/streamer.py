"""The live track link to each peer: one long HTTP request over the pinned mutual-TLS
federation, its body a stream of signed updates, one JSON line each, written as they come.

One request streams for at most `LONGEST` seconds, or until nothing has been offered for
`IDLE`; then a new one starts when there is something to send. Each batch taken from the
link's queue is put to the gate first (`live.admit`): what the rules refuse now (a suspended
channel, a consent revoked) is dropped, never sent. A request that fails is not retried line
by line: live positions go stale, and the history is where a peer finds what it missed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import httpx

from tisa.errors import DeliveryFailed
from tisa.relay.backoff import backoff
from tisa.relay.context import NodeContext
from tisa.relay.live import admit
from tisa.relay.live_links import LiveQueue
from tisa.relay.transmission import HEADER, sign_transmission

STREAM_PATH = "/federation/v1/tracks"
LONGEST = 30.0
IDLE = 5.0

_log = logging.getLogger("tisa.streamer")


def stream_subject(session: str) -> str:
    """What a track stream's transmission header signs in place of a body hash: its session
    (the body is not known when the request starts; each line carries its own signature)."""
    return f"tracks {session}"


class Streamer:
    """Runs one live link per peer. Constructing it starts nothing; `prepare` binds the queues
    to the running loop and `lanes` gives the tasks."""

    def __init__(
        self,
        ctx: NodeContext,
        clients: Mapping[str, httpx.AsyncClient],
        *,
        rng: random.Random | None = None,
        on_fault: Callable[[str, str], None] | None = None,
    ) -> None:
        self._ctx = ctx
        self._clients = clients
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._on_fault = on_fault

    def prepare(self) -> None:
        """Bind each link's queue to the running loop, so offers wake its task."""
        loop = asyncio.get_running_loop()
        for peer in self._clients:
            self._ctx.live.queues[peer].bind(loop)

    def lanes(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """One task per peer, named for the supervisor: `live JPN`."""
        return [(f"live {peer}", functools.partial(self._link, peer)) for peer in self._clients]

    async def _link(self, peer: str) -> None:
        """Stream to `peer` until cancelled; a failed request waits a backoff, then the link
        starts again with whatever is newest by then."""
        queue = self._ctx.live.queues[peer]
        faults = 0
        while True:
            if not queue.waiting and not await queue.wait(IDLE):
                continue
            try:
                await self._stream(peer, queue)
                faults = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                faults += 1
                pause = backoff(faults, self._rng)
                _log.warning(
                    "live link to %s: %s: %s; again in %.1f s", peer, type(exc).__name__, exc, pause
                )
                if self._on_fault is not None:
                    self._on_fault(peer, type(exc).__name__)
                await asyncio.sleep(pause)

    async def _stream(self, peer: str, queue: LiveQueue) -> None:
        session = str(uuid.uuid4())
        header = sign_transmission(
            self._ctx.trust, peer, stream_subject(session), self._ctx.clock()
        )
        response = await self._clients[peer].post(
            STREAM_PATH,
            params={"session": session},
            content=self._lines(peer, queue),
            headers={HEADER: header, "Content-Type": "application/x-ndjson"},
        )
        if response.status_code != 200:
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")

    async def _lines(self, peer: str, queue: LiveQueue) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < LONGEST:
            lines = queue.take()
            if not lines:
                if not await queue.wait(IDLE):
                    return
                continue
            allowed = await asyncio.to_thread(admit, self._ctx, peer, lines)
            if allowed:
                queue.sent += len(allowed)
                yield b"".join(line.wire() + b"\n" for line in allowed)
