"""What the open pages hear without reloading: server-sent events from the audit log.

Every arrival, release, recall, receipt and consent request is an audit entry with a rising
sequence number, so the log is already the node's change feed: one poller per node reads
the entries after the last it saw and hands them to every open page, and each page's stream
passes on only what its user may see (the same access rule as every read). Reading the log
rather than an in-process signal also works when several workers share one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tisa.accounts import Role, User
from tisa.audit import Entry
from tisa.store import audit, products
from tisa.store.audit import Action
from tisa.store.products import ProductRow

if TYPE_CHECKING:
    from tisa.runtime import Runtime

POLL_SECONDS = 0.1
KEEPALIVE_SECONDS = 15.0
QUEUE_LIMIT = 1000

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
WATCHED = sorted(PRODUCT_ACTIONS | OFFICER_ACTIONS)

# A watched entry and the latest stored version of the product it is about.
Notice = tuple[Entry, "ProductRow | None"]


class Feed:
    """One poller of the audit log, fanning entries out to every open page's queue."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._queues: set[asyncio.Queue[Notice | None]] = set()
        self._task: asyncio.Task[None] | None = None
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
            # The product each entry is about, read once here for every open page.
            return [
                (e, None if e.product_id is None else products.latest(conn, e.product_id))
                for e in found
            ]

    async def _run(self) -> None:
        while True:
            try:
                entries = await asyncio.to_thread(self._read)
            except Exception:  # a database hiccup must not end the feed; the next poll retries
                entries = []
            for notice in entries:
                for queue in list(self._queues):
                    if queue.qsize() < QUEUE_LIMIT:
                        queue.put_nowait(notice)
            await asyncio.sleep(POLL_SECONDS)

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        """A queue of new entries for one open page, for as long as the page listens."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
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


def _event(rt: Runtime, user: User, notice: Notice) -> dict[str, Any] | None:
    """The message one entry makes for one user, or None if it is not theirs to see."""
    entry, row = notice
    if entry.action in OFFICER_ACTIONS:
        if user.role not in (Role.RELEASE_OFFICER, Role.ADMIN):
            return None
        return {"type": "consent", "action": entry.action, "product_id": entry.product_id}
    held = None if row is None else rt.node.visible(user, row)  # the one access rule
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


async def stream(rt: Runtime, feed: Feed, user: User) -> AsyncIterator[str]:
    """The text/event-stream body for one open page."""
    yield "retry: 1000\n\n"
    with feed.subscribe() as queue:
        while True:
            try:
                notice = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if notice is None:
                return
            message = await asyncio.to_thread(_event, rt, user, notice)
            if message is not None:
                yield f"event: {message['type']}\ndata: {json.dumps(message)}\n\n"
