"""Compose with live checks, the release queue (release, send back, revise), recall, consent
answers and standing rules, through the UI's forms and the API calls its scripts make."""

from __future__ import annotations

from typing import Any

import pytest
from harness.factories import draft
from harness.web import Web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tisa.store import audit


def problems(web: Web, party: str, **fields: Any) -> list[str]:
    client = web.signed_in(f"{party.lower()}-analyst")
    answer = web.api_post(client, "/api/v1/products/check", draft(**fields))
    assert answer.status_code == 200, answer.text
    return answer.json()["problems"]  # type: ignore[no-any-return]


def test_a_good_draft_has_no_problems(web: Web) -> None:
    assert problems(web, "KOR") == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"topics": ["dprk.missile.launch", "prc.navy"]}, "outside the arrangement's scope"),
        ({"rel_to": ["KOR", "JPN"]}, "REL TO lacks USA"),
        ({"classification": "TOP_SECRET"}, "ceiling"),
        ({"rel_to": ["KOR"]}, "no one to release to"),
        ({"classification": "COSMIC"}, "classification"),
    ],
)
def test_live_checks_name_what_is_wrong(web: Web, fields: dict[str, Any], expected: str) -> None:
    found = problems(web, "KOR", **fields)
    assert any(expected.lower() in p.lower() for p in found), found


def test_checking_stores_nothing(web: Web) -> None:
    with web.rt["KOR"].ctx.db.read() as conn:
        before = audit.head(conn)[0]
    problems(web, "KOR", topics=["prc.navy"])
    with web.rt["KOR"].ctx.db.read() as conn:
        entries = audit.entries(conn, limit=100_000)
    assert not [e for e in entries if e.seq > before and e.action.startswith("product.")]


def test_send_back_then_revise_returns_to_the_queue(web: Web) -> None:
    analyst = web.signed_in("kor-analyst")
    made = web.api_post(analyst, "/api/v1/products", draft(title="Needs another look"))
    product_id = made.json()["id"]
    officer = web.signed_in("kor-officer")
    queue = officer.get("/ui/releases")
    assert "Needs another look" in queue.text
    token = web.csrf(officer)
    empty = officer.post(
        f"/ui/products/{product_id}/versions/1/send-back", data={"csrf": token, "reason": " "}
    )
    assert empty.status_code == 422
    sent = officer.post(
        f"/ui/products/{product_id}/versions/1/send-back",
        data={"csrf": token, "reason": "Add the apogee JCS reported"},
    )
    assert sent.status_code == 303
    page = analyst.get(f"/ui/products/{product_id}")
    assert "Add the apogee JCS reported" in page.text
    queue = officer.get("/ui/releases").text
    waiting = queue.split("Sent back to their authors")[0]
    assert "Needs another look" not in waiting
    revised = analyst.put(
        f"/api/v1/products/{product_id}/versions/1",
        json=draft(title="Needs another look (apogee added)"),
        headers={"X-CSRF-Token": web.csrf(analyst)},
    )
    assert revised.status_code == 200, revised.text
    assert "Needs another look (apogee added)" in officer.get("/ui/releases").text
    with web.rt["KOR"].ctx.db.read() as conn:
        actions = [e.action for e in audit.entries(conn, product_id=product_id)]
    assert "product.send-back" in actions
    assert "product.revise" in actions


def test_analyst_cannot_release_or_send_back(web: Web) -> None:
    analyst = web.signed_in("kor-analyst")
    made = web.api_post(analyst, "/api/v1/products", draft(title="Analyst may not release"))
    product_id = made.json()["id"]
    token = web.csrf(analyst)
    for action in ("release", "send-back"):
        answer = analyst.post(
            f"/ui/products/{product_id}/versions/1/{action}", data={"csrf": token, "reason": "x"}
        )
        assert answer.status_code == 403, action
    with web.rt["KOR"].ctx.db.read() as conn:
        actions = [e.action for e in audit.entries(conn, product_id=product_id)]
    assert "product.release" not in actions


def test_a_refused_release_shows_every_reason(web: Web) -> None:
    analyst = web.signed_in("kor-analyst")
    # Storing a draft checks scope and clearance; the rules of release speak at release.
    made = web.api_post(analyst, "/api/v1/products", draft(rel_to=["KOR", "JPN"]))
    product_id = made.json()["id"]
    officer = web.signed_in("kor-officer")
    answer = officer.post(
        f"/ui/products/{product_id}/versions/1/release", data={"csrf": web.csrf(officer)}
    )
    assert answer.status_code == 422
    assert "REL TO lacks USA" in answer.text
    assert web.signed_in("kor-analyst").get(f"/ui/products/{product_id}").status_code == 200


def test_standing_rule_form_validates_and_grants(web: Web) -> None:
    officer = web.signed_in("kor-officer")
    token = web.csrf(officer)
    none = officer.post("/ui/consents", data={"csrf": token, "recipient": "JPN"})
    assert none.status_code == 422
    assert "topics" in none.text
    bad_date = officer.post(
        "/ui/consents",
        data={"csrf": token, "recipient": "JPN", "topics": "dprk.nuclear.*", "expires": "soon"},
    )
    assert bad_date.status_code == 422
    rule = {
        "csrf": token,
        "recipient": "JPN",
        "topics": ["dprk.nuclear.*", "dprk.missile.launch"],
        "max_classification": "SECRET",
        "expires": "2099-12-31",
    }
    preview = officer.post("/ui/consents", data=rule)
    assert preview.status_code == 200, preview.text
    assert 'name="confirm" value="yes"' in preview.text
    assert "2099-12-31" not in officer.get("/ui/consents").text  # nothing granted yet
    made = officer.post("/ui/consents", data={**rule, "confirm": "yes"})
    assert made.status_code == 303, made.text
    page = officer.get("/ui/consents").text
    assert (
        "dprk.missile.launch, dprk.nuclear.*" in page
        or "dprk.nuclear.*, dprk.missile.launch" in page
    )
    assert "2099-12-31" in page


def test_live_track_consent_form_validates_and_grants(web: Web) -> None:
    officer = web.signed_in("kor-officer")
    token = web.csrf(officer)
    live = {
        "csrf": token,
        "recipient": "JPN",
        "kind": "live-tracks",
        "max_classification": "SECRET",
    }
    none = officer.post("/ui/consents", data=live)
    assert none.status_code == 422
    assert "streams" in none.text
    made = officer.post(
        "/ui/consents", data={**live, "modes": ["live", "exercise"], "confirm": "yes"}
    )
    assert made.status_code == 303, made.text
    page = officer.get("/ui/consents").text
    assert "live missile tracks (exercise, live)" in page


def test_audit_page_verifies_the_log(web: Web) -> None:
    auditor = web.signed_in("kor-auditor")
    page = auditor.get("/ui/audit")
    assert page.status_code == 200
    assert "sign-in" in page.text
    report = auditor.post("/ui/audit/verify", data={"csrf": web.csrf(auditor, "/ui/audit")})
    assert report.status_code == 200
    # Peers are not running in process: the chain is verified and the peers named unreachable.
    assert "hash chain of" in report.text
    assert "could not be asked" in report.text


FORMS = [
    "/ui/language",
    "/ui/consents",
    "/ui/products/00000000-0000-4000-8000-000000000000/versions/1/release",
    "/ui/products/00000000-0000-4000-8000-000000000000/versions/1/send-back",
    "/ui/products/00000000-0000-4000-8000-000000000000/versions/1/recall",
    "/ui/consent-requests/00000000-0000-4000-8000-000000000000/grant",
    "/ui/consent-requests/00000000-0000-4000-8000-000000000000/deny",
    "/ui/consents/00000000-0000-4000-8000-000000000000/revoke",
    "/ui/channels/USA-KOR/suspend",
    "/ui/channels/KOR-JPN/resume",
]
_officer: dict[str, Any] = {}


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(FORMS),
    fields=st.dictionaries(
        st.sampled_from(
            ["reason", "language", "recipient", "topics", "max_classification", "expires", "back"]
        ),
        st.text(max_size=30),
        max_size=6,
    ),
)
def test_no_form_post_fails_on_any_input(web: Web, path: str, fields: dict[str, str]) -> None:
    if "client" not in _officer:
        _officer["client"] = web.signed_in("kor-officer")
        _officer["csrf"] = web.csrf(_officer["client"])
    client = _officer["client"]
    answer = client.post(path, data={**fields, "csrf": _officer["csrf"]})
    # 200: a release or consent shows its preview first (nothing done without confirming).
    assert answer.status_code in (200, 303, 403, 404, 409, 422), (path, answer.text[-300:])
    if "language" in fields:  # keep the session's pages in English for the other tests
        web.rt["KOR"].accounts.set_language("kor-officer", "en")
