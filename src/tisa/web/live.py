"""What the open pages hear without reloading: server-sent events from the audit log.

Every arrival, release, recall, receipt and consent request is an audit entry with a rising
sequence number, so the log is already the node's change feed: one poller per node reads
the entries after the last it saw and hands them to every open page, and each page's stream
passes on only what its user may see (the same access rule as every read). Reading the log
rather than an in-process signal also works when several workers share one database.

Each event carries its audit sequence number as its SSE id, and every page is rendered with
the log's head at that moment: its stream starts from there (`?after=`), and a browser that
reconnects resumes from the last id it saw (`Last-Event-ID`), so nothing that happened
between rendering the page and hearing the stream is lost, and nothing is heard twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Connection

from tisa.api.tracks import warning_view
from tisa.audit.chain import Entry
from tisa.node.runtime import Runtime
from tisa.services.accounts import Role, User
from tisa.store import audit, products
from tisa.store.audit import Action
from tisa.store.products import ProductRow

POLL_SECONDS = 0.1
KEEPALIVE_SECONDS = 15.0
QUEUE_LIMIT = 1000
BACKLOG_LIMIT = 1000

PRODUCT_ACTIONS = frozenset(
    {
        Action.RECEIVE,
        Action.RELEASE,
        Action.RECALL,
        Action.RECEIPT,
        Action.CREATE,
        Action.AMEND,
        Action.REVISE,
        Action.SEND_BACK,
    }
)
OFFICER_ACTIONS = frozenset({Action.CONSENT_REQUEST, Action.CONSENT_GRANT, Action.CONSENT_DENY})
WARNING_ACTIONS = frozenset({Action.WARNING_RAISED, Action.WARNING_WITHDRAWN, Action.WARNING_ENDED})
WATCHED = sorted(PRODUCT_ACTIONS | OFFICER_ACTIONS | WARNING_ACTIONS)

# A watched entry and the latest stored version of the product it is about.
Notice = tuple[Entry, "ProductRow | None"]


class Feed:
    """One poller of the audit log, fanning entries out to every open page's queue."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._queues: set[asyncio.Queue[Notice | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._supervised = False
        self._seq: int | None = None

    def _read(self) -> list[Notice]:
        with self._rt.ctx.db.read() as conn:
            # The head first: every entry up to it is committed (the head moves in the same
            # transaction as each append), so reading up to it misses nothing, and the next
            # read starts after it even when nothing watched happened.
            size = audit.head(conn)[0]
            if self._seq is None:
                self._seq = size
                return []
            found = audit.after(conn, self._seq, WATCHED, upto=size) if size > self._seq else []
            self._seq = size
            return _notices(conn, found)

    async def run(self) -> None:
        """Poll the log until cancelled (a supervised task of the running node). A failed
        read is not fatal: the supervisor restarts the poller, which carries on from where
        it stood."""
        self._supervised = True
        while True:
            entries = await asyncio.to_thread(self._read)
            for notice in entries:
                for queue in list(self._queues):
                    if queue.qsize() < QUEUE_LIMIT:
                        queue.put_nowait(notice)
            await asyncio.sleep(POLL_SECONDS)

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        """A queue of new entries for one open page, for as long as the page listens."""
        if not self._supervised and (self._task is None or self._task.done()):
            # Not under a node's supervisor (an app served on its own): poll from here.
            self._task = asyncio.get_running_loop().create_task(self.run())
        queue: asyncio.Queue[Notice | None] = asyncio.Queue()
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        """Stop polling and end every open page's stream (the node is stopping: an open page
        must not hold the server up; the browser reconnects to the node when it is back)."""
        if self._task is not None:
            self._task.cancel()
        for queue in list(self._queues):
            queue.put_nowait(None)


def _notices(conn: Connection, found: list[Entry]) -> list[Notice]:
    # The product each entry is about, read once here for every open page.
    return [
        (e, None if e.product_id is None else products.latest(conn, e.product_id)) for e in found
    ]


def backlog(rt: Runtime, after: int) -> list[Notice]:
    """The watched entries after `after` up to the log's head now (at most the newest
    BACKLOG_LIMIT), for a page that resumes its stream from there."""
    with rt.ctx.db.read() as conn:
        size = audit.head(conn)[0]
        start = max(after, size - BACKLOG_LIMIT)
        return _notices(conn, audit.after(conn, start, WATCHED, upto=size) if size > start else [])


def head(rt: Runtime) -> int:
    """The log's head now: where the stream of a page rendered now starts."""
    with rt.ctx.db.read() as conn:
        return audit.head(conn)[0]


def _event(rt: Runtime, user: User, notice: Notice) -> dict[str, Any] | None:
    """The message one entry makes for one user, or None if it is not theirs to see."""
    entry, row = notice
    if entry.action in WARNING_ACTIONS:
        track, exercise = entry.detail.get("track"), bool(entry.detail.get("exercise"))
        if entry.action != Action.WARNING_RAISED:
            # Only which alert to take down: nothing a user may not see.
            return {"type": "warning", "action": entry.action, "track": track, "exercise": exercise}
        shown = [
            warning_view(w)
            for w in rt.warnings.active(user)  # the one access rule for tracks (WATCH)
            if w.track_id == track and w.exercise == exercise
        ]
        return None if not shown else {"type": "warning", "action": entry.action, **shown[0]}
    if entry.action in OFFICER_ACTIONS:
        if user.role not in (Role.RELEASE_OFFICER, Role.ADMIN):
            return None
        return {"type": "consent", "action": entry.action, "product_id": entry.product_id}
    held = None if row is None else rt.reading.visible(user, row)  # the one access rule
    if held is None:
        return None
    product = held.product
    term = rt.ctx.arrangement.term(rt.ctx.party, product.classification)
    return {
        "type": "product",
        "action": entry.action,
        "id": product.id,
        "version": product.version,
        "state": held.row.state,
        "precedence": product.precedence.value,
        "originator": product.originator,
        "title": product.title,
        "banner": product.markings.banner(term, rt.ctx.party),
        "url": f"/ui/products/{product.id}",
    }


async def stream(rt: Runtime, feed: Feed, user: User, after: int | None) -> AsyncIterator[str]:
    """The text/event-stream body for one open page: what happened after `after` (the page's
    render, or the last event the browser saw), then everything new, each once."""
    yield "retry: 1000\n\n"
    with feed.subscribe() as queue:
        # Subscribed first, then the backlog: an entry the poller hands out meanwhile is in
        # the queue, one it handed out before is in the backlog; the id removes the overlap.
        last = after if after is not None else await asyncio.to_thread(head, rt)
        pending = await asyncio.to_thread(backlog, rt, last) if after is not None else []
        while True:
            if pending:
                notice: Notice | None = pending.pop(0)
            else:
                try:
                    notice = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
            if notice is None:
                return
            seq = notice[0].seq
            if seq <= last:
                continue
            last = seq
            message = await asyncio.to_thread(_event, rt, user, notice)
            if message is not None:
                yield f"id: {seq}\nevent: {message['type']}\ndata: {json.dumps(message)}\n\n"
