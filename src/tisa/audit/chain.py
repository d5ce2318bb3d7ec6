"""The tamper-evident audit log: entries chained by hash, checkpoints over a Merkle tree.

Pure: hashing and verification over entries handed in. Each entry commits to the one before
(`prev_hash`), so editing, deleting, inserting or reordering any entry breaks the chain from
there on. A checkpoint is the node's signature over (size, Merkle root) of its entry hashes
(RFC 9162's tree hash); peers keep the checkpoints they are given, so a node that rewrites its
history, even with a fresh valid chain, no longer matches what its peers hold.

Walking the chain never trips on what it reads: an altered, missing, malformed or unreadable
row becomes a `Problem` naming its entries, and the walk goes on past it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tisa.crypto.canonical import canonical_json
from tisa.crypto.merkle import TreeBuilder
from tisa.errors import AuditTampered, InputInvalid

GENESIS = "0" * 64
_HEX = frozenset("0123456789abcdef")


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


@dataclass(frozen=True)
class Damaged:
    """Stored rows that cannot be taken as entries: unreadable (a damaged database page) or
    malformed (a column of the wrong type, a detail that is not a JSON object).

    `first`..`last` are the sequence numbers concerned; `last` is None when the damage runs to
    the end of the log. A single malformed row whose hashes could still be read carries them,
    so the chain's links and the Merkle tree go on through it.
    """

    first: int
    last: int | None
    reason: str
    prev_hash: str | None = None
    entry_hash: str | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log: the entries it concerns (`first`..`last`; `last` None:
    to the end) and what a person reads about it."""

    first: int
    last: int | None
    reason: str


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
    """SHA-256 (hex) of the canonical JSON of the entry's fields and the previous hash.

    Raises:
        InputInvalid: the fields hold something canonical JSON cannot carry.
    """
    return hashlib.sha256(canonical_json({**fields, "prev": prev_hash})).hexdigest()


def expected_hash(entry: Entry) -> str:
    """The hash `entry` must carry, given its own fields and its `prev_hash`.

    Raises:
        InputInvalid: its detail holds something canonical JSON cannot carry.
    """
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


def well_formed(digest: object) -> bool:
    """Whether `digest` is a SHA-256 as the chain writes it: 64 lowercase hex digits."""
    return isinstance(digest, str) and len(digest) == 64 and _HEX.issuperset(digest)


@dataclass
class ChainCheck:
    """The outcome of walking the chain.

    `size` and `head` are the last entry read (`head` is None when it could not be read);
    `roots` holds the Merkle roots at the asked sizes up to `intact`, the length of the
    prefix whose every leaf was read (`root` is the root over that prefix); `problems` names
    every entry found wrong, in order.
    """

    size: int = 0
    head: str | None = GENESIS
    roots: dict[int, str] = field(default_factory=dict)
    root: str = ""
    intact: int = 0
    problems: list[Problem] = field(default_factory=list)


def examine(items: Iterable[Entry | Damaged], *, roots_at: Sequence[int] = ()) -> ChainCheck:
    """Check every link of the chain, in order, and compute Merkle roots along the way.

    Raises nothing for anything the store hands it: each entry out of sequence, not linked to
    the one before, altered or unhashable, and each damaged stretch, becomes a problem, and the
    walk goes on from the next row it can read.
    """
    wanted = set(roots_at)
    tree = TreeBuilder()
    check = ChainCheck()
    if 0 in wanted:
        check.roots[0] = tree.root().hex()

    problems = check.problems
    for item in items:
        if isinstance(item, Damaged) and (item.last != item.first or item.entry_hash is None):
            # A stretch with no hashes to go on: nothing links across it, no leaf is known.
            if item.first > check.size + 1:
                problems.append(
                    Problem(check.size + 1, item.first - 1, _missing(check.size + 1, item.first))
                )
            problems.append(Problem(item.first, item.last, _damage_reason(item)))
            if item.last is None:
                check.head = None
                break
            if item.last > check.size:
                check.size, check.head = item.last, None
            continue
        seq, prev, digest = (
            (item.first, item.prev_hash, item.entry_hash)
            if isinstance(item, Damaged)
            else (item.seq, item.prev_hash, item.entry_hash)
        )
        assert digest is not None  # a single damaged row without hashes was handled above
        expected_seq = check.size + 1
        if seq < expected_seq:
            problems.append(
                Problem(
                    seq,
                    seq,
                    f"audit entry {seq} appears again, out of order, after entry {check.size}",
                )
            )
            continue
        gap = seq > expected_seq
        if gap:
            problems.append(Problem(expected_seq, seq - 1, _missing(expected_seq, seq)))
        # After a gap the predecessor is unknown, so the link cannot be judged.
        linked = gap or check.head is None or prev is None or prev == check.head
        if not linked:
            problem: str | None = f"audit entry {seq} does not link to entry {seq - 1}"
        elif isinstance(item, Damaged):
            problem = _damage_reason(item)
        else:
            problem = _content_problem(item)
        if problem is not None:
            problems.append(Problem(seq, seq, problem))
        if check.intact == seq - 1 and well_formed(digest):
            # The leaves are the stored hashes, which checkpoints were signed over.
            tree.append(bytes.fromhex(digest))
            check.intact = seq
            if seq in wanted:
                check.roots[seq] = tree.root().hex()
        check.size, check.head = seq, digest
    check.root = tree.root().hex()
    return check


def walk(entries: Iterable[Entry | Damaged], *, roots_at: Sequence[int] = ()) -> ChainCheck:
    """`examine`, for callers that stop at the first problem.

    Raises:
        AuditTampered: naming the first entry whose sequence, link or hash is wrong, or the
            first stretch that could not be read.
    """
    check = examine(entries, roots_at=roots_at)
    if check.problems:
        first = check.problems[0]
        raise AuditTampered(first.reason, seq=first.first)
    return check


def _missing(first: int, found: int) -> str:
    if found == first + 1:
        return f"audit entry {first} is missing or out of order (found {found} there)"
    return f"audit entries {first}–{found - 1} are missing (found {found} after {first - 1})"


def _damage_reason(damage: Damaged) -> str:
    if damage.last is None:
        where = f"audit entries from {damage.first} on"
    elif damage.last == damage.first:
        where = f"audit entry {damage.first}"
    else:
        where = f"audit entries {damage.first}–{damage.last}"
    return f"{where} cannot be read: {damage.reason}"


def _content_problem(entry: Entry) -> str | None:
    """Why `entry`'s content does not match its stored hash, or None if it does."""
    try:
        matches = expected_hash(entry) == entry.entry_hash
    except InputInvalid as exc:
        # A detail that JSON cannot carry canonically was never hashed by `record`.
        return f"audit entry {entry.seq} was altered: its content cannot be hashed ({exc.reason})"
    if matches:
        return None
    return (
        f"audit entry {entry.seq} ({entry.action} by {entry.actor}) was altered: "
        "its content no longer matches its hash"
    )
