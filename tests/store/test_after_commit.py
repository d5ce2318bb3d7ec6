"""Files a transaction removes go only once it has committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tisa.store.database import Database, after_commit


def test_files_go_only_after_the_commit(tmp_path: Path) -> None:
    """What a transaction removes from disk is removed once it has committed: a rollback
    finds every file still there."""
    doomed = tmp_path / "blob"
    doomed.write_bytes(b"x")
    with Database(f"sqlite:///{tmp_path / 'tisa.db'}") as db:

        def rolled_back() -> None:
            with db.begin() as conn:
                after_commit(conn, doomed.unlink)
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            rolled_back()
        assert doomed.exists()
        with db.begin() as conn:
            after_commit(conn, doomed.unlink)
            assert doomed.exists()  # not yet: the transaction is still open
        assert not doomed.exists()
