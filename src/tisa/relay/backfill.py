"""Catching up on live tracks: every few seconds, each node asks each peer for the updates it
has not received, so a node that was down, or a link that dropped lines (latest wins), ends
up with the whole history. What comes back this way is history: it is kept, and shown as
live only if it is still fresh (it seldom is).

A node asks by the peer's store position (the order the peer kept its updates in), not by
time: an update the peer kept late — a tracker's burst of its past, the hub's own catch-up
from a spoke — still comes, however old its time. Where each peer's history was read to is
kept in a file per peer (`backfill-<PEER>.position` in the node's work folder), so a restart
goes on from there. With no position yet (or one past the peer's end: a peer whose store was
replaced), a node asks from a little before the newest update it holds from the peer."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import httpx
from pydantic import ValidationError

from tisa.domain.wire import parse
from tisa.errors import ChannelSuspended, DeliveryFailed, TisaError
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


def history_subject(after: int | None, since_ms: int) -> str:
    """What a history request's transmission header signs (a GET has no body)."""
    return f"track-history {'-' if after is None else after} {since_ms}"


class Backfill:
    """One catching-up task per peer. Constructing it starts nothing."""

    def __init__(
        self,
        ctx: NodeContext,
        clients: Mapping[str, httpx.AsyncClient],
        work: Path,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._ctx = ctx
        self._clients = clients
        self._work = work
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy

    def _mark(self, peer: str) -> Path:
        return self._work / f"backfill-{peer}.position"

    def position(self, peer: str) -> int | None:
        """Where `peer`'s history was read to, or None before the first catch-up."""
        try:
            return int(self._mark(peer).read_text(encoding="ascii").strip())
        except (FileNotFoundError, ValueError):
            return None

    def _keep(self, peer: str, position: int) -> None:
        self._work.mkdir(parents=True, exist_ok=True)
        part = self._mark(peer).with_suffix(".part")
        part.write_text(f"{position}\n", encoding="ascii")
        os.replace(part, self._mark(peer))

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
            except (DeliveryFailed, httpx.HTTPError) as exc:
                # A peer out of reach or refusing is routine: wait and ask again. Anything
                # else is this node's own fault and ends the task, for the supervisor to log,
                # count, show in /healthz and restart (a round that fails every time must
                # not look like a task that runs).
                faults += 1
                _log.info("backfill from %s: %s: %s", peer, type(exc).__name__, exc)
                await asyncio.sleep(max(EVERY, backoff(faults, self._rng)))

    async def catch_up(self, peer: str) -> int:
        """Ask `peer`, page by page, for what it kept after the position this node read it
        to, and keep what verifies; how many lines came.

        Raises:
            DeliveryFailed: the peer did not answer with a history.
        """
        after = self.position(peer)
        newest = await asyncio.to_thread(live.newest_from, self._ctx, peer)
        now_ms = int(self._ctx.clock().timestamp() * 1000)
        since = now_ms - FIRST_LOOK_MS if newest is None else max(0, newest - MARGIN_MS)
        total = 0
        while True:
            lines, reached, end = await self._page(peer, after, since)
            if after is not None and after > end:
                # The peer's store is not the one this position was read in: start afresh.
                _log.warning("backfill from %s: position %d past its end %d", peer, after, end)
                after = None
                continue
            results = (
                await asyncio.to_thread(live.receive_many, self._ctx, peer, lines) if lines else []
            )
            if any(isinstance(r, ChannelSuspended) for r in results):
                # Held here (the channel is suspended): not past it, so the same page is
                # asked again once the channel is back; what was kept of it is not kept twice.
                return total
            total += len(lines)
            moved = after is None or reached > after
            after = reached
            self._keep(peer, after)
            if not moved or reached >= end:
                return total

    async def _page(
        self, peer: str, after: int | None, since: int
    ) -> tuple[list[live.LineIn], int, int]:
        header = sign_transmission(
            self._ctx.trust, peer, history_subject(after, since), self._ctx.clock()
        )
        params = {"since_ms": since, "limit": PAGE}
        if after is not None:
            params["after"] = after
        response = await self._clients[peer].get(
            HISTORY_PATH, params=params, headers={HEADER: header}
        )
        if response.status_code != 200:
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
            lines = [parse(live.LineIn, item) for item in body["lines"]]
            reached, end = body["reached"], body["end"]
            if not isinstance(reached, int) or not isinstance(end, int):
                raise TypeError("reached and end are store positions")
        except (ValueError, KeyError, TypeError, ValidationError, TisaError) as exc:
            raise DeliveryFailed(f"not a track history: {exc}") from exc
        return lines, reached, end
