"""The Merkle Tree Hash of RFC 9162 (Certificate Transparency 2.0), section 2.1, over SHA-256.

A log of n entries d(0) ... d(n-1) is committed to by one 32-byte root:

    MTH({})      = SHA-256()                               the empty string
    MTH({d(0)})  = SHA-256(0x00 || d(0))                   a leaf
    MTH(D[n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
                   where k is the largest power of two smaller than n

An inclusion proof shows that an entry sits at an index of a tree with a given root
(2.1.3); a consistency proof shows that a tree is an append-only extension of an older one
(2.1.4). `TreeBuilder` keeps the root of a growing log in O(log n) memory.

Errors. Arguments that cannot describe a tree at all (a negative size, a size that is not
an int, a leaf that is not bytes, an index or old size past the end of the leaves handed to
a proof generator) raise `InputInvalid`. Evidence that does not hold (a proof of the wrong
length or shape, a hash that is not 32 bytes, an index outside the claimed tree, a tree
that shrank, a root that the proof does not lead to) raises `SignatureInvalid`. Nothing
else escapes: no IndexError, no TypeError.

An inclusion proof binds the leaf to the root, not to the size: take the size and the root
from the same signed tree head. Everything here is pure over bytes.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from hashlib import sha256

from tisa.errors import InputInvalid, SignatureInvalid

HASH_SIZE = 32
"""Bytes in every node hash and root (SHA-256)."""

EMPTY_ROOT = sha256(b"").digest()
"""MTH of the empty log: SHA-256 of the empty string (e3b0c442...b855)."""

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    """Return the hash of one leaf, SHA-256(0x00 || leaf).

    Raises:
        InputInvalid: `leaf` is not bytes.
    """
    try:
        return sha256(_LEAF + leaf).digest()
    except TypeError as exc:
        raise InputInvalid(f"a Merkle leaf must be bytes, not {type(leaf).__name__}") from exc


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(_NODE + left + right).digest()


def _leaf_hashes(leaves: Iterable[bytes]) -> list[bytes]:
    try:
        hashes = [sha256(_LEAF + leaf).digest() for leaf in leaves]
    except TypeError as exc:
        raise InputInvalid("Merkle leaves must be bytes") from exc
    return hashes


def _fold(hashes: list[bytes]) -> bytes:
    # Level by level: pair neighbours, and carry a lone last node up unpaired. This builds
    # exactly the tree of the RFC's recursive definition (the left part of every split is
    # a perfect subtree of 2**j leaves aligned on a multiple of 2**j, so it is formed by the
    # pairing alone; the right part is what is left over), without recursion or slicing.
    if not hashes:
        return EMPTY_ROOT
    level = hashes
    while len(level) > 1:
        pairs = iter(level)
        upper = [
            sha256(_NODE + left + right).digest() for left, right in zip(pairs, pairs, strict=False)
        ]
        if len(level) & 1:
            upper.append(level[-1])
        level = upper
    return level[0]


def _split(n: int) -> int:
    """The largest power of two strictly smaller than `n` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _count(name: str, value: object) -> int:
    # bool is an int subclass; a True "index" is a bug at the caller, not a leaf number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputInvalid(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise InputInvalid(f"{name} must not be negative, got {value}")
    return value


def _hash_arg(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise SignatureInvalid(f"{name} is not a {HASH_SIZE}-byte SHA-256 hash")
    return value


def _proof_arg(proof: Sequence[bytes], expected: int, kind: str) -> list[bytes]:
    hashes = list(proof)
    if len(hashes) != expected:
        raise SignatureInvalid(
            f"{kind} proof has {len(hashes)} hashes, expected {expected} for these sizes"
        )
    for position, item in enumerate(hashes):
        _hash_arg(f"{kind} proof hash {position}", item)
    return hashes


def root(leaves: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash (RFC 9162 2.1.1) of `leaves`.

    The empty sequence has the root SHA-256 of the empty string.

    Raises:
        InputInvalid: a leaf is not bytes.
    """
    return _fold(_leaf_hashes(leaves))


def _inclusion_length(index: int, size: int) -> int:
    length = 0
    while size > 1:
        k = _split(size)
        if index < k:
            size = k
        else:
            index, size = index - k, size - k
        length += 1
    return length


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Return the audit path PATH(index, leaves) of RFC 9162 2.1.3.1, leaf side first.

    Raises:
        InputInvalid: `index` is not an int, is negative or is not below ``len(leaves)``,
            or a leaf is not bytes.
    """
    index = _count("leaf index", index)
    if index >= len(leaves):
        raise InputInvalid(f"leaf index {index} is outside a tree of {len(leaves)} entries")
    hashes = _leaf_hashes(leaves)
    # Walk down from the root; each step adds the root of the subtree not taken, so the
    # path comes out root side first and is reversed at the end.
    path: list[bytes] = []
    lo, hi = 0, len(hashes)
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(_fold(hashes[mid:hi]))
            hi = mid
        else:
            path.append(_fold(hashes[lo:mid]))
            lo = mid
    path.reverse()
    return path


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf` is entry `index` of the tree of `size` entries whose root is `root`.

    This is the algorithm of RFC 9162 2.1.3.2, after checking the proof's length and hashes.
    Returns nothing; a proof that does not hold raises.

    Raises:
        InputInvalid: `index` or `size` is not an int or is negative, or `leaf` is not bytes.
        SignatureInvalid: `index` is not below `size`, `root` or a proof hash is not 32
            bytes, the proof has the wrong number of hashes for `index` and `size`, or the
            proof does not lead from the leaf to `root`.
    """
    index = _count("leaf index", index)
    size = _count("tree size", size)
    r = leaf_hash(leaf)
    if index >= size:
        raise SignatureInvalid(f"leaf index {index} is outside a tree of {size} entries")
    expected_root = _hash_arg("root", root)
    path = _proof_arg(proof, _inclusion_length(index, size), "inclusion")
    fn, sn = index, size - 1
    for p in path:
        if sn == 0:
            raise SignatureInvalid("inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise SignatureInvalid("inclusion proof is shorter than the tree is high")
    if not hmac.compare_digest(r, expected_root):
        raise SignatureInvalid(f"inclusion proof for leaf {index} does not lead to the root")


def _consistency_length(old_size: int, new_size: int) -> int:
    # The number of hashes SUBPROOF(old_size, D[new_size], true) yields (0 < old < new).
    length, whole = 0, True
    while old_size != new_size:
        k = _split(new_size)
        if old_size <= k:
            new_size = k
        else:
            old_size, new_size, whole = old_size - k, new_size - k, False
        length += 1
    return length if whole else length + 1


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return PROOF(old_size, leaves) of RFC 9162 2.1.4.1 against the tree of all `leaves`.

    The proof is empty when `old_size` is 0 or ``len(leaves)``: there is nothing to prove.

    Raises:
        InputInvalid: `old_size` is not an int, is negative or exceeds ``len(leaves)``, or a
            leaf is not bytes.
    """
    old_size = _count("old tree size", old_size)
    if old_size > len(leaves):
        raise InputInvalid(f"old tree size {old_size} exceeds the {len(leaves)} leaves given")
    if old_size in (0, len(leaves)):
        return []
    hashes = _leaf_hashes(leaves)
    # SUBPROOF(m, D[lo:hi], whole), unrolled: each step adds the root of the half not
    # descended into; the hashes come out root side first and are reversed at the end.
    proof: list[bytes] = []
    m, lo, hi, whole = old_size, 0, len(hashes), True
    while m != hi - lo:
        mid = lo + _split(hi - lo)
        if m <= mid - lo:
            proof.append(_fold(hashes[mid:hi]))
            hi = mid
        else:
            proof.append(_fold(hashes[lo:mid]))
            m -= mid - lo
            lo = mid
            whole = False
    if not whole:
        proof.append(_fold(hashes[lo:hi]))
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (`new_size`, `new_root`) extends the tree (`old_size`, `old_root`).

    For 0 < old_size < new_size this is the algorithm of RFC 9162 2.1.4.2, after checking
    the proof's length and hashes. The RFC leaves the other sizes undefined; here the proof
    must then be empty, an old tree of size 0 must have the empty-tree root, and equal sizes
    must have equal roots. Returns nothing; a proof that does not hold raises.

    Raises:
        InputInvalid: `old_size` or `new_size` is not an int or is negative.
        SignatureInvalid: `new_size` is smaller than `old_size`, a root or a proof hash is
            not 32 bytes, the proof has the wrong number of hashes for these sizes, an empty
            old tree has a root other than the empty-tree root, equal sizes have different
            roots, or the proof does not lead to the old root or to the new root.
    """
    old_size = _count("old tree size", old_size)
    new_size = _count("new tree size", new_size)
    if new_size < old_size:
        raise SignatureInvalid(f"the tree shrank from {old_size} to {new_size} entries")
    first = _hash_arg("old root", old_root)
    second = _hash_arg("new root", new_root)
    if old_size == 0 or old_size == new_size:
        _proof_arg(proof, 0, "consistency")
        if old_size == 0 and not hmac.compare_digest(first, EMPTY_ROOT):
            raise SignatureInvalid("old root of an empty tree is not the empty-tree root")
        if old_size == new_size and not hmac.compare_digest(first, second):
            raise SignatureInvalid(f"two trees of {old_size} entries have different roots")
        return
    path = _proof_arg(proof, _consistency_length(old_size, new_size), "consistency")
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree of the new one; its root is the proof's start.
        path.insert(0, first)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise SignatureInvalid("consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise SignatureInvalid("consistency proof is shorter than the tree is high")
    if not hmac.compare_digest(fr, first):
        raise SignatureInvalid("consistency proof does not lead to the old root")
    if not hmac.compare_digest(sr, second):
        raise SignatureInvalid("consistency proof does not lead to the new root")


class TreeBuilder:
    """The root of a growing log, kept as the roots of its perfect subtrees.

    A log of n entries splits into one perfect subtree per set bit of n, largest first;
    the builder keeps their roots (at most n.bit_length() of them), so `append` costs
    amortised O(1) hashes and `root` O(log n). ``root()`` always equals ``root(leaves)``
    over the leaves appended so far.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        """The number of leaves appended so far. Raises nothing."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add one leaf at the end of the log.

        Raises:
            InputInvalid: `leaf` is not bytes (the builder is left unchanged).
        """
        node = leaf_hash(leaf)
        stack = self._stack
        # Each trailing 1 bit of the old size is a perfect subtree of the same height as
        # the one being carried: merge them, as in binary addition of 1.
        n = self._size
        while n & 1:
            node = _node(stack.pop(), node)
            n >>= 1
        stack.append(node)
        self._size += 1

    def root(self) -> bytes:
        """Return the Merkle Tree Hash of the leaves appended so far. Raises nothing."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        # MTH splits off the largest perfect subtree on the left, then recurses on the
        # rest: so fold the subtree roots from the right.
        node = stack[-1]
        for left in reversed(stack[:-1]):
            node = _node(left, node)
        return node
