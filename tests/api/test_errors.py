"""The one error mapping (tisa.api.errors): a full disk and a damaged store are never a bare
500, but a specific answer, logged, and a full disk counted."""

from __future__ import annotations

import errno
import logging
import sqlite3
import warnings
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.exc import DatabaseError, OperationalError

from tisa.api.errors import install
from tisa.errors import Damaged, DiskFull, TisaError
from tisa.node.disk import full
from tisa.store.salvage import reading

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FAILURES: dict[str, Exception] = {
    "reserve": DiskFull(
        "attachments are refused: 3 MiB free, the reserve is 8 MiB kept for products",
        what="upload",
    ),
    "enospc": OSError(errno.ENOSPC, "No space left on device"),
    "sqlite-full": OperationalError(
        "INSERT INTO tokens …", {}, sqlite3.OperationalError("database or disk is full")
    ),
    "malformed": DatabaseError(
        "SELECT … FROM products", {}, sqlite3.DatabaseError("database disk image is malformed")
    ),
    "damaged": Damaged("product 0f8b… v1: the stored content differs from what KOR signed"),
    "locked": OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
}


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    install(app)
    app.state.counted = []
    app.state.count_disk_full = app.state.counted.append

    def page(_request: Request, exc: TisaError) -> Response:
        return PlainTextResponse(f"page: {exc.reason}", status_code=599)

    app.state.error_page = page

    @app.get("/api/fail/{kind}")
    @app.get("/ui/fail/{kind}")
    def fail(kind: str) -> None:
        raise FAILURES[kind]

    @app.get("/api/product")
    def product() -> None:
        # A product read that meets a damaged page, as tisa.store.products.get does.
        with reading("product 0f8b… v1", "products"):
            raise FAILURES["malformed"]

    return app


@pytest.fixture
def client(app: FastAPI) -> Any:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_the_reserve_refusal_is_507_with_its_reason_logged_and_counted(
    app: FastAPI, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tisa.api"):
        answer = client.get("/api/fail/reserve")
    assert answer.status_code == 507
    assert answer.json() == {
        "error": "DiskFull",
        "detail": "attachments are refused: 3 MiB free, the reserve is 8 MiB kept for products",
    }
    assert app.state.counted == ["upload"]
    assert "disk full (upload): GET /api/fail/reserve: attachments are refused" in caplog.text


@pytest.mark.parametrize(("kind", "what"), [("enospc", "file"), ("sqlite-full", "database")])
def test_a_full_disk_anywhere_is_507_never_a_bare_500(
    app: FastAPI, client: Any, kind: str, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tisa.api"):
        answer = client.get(f"/api/fail/{kind}")
    assert answer.status_code == 507
    body = answer.json()
    assert body["error"] == "DiskFull"
    assert body["detail"].startswith("the disk is full: ")
    assert "free space on the disk that holds it" in body["detail"]
    assert app.state.counted == [what]
    assert f"disk full ({what}): GET /api/fail/{kind}: the disk is full" in caplog.text


def test_a_damaged_store_is_500_with_what_is_damaged(client: Any) -> None:
    answer = client.get("/api/fail/malformed")
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "Damaged",
        "detail": "the database is damaged (database disk image is malformed); run `tisa check`",
    }
    named = client.get("/api/product")
    assert named.status_code == 500
    assert named.json() == {
        "error": "Damaged",
        "detail": "product 0f8b… v1: the products table is damaged "
        "(database disk image is malformed); run `tisa check`",
    }
    verified = client.get("/api/fail/damaged")
    assert verified.status_code == 500
    assert verified.json()["error"] == "Damaged"


def test_anything_else_unforeseen_stays_an_internal_error(client: Any) -> None:
    answer = client.get("/api/fail/locked")
    assert answer.status_code == 500
    assert answer.text == "Internal Server Error"


def test_the_web_ui_shows_a_full_disk_on_its_error_page(client: Any) -> None:
    answer = client.get("/ui/fail/sqlite-full")
    assert answer.status_code == 599
    assert answer.text.startswith("page: the disk is full: the database could not be written")


def test_a_full_disk_reads_as_one() -> None:
    exc = full("database", "the database could not be written")
    assert exc.what == "database"
    assert exc.reason == (
        "the disk is full: the database could not be written; free space on the disk that "
        "holds it (nothing needs restarting)"
    )
