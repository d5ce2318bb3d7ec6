"""Page banners, DRAFT, the release queue's order, and release and consent with a preview and
a confirmation, in process (the browser's view of the same is in test_markings_browser.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from harness.factories import draft
from harness.web import Web

from tisa.store import audit, products

BANNER = re.compile(
    r'<div class="banner page-banner (top|bottom) (level-[a-z-]+)" id="banner-\1"[^>]*>(.*?)</div>',
    re.S,
)
TAGS = re.compile(r"<[^>]+>")


def banners(html: str) -> list[tuple[str, str, str]]:
    """Each page banner: where, its level's style, its words."""
    return [
        (where, style, TAGS.sub("", text).strip()) for where, style, text in BANNER.findall(html)
    ]


def made(web: Web, party: str = "KOR", **fields: Any) -> str:
    analyst = web.signed_in(f"{party.lower()}-analyst")
    answer = web.api_post(analyst, "/api/v1/products", draft(**fields))
    assert answer.status_code == 201, answer.text
    product_id: str = answer.json()["id"]
    return product_id


# Every page that shows content, with a user who may open it.
PAGES = [
    ("kor-analyst", "/ui/inbox"),
    ("kor-analyst", "/ui/compose"),
    ("kor-officer", "/ui/releases"),
    ("kor-officer", "/ui/consents"),
    ("kor-analyst", "/ui/events"),
    ("kor-analyst", "/ui/events/ev-0000000000000000"),
    ("kor-analyst", "/ui/tracks"),
    ("kor-analyst", "/ui/tracks/replay?from_ms=0&to_ms=60000"),
    ("kor-admin", "/ui/peers"),
    ("kor-auditor", "/ui/audit"),
]


@pytest.mark.parametrize(("user", "page"), PAGES)
def test_every_page_has_its_banner_top_and_bottom(web: Web, user: str, page: str) -> None:
    html = web.signed_in(user).get(page)
    assert html.status_code == 200, html.text[-500:]
    found = banners(html.text)
    assert [where for where, _, _ in found] == ["top", "bottom"], page
    assert found[0][1:] == found[1][1:]  # the same words and colour at both ends
    # At the very top of the page and at its very end.
    assert html.text.index('id="banner-top"') < html.text.index("<header")
    assert html.text.index('id="banner-bottom"') > html.text.index("</main>")


def test_pages_about_the_network_are_not_classified_in_the_readers_words(web: Web) -> None:
    for user, words in (
        ("kor-admin", "비밀 아님"),
        ("jpn-admin", "非秘"),
        ("usa-admin", "UNCLASSIFIED"),
    ):
        found = banners(web.signed_in(user).get("/ui/peers").text)
        assert found[0] == ("top", "level-unclassified", words)


def test_an_inbox_with_nothing_listed_says_unclassified(web: Web) -> None:
    page = web.signed_in("usa-analyst").get("/ui/inbox", params={"originator": "JPN"}).text
    assert "Nothing here yet." in page
    assert banners(page)[0] == ("top", "level-unclassified", "UNCLASSIFIED")


def test_a_secret_product_page_is_red_and_says_secret_in_the_readers_scheme(web: Web) -> None:
    product_id = made(web, title="Banner colour check")
    page = web.signed_in("kor-analyst").get(f"/ui/products/{product_id}").text
    top, bottom = banners(page)
    assert top == ("top", "level-secret", "DRAFT 군사Ⅱ급비밀//REL TO USA, JPN, KOR")
    assert bottom[1:] == top[1:]
    confidential = made(web, title="Confidential one", classification="CONFIDENTIAL")
    page = web.signed_in("kor-analyst").get(f"/ui/products/{confidential}").text
    assert banners(page)[0][1] == "level-confidential"


def test_the_inbox_banner_is_its_highest_row_and_drafts_say_draft(web: Web) -> None:
    made(web, title="Secret draft in the inbox")
    page = web.signed_in("kor-analyst").get("/ui/inbox").text
    assert banners(page)[0][1] == "level-secret"
    row = page.split("Secret draft in the inbox")[0].rsplit("<tr", 1)[1]
    assert "draft" in row.split(">")[0]  # the row's class
    assert '<span class="draft-tag">DRAFT</span>' in row


def test_the_queue_puts_a_newer_flash_above_an_older_routine(web: Web) -> None:
    routine = made(web, title="Queue order: older ROUTINE", precedence="ROUTINE")
    flash = made(web, title="Queue order: newer FLASH", precedence="FLASH")
    # Age is the draft's creation: make the ROUTINE plainly the older one.
    with web.rt["KOR"].ctx.db.begin() as conn:
        row = products.get(conn, flash, 1)
        assert row is not None
        older = row.created_at - timedelta(hours=1)
    _set_created(web, routine, older)
    queue = web.signed_in("kor-officer").get("/ui/releases").text
    assert queue.index(f'data-product="{flash}"') < queue.index(f'data-product="{routine}"')
    assert "DRAFT" in queue.split(f'data-product="{flash}"')[1].split("</section>")[0]


def _set_created(web: Web, product_id: str, when: Any) -> None:
    from sqlalchemy import update

    from tisa.store.tables import products as table

    with web.rt["KOR"].ctx.db.begin() as conn:
        conn.execute(update(table).where(table.c.product_id == product_id).values(created_at=when))


def test_release_shows_a_preview_and_releases_only_on_confirmation(web: Web) -> None:
    # ORCON: no standing rule (other tests grant some) covers it, so the hub must ask.
    product_id = made(web, title="Preview before release", precedence="IMMEDIATE", orcon=True)
    officer = web.signed_in("kor-officer")
    token = web.csrf(officer)
    path = f"/ui/products/{product_id}/versions/1/release"
    preview = officer.post(path, data={"csrf": token})
    assert preview.status_code == 200
    html = preview.text
    assert "Preview before release" in html
    assert "군사Ⅱ급비밀//ORCON/REL TO USA, JPN, KOR" in html
    assert "IMMEDIATE" in html
    assert "directly, over the channel with USA" in html
    assert "via USA, which holds it and asks you for consent first" in html
    # Nothing is released by the first post: the store and the API still say draft.
    with web.rt["KOR"].ctx.db.read() as conn:
        row = products.get(conn, product_id, 1)
        actions = [e.action for e in audit.entries(conn, product_id=product_id)]
    assert row is not None
    assert row.state == "draft"
    assert "product.release" not in actions
    api = officer.get(f"/api/v1/products/{product_id}").json()
    assert api["state"] == "draft"
    reviewed = re.search(r'name="reviewed" value="([^"]+)"', html)
    assert reviewed is not None
    done = officer.post(path, data={"csrf": token, "confirm": "yes", "reviewed": reviewed[1]})
    assert done.status_code == 303
    assert officer.get(f"/api/v1/products/{product_id}").json()["state"] == "released"


def test_a_draft_changed_after_its_preview_is_not_released(web: Web) -> None:
    product_id = made(web, title="Reviewed words")
    officer = web.signed_in("kor-officer")
    token = web.csrf(officer)
    path = f"/ui/products/{product_id}/versions/1/release"
    reviewed = re.search(
        r'name="reviewed" value="([^"]+)"', officer.post(path, data={"csrf": token}).text
    )
    assert reviewed is not None
    analyst = web.signed_in("kor-analyst")
    changed = analyst.put(
        f"/api/v1/products/{product_id}/versions/1",
        json=draft(title="Other words than were reviewed"),
        headers={"X-CSRF-Token": web.csrf(analyst)},
    )
    assert changed.status_code == 200, changed.text
    refused = officer.post(path, data={"csrf": token, "confirm": "yes", "reviewed": reviewed[1]})
    assert refused.status_code == 409
    assert "review it again" in refused.text
    assert officer.get(f"/api/v1/products/{product_id}").json()["state"] == "draft"


def test_a_refused_release_previews_the_rules_reasons_and_offers_no_confirmation(web: Web) -> None:
    product_id = made(web, rel_to=["KOR", "JPN"])
    officer = web.signed_in("kor-officer")
    preview = officer.post(
        f"/ui/products/{product_id}/versions/1/release", data={"csrf": web.csrf(officer)}
    )
    assert preview.status_code == 422
    assert "REL TO lacks USA" in preview.text
    assert "confirm-release" not in preview.text


def test_a_standing_rule_in_force_shows_in_the_preview(web: Web) -> None:
    officer = web.signed_in("kor-officer")
    token = web.csrf(officer)
    rule = {
        "csrf": token,
        "recipient": "JPN",
        "topics": "dprk.missile.*",
        "max_classification": "SECRET",
    }
    rule["confirm"] = "yes"
    granted = officer.post("/ui/consents", data=rule)
    assert granted.status_code == 303, granted.text[-1500:]
    product_id = made(web, title="Covered by a standing rule")
    html = officer.post(f"/ui/products/{product_id}/versions/1/release", data={"csrf": token}).text
    assert "via USA, which passes it on under your consent" in html


@pytest.mark.parametrize(
    ("language", "one"), [("en", "1 attachment"), ("ko", "첨부 1건"), ("ja", "添付1件")]
)
def test_the_queue_counts_attachments_in_the_readers_language(
    web: Web, language: str, one: str
) -> None:
    analyst = web.signed_in("kor-analyst")
    upload = analyst.post(
        "/api/v1/uploads?name=notes.txt",
        content=b"launch notes",
        headers={"X-CSRF-Token": web.csrf(analyst), "Content-Type": "text/plain"},
    )
    assert upload.status_code in (200, 201), upload.text
    digest = upload.json()["digest"]
    product_id = made(web, title=f"One attachment ({language})", attachments=[digest])
    queue = web.signed_in("kor-officer", language).get("/ui/releases").text
    item = queue.split(f'data-product="{product_id}"')[1].split("</section>")[0]
    assert one in item
    assert "attachments" not in item.replace("/attachments/", "")
    web.rt["KOR"].accounts.set_language("kor-officer", "en")
