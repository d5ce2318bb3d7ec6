"""Verifying the whole audit log against what the node and its peers signed, and proving one
product's history: manifest, relay attestation, consent, receipts, and audit entries with
their inclusion in a checkpoint a peer holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from tisa.audit.chain import examine
from tisa.audit.log import read_checkpoint
from tisa.crypto import jws, merkle
from tisa.crypto.trust import Signed, Trust
from tisa.domain.wire import parse
from tisa.errors import AuditTampered, Damaged, NotFound, SignatureInvalid, TisaError
from tisa.relay.messages import (
    CheckpointBody,
    Receipt,
)
from tisa.relay.provenance import Holdings, Verified, verify_stored
from tisa.store import audit, checkpoints, consents, deliveries, products
from tisa.store.database import Database

T = TypeVar("T")

# Problems `verify_log` lists one by one; the rest are counted.
LISTED = 100


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
        own = _attempt(
            conn, unread, "this node's own checkpoints", checkpoints.checkpoints_of, party
        )
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
        delivered = deliveries.deliveries_of(conn, product_id)
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
    for d in delivered:
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
