"""The optional warning webhook: every missile warning this node raises, withdraws or ends,
POSTed as JSON to one HTTPS endpoint its administrator names (a siren controller, a
duty-officer pager, a message bus's HTTP bridge).

The webhook reads the audit log, not the warnings task: what it sends is what the node put
on record, in the record's order, and nothing is lost to a restart or an endpoint that is
down. Its place in the log (the last entry delivered) is kept in a file in the node's work
folder, written only after the endpoint answered 2xx, so each change is delivered at least
once (an endpoint sees a change again only if the node stopped between its answer and the
write; the entry's `seq` lets it drop the repeat). A first start begins at the log's end:
warnings already past are not news.

A refusal or a failure to reach the endpoint ends the task with the reason: the supervisor
logs it, counts it, shows it in /healthz and starts it again after a pause, from the same
place. The endpoint's certificate is verified (against `ca` if given, else the system's
roots); plain HTTP is refused at start-up.

The endpoint receives a warning only if the gate lets a watcher of its `clearance` watch every
track stream the warning rests on (the WATCH policy TAK and users are held to; each stream's
marking is recorded with the warning), asked when the warning is sent; one it may not watch,
or one recorded without its streams' markings, is withheld and the node's log says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tisa.audit.chain import Entry
from tisa.domain.consent import StreamMode
from tisa.domain.markings import Classification
from tisa.domain.policy import WATCH
from tisa.domain.questions import TRACK_TOPIC, Reader, Stream
from tisa.errors import DeliveryFailed, MarkingInvalid
from tisa.relay.context import NodeContext
from tisa.store import audit
from tisa.tracks.track import parse_marking

#: What the webhook carries: the warning board's three changes.
CHANGES = (
    audit.Action.WARNING_RAISED,
    audit.Action.WARNING_WITHDRAWN,
    audit.Action.WARNING_ENDED,
)
#: How often the log is looked at while nothing is new (s).
EVERY = 0.5

_log = logging.getLogger("tisa.warnings.webhook")


class WarningWebhook:
    """Deliver this node's warning changes to `url`, in order, from where it left off."""

    def __init__(
        self,
        ctx: NodeContext,
        url: str,
        cursor: Path,
        client: Callable[[], httpx.AsyncClient],
        clearance: Classification,
    ) -> None:
        self.ctx = ctx
        self.url = url
        self.clearance = clearance
        self.reader = Reader(
            username=f"webhook {url}",
            party=ctx.party,
            clearance=clearance,
            need_to_know=frozenset({TRACK_TOPIC}),
        )
        self._cursor = cursor
        self._client = client

    @staticmethod
    def tls(ca: Path | None) -> ssl.SSLContext:
        """The client's TLS: the endpoint's certificate verified against `ca` or the system."""
        return ssl.create_default_context(cafile=None if ca is None else str(ca))

    def position(self) -> int:
        """The seq of the last entry delivered; at a first start, the log's end (kept)."""
        try:
            return int(self._cursor.read_text(encoding="ascii").strip())
        except FileNotFoundError:
            with self.ctx.db.read() as conn:
                end, _ = audit.head(conn)
            self._keep(end)
            return end

    def _keep(self, seq: int) -> None:
        # Written aside and moved over, so a crash leaves the old place or the new, not half.
        self._cursor.parent.mkdir(parents=True, exist_ok=True)
        part = self._cursor.with_suffix(".part")
        part.write_text(f"{seq}\n", encoding="ascii")
        os.replace(part, self._cursor)

    def may_receive(self, entry: Entry) -> bool:
        """Whether the gate lets the endpoint's watcher watch every stream the warning rests
        on, now (a warning recorded without its streams' markings never goes)."""
        detail = entry.detail or {}
        recorded = detail.get("streams")
        sources = detail.get("sources")
        if not isinstance(recorded, list) or not isinstance(sources, list):
            return False
        if not recorded or len(recorded) != len(sources):
            return False
        for stream in recorded:
            try:
                nation = str(stream["source"]).split(":")[0]
                markings = parse_marking(str(stream["marking"]), nation)
            except (KeyError, TypeError, MarkingInvalid):
                return False
            mode = StreamMode.EXERCISE if stream.get("exercise") else StreamMode.LIVE
            if not self.ctx.gate.watches(WATCH, self.reader, Stream(markings, mode)).allowed:
                return False
        return True

    def body(self, entry: Entry) -> dict[str, Any]:
        """One change as the endpoint receives it."""
        return {
            "node": self.ctx.party,
            "seq": entry.seq,
            "at": entry.at.isoformat(),
            "change": entry.action,
            "warning": entry.detail,
        }

    async def deliver_pending(self) -> int:
        """Send every change recorded since the last delivered one, oldest first; how many.

        Raises:
            DeliveryFailed: the endpoint could not be reached or did not answer 2xx; what
                was delivered before stays delivered.
        """
        start = self.position()

        def pending() -> list[Entry]:
            with self.ctx.db.read() as conn:
                end, _ = audit.head(conn)
                return audit.after(conn, start, CHANGES, upto=end) if end > start else []

        entries = await asyncio.to_thread(pending)
        if not entries:
            return 0
        async with self._client() as client:
            for entry in entries:
                if not self.may_receive(entry):
                    _log.warning(
                        "warning webhook: audit entry %d withheld: marked %s; the endpoint, "
                        "cleared to %s, may not watch every stream it rests on",
                        entry.seq,
                        (entry.detail or {}).get("classification") or "without a marking",
                        self.clearance.label,
                    )
                    self._keep(entry.seq)
                    continue
                payload = json.dumps(self.body(entry), separators=(",", ":")).encode()
                try:
                    answer = await client.post(
                        self.url, content=payload, headers={"content-type": "application/json"}
                    )
                except httpx.HTTPError as exc:
                    raise DeliveryFailed(
                        f"warning webhook {self.url}: {type(exc).__name__}: {exc}"
                    ) from exc
                if not answer.is_success:
                    raise DeliveryFailed(
                        f"warning webhook {self.url} answered {answer.status_code} to audit "
                        f"entry {entry.seq}"
                    )
                self._keep(entry.seq)
        return len(entries)

    async def run(self) -> None:
        """Deliver until cancelled; a failure ends the task for the supervisor."""
        while True:
            await self.deliver_pending()
            await asyncio.sleep(EVERY)
