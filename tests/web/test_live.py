"""The live feed: every watched audit entry reaches the open pages once, and each page hears
only about products its user may see."""

from __future__ import annotations

from harness.factories import draft
from harness.web import Web

from tisa.services.accounts import Role
from tisa.store.audit import Action
from tisa.web.live import Feed, _event


def test_feed_hands_on_each_watched_entry_once_from_where_it_started(web: Web) -> None:
    rt = web.rt["KOR"]
    feed = Feed(rt)
    assert feed._read() == []  # the first read only notes where the log stands
    analyst = web.signed_in("kor-analyst")
    made = web.api_post(analyst, "/api/v1/products", draft(title="Feed check"))
    product_id = made.json()["id"]
    seen = feed._read()
    assert [(e.action, e.product_id) for e, _ in seen] == [(Action.CREATE.value, product_id)]
    assert seen[0][1] is not None  # the product, read once for every open page
    assert seen[0][1].product_id == product_id
    assert feed._read() == []  # nothing twice
    analyst.get(f"/ui/products/{product_id}")  # a view is audited, but not watched
    assert feed._read() == []


def test_each_page_hears_only_what_its_user_may_read(web: Web) -> None:
    rt = web.rt["KOR"]
    feed = Feed(rt)
    feed._read()
    analyst = web.signed_in("kor-analyst")
    product_id = web.api_post(
        analyst, "/api/v1/products", draft(title="Top secret by the rules", classification="SECRET")
    ).json()["id"]
    (entry,) = feed._read()  # (audit entry, product row)
    reader = rt.accounts.add("kor-live-1", "live-reader-1", Role.ANALYST, "SECRET")
    low = rt.accounts.add("kor-live-2", "live-reader-2", Role.ANALYST, "CONFIDENTIAL")
    nuclear = rt.accounts.add(
        "kor-live-3", "live-reader-3", Role.ANALYST, "SECRET", ["dprk.nuclear.*"]
    )
    heard = _event(rt, reader, entry)
    assert heard is not None
    assert heard["id"] == product_id
    assert heard["banner"] == "군사Ⅱ급비밀//REL TO USA, JPN, KOR"
    assert _event(rt, low, entry) is None  # below the product's classification
    assert _event(rt, nuclear, entry) is None  # no need-to-know for missile topics


def test_consent_events_go_to_release_officers_only(web: Web) -> None:
    rt = web.rt["KOR"]
    feed = Feed(rt)
    feed._read()
    officer = web.signed_in("kor-officer")
    answer = officer.post(
        "/ui/consents",
        data={
            "csrf": web.csrf(officer),
            "recipient": "JPN",
            "topics": "dprk.missile.slbm",
            "max_classification": "SECRET",
            "confirm": "yes",
        },
    )
    assert answer.status_code == 303
    (entry,) = [n for n in feed._read() if n[0].action == Action.CONSENT_GRANT.value]
    users = {
        u: rt.accounts.resolve(web.signed_in(u).cookies["tisa_session"])
        for u in ("kor-officer", "kor-analyst")
    }
    assert _event(rt, users["kor-officer"], entry) == {
        "type": "consent",
        "action": Action.CONSENT_GRANT.value,
        "product_id": None,
    }
    assert _event(rt, users["kor-analyst"], entry) is None
