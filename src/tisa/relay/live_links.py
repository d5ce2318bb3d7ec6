"""Each link's queue of live track updates: the newest of each track waits, an older one is
dropped (superseded), so a slow or reconnecting link never queues stale positions."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tisa.domain.questions import Stream


@dataclass(frozen=True)
class Line:
    """One update as a link carries it, with what the gate asks of it at the sender."""

    key: str
    time_ms: int
    stream: Stream
    token: str
    attestation: str | None = None
    consent: str | None = None
    consent_id: str | None = None

    def wire(self) -> bytes:
        """The update's line on the stream (JSON, no newline)."""
        body: dict[str, Any] = {"token": self.token}
        if self.attestation is not None:
            body["attestation"] = self.attestation
            body["consent"] = self.consent
        return json.dumps(body, separators=(",", ":")).encode()


class _Wakeup:
    """A waiter in one event loop, woken from any thread."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the waiter in `loop` from now on."""
        self._loop = loop
        self._event = asyncio.Event()

    def wake(self) -> None:
        if self._loop is not None and self._event is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> bool:
        """Wait (in the bound loop) until woken; False after `timeout`."""
        assert self._event is not None, "bind to a loop first"
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True


class LiveQueue(_Wakeup):
    """The newest not-yet-sent update of each track, for one link. Safe from any thread."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: dict[str, Line] = {}
        self.offered = 0
        self.superseded = 0
        self.sent = 0

    def offer(self, line: Line) -> None:
        """Queue `line`; an older update of the same track still waiting is dropped, and a
        line older than the one waiting is itself dropped."""
        with self._lock:
            self.offered += 1
            waiting = self._pending.get(line.key)
            if waiting is not None:
                self.superseded += 1
                if waiting.time_ms > line.time_ms:
                    return
            self._pending[line.key] = line
        self.wake()

    @property
    def waiting(self) -> bool:
        """True while an update waits to be sent."""
        with self._lock:
            return bool(self._pending)

    def take(self) -> list[Line]:
        """Every waiting update, oldest first; the queue is empty after."""
        with self._lock:
            lines = sorted(self._pending.values(), key=lambda line: line.time_ms)
            self._pending.clear()
        return lines


class Arrivals(_Wakeup):
    """The updates this node has kept (made or received) since its fused picture last looked,
    as (originator, time), so the picture is redrawn as they arrive rather than on a clock and
    can say how long each took to reach it. Safe from any thread; bounded, as a picture that
    falls behind needs only to know it did, not every update it missed."""

    LIMIT = 100_000

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._kept: list[tuple[str, int]] = []
        self.dropped = 0

    def note(self, kept: Sequence[tuple[str, int]]) -> None:
        """Updates just committed to the store, as (originator, time_ms)."""
        if not kept:
            return
        with self._lock:
            room = self.LIMIT - len(self._kept)
            self._kept.extend(kept[: max(room, 0)])
            self.dropped += max(len(kept) - max(room, 0), 0)
        self.wake()

    def take(self) -> list[tuple[str, int]]:
        """Everything noted since the last take."""
        with self._lock:
            kept, self._kept = self._kept, []
        return kept


class LiveLinks:
    """This node's live queues, one per channel peer, and what it has kept lately."""

    def __init__(self, peers: Sequence[str]) -> None:
        self.queues = {peer: LiveQueue() for peer in peers}
        self.arrivals = Arrivals()

    def offer(self, peer: str, line: Line) -> None:
        """Queue `line` for `peer` (latest wins)."""
        self.queues[peer].offer(line)
