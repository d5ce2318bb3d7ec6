"""What the relay needs of the node's audit log to exchange checkpoints with peers.

The audit log (`tisa.audit.log.AuditLog`) sits above the relay (its proofs read relayed
envelopes), so the sender and the heartbeat name only this much of it.
"""

from __future__ import annotations

from typing import Any, Protocol

from tisa.relay.messages import AuditExchange


class AuditPartner(Protocol):
    """The node's side of a checkpoint exchange."""

    def checkpoint(self) -> object:
        """Sign a checkpoint over the log as it stands (or keep the latest, if unchanged)."""
        ...

    def speak(self, peer: str, peer_holds: int) -> AuditExchange:
        """What to tell `peer`, which holds our checkpoint of size `peer_holds`."""
        ...

    def hear(self, peer: str, said: AuditExchange) -> None:
        """Take what `peer` said of its log and of ours."""
        ...

    def held_by(self, peer: str) -> int:
        """The size of our checkpoint `peer` last said it holds."""
        ...

    def alarm(self, peer: str, problem: str, **detail: Any) -> None:
        """Record, once, that `peer`'s checkpoints do not hold together."""
        ...
