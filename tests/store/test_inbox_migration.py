"""Migration 0011 on a store that already holds products (SQLite and PostgreSQL): each is
listed in the order it arrived, its newest version marked, its topics and words indexed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, insert, select

from tisa.domain.terms import query_terms
from tisa.store import inbox
from tisa.store.database import Database
from tisa.store.inbox import Filters, Position
from tisa.store.products import micros
from tisa.store.tables import product_topics, products

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
A = "0f8b2a64-3c1e-4b7a-9d52-6a1f0e4c9b10"
B = "7c3d9e21-5a4b-4f6c-8e1d-2b9a0c7f3e54"
C = "2b9a0c7f-3e54-4f6c-8e1d-7c3d9e215a4b"


def _at_0010(url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("tisa.store") / "migrations"))
    engine = create_engine(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
    engine.dispose()


def _version(pid: str, version: int, title: str, text: str, **when: Any) -> dict[str, Any]:
    return {
        "product_id": pid,
        "version": version,
        "originator": "KOR",
        "classification": 2,
        "precedence": "ROUTINE",
        "title": title,
        "topics": ["dprk.missile.launch"] if pid != C else ["dprk.nuclear.test"],
        "state": "received" if "received_at" in when else "draft",
        "body": {"title": title, "text": text},
        "author": "kor.analyst",
        "created_at": when.get("created_at", T0),
        "received_at": when.get("received_at"),
    }


def test_upgrading_from_0010_backfills_the_inbox(database_url: str) -> None:
    _at_0010(database_url)
    engine = create_engine(database_url)
    rows = [
        _version(A, 1, "first launch", "KN-23 flew", created_at=T0),
        _version(
            A, 2, "first launch amended", "KN-23 flew 600 km", created_at=T0 + timedelta(days=1)
        ),
        # Received: listed when it arrived, though created before the others.
        _version(
            B,
            1,
            "탄도미사일 발사",
            "동해상",
            created_at=T0 - timedelta(days=5),
            received_at=T0 + timedelta(hours=12),
        ),
        _version(C, 1, "reactor", "steam", created_at=T0 + timedelta(days=2)),
    ]
    with engine.begin() as conn:
        # Only the columns given are written: the ones 0010 has.
        conn.execute(insert(products), rows)
    engine.dispose()

    with Database(database_url) as db, db.read() as conn:
        listed = {
            (r.product_id, r.version): (r.listed_us, r.superseded_us)
            for r in conn.execute(select(products))
        }
        top = inbox.horizon(conn)
        walk = inbox.page(conn, Filters(), Position(top, top + 1), 10)
        found = inbox.page(
            conn, Filters(terms=tuple(query_terms("미사일"))), Position(top, top + 1), 10
        )
        families = {
            (pid, family)
            for pid, family in conn.execute(
                select(product_topics.c.product_id, product_topics.c.family).where(
                    product_topics.c.version == 1
                )
            )
        }
    assert listed[(A, 1)] == (micros(T0), listed[(A, 2)][0])
    assert listed[(B, 1)] == (micros(T0 + timedelta(hours=12)), None)
    assert listed[(A, 2)] == (micros(T0 + timedelta(days=1)), None)
    assert listed[(C, 1)] == (micros(T0 + timedelta(days=2)), None)
    assert [(r.product_id, r.version) for r in walk] == [(C, 1), (A, 2), (B, 1)]
    assert [r.product_id for r in found] == [B]
    assert (C, "dprk.nuclear") in families
    assert (A, "dprk.missile.launch") in families
