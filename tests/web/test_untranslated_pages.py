"""No page in Korean or Japanese shows an English message of the UI's own: every page is
rendered and every text it shows (and every title, label and placeholder) compared with the
catalog's English messages."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from babel.messages.pofile import read_po
from harness.factories import draft
from harness.web import Web

from tisa.demo.launches import KOR_LAUNCH
from tisa.web.i18n import LOCALE_DIR, translations

SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


class _Shown(HTMLParser):
    """The texts a reader sees: text nodes outside script and style, and shown attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        self.texts += [v for k, v in attrs if k in SHOWN_ATTRIBUTES and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(data)


def _english_messages(language: str) -> set[str]:
    """The catalog's plain English messages that this language translates differently (a
    message whose translation is itself, such as "KOR", is no sign of anything missed)."""
    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        ids = [m.id for m in read_po(handle) if isinstance(m.id, str) and m.id]
    catalog = translations(language)
    return {
        i
        for i in ids
        if "%(" not in i and len(i) > 2 and catalog.gettext(i) != i and any(c.isalpha() for c in i)
    }


@pytest.fixture(scope="module")
def pages(web: Web) -> list[tuple[str, str]]:
    analyst = web.signed_in("kor-analyst")
    body = draft(
        title="Untranslated check",
        observations=[{"kind": "missile-launch", **KOR_LAUNCH, "apogee_km": {"value": 6000}}],
    )
    made = web.api_post(analyst, "/api/v1/products", body)
    assert made.status_code == 201, made.text
    product_id = made.json()["id"]
    answer = web.release(web.signed_in("kor-officer"), product_id)
    assert answer.status_code == 303, answer.text
    events = analyst.get("/api/v1/events").json()["events"]
    return [
        ("analyst", "/ui/inbox"),
        ("analyst", f"/ui/products/{product_id}"),
        ("analyst", "/ui/compose"),
        ("officer", "/ui/releases"),
        ("officer", "/ui/consents"),
        ("analyst", "/ui/events"),
        ("analyst", f"/ui/events/{events[0]['id']}"),
        ("analyst", "/ui/tracks"),
        ("analyst", "/ui/tracks/replay?from_ms=0&to_ms=60000"),
        ("admin", "/ui/peers"),
        ("auditor", "/ui/audit"),
        ("auditor", "/ui/audit?views=1"),
    ]


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_no_page_shows_an_english_message_in_korean_or_japanese(
    web: Web, pages: list[tuple[str, str]], language: str
) -> None:
    english = _english_messages(language)
    clients: dict[str, Any] = {}
    found: list[tuple[str, str]] = []
    for role, path in pages:
        client = clients.get(role) or web.signed_in(f"kor-{role}", language)
        clients[role] = client
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        shown = _Shown()
        shown.feed(answer.text)
        found += [(path, t.strip()) for t in shown.texts if t.strip() in english]
    assert found == []


def test_the_catalog_template_holds_every_message_the_sources_mark() -> None:
    # A message marked in a template or module but missing from messages.pot would reach no
    # translator, and show in English in every language.
    from pathlib import Path

    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    import tisa.web

    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    marked = {
        message if isinstance(message, str) else tuple(message)
        for _, _, message, _, _ in extract_from_dir(
            str(Path(tisa.web.__file__).parent),
            method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
            options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords=keywords,
        )
    }
    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        held = {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(handle) if m.id}
    assert sorted(map(str, marked - held)) == []
