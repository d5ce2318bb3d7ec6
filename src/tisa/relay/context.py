"""What every part of a running node shares: who it is, what it trusts, where it stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tisa.blobs.store import BlobStore
from tisa.crypto.trust import Trust
from tisa.domain.arrangement import Arrangement
from tisa.relay.gate import Gate
from tisa.relay.live_links import LiveLinks
from tisa.store.database import Database


@dataclass(frozen=True)
class NodeContext:
    """One node's identity, trust, gate, store, blobs and clock; `wake` nudges the sender,
    `live` holds each link's queue of live track updates."""

    party: str
    arrangement: Arrangement
    trust: Trust
    gate: Gate
    db: Database
    blobs: BlobStore
    clock: Callable[[], datetime]
    wake: Callable[[], None]
    count_denial: Callable[[str], None]
    live: LiveLinks

    @property
    def is_hub(self) -> bool:
        """True at the party that relays between channels."""
        return self.party == self.arrangement.hub
