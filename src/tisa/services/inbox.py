"""The inbox a page at a time: filters and search narrow what the store reads, the gate's READ
policy (through `Reading`, the one call that decides) picks what the reader may see, and an
opaque cursor carries the walk to its next page.

The gate is asked after the query, so a page reads ahead in batches until it holds `limit`
products the reader may see, the store has no more, or it has examined `SCAN_MAX` rows (then
the page is short and still has a cursor: a reader who may see little of a large store gets
pages, not one request that reads it all). The cursor points after the last row examined,
never after the last one shown, so each product is examined once per walk: walking every page
shows every product the reader may see exactly once, newest first, as the store stood when
the walk began (`tisa.store.inbox`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from tisa.domain.markings import Classification, Precedence
from tisa.domain.terms import query_terms
from tisa.errors import CursorInvalid, Damaged
from tisa.relay.context import NodeContext
from tisa.services.accounts import User
from tisa.services.reading import Held, Reading
from tisa.store import inbox, salvage
from tisa.store.products import micros

LIMIT_DEFAULT = 200
LIMIT_MAX = 1000
#: Rows examined per page, at most (see the module's docstring).
SCAN_MAX = 5_000
# Rows read from the store at once: enough for a page most readers see whole, few enough that
# a page of 20 does not read 1,000.
_BATCH_MIN = 50
_MAC = 16


@dataclass(frozen=True)
class InboxQuery:
    """What a reader asks of the inbox. `topic` names a topic or a family of them
    ('dprk.missile' finds 'dprk.missile.launch'); `since` and `until` bound when this node
    listed the version (received it, or its draft was written here); `q` is searched for in
    title and text."""

    state: str | None = None
    originator: str | None = None
    classification: Classification | None = None
    precedence: Precedence | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    unread: bool = False
    q: str | None = None

    @property
    def plain(self) -> bool:
        """Whether only state, originator and times narrow it (the damaged store's listing
        can answer that)."""
        return (
            self.classification is None
            and self.precedence is None
            and self.topic is None
            and not self.unread
            and self.q is None
        )

    def filters(self, user: User) -> inbox.Filters:
        """The store's filters for this query by `user`.

        Raises:
            InputInvalid: `q` holds no word, or is too long.
        """
        return inbox.Filters(
            states=(self.state,) if self.state else (),
            originator=self.originator,
            classification=None if self.classification is None else int(self.classification),
            precedence=None if self.precedence is None else self.precedence.value,
            family=None if self.topic is None else self.topic.removesuffix(".*"),
            since_us=None if self.since is None else micros(self.since),
            until_us=None if self.until is None else micros(self.until),
            unread_by=user.username if self.unread else None,
            terms=tuple(query_terms(self.q)) if self.q is not None else (),
        )


@dataclass(frozen=True)
class Page:
    """One page of the inbox: what the reader may see, how many stored versions were left
    out because they could not be read whole, and the cursor to the next page (None: the
    last)."""

    held: list[Held]
    withheld: int = 0
    next_cursor: str | None = None


class Inbox:
    """The paged inbox over `Reading`. Constructing it does no I/O; `secret` signs cursors."""

    def __init__(self, ctx: NodeContext, *, reading: Reading, secret: bytes) -> None:
        self.ctx = ctx
        self._reading = reading
        self._secret = secret

    # -- cursors -----------------------------------------------------------------------------

    def _binding(self, user: User, query: InboxQuery) -> str:
        """What a cursor is good for: this reader and these filters (not the page size)."""
        asked = json.dumps(asdict(query), sort_keys=True, default=str)
        return hashlib.sha256(f"{user.username}\n{asked}".encode()).hexdigest()[:16]

    def _cursor(self, at: inbox.Position, binding: str) -> str:
        body = f"{at.horizon_us}.{at.after_us}.{binding}".encode()
        mac = hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC]
        return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def _position(self, cursor: str, binding: str) -> inbox.Position:
        """Where a cursor this node gave resumes.

        Raises:
            CursorInvalid: altered, not this node's, another user's or for other filters.
        """
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            body, mac = raw[:-_MAC], raw[-_MAC:]
            expected = hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC]
            horizon, after, bound = body.decode("ascii").split(".")
            if hmac.compare_digest(mac, expected) and bound == binding:
                return inbox.Position(int(horizon), int(after))
        except (ValueError, UnicodeDecodeError):
            pass
        raise CursorInvalid(
            "cursor: not one this node gave you for these filters (altered, another's, or "
            "for another query); ask again without it for the first page"
        )

    # -- pages -------------------------------------------------------------------------------

    def page(
        self,
        user: User,
        query: InboxQuery,
        *,
        cursor: str | None = None,
        limit: int = LIMIT_DEFAULT,
    ) -> Page:
        """One page of the products `user` may see (the gate's READ policy), newest first.

        Raises:
            CursorInvalid: a cursor this node did not give for this user and query.
            InputInvalid: `q` holds no word, or is too long.
            Damaged: part of the store cannot be read, and the query is not one the
                damaged store's listing answers (state, originator and times only).
        """
        filters = query.filters(user)
        binding = self._binding(user, query)
        try:
            return self._page(user, filters, binding, cursor, limit)
        except (SQLAlchemyError, ValueError) as exc:
            if not salvage.is_damage(exc):
                raise
            if cursor is not None or not query.plain:
                raise Damaged(
                    f"the products table is damaged ({salvage.why(exc)}); only the first "
                    "page, by state, originator and dates, can be listed; run `tisa check`"
                ) from exc
        shown = self._reading.listing(
            user,
            state=query.state,
            originator=query.originator,
            since=query.since,
            until=query.until,
            limit=limit,
        )
        return Page(shown.held, shown.withheld)

    def _page(
        self, user: User, filters: inbox.Filters, binding: str, cursor: str | None, limit: int
    ) -> Page:
        if cursor is None:
            with self.ctx.db.read() as conn:
                top = inbox.horizon(conn)
            at = inbox.Position(top, top + 1)
        else:
            at = self._position(cursor, binding)
        held: list[Held] = []
        withheld = scanned = 0
        batch = max(limit, _BATCH_MIN)
        while True:
            with self.ctx.db.read() as conn:
                rows = inbox.page(conn, filters, at, batch)
            for row in rows:
                at = inbox.Position(at.horizon_us, row.listed_us)
                scanned += 1
                shown = self._reading.shown(user, [row], [])
                held.extend(shown.held)
                withheld += shown.withheld
                if len(held) == limit or scanned == SCAN_MAX:
                    break
            else:
                if len(rows) < batch:
                    return Page(held, withheld, None)  # every row there is was examined
                continue
            break  # the page is full, or its budget spent
        with self.ctx.db.read() as conn:
            more = bool(inbox.page(conn, filters, at, 1))
        return Page(held, withheld, self._cursor(at, binding) if more else None)
