"""Idempotency keys on the analyst API: a retried change gets the first answer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from harness.factories import draft
from harness.nodes import Harness
from sqlalchemy import func, select

from tisa.store.tables import idempotency, products


def _create(h: Harness, key: str | None, user: str = "kor-analyst", **fields: Any) -> Any:
    headers = h.auth(user) | ({"Idempotency-Key": key} if key else {})
    return h.api("KOR").post("/api/v1/products", json=draft(**fields), headers=headers)


def _products(h: Harness) -> int:
    with h.rt["KOR"].ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(products)).scalar_one())


def test_a_retried_create_returns_the_first_answer_and_makes_one_product(harness: Harness) -> None:
    h = harness
    key = f"create-{uuid.uuid4().hex}"
    body = draft(title="Retried after a lost answer")
    before = _products(h)
    headers = h.auth("kor-analyst") | {"Idempotency-Key": key}
    first = h.api("KOR").post("/api/v1/products", json=body, headers=headers)
    again = h.api("KOR").post("/api/v1/products", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _products(h) == before + 1


def test_the_key_with_another_request_is_refused_and_changes_nothing(harness: Harness) -> None:
    h = harness
    key = f"other-{uuid.uuid4().hex}"
    assert _create(h, key, title="First").status_code == 201
    before = _products(h)
    refused = _create(h, key, title="Second, under the same key")
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "Conflict",
        "detail": "this Idempotency-Key was used for another request",
    }
    assert _products(h) == before


def test_a_key_still_being_carried_out_is_refused(harness: Harness) -> None:
    h = harness
    key = f"pending-{uuid.uuid4().hex}"
    body = draft(title="Pending")
    headers = h.auth("kor-analyst") | {"Idempotency-Key": key}
    with h.rt["KOR"].ctx.db.begin() as conn:
        # As if a first request were still being carried out by another worker.
        conn.execute(
            idempotency.insert().values(
                username="kor-analyst",
                key=key,
                request="0" * 64,
                status=0,
                body="",
                created_at=h.rt["KOR"].clock(),
            )
        )
    before = _products(h)
    answer = h.api("KOR").post("/api/v1/products", json=body, headers=headers)
    assert answer.status_code == 409
    assert _products(h) == before
    # One that died with its process long ago no longer holds the key.
    with h.rt["KOR"].ctx.db.begin() as conn:
        conn.execute(
            idempotency.update()
            .where(idempotency.c.key == key)
            .values(created_at=h.rt["KOR"].clock() - timedelta(minutes=10))
        )
    assert h.api("KOR").post("/api/v1/products", json=body, headers=headers).status_code == 201
    assert _products(h) == before + 1


def test_keys_belong_to_their_user_and_are_optional(harness: Harness) -> None:
    h = harness
    key = f"shared-{uuid.uuid4().hex}"
    before = _products(h)
    assert _create(h, key, "kor-analyst", title="Analyst's").status_code == 201
    assert _create(h, key, "kor-officer", title="Officer's").status_code == 201
    assert _create(h, None, title="No key").status_code == 201
    assert _create(h, None, title="No key").status_code == 201
    assert _products(h) == before + 4


def test_a_malformed_key_is_refused(harness: Harness) -> None:
    h = harness
    before = _products(h)
    for key in ("", "has space", "x" * 65, "a/b", "k?"):
        answer = _create(h, key or " ")
        assert answer.status_code == 422, key
        assert answer.json()["error"] == "InputInvalid"
    assert _products(h) == before


def test_a_refusal_is_kept_too(harness: Harness) -> None:
    """A retry of a refused request hears the same refusal (and nothing is done)."""
    h = harness
    key = f"refused-{uuid.uuid4().hex}"
    title = "Marked for a nation outside the arrangement"
    first = _create(h, key, title=title, rel_to=["USA", "KOR", "GBR"])
    again = _create(h, key, title=title, rel_to=["USA", "KOR", "GBR"])
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()
