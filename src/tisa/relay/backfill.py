"""Catching up on live tracks: every few seconds, each node asks each peer for the updates it
has not received (since the newest it holds from that peer), so a node that was down, or a
link that dropped lines, ends up with the whole history. What comes back this way is history:
it is kept, and shown as live only if it is still fresh (it seldom is)."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping

import httpx
from pydantic import ValidationError

from tisa.crypto.jws import peek
from tisa.domain.wire import parse
from tisa.errors import DeliveryFailed, TisaError
from tisa.relay import live
from tisa.relay.backoff import backoff
from tisa.relay.context import NodeContext
from tisa.relay.transmission import HEADER, sign_transmission

HISTORY_PATH = "/federation/v1/tracks/history"
EVERY = 5.0
#: How far back a node with nothing from a peer asks at first (ms): the last hour.
FIRST_LOOK_MS = 3_600_000
#: Updates asked for at once; a node further behind catches up page by page.
PAGE = 2_000
#: Each round looks this far behind the newest update held (ms), for lines a link dropped.
MARGIN_MS = 10_000

_log = logging.getLogger("tisa.backfill")


def history_subject(since_ms: int) -> str:
    """What a history request's transmission header signs (a GET has no body)."""
    return f"track-history {since_ms}"


class Backfill:
    """One catching-up task per peer. Constructing it starts nothing."""

    def __init__(
        self,
        ctx: NodeContext,
        clients: Mapping[str, httpx.AsyncClient],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._ctx = ctx
        self._clients = clients
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy

    def lanes(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """One task per peer, named for the supervisor: `backfill JPN`."""
        return [(f"backfill {p}", functools.partial(self._run, p)) for p in self._clients]

    async def _run(self, peer: str) -> None:
        faults = 0
        while True:
            try:
                await self.catch_up(peer)
                faults = 0
                await asyncio.sleep(EVERY)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                faults += 1
                pause = max(EVERY, backoff(faults, self._rng))
                _log.info("backfill from %s: %s: %s", peer, type(exc).__name__, exc)
                await asyncio.sleep(pause)

    async def catch_up(self, peer: str) -> int:
        """Ask `peer`, page by page, for what this node may lack (from a little before the
        newest update it holds from `peer`, so lines a link dropped are fetched too) and keep
        what verifies; how many lines came.

        Raises:
            DeliveryFailed: the peer did not answer with a history.
        """
        newest = await asyncio.to_thread(live.newest_from, self._ctx, peer)
        now_ms = int(self._ctx.clock().timestamp() * 1000)
        since = now_ms - FIRST_LOOK_MS if newest is None else max(0, newest - MARGIN_MS)
        total = 0
        while True:
            lines = await self._page(peer, since)
            if lines:
                await asyncio.to_thread(live.receive_many, self._ctx, peer, lines)
            total += len(lines)
            if len(lines) < PAGE:
                return total
            # The next page starts at the newest time this one reached (never where it began).
            since = max(since + 1, max(_time_of(line) for line in lines))

    async def _page(self, peer: str, since: int) -> list[live.LineIn]:
        header = sign_transmission(self._ctx.trust, peer, history_subject(since), self._ctx.clock())
        response = await self._clients[peer].get(
            HISTORY_PATH, params={"since_ms": since, "limit": PAGE}, headers={HEADER: header}
        )
        if response.status_code != 200:
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            return [parse(live.LineIn, item) for item in response.json()["lines"]]
        except (ValueError, KeyError, TypeError, ValidationError, TisaError) as exc:
            raise DeliveryFailed(f"not a track history: {exc}") from exc


def _time_of(line: live.LineIn) -> int:
    """The time an update claims (to page on; the update itself is verified when kept)."""
    value = peek(line.token).payload.get("time_ms")
    return value if isinstance(value, int) else 0
