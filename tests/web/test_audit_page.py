"""The audit page as an auditor reads it: actions in words, details as labelled values, views
hidden unless asked for, and the selection exported as JSON Lines and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from harness.factories import draft
from harness.web import Web

from tisa.audit.chain import Entry
from tisa.store import audit
from tisa.web.audit_view import csv_rows, details


def _product(web: Web, title: str) -> str:
    made = web.api_post(web.signed_in("kor-analyst"), "/api/v1/products", draft(title=title))
    assert made.status_code == 201, made.text
    product_id: str = made.json()["id"]
    assert web.signed_in("kor-officer").get(f"/ui/products/{product_id}").status_code == 200
    return product_id


def test_actions_in_words_and_details_labelled_in_each_language(web: Web) -> None:
    product_id = _product(web, "Audited in words")
    english = web.signed_in("kor-auditor").get("/ui/audit", params={"product_id": product_id})
    assert english.status_code == 200
    assert "draft created" in english.text
    assert 'title="product.create"' in english.text
    assert "{'" not in english.text  # no Python reprs
    assert "reasons: []" not in english.text
    korean = web.signed_in("kor-auditor", "ko").get("/ui/audit", params={"product_id": product_id})
    assert "초안 작성" in korean.text
    japanese = web.signed_in("kor-auditor", "ja").get(
        "/ui/audit", params={"product_id": product_id}
    )
    assert "下書き作成" in japanese.text


def test_openings_are_hidden_unless_asked_for(web: Web) -> None:
    product_id = _product(web, "Opened once")
    auditor = web.signed_in("kor-auditor")
    hidden = auditor.get("/ui/audit", params={"product_id": product_id}).text
    assert 'title="product.view"' not in hidden
    assert 'title="product.create"' in hidden
    shown = auditor.get("/ui/audit", params={"product_id": product_id, "views": "1"}).text
    assert 'title="product.view"' in shown
    named = auditor.get("/ui/audit", params={"action": "product.view"}).text
    assert 'title="product.view"' in named


def test_the_selection_exports_as_jsonl_and_csv_with_its_hashes(web: Web) -> None:
    product_id = _product(web, "Exported")
    auditor = web.signed_in("kor-auditor")
    query = {"product_id": product_id, "views": "1"}
    lines = auditor.get("/ui/audit/export.jsonl", params=query)
    assert lines.status_code == 200
    assert "attachment" in lines.headers["content-disposition"]
    rows = [json.loads(line) for line in lines.text.splitlines()]
    with web.rt["KOR"].ctx.db.read() as conn:
        stored = audit.entries(conn, product_id=product_id)
    assert [r["seq"] for r in rows] == [e.seq for e in stored]
    assert [r["entry_hash"] for r in rows] == [e.entry_hash for e in stored]
    assert {r["action"] for r in rows} >= {"product.create", "product.view"}
    table = list(
        csv.DictReader(io.StringIO(auditor.get("/ui/audit/export.csv", params=query).text))
    )
    assert [int(r["seq"]) for r in table] == [e.seq for e in stored]
    assert json.loads(table[0]["detail"]) == dict(stored[0].detail)
    # The default selection leaves openings out, as the page does.
    plain = auditor.get("/ui/audit/export.jsonl", params={"product_id": product_id}).text
    assert "product.view" not in plain


@pytest.mark.parametrize("user", ["kor-analyst", "kor-officer"])
def test_only_auditors_and_admins_export(web: Web, user: str) -> None:
    assert web.signed_in(user).get("/ui/audit/export.csv").status_code == 403


def test_a_bad_export_form_or_filter_is_refused_plainly(web: Web) -> None:
    auditor = web.signed_in("kor-auditor")
    assert auditor.get("/ui/audit/export.xml").status_code in (400, 404, 422)
    assert auditor.get("/ui/audit/export.csv", params={"views": "yes"}).status_code in (400, 422)


def test_details_leave_out_empty_values_and_word_booleans() -> None:
    shown = details(
        {"allowed": True, "reasons": [], "rules": ["scope", "rel-to"], "terms": {"to": "JPN"}}
    )
    assert [(d.label, d.text, d.word) for d in shown] == [
        (("allowed",), "yes", True),
        (("rules",), "scope, rel-to", False),
        (("terms", "to"), "JPN", False),
    ]


def test_a_cell_a_spreadsheet_would_run_is_written_as_text() -> None:
    entry = Entry(
        seq=1,
        at=datetime(2026, 12, 1, tzinfo=UTC),
        actor='=HYPERLINK("http://x")',
        action="sign-in.failed",
        party=None,
        product_id=None,
        version=None,
        detail={},
        prev_hash="0" * 64,
        entry_hash="1" * 64,
    )
    (_, row) = list(csv.reader(io.StringIO("".join(csv_rows([entry])))))
    assert row[2].startswith("'=")
