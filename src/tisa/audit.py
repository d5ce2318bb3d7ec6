"""The tamper-evident audit log: entries chained by hash, checkpoints over a Merkle tree.

Pure: hashing and verification over entries handed in. Each entry commits to the one before
(`prev_hash`), so editing, deleting, inserting or reordering any entry breaks the chain from
there on. A checkpoint is the node's signature over (size, Merkle root) of its entry hashes
(RFC 9162's tree hash); peers keep the checkpoints they are given, so a node that rewrites its
history, even with a fresh valid chain, no longer matches what its peers hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tisa.crypto.canonical import canonical_json
from tisa.crypto.merkle import TreeBuilder
from tisa.errors import AuditTampered

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    """One audit entry as stored."""

    seq: int
    at: datetime
    actor: str
    action: str
    party: str | None
    product_id: str | None
    version: int | None
    detail: Mapping[str, Any]
    prev_hash: str
    entry_hash: str


def content(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    party: str | None,
    product_id: str | None,
    version: int | None,
    detail: Mapping[str, Any],
) -> dict[str, Any]:
    """What an entry's hash covers, besides the previous hash."""
    return {
        "seq": seq,
        "at": at.isoformat(),
        "actor": actor,
        "action": action,
        "party": party,
        "product_id": product_id,
        "version": version,
        "detail": dict(detail),
    }


def chain_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of the canonical JSON of the entry's fields and the previous hash."""
    return hashlib.sha256(canonical_json({**fields, "prev": prev_hash})).hexdigest()


def expected_hash(entry: Entry) -> str:
    """The hash `entry` must carry, given its own fields and its `prev_hash`."""
    fields = content(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        party=entry.party,
        product_id=entry.product_id,
        version=entry.version,
        detail=entry.detail,
    )
    return chain_hash(fields, entry.prev_hash)


@dataclass
class ChainCheck:
    """The outcome of walking the chain: its size, head, and Merkle roots at asked sizes."""

    size: int = 0
    head: str = GENESIS
    roots: dict[int, str] = field(default_factory=dict)
    root: str = ""


def walk(entries: Iterable[Entry], *, roots_at: Sequence[int] = ()) -> ChainCheck:
    """Check every link of the chain, in order, and compute Merkle roots along the way.

    Raises:
        AuditTampered: naming the first entry whose sequence, link or hash is wrong.
    """
    wanted = set(roots_at)
    tree = TreeBuilder()
    check = ChainCheck()
    for entry in entries:
        expected_seq = check.size + 1
        if entry.seq != expected_seq:
            raise AuditTampered(
                f"audit entry {expected_seq} is missing or out of order (found {entry.seq} there)",
                seq=expected_seq,
            )
        if entry.prev_hash != check.head:
            raise AuditTampered(
                f"audit entry {entry.seq} does not link to entry {entry.seq - 1}", seq=entry.seq
            )
        if expected_hash(entry) != entry.entry_hash:
            raise AuditTampered(
                f"audit entry {entry.seq} ({entry.action} by {entry.actor}) was altered: "
                "its content no longer matches its hash",
                seq=entry.seq,
            )
        tree.append(bytes.fromhex(entry.entry_hash))
        check.size, check.head = entry.seq, entry.entry_hash
        if check.size in wanted:
            check.roots[check.size] = tree.root().hex()
    check.root = tree.root().hex()
    if 0 in wanted:
        check.roots[0] = TreeBuilder().root().hex()
    return check
