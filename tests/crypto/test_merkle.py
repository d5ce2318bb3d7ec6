"""Tests for tisa.crypto.merkle (RFC 9162 section 2.1, SHA-256)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.crypto.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from tisa.errors import InputInvalid, SignatureInvalid

# --- a reference written straight from the RFC text, as recursion over lists --------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 2.1.1."""
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = _k(n)
    return _h(b"\x01" + ref_mth(d[0:k]) + ref_mth(d[k:n]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[0:k]), ref_mth(d[k:n])]
    return [*ref_path(m - k, d[k:n]), ref_mth(d[0:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[0:k], b), ref_mth(d[k:n])]
    return [*ref_subproof(m - k, d[k:n], False), ref_mth(d[0:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1 (defined for 0 < m < n)."""
    return ref_subproof(m, d, True)


def _leaves(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(n)]


def _flip(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- known answers -------------------------------------------------------------------------

# The 8-leaf tree used by the Certificate Transparency test suites (transparency-dev/merkle,
# proof/verify_test.go): leaves, the root of every prefix, and a few proofs.
CT_LEAVES = [
    bytes.fromhex(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    bytes.fromhex(x)
    for x in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
CT_INCLUSION = [  # (index, size, path)
    (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (2, 3, ["fac54203"]),
    (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
]
CT_CONSISTENCY = [  # (old size, new size, proof)
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    expected = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]).hex() == expected
    assert EMPTY_ROOT.hex() == expected
    assert TreeBuilder().root().hex() == expected


def test_leaf_and_node_prefixes() -> None:
    assert leaf_hash(b"abc") == _h(b"\x00abc")
    assert root([b"abc"]) == _h(b"\x00abc")
    assert root([b"a", b"b"]) == _h(b"\x01" + _h(b"\x00a") + _h(b"\x00b"))


@pytest.mark.parametrize("size", range(1, 9))
def test_ct_roots(size: int) -> None:
    assert root(CT_LEAVES[:size]) == CT_ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(CT_LEAVES[:size], index)
    assert [p.hex()[:8] for p in proof] == path
    verify_inclusion(CT_LEAVES[index], index, size, proof, CT_ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_ct_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(CT_LEAVES[:new], old)
    assert [p.hex()[:8] for p in proof] == path
    verify_consistency(old, new, CT_ROOTS[old - 1], CT_ROOTS[new - 1], proof)


# --- the RFC definitions, exhaustively on small trees ---------------------------------------


def test_matches_reference_for_every_small_tree() -> None:
    for n in range(49):
        d = _leaves(n)
        assert root(d) == ref_mth(d)
        for m in range(n):
            assert inclusion_proof(d, m) == ref_path(m, d)
            verify_inclusion(d[m], m, n, ref_path(m, d), ref_mth(d))
        for m in range(n + 1):
            proof = consistency_proof(d, m)
            assert proof == (ref_proof(m, d) if 0 < m < n else [])
            verify_consistency(m, n, ref_mth(d[:m]), ref_mth(d), proof)


def test_tree_builder_matches_root_at_every_size() -> None:
    d = _leaves(300)
    builder = TreeBuilder()
    assert builder.size == 0
    for n in range(1, 301):
        builder.append(d[n - 1])
        assert builder.size == n
        assert builder.root() == root(d[:n]) == ref_mth(d[:n])


# --- properties ----------------------------------------------------------------------------

LEAF_LISTS = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=40, unique=True)


@settings(max_examples=150, deadline=None)
@given(leaves=LEAF_LISTS, bit=st.integers(min_value=0, max_value=10_000))
def test_inclusion_proofs_verify_and_any_flipped_bit_fails(leaves: list[bytes], bit: int) -> None:
    size, top = len(leaves), root(leaves)
    for index, leaf in enumerate(leaves):
        proof = inclusion_proof(leaves, index)
        verify_inclusion(leaf, index, size, proof, top)
        with pytest.raises(SignatureInvalid):
            verify_inclusion(_flip(leaf, bit), index, size, proof, top)
        with pytest.raises(SignatureInvalid):
            verify_inclusion(leaf, index, size, proof, _flip(top, bit))
        with pytest.raises(SignatureInvalid):
            verify_inclusion(leaf, index ^ (1 << (bit % 7)), size, proof, top)
        for position in range(len(proof)):
            bad = list(proof)
            bad[position] = _flip(bad[position], bit)
            with pytest.raises(SignatureInvalid):
                verify_inclusion(leaf, index, size, bad, top)


def _altered_prefixes(leaves: list[bytes], m: int, j: int) -> list[list[bytes]]:
    """Trees that rewrote the first `m` leaves (j < m picks where), each keeping >= m leaves."""
    changed = list(leaves)
    changed[j] = b"\xff" + changed[j]
    out = [changed]
    if len(leaves) > m:
        out.append(leaves[:j] + leaves[j + 1 :])  # a leaf removed
    swapped = list(leaves)
    other = j + 1 if j + 1 < len(leaves) else j - 1
    if other >= 0:
        swapped[j], swapped[other] = swapped[other], swapped[j]
        out.append(swapped)
    out.append(leaves[:j] + [b"rewritten" + leaf for leaf in leaves[j:]])  # tail rewritten
    return out


@settings(max_examples=150, deadline=None)
@given(
    leaves=st.lists(st.binary(min_size=1, max_size=40), max_size=40, unique=True),
    bit=st.integers(min_value=0, max_value=10_000),
    where=st.integers(min_value=0, max_value=10_000),
)
def test_consistency_proofs_verify_and_rewritten_history_fails(
    leaves: list[bytes], bit: int, where: int
) -> None:
    n, new_root = len(leaves), root(leaves)
    for m in range(n + 1):
        old_root = root(leaves[:m])
        proof = consistency_proof(leaves, m)
        verify_consistency(m, n, old_root, new_root, proof)
        with pytest.raises(SignatureInvalid):
            verify_consistency(m, n, _flip(old_root, bit), new_root, proof)
        if m > 0:
            with pytest.raises(SignatureInvalid):
                verify_consistency(m, n, old_root, _flip(new_root, bit), proof)
        for position in range(len(proof)):
            bad = list(proof)
            bad[position] = _flip(bad[position], bit)
            with pytest.raises(SignatureInvalid):
                verify_consistency(m, n, old_root, new_root, bad)
        if m == 0:
            continue
        for forged in _altered_prefixes(leaves, m, where % m):
            assert forged[:m] != leaves[:m]
            with pytest.raises(SignatureInvalid):
                verify_consistency(
                    m, len(forged), old_root, root(forged), consistency_proof(forged, m)
                )


@settings(max_examples=40, deadline=None)
@given(leaves=st.lists(st.binary(max_size=8), max_size=300))
def test_tree_builder_equals_root(leaves: list[bytes]) -> None:
    builder = TreeBuilder()
    for leaf in leaves:
        builder.append(leaf)
    assert builder.size == len(leaves)
    assert builder.root() == root(leaves)


# --- edges and errors ----------------------------------------------------------------------

D8 = _leaves(8)
R8 = root(D8)


def test_single_leaf_tree_has_an_empty_inclusion_proof() -> None:
    assert inclusion_proof([b"x"], 0) == []
    verify_inclusion(b"x", 0, 1, [], root([b"x"]))
    with pytest.raises(SignatureInvalid, match="does not lead to the root"):
        verify_inclusion(b"y", 0, 1, [], root([b"x"]))


@pytest.mark.parametrize("index", [-1, 8, 100, True, 1.0, "0"])
def test_inclusion_proof_rejects_bad_index(index: object) -> None:
    with pytest.raises(InputInvalid, match="leaf index"):
        inclusion_proof(D8, index)  # type: ignore[arg-type]


def test_inclusion_proof_of_empty_tree_is_refused() -> None:
    with pytest.raises(InputInvalid, match="outside a tree of 0 entries"):
        inclusion_proof([], 0)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: verify_inclusion(D8[0], 8, 8, [], R8), "outside a tree of 8"),
        (lambda: verify_inclusion(D8[0], 0, 0, [], EMPTY_ROOT), "outside a tree of 0"),
        (lambda: verify_inclusion(D8[0], 0, 8, [], R8), "has 0 hashes, expected 3"),
        (
            lambda: verify_inclusion(D8[0], 0, 8, [*inclusion_proof(D8, 0), R8], R8),
            "has 4 hashes, expected 3",
        ),
        (
            lambda: verify_inclusion(D8[0], 0, 8, inclusion_proof(D8, 0)[:2], R8),
            "has 2 hashes, expected 3",
        ),
        (lambda: verify_inclusion(D8[0], 0, 8, [b"", b"", b""], R8), "hash 0 is not a 32-byte"),
        (lambda: verify_inclusion(D8[0], 0, 8, inclusion_proof(D8, 0), R8[:31]), "root is not"),
        (lambda: verify_inclusion(D8[0], 0, 8, inclusion_proof(D8, 0), EMPTY_ROOT), "root"),
        (lambda: verify_inclusion(D8[0], 1, 8, inclusion_proof(D8, 0), R8), "leaf 1 does not"),
    ],
)
def test_verify_inclusion_failures_are_signature_invalid(
    call: Callable[[], None], words: str
) -> None:
    with pytest.raises(SignatureInvalid, match=words):
        call()


@pytest.mark.parametrize(
    ("index", "size"), [(-1, 8), (0, -1), (True, 8), (0, 8.0), ("0", 8), (None, 8)]
)
def test_verify_inclusion_rejects_bad_numbers(index: object, size: object) -> None:
    with pytest.raises(InputInvalid):
        verify_inclusion(D8[0], index, size, [], R8)  # type: ignore[arg-type]


def test_non_bytes_leaves_are_input_invalid() -> None:
    with pytest.raises(InputInvalid, match="must be bytes"):
        root([b"a", "b"])  # type: ignore[list-item]
    with pytest.raises(InputInvalid, match="must be bytes"):
        leaf_hash("a")  # type: ignore[arg-type]
    with pytest.raises(InputInvalid, match="must be bytes"):
        verify_inclusion("a", 0, 1, [], R8)  # type: ignore[arg-type]
    builder = TreeBuilder()
    builder.append(b"a")
    with pytest.raises(InputInvalid, match="must be bytes"):
        builder.append(None)  # type: ignore[arg-type]
    assert builder.size == 1
    assert builder.root() == root([b"a"])


@pytest.mark.parametrize("old_size", [-1, 9, True, "1"])
def test_consistency_proof_rejects_bad_old_size(old_size: object) -> None:
    with pytest.raises(InputInvalid, match="old tree size"):
        consistency_proof(D8, old_size)  # type: ignore[arg-type]


def test_trivial_consistency() -> None:
    assert consistency_proof([], 0) == []
    assert consistency_proof(D8, 0) == []
    assert consistency_proof(D8, 8) == []
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 8, EMPTY_ROOT, R8, [])
    verify_consistency(8, 8, R8, R8, [])


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "words"),
    [
        (0, 8, R8, R8, [], "not the empty-tree root"),
        (0, 0, EMPTY_ROOT, R8, [], "different roots"),
        (8, 8, R8, EMPTY_ROOT, [], "different roots"),
        (8, 8, R8, R8, [R8], "has 1 hashes, expected 0"),
        (0, 8, EMPTY_ROOT, R8, [R8], "has 1 hashes, expected 0"),
        (8, 7, R8, R8, [], "shrank from 8 to 7"),
        (3, 8, root(D8[:3]), R8, [], "has 0 hashes, expected 4"),
        (3, 8, root(D8[:3]), R8, [R8] * 5, "has 5 hashes, expected 4"),
        (3, 8, root(D8[:3]), R8, [b"x"] * 4, "hash 0 is not a 32-byte"),
        (3, 8, b"short", R8, consistency_proof(D8, 3), "old root is not a 32-byte"),
        (3, 8, root(D8[:3]), b"", consistency_proof(D8, 3), "new root is not a 32-byte"),
        (3, 8, root(D8[:4]), R8, consistency_proof(D8, 3), "does not lead to the old root"),
        (3, 8, root(D8[:3]), root(D8[:7]), consistency_proof(D8, 3), "lead to the new root"),
        (4, 8, root(D8[:4]), R8, consistency_proof(D8, 3), "expected 1"),
    ],
)
def test_verify_consistency_failures_are_signature_invalid(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], words: str
) -> None:
    with pytest.raises(SignatureInvalid, match=words):
        verify_consistency(old, new, old_root, new_root, proof)


@pytest.mark.parametrize(("old", "new"), [(-1, 8), (1, -8), (False, 8), (1, 8.0)])
def test_verify_consistency_rejects_bad_numbers(old: object, new: object) -> None:
    with pytest.raises(InputInvalid):
        verify_consistency(old, new, R8, R8, [])  # type: ignore[arg-type]
