"""The audit store's checkpoint and holding rows when several transactions write them at once.

A sender lane, the heartbeat and the federation endpoint may all hear a peer's latest
checkpoint at the same moment; on PostgreSQL (read committed) the second writer used to find
no row, insert, and fail on the key once the first committed.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tisa.store import checkpoints as kept
from tisa.store.checkpoints import CheckpointRow
from tisa.store.database import Database
from tisa.store.tables import checkpoints

T0 = datetime(2024, 1, 14, 5, 55, tzinfo=UTC)
ROW = CheckpointRow("USA", 7, "ab" * 32, "token", T0)


def _while_first_is_open(db: Database, first: object, second: object) -> list[object]:
    """Run `first(conn)` in a transaction left open while `second(conn)` runs in another
    thread's transaction (on PostgreSQL it waits on the row's key), then commit the first.
    Returns what each returned or raised."""
    outcomes: list[object] = []

    def other() -> None:
        try:
            with db.begin() as conn:
                outcomes.append(second(conn))  # type: ignore[operator]
        except Exception as exc:  # the outcome under test
            outcomes.append(exc)

    with db.begin() as conn:
        outcomes.append(first(conn))  # type: ignore[operator]
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)  # the other insert is now waiting for this transaction
    thread.join(timeout=30)
    return outcomes


def test_a_checkpoint_kept_twice_at_once_is_kept_once(own_db: Database) -> None:
    db = own_db  # two transactions at once: real connections of their own
    outcomes = _while_first_is_open(
        db,
        lambda conn: kept.add_checkpoint(conn, ROW, T0),
        lambda conn: kept.add_checkpoint(conn, ROW, T0),
    )
    assert outcomes == [True, False]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(checkpoints)).scalar_one() == 1


def test_a_checkpoint_already_held_is_not_kept_again(db: Database) -> None:
    with db.begin() as conn:
        assert kept.add_checkpoint(conn, ROW, T0)
    with db.begin() as conn:
        assert not kept.add_checkpoint(conn, ROW, T0)


def test_the_first_holding_of_a_peer_noted_twice_at_once_keeps_the_later_word(
    own_db: Database,
) -> None:
    db = own_db  # two transactions at once: real connections of their own
    later = T0 + timedelta(seconds=3)
    outcomes = _while_first_is_open(
        db,
        lambda conn: kept.set_holding(conn, "KOR", 10, T0),
        lambda conn: kept.set_holding(conn, "KOR", 12, later),
    )
    assert outcomes == [None, None]
    with db.read() as conn:
        held = kept.holdings(conn)
    assert held["KOR"].size == 12
    assert held["KOR"].reported_at == later
