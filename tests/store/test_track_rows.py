"""Tests for tisa.store.tracks: keeping updates, one and many at a time."""

from __future__ import annotations

from datetime import UTC, datetime

from tisa.store import tracks
from tisa.store.database import Database

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _row(track_id: str, time_ms: int, originator: str = "KOR") -> tracks.TrackRow:
    return tracks.TrackRow(
        originator=originator,
        track_id=track_id,
        time_ms=time_ms,
        classification=2,
        exercise=True,
        token=f"token-{originator}-{track_id}-{time_ms}",
        attestation=None,
        consent=None,
        received_from=None,
        stored_at=NOW,
    )


def test_add_many_keeps_what_is_new_and_names_it(db: Database) -> None:
    with db.begin() as conn:
        assert tracks.add(conn, _row("K1", 100))
        kept = tracks.add_many(
            conn, [_row("K1", 100), _row("K1", 200), _row("K1", 200), _row("K2", 100, "JPN")]
        )
        assert kept == {("KOR", "K1", 200), ("JPN", "K2", 100)}
        assert tracks.add_many(conn, []) == set()
    with db.read() as conn:
        held = tracks.history(conn)
    assert sorted((r.originator, r.track_id, r.time_ms) for r in held) == [
        ("JPN", "K2", 100),
        ("KOR", "K1", 100),
        ("KOR", "K1", 200),
    ]


def test_add_many_past_a_page_of_parameters(db: Database) -> None:
    # More rows than one multi-row VALUES page holds: every one is kept and named.
    rows = [_row(f"K{i % 7}", i) for i in range(2_500)]
    with db.begin() as conn:
        assert len(tracks.add_many(conn, rows)) == 2_500
        assert tracks.add_many(conn, rows) == set()
