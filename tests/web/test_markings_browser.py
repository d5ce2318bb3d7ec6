"""Markings as a reader sees them in Chromium: a page banner at the top and bottom of every
page, coloured by level with readable text; DRAFT on drafts; the release queue in precedence
order; release with a preview and a confirmation; counted words in en, ko and ja; and axe-core
finding nothing serious or critical on these pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness.browser import Desk, running_desk

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

RED, GREEN = "rgb(200, 16, 46)", "rgb(0, 112, 60)"  # SECRET, nothing classified

# Each element that carries coloured text: its colour and its painted background.
COLOURS = """() => {
  function painted(node) {
    for (; node; node = node.parentElement) {
      const bg = getComputedStyle(node).backgroundColor;
      if (bg && bg !== "rgba(0, 0, 0, 0)" && bg !== "transparent") return bg;
    }
    return "rgb(255, 255, 255)";
  }
  return Array.from(document.querySelectorAll(".banner, .badge, .marking, .draft-tag"))
    .filter((e) => e.offsetParent !== null || e.getClientRects().length)
    .map((e) => [e.className, getComputedStyle(e).color, painted(e)]);
}"""


def _rgb(text: str) -> tuple[float, float, float]:
    parts = text[text.index("(") + 1 : text.index(")")].split(",")
    r, g, b = (float(p) / 255 for p in parts[:3])
    return r, g, b


def contrast(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio of two CSS rgb() colours."""

    def lum(colour: str) -> float:
        def lin(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (lin(c) for c in _rgb(colour))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_of_known_pairs() -> None:
    assert round(contrast("rgb(255, 255, 255)", "rgb(194, 94, 0)"), 1) == 4.3  # the old IMMEDIATE
    assert contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)") == pytest.approx(21)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with running_desk(tmp_path_factory.mktemp("markings")) as desk:
        yield desk


def _draft(desk: Desk, title: str, **fields: Any) -> str:
    body = {
        "title": title,
        "text": "Figures as JCS reported them.",
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "precedence": "ROUTINE",
        "topics": ["dprk.missile.launch"],
    } | fields
    made: dict[str, Any] = desk.api("KOR", "analyst").post("/api/v1/products", body)
    return str(made["id"])


def _banners(page: Any) -> tuple[str, str, str, str]:
    top, bottom = page.locator("#banner-top"), page.locator("#banner-bottom")
    colour = "el => getComputedStyle(el).backgroundColor"
    return top.inner_text(), bottom.inner_text(), top.evaluate(colour), bottom.evaluate(colour)


def _readable(page: Any, where: str) -> None:
    for name, fg, bg in page.evaluate(COLOURS):
        assert contrast(fg, bg) >= 4.5, (where, name, fg, bg)


# Every page showing content, with a role that may open it (KOR: in Korean).
PAGES = [
    ("analyst", "/ui/inbox"),
    ("analyst", "/ui/compose"),
    ("officer", "/ui/releases"),
    ("officer", "/ui/consents"),
    ("analyst", "/ui/events"),
    ("analyst", "/ui/tracks"),
    ("analyst", "/ui/tracks/replay?from_ms=0&to_ms=60000"),
    ("admin", "/ui/peers"),
    ("auditor", "/ui/audit"),
]


def test_banners_top_and_bottom_coloured_by_level_and_readable(desk: Desk) -> None:
    product_id = _draft(desk, "SECRET launch report for the banner check", precedence="IMMEDIATE")
    desk.api("KOR", "officer").post(f"/api/v1/products/{product_id}/versions/1/release")
    pages: dict[str, Any] = {}
    for role, path in [*PAGES, ("analyst", f"/ui/products/{product_id}")]:
        page = pages.get(role) or desk.page("KOR", role)
        pages[role] = page
        page.goto(desk.url("KOR", path))
        top, bottom, top_colour, bottom_colour = _banners(page)
        assert top, path
        assert top == bottom, path
        assert top_colour == bottom_colour, path
        # The top banner sits above everything else; the bottom one below the content.
        assert page.evaluate(
            "() => document.getElementById('banner-top').getBoundingClientRect().top <="
            " document.querySelector('header').getBoundingClientRect().top"
        ), path
        assert page.evaluate(
            "() => document.getElementById('banner-bottom').getBoundingClientRect().top >="
            " document.getElementById('main').getBoundingClientRect().bottom"
        ), path
        _readable(page, path)
        assert page.errors == [], path
    product = pages["analyst"]
    top, _, colour, _ = _banners(product)
    assert (top, colour) == ("군사Ⅱ급비밀//REL TO USA, JPN, KOR", RED)
    # The IMMEDIATE badge, now readable, and not a level's red.
    badge = product.locator("h1 .badge.prec-immediate")
    assert badge.evaluate("el => getComputedStyle(el).backgroundColor") != RED
    peers = pages["admin"]
    peers.goto(desk.url("KOR", "/ui/peers"))
    assert _banners(peers)[0] == "비밀 아님"
    assert _banners(peers)[2] == GREEN
    desk.shot(product, "kor-product-banners-ko")
    desk.shot(peers, "kor-peers-unclassified-ko")
    for page in pages.values():
        page.context.close()


def test_a_draft_says_draft_in_the_inbox_and_on_its_page(desk: Desk) -> None:
    product_id = _draft(desk, "Draft marker check")
    page = desk.page("KOR", "analyst")
    row = page.locator(f"#inbox-rows tr[data-product='{product_id}']")
    assert row.locator(".draft-tag").inner_text() == "초안"
    page.goto(desk.url("KOR", f"/ui/products/{product_id}"))
    assert page.locator("#banner-top .draft-tag").inner_text() == "초안"
    assert page.locator("h1 .draft-tag").is_visible()
    # Compose: the banner follows the form's classification as it changes.
    page.goto(desk.url("KOR", "/ui/compose"))
    assert "군사Ⅱ급비밀" in page.inner_text("#banner-top")
    page.select_option("#classification", "CONFIDENTIAL")
    page.wait_for_function(
        "() => document.getElementById('banner-top').classList.contains('level-confidential')"
    )
    assert "군사Ⅲ급비밀//REL TO USA, JPN, KOR" in page.inner_text("#banner-bottom")
    assert page.errors == []
    page.context.close()


def test_queue_order_preview_and_confirmation(desk: Desk) -> None:
    routine = _draft(desk, "Older ROUTINE report", precedence="ROUTINE")
    flash = _draft(desk, "Newer FLASH report", precedence="FLASH", orcon=True)
    officer = desk.page("KOR", "officer")
    officer.goto(desk.url("KOR", "/ui/releases"))
    order = officer.eval_on_selector_all(
        "section.queue-item", "els => els.map(e => e.dataset.product)"
    )
    assert order.index(flash) < order.index(routine)
    assert order[0] == flash  # FLASH before every other precedence
    item = f"section.queue-item[data-product='{flash}']"
    assert "초안" in officer.inner_text(f"{item} .banner")
    officer.click(f"{item} button[data-action=release]")
    officer.wait_for_selector("#release-preview")
    assert "Newer FLASH report" in officer.inner_text("#preview-title")
    assert officer.inner_text("#preview-marking") == "군사Ⅱ급비밀//ORCON/REL TO USA, JPN, KOR"
    assert officer.locator("#preview-recipients li[data-party=USA]").count() == 1
    assert officer.locator("#preview-recipients li[data-party=JPN]").count() == 1
    desk.shot(officer, "kor-release-preview-flash-ko")
    # Nothing has moved yet: the node still holds a draft.
    api = desk.api("KOR", "officer")
    assert api.get(f"/api/v1/products/{flash}")["state"] == "draft"
    officer.click("#confirm-release")
    officer.wait_for_url(f"**/ui/products/{flash}**")
    assert api.get(f"/api/v1/products/{flash}")["state"] == "released"
    assert officer.errors == []
    officer.context.close()


@pytest.mark.parametrize(
    ("party", "one"), [("USA", "1 attachment"), ("KOR", "첨부 1건"), ("JPN", "添付1件")]
)
def test_counted_attachments_in_each_language(desk: Desk, party: str, one: str) -> None:
    analyst = desk.api(party, "analyst")
    upload = analyst.call(
        "POST",
        "/api/v1/uploads?name=notes.txt",
        content=b"launch notes",
        headers={"Content-Type": "text/plain"},
    )
    made = analyst.post(
        "/api/v1/products",
        {
            "title": f"One attachment at {party}",
            "text": "See the notes.",
            "classification": "SECRET",
            "rel_to": ["USA", "KOR", "JPN"],
            "precedence": "PRIORITY",
            "topics": ["dprk.missile.launch"],
            "attachments": [upload["digest"]],
        },
    )
    officer = desk.page(party, "officer")
    officer.goto(desk.url(party, "/ui/releases"))
    text = officer.inner_text(f"section.queue-item[data-product='{made['id']}'] p.meta")
    assert one in text
    assert "attachments" not in text
    officer.context.close()


def test_axe_finds_nothing_serious_on_the_marked_pages(desk: Desk) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    product_id = _draft(desk, "Axe check draft", precedence="IMMEDIATE")
    found: list[tuple[str, str, str]] = []
    pages: dict[str, Any] = {}
    for role, path in [
        *PAGES,
        ("analyst", f"/ui/products/{product_id}"),
    ]:
        page = pages.get(role) or desk.page("KOR", role)
        pages[role] = page
        page.goto(desk.url("KOR", path))
        results = axe.run(page)
        assert results.response["testEngine"]["name"] == "axe-core"  # it ran, in the page
        found += [
            (path, v["id"], v["impact"])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
    officer = pages["officer"]
    officer.goto(desk.url("KOR", "/ui/releases"))
    officer.click(f"section.queue-item[data-product='{product_id}'] button[data-action=release]")
    officer.wait_for_selector("#release-preview")
    found += [
        ("release preview", v["id"], v["impact"])
        for v in axe.run(officer).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert found == []
    for page in pages.values():
        page.context.close()
