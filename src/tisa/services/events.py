"""The fused picture at one node, per user: events built only from what that user may read.

`Events(reading)` is the edge around the pure tisa.fusion package: it reads the products the
node holds (released here or received; drafts are nobody's report yet), keeps those the
user may see — through `Reading`'s own visibility check, the one access rule (rule 7) — and
builds the events with the arrangement's fusion windows.

Fusing is cached per (holdings, reader): the holdings key is one cheap aggregate query over
the products table (row count and the latest created/released/received/recalled times), so a
node whose holdings have not changed answers from memory; any new version, release, receipt
or recall changes the key. Parsed manifests are cached by (product id, version): a stored
version never changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from tisa.domain.questions import Reader
from tisa.domain.states import ProductState
from tisa.errors import NotFound
from tisa.fusion import Event, Holding, build_events
from tisa.fusion.offsets import Offset, nation_offsets
from tisa.services.accounts import User
from tisa.services.reading import Reading
from tisa.store import products
from tisa.store.products import ProductRow

#: States whose versions count as reports: released by this node, or received from a peer.
REPORTED = (ProductState.RELEASED, ProductState.RECEIVED)
CACHE_SIZE = 64


class Events:
    """Events a user may see at one node. Constructing it does no I/O."""

    def __init__(self, reading: Reading) -> None:
        self._reading = reading
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, Reader], tuple[Event, ...]] = OrderedDict()

    def _holdings_key(self) -> tuple[Any, ...]:
        with self._reading.ctx.db.read() as conn:
            return products.holdings_mark(conn)

    def _rows(self) -> list[ProductRow]:
        """Every reported version held (fusion takes each product's latest, and keeps the
        earlier ones as its history), in one query."""
        with self._reading.ctx.db.read() as conn:
            return products.in_states(conn, REPORTED)

    def _holdings(self, user: User) -> list[Holding]:
        holdings = []
        for row in self._rows():
            held = self._reading.visible(user, row)  # the gate, as every opening asks it
            if held is None or not held.product.observations:
                continue
            holdings.append(Holding(held.product, row.received_at, row.recalled_at is not None))
        return holdings

    def events(self, user: User) -> tuple[Event, ...]:
        """Every event the user's readable products describe, newest first."""
        key = (self._holdings_key(), user.reader)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        made = build_events(self._holdings(user), self._reading.ctx.arrangement.fusion)
        with self._lock:
            self._cache[key] = made
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return made

    def event(self, user: User, event_id: str) -> Event:
        """One event, if the user may read at least one of its reports.

        Raises:
            NotFound: no such event among what the user may read (an event built only from
                products the user may not read does not exist for them).
        """
        for event in self.events(user):
            if event.id == event_id:
                return event
        raise NotFound(f"no event {event_id}")

    def current_id(self, user: User, event_id: str) -> str | None:
        """The id of the event that an id it once had (or would have had) now leads to, among
        what the user may read; None if none (ids change as reports arrive out of order or
        two events are found to be one: `Event.aliases`)."""
        for event in self.events(user):
            if event_id in event.aliases:
                return event.id
        return None

    def offsets(self, user: User) -> tuple[Offset, ...]:
        """Each nation's systematic difference per quantity over the events the user may
        read (tisa.fusion.offsets): shown, never applied."""
        return nation_offsets(self.events(user))
