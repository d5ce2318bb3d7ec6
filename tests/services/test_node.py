"""The node's operations, on a real store: each multi-step change is one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.clusters import copy_cluster
from harness.factories import draft
from sqlalchemy import func, select

from tisa.demo.network import Cluster
from tisa.domain.wire import DraftIn, parse
from tisa.node.runtime import Runtime
from tisa.services.accounts import Role, User
from tisa.store import consents
from tisa.store.database import after_commit
from tisa.store.tables import consent_requests
from tisa.store.tables import consents as consent_table


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory, cluster_template: Cluster) -> Iterator[Runtime]:
    cluster = copy_cluster(cluster_template, tmp_path_factory.mktemp("node") / "net")
    rt = Runtime(cluster.nodes["KOR"].settings).open()
    try:
        yield rt
    finally:
        rt.close()


def _user(rt: Runtime, role: Role) -> User:
    return rt.accounts.add(f"kor-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, role, "TOP SECRET")


def _request(rt: Runtime) -> str:
    """A KOR product released, and the hub's consent request for it, as KOR holds them."""
    product = rt.drafts.create(_user(rt, Role.ANALYST), parse(DraftIn, draft("KOR", orcon=True)))
    rt.releases.release(_user(rt, Role.RELEASE_OFFICER), product.id, 1)
    request_id = str(uuid.uuid4())
    with rt.ctx.db.begin() as conn:
        consents.add_request(
            conn,
            consents.RequestRow(
                request_id=request_id,
                product_id=product.id,
                version=1,
                originator="KOR",
                recipient="JPN",
                state="open",
                token="eyJ.request.sig",
                requested_at=rt.clock(),
                decided_at=None,
                decided_by=None,
                reason=None,
            ),
        )
    return request_id


def _count(rt: Runtime, table: Any) -> int:
    with rt.ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_granting_a_request_is_one_transaction(kor: Runtime, monkeypatch: Any) -> None:
    """If anything fails after the consent is signed and stored, nothing of it stays: the
    request is still open, and no consent is held or queued."""
    request_id = _request(kor)
    officer = _user(kor, Role.RELEASE_OFFICER)
    before = _count(kor, consent_table)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the outbox failed")

    monkeypatch.setattr("tisa.services.consents.routing.queue_message", broken)
    with pytest.raises(RuntimeError, match="the outbox failed"):
        kor.consents.answer_request(officer, request_id, grant=True)
    monkeypatch.undo()
    assert _count(kor, consent_table) == before
    with kor.ctx.db.read() as conn:
        state = conn.execute(
            select(consent_requests.c.state).where(consent_requests.c.request_id == request_id)
        ).scalar_one()
    assert state == "open"
    granted = kor.consents.answer_request(officer, request_id, grant=True)
    assert granted["state"] == "granted"
    assert _count(kor, consent_table) == before + 1


def test_files_go_only_after_the_commit(kor: Runtime, tmp_path: Path) -> None:
    """What a transaction removes from disk is removed once it has committed: a rollback
    finds every file still there."""
    doomed = tmp_path / "blob"
    doomed.write_bytes(b"x")

    def rolled_back() -> None:
        with kor.ctx.db.begin() as conn:
            after_commit(conn, doomed.unlink)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    assert doomed.exists()
    with kor.ctx.db.begin() as conn:
        after_commit(conn, doomed.unlink)
        assert doomed.exists()  # not yet: the transaction is still open
    assert not doomed.exists()
