"""The audit chain, pure: any change to any entry is found, and named."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.audit.chain import GENESIS, Damaged, Entry, chain_hash, content, examine, walk
from tisa.crypto import merkle
from tisa.errors import AuditTampered

T0 = datetime(2026, 11, 28, tzinfo=UTC)


def chain(n: int, *, details: list[dict[str, object]] | None = None) -> list[Entry]:
    out: list[Entry] = []
    prev = GENESIS
    for i in range(1, n + 1):
        detail = (details or [{}] * n)[i - 1]
        fields = content(
            seq=i,
            at=T0 + timedelta(seconds=i),
            actor=f"user{i % 3}",
            action="product.view",
            party="KOR",
            product_id=None,
            version=None,
            detail=detail,
        )
        digest = chain_hash(fields, prev)
        out.append(
            Entry(
                i,
                T0 + timedelta(seconds=i),
                f"user{i % 3}",
                "product.view",
                "KOR",
                None,
                None,
                detail,
                prev,
                digest,
            )
        )
        prev = digest
    return out


def rechain(entries: list[Entry]) -> list[Entry]:
    """What an insider with write access would do: recompute every link after a change."""
    out: list[Entry] = []
    prev = GENESIS
    for seq, e in enumerate(entries, start=1):
        moved = replace(e, seq=seq, prev_hash=prev)
        fields = content(
            seq=seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            party=e.party,
            product_id=e.product_id,
            version=e.version,
            detail=e.detail,
        )
        moved = replace(moved, entry_hash=chain_hash(fields, prev))
        out.append(moved)
        prev = moved.entry_hash
    return out


def test_an_intact_chain_walks_to_its_head_and_merkle_root() -> None:
    entries = chain(20)
    check = walk(entries, roots_at=[5, 20])
    assert check.size == 20
    assert check.head == entries[-1].entry_hash
    leaves = [bytes.fromhex(e.entry_hash) for e in entries]
    assert check.roots[5] == merkle.root(leaves[:5]).hex()
    assert check.root == merkle.root(leaves).hex() == check.roots[20]


def test_an_empty_log_is_intact() -> None:
    assert walk([]).size == 0


sizes = st.integers(min_value=2, max_value=40)


@settings(max_examples=150)
@given(sizes, st.data())
def test_editing_any_entry_is_found_at_that_entry(n: int, data: st.DataObject) -> None:
    entries = chain(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from(["actor", "action", "detail", "at", "party"]))
    changed = {
        "actor": "someone-else",
        "action": "product.release",
        "detail": {"edited": True},
        "at": entries[i].at + timedelta(microseconds=1),
        "party": "JPN",
    }[field]
    entries[i] = replace(entries[i], **{field: changed})
    with pytest.raises(AuditTampered) as caught:
        walk(entries)
    assert caught.value.seq == i + 1
    assert f"entry {i + 1}" in caught.value.reason


@settings(max_examples=150)
@given(sizes, st.data())
def test_deleting_inserting_or_reordering_is_found(n: int, data: st.DataObject) -> None:
    entries = chain(n)
    kind = data.draw(st.sampled_from(["delete", "insert", "swap"]))
    i = data.draw(st.integers(min_value=0, max_value=n - 2))
    if kind == "delete":
        del entries[i]
    elif kind == "insert":
        entries.insert(i, replace(entries[i], actor="inserted"))
    else:
        entries[i], entries[i + 1] = entries[i + 1], entries[i]
    with pytest.raises(AuditTampered) as caught:
        walk(entries)
    assert caught.value.seq is not None
    assert caught.value.seq <= i + 2


@settings(max_examples=100)
@given(sizes, st.data())
def test_a_rechained_rewrite_passes_the_chain_but_not_an_earlier_checkpoint(
    n: int, data: st.DataObject
) -> None:
    """The insider's best forgery: change an entry and recompute every hash after it. The chain
    holds, so only a checkpoint signed before the rewrite (kept by a peer) can catch it."""
    honest = chain(n)
    sealed = walk(honest).root
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    forged = list(honest)
    forged[i] = replace(forged[i], detail={"rewritten": True})
    forged = rechain(forged)
    check = walk(forged, roots_at=[n])
    assert check.roots[n] != sealed


def test_truncating_the_tail_leaves_a_valid_but_shorter_chain() -> None:
    """Truncation is caught by the head row and by checkpoints larger than the log (store
    tests); the chain alone cannot see a missing tail."""
    entries = chain(10)
    assert walk(entries[:7]).size == 7


# -- damage: every problem named, the walk goes on ---------------------------------------------


@settings(max_examples=100)
@given(sizes, st.data())
def test_every_edited_entry_is_named_and_no_other(n: int, data: st.DataObject) -> None:
    entries = chain(n)
    edited = data.draw(st.sets(st.integers(min_value=0, max_value=n - 1), min_size=1))
    for i in edited:
        entries[i] = replace(entries[i], actor="someone-else")
    check = examine(entries)
    assert [p.first for p in check.problems] == sorted(i + 1 for i in edited)
    assert check.size == n
    # The stored hashes are intact, so the Merkle tree over them is whole.
    assert check.intact == n


def test_a_missing_run_is_one_problem_and_the_entries_after_it_are_checked() -> None:
    entries = chain(20)
    entries[15] = replace(entries[15], detail={"edited": True})
    del entries[4:7]
    check = examine(entries, roots_at=[4, 20])
    assert [(p.first, p.last) for p in check.problems] == [(5, 7), (16, 16)]
    assert "audit entries 5–7 are missing" in check.problems[0].reason
    assert check.size == 20
    # Roots need every leaf: known up to the gap, not after it.
    assert check.intact == 4
    assert set(check.roots) == {4}


def test_a_damaged_stretch_is_named_and_the_walk_goes_on_past_it() -> None:
    entries = chain(30)
    items: list[Entry | Damaged] = [
        *entries[:9],
        Damaged(10, 14, "DatabaseError: database disk image is malformed"),
        *entries[14:],
    ]
    check = examine(items, roots_at=[9, 30])
    assert len(check.problems) == 1
    problem = check.problems[0]
    assert (problem.first, problem.last) == (10, 14)
    assert "audit entries 10–14 cannot be read" in problem.reason
    assert "malformed" in problem.reason
    assert (check.size, check.head) == (30, entries[-1].entry_hash)
    assert set(check.roots) == {9}
    with pytest.raises(AuditTampered) as caught:
        walk(items)
    assert caught.value.seq == 10


def test_damage_to_the_end_leaves_the_head_unknown() -> None:
    entries = chain(10)
    check = examine([*entries[:6], Damaged(7, None, "unreadable")])
    assert [(p.first, p.last) for p in check.problems] == [(7, None)]
    assert "from 7 on" in check.problems[0].reason
    assert check.head is None


@pytest.mark.parametrize(
    "detail",
    [{"x": float("nan")}, {"x": float("inf")}, {"big": 2**60}],
    ids=["nan", "infinity", "integer-beyond-2**53"],
)
def test_a_detail_canonical_json_cannot_carry_is_named_not_raised(
    detail: dict[str, object],
) -> None:
    """What JSON text in a tampered row can hold (NaN, 1e400, huge integers) is never hashed
    by `record`: the entry was altered, and the walk says which."""
    entries = chain(8)
    entries[3] = replace(entries[3], detail=detail)
    check = examine(entries)
    assert [p.first for p in check.problems] == [4]
    assert "cannot be hashed" in check.problems[0].reason
    with pytest.raises(AuditTampered) as caught:
        walk(entries)
    assert caught.value.seq == 4


def test_a_malformed_stored_hash_is_named_and_ends_the_intact_prefix() -> None:
    entries = chain(10)
    entries[5] = replace(entries[5], entry_hash="not a hash")
    check = examine(entries)
    # Entry 6 no longer matches its (garbled) hash, and entry 7 no longer links to it.
    assert [p.first for p in check.problems] == [6, 7]
    assert check.intact == 5
