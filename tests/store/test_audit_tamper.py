"""Tampering with a node's audit log in the database, behind the application's back.

Each kind of tampering is caught by `verify_log`; rewriting the tail with a fresh valid chain
is caught through the checkpoint a peer holds. Rows no entry can be read from (malformed
columns, a damaged database page) are named too, never raised. Runs on SQLite and PostgreSQL
(the damaged page and text that is not JSON on SQLite only: PostgreSQL refuses to store them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness.clusters import copy_cluster, create_cluster, open_runtimes
from sqlalchemy import insert, text, update

from tisa.audit.chain import GENESIS, Damaged, Entry, chain_hash, content
from tisa.audit.proofs import verify_log
from tisa.demo.network import Cluster
from tisa.errors import AuditTampered
from tisa.node.runtime import Runtime
from tisa.services.status import node_status
from tisa.store import audit, checkpoints
from tisa.store.audit import Action
from tisa.store.tables import audit_entries, audit_head


@dataclass
class Pair:
    kor: Runtime
    usa: Runtime

    def witnessed(self) -> dict[str, list[str]]:
        with self.usa.ctx.db.read() as conn:
            return {"USA": [cp.token for cp in checkpoints.checkpoints_of(conn, "KOR")]}

    def verify(self) -> dict[str, object]:
        return verify_log(self.kor.ctx.db, self.kor.ctx.trust, self.witnessed())


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, cluster_template: Cluster
) -> Iterator[Pair]:
    if request.param == "postgresql":
        # The runtimes open their own stores from a URL and commit for each other to see, so
        # KOR and USA get real databases of their own (JPN's store is never opened: SQLite).
        pg = request.getfixturevalue("pg_databases")
        cluster = create_cluster(tmp_path / "net", {"USA": pg.new(), "KOR": pg.new()})
    else:
        cluster = copy_cluster(cluster_template, tmp_path / "net")
    opened = open_runtimes(cluster, ("KOR", "USA"))
    kor, usa = opened["KOR"], opened["USA"]
    try:
        now = datetime.now(UTC)
        with kor.ctx.db.begin() as conn:
            for i in range(30):
                audit.record(
                    conn, Action.VIEW, at=now + timedelta(seconds=i), actor=f"u{i}", detail={"i": i}
                )
        kor.audit.checkpoint()
        # USA hears KOR's checkpoint, as on any contact.
        usa.audit.hear("KOR", kor.audit.speak("USA", 0))
        yield Pair(kor, usa)
    finally:
        kor.close()
        usa.close()


def _sql(rt: Runtime, *statements: str) -> None:
    """Change the database as an administrator would, with the append-only guard removed."""
    with rt.ctx.db.engine.begin() as conn:
        if rt.ctx.db.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement))


def test_an_untouched_log_verifies_against_its_peers_copy(pair: Pair) -> None:
    report = pair.verify()
    assert report["ok"], report["problems"]
    assert any("held by USA" in line for line in report["checked"])


def test_the_application_cannot_update_or_delete_entries(pair: Pair) -> None:
    with pytest.raises(Exception, match="append-only"), pair.kor.ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET actor = 'x' WHERE seq = 3"))
    with pytest.raises(Exception, match="append-only"), pair.kor.ctx.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    assert pair.verify()["ok"]


def test_an_edited_entry_is_named(pair: Pair) -> None:
    _sql(pair.kor, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 12")
    report = pair.verify()
    assert not report["ok"]
    assert report["first_bad_entry"] == 12


def test_a_deleted_entry_is_named(pair: Pair) -> None:
    _sql(pair.kor, "DELETE FROM audit_entries WHERE seq = 7")
    report = pair.verify()
    assert not report["ok"]
    assert report["first_bad_entry"] == 7


def test_an_inserted_entry_is_named(pair: Pair) -> None:
    _sql(
        pair.kor,
        "UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 15",
        "UPDATE audit_entries SET seq = seq - 999 WHERE seq >= 1015",
        "INSERT INTO audit_entries (seq, at, actor, action, detail, prev_hash, entry_hash) "
        "SELECT 15, at, 'mallory', action, detail, prev_hash, entry_hash "
        "FROM audit_entries WHERE seq = 14",
    )
    report = pair.verify()
    assert not report["ok"]
    assert report["first_bad_entry"] == 15


def test_reordered_entries_are_named(pair: Pair) -> None:
    _sql(
        pair.kor,
        "UPDATE audit_entries SET seq = 1000 WHERE seq = 20",
        "UPDATE audit_entries SET seq = 20 WHERE seq = 21",
        "UPDATE audit_entries SET seq = 21 WHERE seq = 1000",
    )
    report = pair.verify()
    assert not report["ok"]
    assert report["first_bad_entry"] == 20


def test_a_truncated_tail_is_caught(pair: Pair) -> None:
    _sql(pair.kor, "DELETE FROM audit_entries WHERE seq > 25")
    report = pair.verify()
    assert not report["ok"]
    problems = " ".join(report["problems"])  # type: ignore[arg-type]
    assert "truncated" in problems or "removed" in problems


def rewrite_from(rt: Runtime, first: int, total: int) -> None:
    """An insider's forgery: replace entries `first`.. with new ones whose hashes are all
    correct, fix the head row, and delete the node's own checkpoints."""
    with rt.ctx.db.read() as conn:
        rows = audit.entries(conn, limit=10_000)
    prev = rows[first - 2].entry_hash
    at = rows[first - 2].at
    forged = []
    for seq in range(first, total + 1):
        fields = content(
            seq=seq,
            at=at,
            actor="mallory",
            action="product.view",
            party=None,
            product_id=None,
            version=None,
            detail={},
        )
        digest = chain_hash(fields, prev)
        forged.append(
            {
                "seq": seq,
                "at": at,
                "actor": "mallory",
                "action": "product.view",
                "party": None,
                "product_id": None,
                "version": None,
                "detail": {},
                "prev_hash": prev,
                "entry_hash": digest,
            }
        )
        prev = digest
    _sql(rt, f"DELETE FROM audit_entries WHERE seq >= {int(first)}")  # noqa: S608 - a test int
    with rt.ctx.db.engine.begin() as conn:
        conn.execute(insert(audit_entries), forged)
        conn.execute(update(audit_head).values(size=total, head=prev))
        if rt.ctx.db.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS checkpoints_no_delete"))
        else:
            conn.execute(text("ALTER TABLE checkpoints DISABLE TRIGGER USER"))
        conn.execute(text("DELETE FROM checkpoints WHERE issuer = :p"), {"p": rt.ctx.party})


def test_a_tail_rewritten_with_a_fresh_valid_chain_is_caught_by_the_peers_checkpoint(
    pair: Pair,
) -> None:
    """The chain is valid after the forgery; only USA's copy of the checkpoint can tell."""
    kor = pair.kor
    rewrite_from(kor, 20, 30)
    alone = verify_log(kor.ctx.db, kor.ctx.trust, {})
    assert alone["ok"], "the forged chain is internally valid: only a peer can tell"
    report = pair.verify()
    assert not report["ok"]
    assert any("rewritten" in p and "USA" in p for p in report["problems"])  # type: ignore[union-attr]


def test_a_peer_refuses_a_checkpoint_that_contradicts_the_one_it_holds(pair: Pair) -> None:
    """After a rewrite, KOR's next checkpoint cannot be proven consistent: USA records an
    alarm and keeps the old one."""
    kor = pair.kor
    rewrite_from(kor, 5, 30)
    with kor.ctx.db.begin() as conn:
        audit.record(conn, Action.VIEW, at=datetime.now(UTC), actor="later")
    kor.audit._tree = type(kor.audit._tree)()  # a fresh process: rebuild from the database
    kor.audit.checkpoint()
    with pair.usa.ctx.db.read() as conn:
        held = checkpoints.latest_checkpoint(conn, "KOR")
    assert held is not None
    pair.usa.audit.hear("KOR", kor.audit.speak("USA", held.size))
    with pair.usa.ctx.db.read() as conn:
        alarms = audit.entries(conn, action=Action.INCONSISTENT.value)
        still = checkpoints.latest_checkpoint(conn, "KOR")
    assert alarms, "USA must record that KOR's history changed"
    shown = node_status(pair.usa.ctx)["audit_alarms"]
    assert shown
    assert shown[0]["peer"] == "KOR"
    assert still is not None
    assert still.size == held.size


# -- rows that cannot be read as entries ------------------------------------------------------


def _problems(report: dict[str, object]) -> str:
    problems = report["problems"]
    assert isinstance(problems, list)
    return "\n".join(problems)


def test_malformed_rows_are_each_named_and_the_walk_goes_on(pair: Pair) -> None:
    statements = [
        "UPDATE audit_entries SET detail = '[1, 2]' WHERE seq = 9",
        # Valid JSON, but a number canonical JSON cannot carry (1e400 reads as infinity).
        """UPDATE audit_entries SET detail = '{"i": 1e400}' WHERE seq = 13""",
        "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 21",
    ]
    named = [9, 13, 21]
    if pair.kor.ctx.db.dialect == "sqlite":
        statements += [
            "UPDATE audit_entries SET detail = '{\"i\": 5' WHERE seq = 5",
            """UPDATE audit_entries SET detail = '{"i": NaN}' WHERE seq = 7""",
            "UPDATE audit_entries SET at = 'yesterday-ish' WHERE seq = 17",
        ]
        named += [5, 7, 17]
    _sql(pair.kor, *statements)
    report = pair.verify()
    assert not report["ok"]
    assert report["first_bad_entry"] == min(named)
    problems = _problems(report)
    for seq in named:
        assert f"audit entry {seq} " in problems, problems
    assert len(report["problems"]) == len(named), problems  # type: ignore[arg-type]
    # The hashes of every row were still read: the peer's checkpoint over all 30 holds.
    assert "checkpoint 30 held by USA" in report["checked"]  # type: ignore[operator]


@pytest.fixture
def loose(pair: Pair) -> Pair:
    """KOR's audit table rebuilt without its types and NOT NULL constraints (SQLite), as an
    insider with the database file could."""
    assert pair.kor.ctx.db.dialect == "sqlite", "PostgreSQL keeps its column types"
    columns = "seq, at, actor, action, party, product_id, version, detail, prev_hash, entry_hash"
    _sql(
        pair.kor,
        "CREATE TABLE audit_copy AS SELECT * FROM audit_entries",
        "DROP TABLE audit_entries",
        f"CREATE TABLE audit_entries (seq INTEGER PRIMARY KEY, {columns.split(', ', 1)[1]})",
        f"INSERT INTO audit_entries ({columns}) SELECT {columns} FROM audit_copy",  # noqa: S608 - our own column names
        "DROP TABLE audit_copy",
    )
    return pair


@pytest.mark.parametrize("pair", ["sqlite"], indirect=True)  # a SQLite file's pages
def test_null_and_wrongly_typed_columns_are_named(loose: Pair) -> None:
    _sql(
        loose.kor,
        "UPDATE audit_entries SET actor = NULL WHERE seq = 3",
        "UPDATE audit_entries SET detail = NULL WHERE seq = 6",
        "UPDATE audit_entries SET version = 'seven' WHERE seq = 8",
        "UPDATE audit_entries SET prev_hash = 42 WHERE seq = 11",
        "UPDATE audit_entries SET entry_hash = X'00ff' WHERE seq = 14",
        "UPDATE audit_entries SET at = 12 WHERE seq = 19",
    )
    report = loose.verify()
    assert not report["ok"]
    problems = _problems(report)
    for seq in (3, 6, 8, 11, 14, 19):
        assert f"audit entry {seq} " in problems, problems
    # Entry 14's hash is unreadable: the checkpoint over all 30 cannot be checked, not "passed".
    assert "cannot be checked" in problems


@pytest.mark.parametrize("pair", ["sqlite"], indirect=True)  # a SQLite file's pages
def test_export_names_rows_it_cannot_write(loose: Pair) -> None:
    _sql(loose.kor, "UPDATE audit_entries SET detail = 'garbage' WHERE seq = 4")
    with loose.kor.ctx.db.read() as conn:
        read = list(audit.stream(conn))
    assert len(read) == 30
    damaged = [item for item in read if isinstance(item, Damaged)]
    assert [(d.first, d.last) for d in damaged] == [(4, 4)]
    assert "detail is malformed" in damaged[0].reason
    assert all(isinstance(item, Entry) for item in read if item not in damaged)


def _zero_pages_holding(rt: Runtime, *seqs: int) -> None:
    """Overwrite, with zeros, the database pages that hold the hashes of entries `seqs` (the
    node's database closed and its WAL folded in first), as a failing disk would."""
    with rt.ctx.db.read() as conn:
        digests = [e.entry_hash for e in audit.entries(conn, limit=10_000) if e.seq in seqs]
    path = Path(rt.ctx.db.url.removeprefix("sqlite:///"))
    rt.ctx.db.close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    for digest in digests:
        page = data.index(digest.encode()) // page_size
        assert data[page * page_size] == 0x0D, "the hash should sit in a leaf page of a table"
        data[page * page_size : (page + 1) * page_size] = bytes(page_size)
    path.write_bytes(bytes(data))
    rt.ctx.db.open()


@pytest.fixture
def damaged(pair: Pair) -> Pair:
    """KOR's log grown to 400 entries, then one page of its audit table overwritten."""
    assert pair.kor.ctx.db.dialect == "sqlite", "a page of the SQLite file is overwritten"
    now = datetime.now(UTC)
    with pair.kor.ctx.db.begin() as conn:
        for i in range(30, 400):
            audit.record(conn, Action.VIEW, at=now, actor=f"u{i}", detail={"i": i, "pad": "x" * 80})
    pair.kor.audit.checkpoint()
    pair.usa.audit.hear("KOR", pair.kor.audit.speak("USA", 30))
    _zero_pages_holding(pair.kor, 200)
    return pair


@pytest.mark.parametrize("pair", ["sqlite"], indirect=True)  # a SQLite file's pages
def test_a_corrupted_page_is_named_as_a_range_and_the_rest_is_read(damaged: Pair) -> None:
    report = damaged.verify()
    assert not report["ok"]
    unreadable = [p for p in report["problems"] if "cannot be read" in p]  # type: ignore[union-attr]
    assert len(unreadable) == 1, report["problems"]
    assert "malformed" in unreadable[0]
    first = report["first_bad_entry"]
    assert isinstance(first, int)
    assert 30 < first <= 201
    assert unreadable[0].startswith(f"audit entries {first}–")
    last = int(unreadable[0].split("–")[1].split()[0])
    assert 200 <= last < 400
    # Everything after the page was read: the chain reaches the end, and its head matches.
    assert report["size"] == 400
    assert "the checkpoint of size 400 held by USA cannot be checked" in _problems(report)
    assert not any("head" in p for p in report["problems"])  # type: ignore[union-attr]
    # The checkpoints before the page still hold; those after it cannot be checked.
    assert "checkpoint 30 held by USA" in report["checked"]  # type: ignore[operator]


@pytest.mark.parametrize("pair", ["sqlite"], indirect=True)  # a SQLite file's pages
def test_a_corrupted_page_stops_checkpoints_with_an_error_naming_it(damaged: Pair) -> None:
    kor = damaged.kor
    # The node goes on appending (the damaged page is not the last)...
    with kor.ctx.db.begin() as conn:
        audit.record(conn, Action.VIEW, at=datetime.now(UTC), actor="later")
    # ... but a fresh process cannot seal the log, and says why instead of failing quietly.
    kor.audit._tree = type(kor.audit._tree)()
    with pytest.raises(AuditTampered, match="cannot be read") as caught:
        kor.audit.checkpoint()
    assert caught.value.seq is not None
    assert 30 < caught.value.seq <= 201


def test_a_checkpoint_is_refused_over_a_log_cut_short(pair: Pair) -> None:
    kor = pair.kor
    with kor.ctx.db.read() as conn:
        rows = audit.entries(conn, limit=100)
    _sql(kor, "DELETE FROM audit_entries WHERE seq > 25")
    with kor.ctx.db.engine.begin() as conn:
        conn.execute(update(audit_head).values(size=25, head=rows[24].entry_hash))
        audit.record(conn, Action.VIEW, at=datetime.now(UTC), actor="later")
    with pytest.raises(AuditTampered, match="removed"):
        kor.audit.checkpoint()


def test_an_unlinked_entry_is_not_sealed(pair: Pair) -> None:
    kor = pair.kor
    with kor.ctx.db.begin() as conn:
        audit.record(conn, Action.VIEW, at=datetime.now(UTC), actor="later")
    _sql(kor, f"UPDATE audit_entries SET prev_hash = '{GENESIS}' WHERE seq = 31")  # noqa: S608 - a constant
    with pytest.raises(AuditTampered, match="entry 31 does not link") as caught:
        kor.audit.checkpoint()
    assert caught.value.seq == 31


# -- what peers hold --------------------------------------------------------------------------


def test_status_shows_what_each_peer_holds_and_warns_of_a_tail_left_unwitnessed(
    pair: Pair,
) -> None:
    kor, usa = pair.kor, pair.usa
    kor.audit.hear("USA", usa.audit.speak("KOR", 0))  # USA tells KOR it holds 30
    status = node_status(kor.ctx)
    usa_channel = next(c for c in status["channels"] if c["peer"] == "USA")
    assert usa_channel["holds_our_checkpoint"]["size"] == 30
    assert status["audit_witness"]["unwitnessed"] == 0
    assert status["audit_witness"]["warning"] is None

    now = datetime.now(UTC)
    with kor.ctx.db.begin() as conn:
        audit.record(conn, Action.VIEW, at=now - timedelta(minutes=2), actor="unseen")
    stale = node_status(kor.ctx)["audit_witness"]
    assert stale["unwitnessed"] == 1
    assert "1 audit entries (from entry 31" in stale["warning"]
    assert "not yet witnessed by any peer, for longer than 30 s" in stale["warning"]

    # USA takes the checkpoint over 31; an entry seconds old is the heartbeat's normal lag.
    kor.audit.checkpoint()
    usa.audit.hear("KOR", kor.audit.speak("USA", 30))
    kor.audit.hear("USA", usa.audit.speak("KOR", 30))
    with kor.ctx.db.begin() as conn:
        audit.record(conn, Action.VIEW, at=now, actor="fresh")
    fresh = node_status(kor.ctx)["audit_witness"]
    assert (fresh["covered"], fresh["unwitnessed"]) == (31, 1)
    assert fresh["warning"] is None


def test_status_warns_when_a_peer_holds_more_than_the_log_has(pair: Pair) -> None:
    kor, usa = pair.kor, pair.usa
    kor.audit.hear("USA", usa.audit.speak("KOR", 0))  # USA tells KOR it holds 30
    with kor.ctx.db.read() as conn:
        rows = audit.entries(conn, limit=100)
    _sql(kor, "DELETE FROM audit_entries WHERE seq > 25")
    with kor.ctx.db.engine.begin() as conn:
        conn.execute(update(audit_head).values(size=25, head=rows[24].entry_hash))
    warning = node_status(kor.ctx)["audit_witness"]["warning"]
    assert "USA (30)" in warning
    assert "entries were removed" in warning
