"""Every page fits its screen: no horizontal scrolling at 390 (a phone), 1280 and 1920 pixels,
in all three languages; a screenshot of each page at each width goes to build/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness.browser import Desk, running_desk

from tisa.demo.launches import KOR_LAUNCH

pytestmark = pytest.mark.browser

WIDTHS = (390, 1280, 1920)
LANGUAGES = {"KOR": "ko", "JPN": "ja", "USA": "en"}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with running_desk(tmp_path_factory.mktemp("layout")) as desk:
        yield desk


@pytest.fixture(scope="module")
def released(desk: Desk) -> tuple[str, str]:
    """A KOR launch report, released (so it is also an event): its product and event ids."""
    body = {
        "title": "ICBM launch, lofted, from the Pyongyang area toward the East Sea",
        "text": "Detected and tracked. " * 40,
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "precedence": "IMMEDIATE",
        "topics": ["dprk.missile.launch"],
        "source_reliability": "B",
        "information_credibility": "2",
        # The apogee comes with no uncertainty: the event marks its fused ± as assumed.
        "observations": [{"kind": "missile-launch", **KOR_LAUNCH, "apogee_km": {"value": 6000}}],
    }
    made: dict[str, Any] = desk.api("KOR", "analyst").post("/api/v1/products", body)
    product_id = str(made["id"])
    desk.api("KOR", "officer").post(f"/api/v1/products/{product_id}/versions/1/release", {})
    events = desk.api("KOR", "analyst").get("/api/v1/events")["events"]
    return product_id, str(events[0]["id"])


def _pages(product_id: str, event_id: str) -> list[tuple[str, str]]:
    return [
        ("analyst", "/ui/inbox"),
        ("analyst", f"/ui/products/{product_id}"),
        ("analyst", "/ui/compose"),
        ("officer", "/ui/releases"),
        ("officer", "/ui/consents"),
        ("analyst", "/ui/events"),
        ("analyst", f"/ui/events/{event_id}"),
        ("analyst", "/ui/tracks"),
        ("analyst", "/ui/tracks/replay?from_ms=0&to_ms=60000"),
        ("admin", "/ui/peers"),
        ("auditor", "/ui/audit"),
    ]


def _too_wide(page: Any) -> list[str]:
    """The elements reaching past the right edge of the viewport (none when the page fits)."""
    return list(
        page.evaluate(
            """() => {
              const edge = document.documentElement.clientWidth;
              if (document.documentElement.scrollWidth <= edge + 1) return [];
              return [...document.querySelectorAll('body *')]
                .filter(el => el.getBoundingClientRect().right > edge + 1)
                .slice(0, 8)
                .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                     (typeof el.className === 'string' && el.className
                       ? '.' + el.className.split(' ').join('.') : '') +
                     ' ' + Math.round(el.getBoundingClientRect().right));
            }"""
        )
    )


@pytest.mark.parametrize("party", sorted(LANGUAGES))
def test_no_page_scrolls_sideways_at_any_width(
    desk: Desk, released: tuple[str, str], party: str
) -> None:
    product_id, event_id = released
    wide: list[tuple[str, int, list[str]]] = []
    for width in WIDTHS:
        pages: dict[str, Any] = {}
        for role, path in _pages(product_id, event_id):
            if party != "KOR" and path.startswith(("/ui/products/", "/ui/events/")):
                continue  # KOR's product and event: the other nodes' own pages suffice
            page = pages.get(role) or desk.page(party, role, size=(width, 800))
            pages[role] = page
            page.goto(desk.url(party, path))
            page.wait_for_load_state("networkidle")
            name = path.strip("/").split("?")[0].replace("/", "-")[:40]
            desk.shot(page, f"layout-{LANGUAGES[party]}-{name}-{width}")
            found = _too_wide(page)
            if found:
                wide.append((path, width, found))
            assert page.errors == [], (path, page.errors)  # every script ran cleanly
        for page in pages.values():
            page.context.close()
    assert wide == [], "\n".join(f"{p} @{w}: {f}" for p, w, f in wide)


def test_the_event_page_labels_its_figures_and_folds_its_legend_on_a_phone(
    desk: Desk, released: tuple[str, str]
) -> None:
    _, event_id = released
    page = desk.page("KOR", "analyst", size=(390, 800))
    page.goto(desk.url("KOR", f"/ui/events/{event_id}"))
    page.wait_for_selector("#figures tbody tr")
    assert "보고국: KOR" in page.inner_text("#event-meta")
    assert "보고 1건" in page.inner_text("#event-meta")
    page.goto(desk.url("KOR", "/ui/events"))
    page.wait_for_selector("#offsets tbody tr")
    assert "최소 3건" in page.inner_text("#offsets")  # one nation's reports: nothing to compare
    page.goto(desk.url("KOR", f"/ui/events/{event_id}"))
    page.wait_for_selector("#figures tbody tr")
    apogee = page.locator("#figures tr[data-quantity=apogee_km] td.fused")
    assert apogee.locator(".assumed").count() == 1
    ranged = page.locator("#figures tr[data-quantity=range_km] td.fused")
    assert ranged.locator(".assumed").count() == 0  # the report stated ± 50 km
    assert page.get_attribute(".leaflet-control-zoom-in", "title") == "확대"
    legend = page.locator(".tisa-map-legend")
    title = legend.locator("button.tisa-map-legend__title")
    assert title.get_attribute("aria-expanded") == "false"
    assert legend.locator("li").count() == 0
    title.click()
    assert legend.locator("li").count() > 0
    assert legend.locator("button.tisa-map-legend__title").get_attribute("aria-expanded") == "true"
    page.context.close()
