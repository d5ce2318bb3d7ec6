"""The node's audit log at work: checkpoints, their exchange with peers, verification, proofs.

The chain itself is appended by `tisa.store.audit.record` inside each operation's transaction;
this module signs checkpoints over it, checks peers' checkpoints for consistency (RFC 9162
consistency proofs), and verifies the whole log against what the node and its peers signed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tisa.audit import walk
from tisa.crypto import merkle
from tisa.crypto.jws import payload_digest
from tisa.errors import AuditTampered, NotFound, SignatureInvalid
from tisa.relay.context import NodeContext
from tisa.relay.messages import (
    Attestation,
    AuditExchange,
    CheckpointBody,
    Receipt,
    payload,
)
from tisa.store import audit, consents, products
from tisa.store.audit import Action, CheckpointRow
from tisa.store.database import Database
from tisa.trust import Signed, Trust
from tisa.wire import ConsentToken, parse


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
    """The Merkle tree over this node's entry hashes, extended as the log grows."""

    builder: merkle.TreeBuilder = field(default_factory=merkle.TreeBuilder)
    lock: threading.Lock = field(default_factory=threading.Lock)


class AuditLog:
    """Checkpoints and verification for one node's log."""

    def __init__(self, ctx: NodeContext) -> None:
        self._ctx = ctx
        self._tree = _Tree()

    def _leaves(self, upto: int) -> list[bytes]:
        with self._ctx.db.read() as conn:
            return audit.entry_hashes(conn, upto)

    def checkpoint(self) -> CheckpointRow | None:
        """Sign a checkpoint over the log as it stands (or return the latest, if unchanged);
        None while the log is empty."""
        ctx = self._ctx
        with self._tree.lock:
            with ctx.db.read() as conn:
                size, _ = audit.head(conn)
                latest = audit.latest_checkpoint(conn, ctx.party)
            if latest is not None and latest.size == size:
                return latest
            if size == 0:
                return None
            builder = self._tree.builder
            if builder.size > size:
                builder = self._tree.builder = merkle.TreeBuilder()
            for leaf in self._leaves(size)[builder.size :]:
                builder.append(leaf)
            root = builder.root().hex()
        now = ctx.clock()
        body = CheckpointBody(type="checkpoint", issuer=ctx.party, size=size, root=root, at=now)
        token = ctx.trust.sign(Signed.CHECKPOINT, payload(body))
        row = CheckpointRow(ctx.party, size, root, token, now)
        # Not an audit entry itself: that would grow the log it just sealed, forever.
        with ctx.db.begin() as conn:
            audit.add_checkpoint(conn, row, now)
        return row

    # -- exchange ----------------------------------------------------------------------------

    def speak(self, peer: str, peer_holds: int) -> AuditExchange:
        """What to tell `peer`, which holds our checkpoint of size `peer_holds`."""
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
        """Keep `peer`'s checkpoint if it is consistent with the one held; record an alarm if
        it cannot be (the peer's history changed).

        Raises:
            SignatureInvalid: the checkpoint is not the peer's.
            InputInvalid: malformed.
        """
        if said.checkpoint is None:
            return
        ctx = self._ctx
        body = read_checkpoint(ctx.trust, said.checkpoint, peer)
        now = ctx.clock()
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
                audit.record(
                    conn,
                    Action.INCONSISTENT,
                    at=now,
                    actor=ctx.party,
                    party=peer,
                    detail={
                        "problem": problem,
                        "held": held.token if held else None,
                        "presented": said.checkpoint,
                    },
                )
                return
            row = CheckpointRow(peer, body.size, body.root, said.checkpoint, body.at)
            if audit.add_checkpoint(conn, row, now):
                audit.record(
                    conn,
                    Action.PEER_CHECKPOINT,
                    at=now,
                    actor=peer,
                    party=peer,
                    detail={"size": body.size, "root": body.root},
                )


def verify_log(db: Database, trust: Trust, witnessed: dict[str, list[str]]) -> dict[str, Any]:
    """Walk the chain, recompute the Merkle roots, and hold them against every checkpoint the
    node signed, both its own copies and those its peers kept (`witnessed`: peer -> tokens).

    Returns a report: {"ok", "size", "root", "checked": [...], "problems": [...]}; the first
    problem names the first bad entry or checkpoint.
    """
    party = trust.party
    problems: list[str] = []
    checked: list[str] = []
    with db.read() as conn:
        own = audit.checkpoints_of(conn, party)
        size, head = audit.head(conn)
        statements: list[tuple[str, str]] = [("this node", cp.token) for cp in own]
        for peer, tokens in witnessed.items():
            statements += [(peer, token) for token in tokens]
        bodies: list[tuple[str, CheckpointBody]] = []
        for holder, token in statements:
            try:
                bodies.append((holder, read_checkpoint(trust, token, party)))
            except (SignatureInvalid, AuditTampered) as exc:
                problems.append(f"a checkpoint held by {holder} is not {party}'s: {exc.reason}")
        try:
            chain = walk(audit.stream(conn), roots_at=[b.size for _, b in bodies])
        except AuditTampered as exc:
            return {
                "ok": False,
                "size": size,
                "root": None,
                "checked": checked,
                "problems": [exc.reason, *problems],
                "first_bad_entry": exc.seq,
            }
    checked.append(f"hash chain of {chain.size} entries")
    if (chain.size, chain.head) != (size, head):
        problems.append(
            f"the log holds {chain.size} entries but its head says {size}: entries after "
            f"{chain.size} were removed"
            if chain.size < size
            else f"the log's head ({size}) does not match its last entry ({chain.size})"
        )
    for holder, body in bodies:
        if body.size > chain.size:
            problems.append(
                f"{holder} holds a checkpoint of size {body.size}, but the log has only "
                f"{chain.size} entries: the tail was truncated"
            )
        elif chain.roots.get(body.size) != body.root:
            problems.append(
                f"the log's first {body.size} entries do not match the checkpoint held by "
                f"{holder}: history was rewritten"
            )
        else:
            checked.append(f"checkpoint {body.size} held by {holder}")
    return {
        "ok": not problems,
        "size": chain.size,
        "root": chain.root,
        "checked": checked,
        "problems": problems,
    }


def prove(
    db: Database, trust: Trust, product_id: str, witnessed: dict[str, list[str]]
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
        digest = payload_digest(row.manifest)

        def check_manifest(token: str = row.manifest, signer: str = row.originator) -> str:
            trust.verify(Signed.PRODUCT, token, signer=signer)
            return "manifest signature"

        link(
            f"{row.originator} released {product_id} v{row.version} (digest {digest})",
            row.originator,
            check_manifest,
        )
        if row.attestation:
            body = parse(
                Attestation,
                trust.verify(Signed.ATTESTATION, row.attestation, signer=trust.arrangement.hub),
            )
            link(
                f"{body.hub} relayed v{row.version} to {body.recipient} under consent "
                f"{body.consent_id} at {body.relayed_at.isoformat()}",
                body.hub,
                lambda: "relay attestation signature",
            )
        if row.consent:
            grant = parse(
                ConsentToken, trust.verify(Signed.CONSENT, row.consent, signer=row.originator)
            )
            link(
                f"{row.originator} consented: consent {grant.id} for {grant.recipient}",
                row.originator,
                lambda: "consent signature",
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
