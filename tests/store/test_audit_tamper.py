"""Tampering with a node's audit log in the database, behind the application's back.

Each kind of tampering is caught by `verify_log`; rewriting the tail with a fresh valid chain
is caught through the checkpoint a peer holds. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text, update

from tisa.api.status import node_status
from tisa.audit import chain_hash, content
from tisa.audit_log import verify_log
from tisa.cluster import Cluster
from tisa.runtime import Runtime
from tisa.store import audit
from tisa.store.audit import Action
from tisa.store.tables import audit_entries, audit_head


@dataclass
class Pair:
    kor: Runtime
    usa: Runtime

    def witnessed(self) -> dict[str, list[str]]:
        with self.usa.ctx.db.read() as conn:
            return {"USA": [cp.token for cp in audit.checkpoints_of(conn, "KOR")]}

    def verify(self) -> dict[str, object]:
        return verify_log(self.kor.ctx.db, self.kor.ctx.trust, self.witnessed())


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    databases = None
    pg = None
    if request.param == "postgresql":
        pg = request.getfixturevalue("pg_databases")
        databases = {"USA": pg.new(), "KOR": pg.new(), "JPN": pg.new()}
    cluster = Cluster(tmp_path / "net", databases=databases)
    cluster.create()
    kor = Runtime(cluster.nodes["KOR"].settings).open()
    usa = Runtime(cluster.nodes["USA"].settings).open()
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
        held = audit.latest_checkpoint(conn, "KOR")
    assert held is not None
    pair.usa.audit.hear("KOR", kor.audit.speak("USA", held.size))
    with pair.usa.ctx.db.read() as conn:
        alarms = audit.entries(conn, action=Action.INCONSISTENT.value)
        still = audit.latest_checkpoint(conn, "KOR")
    assert alarms, "USA must record that KOR's history changed"
    shown = node_status(pair.usa)["audit_alarms"]
    assert shown
    assert shown[0]["peer"] == "KOR"
    assert still is not None
    assert still.size == held.size
