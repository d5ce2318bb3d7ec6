"""The node's audit log at work: checkpoints, their exchange with peers, verification, proofs.

The chain itself is appended by `tisa.store.audit.record` inside each operation's transaction;
this module signs checkpoints over it, checks peers' checkpoints for consistency (RFC 9162
consistency proofs), and verifies the whole log against what the node and its peers signed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from tisa.audit.chain import GENESIS, examine
from tisa.crypto import jws, merkle
from tisa.crypto.trust import Signed, Trust
from tisa.domain.wire import parse
from tisa.errors import AuditTampered, Damaged, NotFound, SignatureInvalid, TisaError
from tisa.node.context import NodeContext
from tisa.relay.messages import (
    AuditExchange,
    CheckpointBody,
    Receipt,
    payload,
)
from tisa.relay.provenance import Holdings, Verified, verify_stored
from tisa.store import audit, consents, products
from tisa.store.audit import Action, CheckpointRow
from tisa.store.database import Database

T = TypeVar("T")

# Entries not yet in a checkpoint any peer holds could be cut off unseen; for a few seconds
# that is the normal lag of the heartbeat, beyond this it is worth a warning.
UNWITNESSED_GRACE = timedelta(seconds=30)
# Problems `verify_log` lists one by one; the rest are counted.
LISTED = 100
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
            latest = audit.latest_checkpoint(conn, ctx.party)
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
            audit.add_checkpoint(conn, row, now)
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
            held = audit.holdings(conn).get(peer)
        return 0 if held is None else held.size

    def _note_holding(self, peer: str, size: int, now: datetime) -> None:
        noted = self._noted.get(peer)
        if noted is not None and noted[0] == size and now - noted[1] < HOLDING_NOTE_EVERY:
            return
        with self._ctx.db.begin() as conn:
            audit.set_holding(conn, peer, size, now)
        self._noted[peer] = (size, now)

    # -- exchange ----------------------------------------------------------------------------

    def speak(self, peer: str, peer_holds: int) -> AuditExchange:
        """What to tell `peer`, which holds our checkpoint of size `peer_holds`.

        Raises:
            AuditTampered: the entries a consistency proof needs cannot be read.
        """
        ctx = self._ctx
        with ctx.db.read() as conn:
            ours = audit.latest_checkpoint(conn, ctx.party)
            theirs = audit.latest_checkpoint(conn, peer)
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
            held = audit.latest_checkpoint(conn, peer)
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
            audit.add_checkpoint(
                conn, CheckpointRow(peer, body.size, body.root, said.checkpoint, body.at), now
            )


@dataclass(frozen=True)
class Coverage:
    """How much of this node's log its peers hold a checkpoint over: the part a truncation
    could not remove unseen."""

    size: int
    holdings: dict[str, audit.Holding]
    covered: int
    since: datetime | None
    overdue: bool
    beyond: list[str]

    @property
    def unwitnessed(self) -> int:
        """Entries after the largest checkpoint any peer holds."""
        return self.size - self.covered

    def warning(self) -> str | None:
        """What an operator must be told, or None while the log's tail is covered (or only
        briefly not)."""
        if self.beyond:
            held = ", ".join(f"{p} ({self.holdings[p].size})" for p in self.beyond)
            return (
                f"peers hold checkpoints larger than this log of {self.size} entries: {held}; "
                "entries were removed"
            )
        if not self.overdue:
            return None
        since = (
            "at a time that cannot be read"
            if self.since is None
            else self.since.isoformat(timespec="seconds")
        )
        return (
            f"{self.unwitnessed} audit entries (from entry {self.covered + 1}, appended "
            f"{since}) are not yet witnessed by any peer, for longer than "
            f"{int(UNWITNESSED_GRACE.total_seconds())} s: they could be cut off unseen"
        )


def coverage(conn: Connection, party: str, now: datetime) -> Coverage:
    """The log's size against the largest checkpoint of ours each peer says it holds.

    A peer's word counts only up to the largest checkpoint this node (`party`) signed: no peer
    can hold more than it was given. A few seconds of entries not yet witnessed is the
    heartbeat's normal lag; `overdue` is set once the oldest of them has waited longer than
    UNWITNESSED_GRACE.
    """
    size, _ = audit.head(conn)
    held = audit.holdings(conn)
    signed = audit.latest_checkpoint(conn, party)
    claimed = max((h.size for h in held.values()), default=0)
    covered = min(size, claimed, 0 if signed is None else signed.size)
    since = audit.entry_time(conn, covered + 1) if covered < size else None
    overdue = covered < size and (since is None or now - since > UNWITNESSED_GRACE)
    beyond = sorted(peer for peer, h in held.items() if h.size > size)
    return Coverage(size, held, covered, since, overdue, beyond)


def verify_log(db: Database, trust: Trust, witnessed: dict[str, list[str]]) -> dict[str, Any]:
    """Walk the chain, recompute the Merkle roots, and hold them against every checkpoint the
    node signed, both its own copies and those its peers kept (`witnessed`: peer -> tokens).

    Raises nothing for anything stored: every altered, missing, malformed or unreadable entry
    is a problem naming its sequence numbers, and the walk goes on past it.

    Returns a report: {"ok", "size", "root", "checked": [...], "problems": [...],
    "first_bad_entry"}; problems come in log order, the first names the first bad entry.
    """
    party = trust.party
    unread: list[str] = []
    checked: list[str] = []
    with db.read() as conn:
        own = _attempt(conn, unread, "this node's own checkpoints", audit.checkpoints_of, party)
        recorded = _attempt(conn, unread, "the log's head row", audit.head)
        statements: list[tuple[str, str]] = [("this node", cp.token) for cp in own or []]
        for peer, tokens in witnessed.items():
            statements += [(peer, token) for token in tokens]
        bodies: list[tuple[str, CheckpointBody]] = []
        for holder, token in statements:
            try:
                bodies.append((holder, read_checkpoint(trust, token, party)))
            except TisaError as exc:
                unread.append(f"a checkpoint held by {holder} is not {party}'s: {exc.reason}")
        chain = examine(audit.stream(conn), roots_at=[b.size for _, b in bodies])
    problems = [p.reason for p in chain.problems[:LISTED]]
    if len(chain.problems) > LISTED:
        rest = chain.problems[LISTED:]
        problems.append(
            f"… and {len(rest)} more problems, from entry {rest[0].first} to "
            f"{rest[-1].last or 'the end'}"
        )
    problems += unread
    first_bad = chain.problems[0].first if chain.problems else None
    # Damage that runs to the end hides how long the log is: nothing to hold the head to.
    lost_tail = bool(chain.problems) and chain.problems[-1].last is None
    if not chain.problems:
        checked.append(f"hash chain of {chain.size} entries")
    if recorded is not None and not lost_tail:
        size, head = recorded
        if chain.size < size:
            problems.append(
                f"the log holds {chain.size} entries but its head says {size}: entries after "
                f"{chain.size} were removed"
            )
            first_bad = first_bad or chain.size + 1
        elif chain.size > size or (chain.head is not None and chain.head != head):
            problems.append(f"the log's head ({size}) does not match its last entry ({chain.size})")
    unchecked: dict[str, list[int]] = {}
    for holder, body in bodies:
        if body.size > chain.size and not lost_tail:
            problems.append(
                f"{holder} holds a checkpoint of size {body.size}, but the log has only "
                f"{chain.size} entries: the tail was truncated"
            )
        elif body.size not in chain.roots:
            unchecked.setdefault(holder, []).append(body.size)
        elif chain.roots[body.size] != body.root:
            problems.append(
                f"the log's first {body.size} entries do not match the checkpoint held by "
                f"{holder}: history was rewritten"
            )
        else:
            checked.append(f"checkpoint {body.size} held by {holder}")
    for holder, sizes in unchecked.items():
        which = (
            f"the checkpoint of size {sizes[0]} held by {holder}"
            if len(sizes) == 1
            else f"{len(sizes)} checkpoints held by {holder} (sizes {min(sizes)}–{max(sizes)})"
        )
        problems.append(
            f"{which} cannot be checked: only the first {chain.intact} entries could be read whole"
        )
    return {
        "ok": not problems,
        "size": chain.size,
        "root": None if chain.problems else chain.root,
        "checked": checked,
        "problems": problems,
        "first_bad_entry": first_bad,
    }


def _attempt(
    conn: Connection, problems: list[str], what: str, read: Callable[..., T], *args: Any
) -> T | None:
    """`read(conn, *args)` in a savepoint; None, and a problem naming `what`, if the rows it
    reads are damaged."""
    try:
        with conn.begin_nested():
            return read(conn, *args)
    except (SQLAlchemyError, ValueError, TypeError) as exc:
        problems.append(f"{what} cannot be read: {type(exc).__name__}: {exc}".splitlines()[0])
        return None


def prove(
    db: Database,
    trust: Trust,
    product_id: str,
    witnessed: dict[str, list[str]],
    *,
    blobs: Holdings,
) -> dict[str, Any]:
    """Assemble and verify the signed chain of one product's journey, as this node holds it:
    the originator's manifest, the hub's attestation and the consent it names, every receipt,
    and each audit entry about it, with its inclusion in a checkpoint a peer holds.

    Returns {"ok", "product", "links": [{"claim", "signed_by", "verified", "detail"}]}.

    Raises:
        NotFound: this node holds no such product.
    """
    party = trust.party
    links: list[dict[str, Any]] = []

    def link(claim: str, signed_by: str, check: Any) -> None:
        try:
            detail = check()
            links.append(
                {"claim": claim, "signed_by": signed_by, "verified": True, "detail": detail}
            )
        except (SignatureInvalid, AuditTampered) as exc:
            links.append(
                {"claim": claim, "signed_by": signed_by, "verified": False, "detail": exc.reason}
            )

    with db.read() as conn:
        rows = products.versions(conn, product_id)
        if not rows:
            raise NotFound(f"no product {product_id} here")
        deliveries = products.deliveries_of(conn, product_id)
        entries = audit.entries(conn, product_id=product_id, limit=10_000)
        held_consents = {c.consent_id: c for c in consents.for_originator(conn)}
        size, _ = audit.head(conn)
    for row in rows:
        if row.manifest is None:
            continue
        # The one verifier, as every opening asks it: manifest, attestation, consent, the
        # hop it came by and its attachments, against what is stored.
        try:
            verified: Verified | Damaged = verify_stored(trust, row, here=party, blobs=blobs)
        except Damaged as exc:
            verified = exc
        digest = row.digest or "?"

        def checked(what: str, outcome: Verified | Damaged = verified) -> str:
            if isinstance(outcome, Damaged):
                raise SignatureInvalid(outcome.reason)
            return what

        link(
            f"{row.originator} released {product_id} v{row.version} (digest {digest})",
            row.originator,
            lambda checked=checked: checked("manifest signature; stored content as signed"),
        )
        if row.attestation:
            body = jws.peek(row.attestation).payload
            link(
                f"{body.get('hub')} relayed v{row.version} to {body.get('recipient')} under "
                f"consent {body.get('consent_id')} at {body.get('relayed_at')}",
                trust.arrangement.hub,
                lambda checked=checked: checked("relay attestation signature"),
            )
        if row.consent:
            grant = jws.peek(row.consent).payload
            link(
                f"{row.originator} consented: consent {grant.get('id')} for "
                f"{grant.get('recipient')}",
                row.originator,
                lambda checked=checked: checked("consent signature"),
            )
    for d in deliveries:
        if d.receipt is None:
            continue
        receipt_token = d.receipt

        def check_receipt(token: str = receipt_token, recipient: str = d.party) -> str:
            body = parse(Receipt, trust.verify(Signed.RECEIPT, token, signer=recipient))
            match = next((r for r in rows if r.version == body.version), None)
            if match is None or match.digest != body.digest:
                raise SignatureInvalid("the receipt names another manifest digest")
            if body.consent and body.consent in held_consents:
                c = held_consents[body.consent]
                trust.verify(Signed.CONSENT, c.token, signer=c.originator)
            return f"receipt signature; digest matches v{body.version}"

        via = f" via {d.via}" if d.via else ""
        link(
            f"{d.party} received v{d.version}{via} at "
            f"{d.delivered_at.isoformat() if d.delivered_at else '?'}",
            d.party,
            check_receipt,
        )

    # Each audit entry about the product, included in the largest checkpoint a peer holds.
    best: CheckpointBody | None = None
    holder = ""
    for peer, tokens in witnessed.items():
        for token in tokens:
            statement = read_checkpoint(trust, token, party)
            if statement.size <= size and (best is None or statement.size > best.size):
                best, holder = statement, peer
    if best is not None:
        with db.read() as conn:
            leaves = audit.entry_hashes(conn, best.size)
        for entry in entries:
            if entry.seq > best.size:
                continue
            chosen = best

            def check_inclusion(seq: int = entry.seq, cp: CheckpointBody = chosen) -> str:
                proof = merkle.inclusion_proof(leaves, seq - 1)
                merkle.verify_inclusion(
                    leaves[seq - 1], seq - 1, cp.size, proof, bytes.fromhex(cp.root)
                )
                return f"entry {seq} is in {party}'s checkpoint of size {cp.size}"

            link(
                f"{party}'s audit log: {entry.action} by {entry.actor} at "
                f"{entry.at.isoformat()} (entry {entry.seq}), held by {holder}",
                party,
                check_inclusion,
            )
    return {
        "ok": bool(links) and all(x["verified"] for x in links),
        "product": product_id,
        "links": links,
    }
