"""The node's audit log at work: checkpoints and their exchange with peers.

The chain itself is appended by `tisa.store.audit.record` inside each operation's transaction;
this module signs checkpoints over it and checks peers' checkpoints for consistency (RFC 9162
consistency proofs). `coverage` says how much of the log peers witness; `proofs` verifies the
whole log and proves one product's history.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from tisa.audit.chain import GENESIS
from tisa.crypto import merkle
from tisa.crypto.trust import Signed, Trust
from tisa.domain.wire import parse
from tisa.errors import AuditTampered, SignatureInvalid
from tisa.relay.context import NodeContext
from tisa.relay.messages import (
    AuditExchange,
    CheckpointBody,
    payload,
)
from tisa.store import audit, checkpoints
from tisa.store.audit import Action
from tisa.store.checkpoints import CheckpointRow

# What a peer says it holds is written at most this often (unless it changed), so exchanges
# do not take the write lock each time.
HOLDING_NOTE_EVERY = timedelta(seconds=1)


def read_checkpoint(trust: Trust, token: str, issuer: str) -> CheckpointBody:
    """A checkpoint signed by `issuer`.

    Raises:
        SignatureInvalid: not signed by `issuer`'s pinned key, or names another issuer.
        InputInvalid: malformed.
    """
    body = parse(CheckpointBody, trust.verify(Signed.CHECKPOINT, token, signer=issuer))
    if body.issuer != issuer:
        raise SignatureInvalid(f"checkpoint names {body.issuer}, but {issuer} signed it")
    return body


@dataclass
class _Tree:
    """The Merkle tree over this node's entry hashes, extended as the log grows; `head` is the
    hash of its last leaf."""

    builder: merkle.TreeBuilder = field(default_factory=merkle.TreeBuilder)
    head: str = GENESIS
    lock: threading.Lock = field(default_factory=threading.Lock)


class AuditLog:
    """Checkpoints and verification for one node's log."""

    def __init__(self, ctx: NodeContext) -> None:
        self._ctx = ctx
        self._tree = _Tree()
        self._alarmed: set[tuple[str, str]] = set()
        self._noted: dict[str, tuple[int, datetime]] = {}

    def _leaves(self, upto: int) -> list[bytes]:
        with self._ctx.db.read() as conn:
            return audit.entry_hashes(conn, upto)

    def checkpoint(self) -> CheckpointRow | None:
        """Sign a checkpoint over the log as it stands (or return the latest, if unchanged);
        None while the log is empty.

        Only a log that holds together is sealed: every entry since the last checkpoint must
        be readable and link to the one before, the head row must name the last, and the log
        must not be shorter than a checkpoint this node already signed.

        Raises:
            AuditTampered: naming the entry that cannot be read, is missing or does not link,
                or saying where the log was cut short.
        """
        ctx = self._ctx
        with self._tree.lock, ctx.db.read() as conn:
            size, head = audit.head(conn)
            latest = checkpoints.latest_checkpoint(conn, ctx.party)
            if latest is not None and latest.size == size:
                return latest
            if latest is not None and latest.size > size:
                raise AuditTampered(
                    f"the audit log holds {size} entries, but {ctx.party} signed a "
                    f"checkpoint of {latest.size}: entries after {size} were removed",
                    seq=size + 1,
                )
            if size == 0:
                return None
            root = self._extend(conn, size, head)
        now = ctx.clock()
        body = CheckpointBody(type="checkpoint", issuer=ctx.party, size=size, root=root, at=now)
        token = ctx.trust.sign(Signed.CHECKPOINT, payload(body))
        row = CheckpointRow(ctx.party, size, root, token, now)
        # Not an audit entry itself: that would grow the log it just sealed, forever.
        with ctx.db.begin() as conn:
            checkpoints.add_checkpoint(conn, row, now)
        return row

    def _extend(self, conn: Connection, size: int, head: str) -> str:
        """Grow the tree to `size` leaves, checking each new entry links to the one before;
        the root (hex).

        Raises:
            AuditTampered: an entry cannot be read, is missing or does not link, or the head
                row does not name the last entry.
        """
        tree = self._tree
        if tree.builder.size > size:
            raise AuditTampered(
                f"the audit log holds {size} entries, but {tree.builder.size} were sealed in "
                "this process: the log was cut short",
                seq=size + 1,
            )
        for leaf, prev in audit.links(conn, after=tree.builder.size, upto=size):
            seq = tree.builder.size + 1
            if prev != tree.head:
                raise AuditTampered(
                    f"cannot seal a checkpoint: audit entry {seq} does not link to entry {seq - 1}",
                    seq=seq,
                )
            tree.builder.append(leaf)
            tree.head = leaf.hex()
        if tree.head != head:
            raise AuditTampered(
                f"cannot seal a checkpoint: the log's head row does not name entry {size}",
                seq=size,
            )
        return tree.builder.root().hex()

    def alarm(self, peer: str, problem: str, **detail: Any) -> None:
        """Record that `peer`'s checkpoints do not hold together, once per problem in this
        process: heartbeats repeat the same exchange every few seconds, and the log must not
        grow by the same alarm each time."""
        key = (peer, problem)
        if key in self._alarmed:
            return
        ctx = self._ctx
        with ctx.db.begin() as conn:
            self._record_alarm(conn, peer, problem, detail)
        self._alarmed.add(key)

    def _record_alarm(
        self, conn: Connection, peer: str, problem: str, detail: dict[str, Any]
    ) -> None:
        ctx = self._ctx
        audit.record(
            conn,
            Action.INCONSISTENT,
            at=ctx.clock(),
            actor=ctx.party,
            party=peer,
            detail={"problem": problem, **detail},
        )

    def held_by(self, peer: str) -> int:
        """The size of this node's checkpoint `peer` last said it holds (0: none known)."""
        with self._ctx.db.read() as conn:
            held = checkpoints.holdings(conn).get(peer)
        return 0 if held is None else held.size

    def _note_holding(self, peer: str, size: int, now: datetime) -> None:
        noted = self._noted.get(peer)
        if noted is not None and noted[0] == size and now - noted[1] < HOLDING_NOTE_EVERY:
            return
        with self._ctx.db.begin() as conn:
            checkpoints.set_holding(conn, peer, size, now)
        self._noted[peer] = (size, now)

    # -- exchange ----------------------------------------------------------------------------

    def speak(self, peer: str, peer_holds: int) -> AuditExchange:
        """What to tell `peer`, which holds our checkpoint of size `peer_holds`.

        Raises:
            AuditTampered: the entries a consistency proof needs cannot be read.
        """
        ctx = self._ctx
        with ctx.db.read() as conn:
            ours = checkpoints.latest_checkpoint(conn, ctx.party)
            theirs = checkpoints.latest_checkpoint(conn, peer)
        holding = 0 if theirs is None else theirs.size
        if ours is None:
            return AuditExchange(holding=holding)
        start = peer_holds if 0 < peer_holds <= ours.size else 0
        proof: list[str] = []
        if 0 < start < ours.size:
            leaves = self._leaves(ours.size)
            proof = [h.hex() for h in merkle.consistency_proof(leaves, start)]
        return AuditExchange(checkpoint=ours.token, proof_from=start, proof=proof, holding=holding)

    def hear(self, peer: str, said: AuditExchange) -> None:
        """Note how much of our log `peer` says it holds; keep its checkpoint if it is
        consistent with the one held; record an alarm if it cannot be (the peer's history
        changed).

        Raises:
            SignatureInvalid: the checkpoint is not the peer's.
            InputInvalid: malformed.
        """
        ctx = self._ctx
        now = ctx.clock()
        self._note_holding(peer, said.holding, now)
        if said.checkpoint is None:
            return
        body = read_checkpoint(ctx.trust, said.checkpoint, peer)
        with ctx.db.begin() as conn:
            held = checkpoints.latest_checkpoint(conn, peer)
            problem: str | None = None
            if held is not None:
                if body.size < held.size:
                    return  # an older statement; nothing new to keep
                if body.size == held.size:
                    if body.root != held.root:
                        problem = f"{peer} signed two roots for size {body.size}"
                elif said.proof_from != held.size:
                    return  # the peer will prove from what we hold next time
                else:
                    try:
                        merkle.verify_consistency(
                            held.size,
                            body.size,
                            bytes.fromhex(held.root),
                            bytes.fromhex(body.root),
                            [bytes.fromhex(h) for h in said.proof],
                        )
                    except (SignatureInvalid, ValueError) as exc:
                        problem = (
                            f"{peer}'s log of size {body.size} is not an extension of the "
                            f"log of size {held.size} it signed: {exc}"
                        )
            if problem is not None:
                if (peer, problem) not in self._alarmed:
                    detail = {"held": held.token if held else None, "presented": said.checkpoint}
                    self._record_alarm(conn, peer, problem, detail)
                    self._alarmed.add((peer, problem))
                return
            # Kept in the append-only checkpoints table, not as an audit entry: an entry would
            # grow this log, its next checkpoint would grow the peer's, and two quiet nodes
            # exchanging heartbeats would seal each other's logs forever.
            checkpoints.add_checkpoint(
                conn, CheckpointRow(peer, body.size, body.root, said.checkpoint, body.at), now
            )
