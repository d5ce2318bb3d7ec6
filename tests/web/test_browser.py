"""The UI in a real browser: Debian's Chromium, driven by Playwright, against three real node
processes talking mutual TLS. Screenshots of every page land in build/screenshots/.

On a machine without Chromium or Playwright these tests skip; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.browser import WAIT_MS, Desk, running_desk
from harness.factories import gps_photo

from tisa.demo.launches import JPN_LAUNCH

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with running_desk(tmp_path_factory.mktemp("browser")) as desk:
        yield desk


def test_flash_report_with_photo_reaches_the_open_japanese_inbox_live(
    desk: Desk, tmp_path: Path
) -> None:
    # KOR's release officer lets missile reports through to JPN with a standing rule.
    officer = desk.page("KOR", "officer")
    officer.goto(desk.url("KOR", "/ui/consents"))
    officer.select_option("select[name=recipient]", "JPN")
    officer.check("#new-rule input[name=topics][value='dprk.missile.*']")
    officer.click("#new-rule button[type=submit]")
    # A consent shows what it lets through before it is given.
    officer.wait_for_selector("#consent-preview #preview-rule")
    officer.click("#confirm-consent")
    officer.wait_for_selector("table.rules tr[data-consent]")
    rule = officer.get_attribute("table.rules tr[data-consent]", "data-consent")
    desk.shot(officer, "kor-consents-ko")
    hub = desk.api("USA", "admin")
    desk.wait(
        lambda: any(c["id"] == rule for c in hub.get("/api/v1/consents")["consents"]),
        "the hub holding KOR's standing rule",
    )

    # JPN's analyst has the inbox open, in Japanese.
    jpn = desk.page("JPN", "analyst")
    assert jpn.get_attribute("html", "lang") == "ja"
    jpn.evaluate("window.__tisaNoReload = true")
    assert jpn.inner_text("#banner-top") == "非秘"  # nothing classified listed yet
    desk.shot(jpn, "jpn-inbox-before-ja")

    # KOR's analyst composes a FLASH launch report with a photo.
    kor = desk.page("KOR", "analyst")
    kor.goto(desk.url("KOR", "/ui/compose"))
    kor.fill("#title", "ICBM launch from the Pyongyang area (Hwasong-18)")
    kor.fill("#text", "JCS detected a launch at 08:24 KST on a lofted trajectory.")
    kor.check("input[name=topics][value='dprk.missile.launch']")
    kor.select_option("#precedence", "FLASH")
    kor.select_option("#source_reliability", "B")
    kor.select_option("#information_credibility", "2")
    # A second observation can be added and removed again.
    kor.click("#add-observation")
    assert kor.locator("#observations fieldset.observation").count() == 2
    kor.locator("#observations fieldset.observation").nth(1).locator(
        "[data-remove-observation]"
    ).click()
    assert kor.locator("#observations fieldset.observation").count() == 1
    kor.select_option("#observations select[name=kind]", "missile-launch")
    kor.fill("input[name='launch.time.original']", "2023-12-18T08:24+09:00")
    kor.select_option("select[name='launch.missile_class']", "ICBM")
    kor.fill("input[name='launch.launch_position.lat']", "39.03")
    kor.fill("input[name='launch.launch_position.lon']", "125.75")
    kor.fill("input[name='launch.launch_position.sigma_km']", "15")
    kor.fill("input[name='launch.range_km.value']", "1000")
    kor.fill("input[name='launch.range_km.sigma']", "50")
    # Live validation says what is wrong before anything is saved…
    kor.uncheck("input[name=rel_to][value=USA]")
    kor.wait_for_selector("#problems li:has-text('REL TO lacks USA')")
    kor.check("input[name=rel_to][value=USA]")
    kor.wait_for_selector("#check-ok:visible")
    # …and the photo is uploaded with progress, scrubbed, and the report shown.
    photo = tmp_path / "launch-site.jpg"
    photo.write_bytes(gps_photo((800, 600)))
    kor.set_input_files("#file", str(photo))
    kor.wait_for_selector("#uploads li[data-digest] .scrub")
    scrub = kor.inner_text("#uploads li[data-digest] .scrub")
    assert "GPS" in scrub, scrub
    desk.shot(kor, "kor-compose-ko")
    kor.click("#save")
    kor.wait_for_url("**/ui/products/**")
    product_id = kor.get_attribute("article.product", "data-product")
    assert product_id
    desk.shot(kor, "kor-draft-ko")

    # KOR's release officer releases it from the queue.
    officer.goto(desk.url("KOR", "/ui/releases"))
    item = f"section.queue-item[data-product='{product_id}']"
    officer.wait_for_selector(item)
    desk.shot(officer, "kor-release-queue-ko")
    officer.click(f"{item} button[data-action=release]")
    officer.wait_for_selector("#release-preview #preview-recipients li[data-party=JPN]")
    desk.shot(officer, "kor-release-preview-ko")
    officer.click("#confirm-release")
    officer.wait_for_url(f"**/ui/products/{product_id}**")

    # The open JPN inbox shows it without a reload: an alert, and the row, with JPN's banner.
    row = f"#inbox-rows tr[data-product='{product_id}']"
    jpn.wait_for_selector(row, timeout=WAIT_MS)
    jpn.wait_for_selector(f"#alerts .flash-alert[data-product='{product_id}']", timeout=WAIT_MS)
    assert jpn.evaluate("window.__tisaNoReload") is True
    banner = "極秘//FGI KOR//REL TO USA, JPN, KOR"
    assert banner in jpn.inner_text(row)
    assert banner in jpn.inner_text("#alerts")
    assert "FLASH" in jpn.inner_text(row)
    # The page banners follow the rows the live refresh brought in.
    jpn.wait_for_function(
        "() => document.getElementById('banner-bottom').classList.contains('level-secret')"
    )
    assert jpn.inner_text("#banner-top") == banner
    desk.shot(jpn, "jpn-inbox-live-flash-ja")

    # The JPN product page: banners top and bottom in JPN's scheme, the originator named,
    # observations as a table, the scrubbed photo's preview.
    jpn.click(f"{row} a")
    jpn.wait_for_url("**/ui/products/**")
    assert jpn.inner_text("#banner-top") == banner
    assert jpn.inner_text("#banner-bottom") == banner
    assert "大韓民国" in jpn.inner_text("p.originator")
    assert "ICBM" in jpn.inner_text("table.observation")
    jpn.wait_for_function(
        "() => { const i = document.querySelector('img.preview');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    desk.shot(jpn, "jpn-product-ja")

    # At KOR, the delivery table shows JPN's receipt, via USA.
    officer.goto(desk.url("KOR", f"/ui/products/{product_id}"))
    desk.wait(
        lambda: (
            officer.reload()
            or "via USA" in (officer.text_content("#deliveries tr[data-party=JPN]") or "")
        ),
        "KOR seeing JPN's receipt",
    )
    desk.shot(officer, "kor-product-delivered-ko")
    for page in (jpn, kor, officer):
        assert page.errors == []


def test_release_officer_grants_a_consent_request_and_the_product_reaches_jpn(
    desk: Desk,
) -> None:
    # ORCON products are never covered by a standing rule: the hub asks, per product.
    analyst = desk.api("KOR", "analyst")
    made = analyst.post(
        "/api/v1/products",
        {
            "title": "Engine test at Sohae, originator controlled",
            "text": "A solid-fuel motor test was observed.",
            "classification": "SECRET",
            "rel_to": ["USA", "KOR", "JPN"],
            "orcon": True,
            "precedence": "IMMEDIATE",
            "topics": ["dprk.missile.engine-test"],
        },
    )
    product_id = made["id"]
    desk.api("KOR", "officer").post(f"/api/v1/products/{product_id}/versions/1/release")

    officer = desk.page("KOR", "officer")
    officer.goto(desk.url("KOR", "/ui/consents"))
    card = f".request[data-product='{product_id}']"
    officer.wait_for_selector(card, timeout=60_000)  # arrives live, no reload
    assert "Engine test at Sohae" in officer.inner_text(card)
    desk.shot(officer, "kor-consent-request-ko")
    officer.click(f"{card} button[data-action=grant]")
    officer.wait_for_selector("#consent-preview")
    assert "Engine test at Sohae" in officer.inner_text("#preview-title")
    officer.click("#confirm-consent")
    officer.wait_for_url("**/ui/consents")

    jpn = desk.api("JPN", "analyst")
    desk.wait(
        lambda: any(p["id"] == product_id for p in jpn.get("/api/v1/products")["products"]),
        "JPN holding the product after the grant",
    )
    page = desk.page("JPN", "analyst")
    page.goto(desk.url("JPN", f"/ui/products/{product_id}"))
    assert "ORCON" in page.inner_text("#banner-top")
    desk.shot(page, "jpn-orcon-product-ja")


def test_event_page_fuses_kor_and_jpn_reports_on_an_offline_map(desk: Desk) -> None:
    # Runs after the first test: JPN holds KOR's Hwasong-18 report (standing rule granted).
    # JPN's own report of the same launch, released at JPN, joins it in one event.
    jpn_launch = {"kind": "missile-launch", **JPN_LAUNCH}  # MOD's figures (tisa.demo.scenario)
    made = desk.api("JPN", "analyst").post(
        "/api/v1/products",
        {
            "title": "ICBM-class launch, impact outside the EEZ",
            "text": "MOD: flew about 73 minutes.",
            "classification": "SECRET",
            "rel_to": ["USA", "JPN"],
            "precedence": "IMMEDIATE",
            "topics": ["dprk.missile.launch"],
            "observations": [jpn_launch],
        },
    )
    desk.api("JPN", "officer").post(f"/api/v1/products/{made['id']}/versions/1/release")

    page = desk.page("JPN", "analyst")
    page.goto(desk.url("JPN", "/ui/events"))
    row = page.wait_for_selector("#events tbody tr[data-event]:has-text('JPN, KOR')")
    desk.shot(page, "jpn-events-ja")
    row.query_selector("a").click()
    page.wait_for_selector("#figures tbody tr[data-quantity=range_km]")
    fused = page.inner_text("#figures tbody tr[data-quantity=range_km] td.fused")
    # Provenance: the fused figure names the reports it came from.
    assert "KOR v1" in fused
    assert "JPN v1" in fused
    # The map draws from vendored files only: land from the Natural Earth file, the points
    # as markers, and each stated uncertainty as an ellipse.
    page.wait_for_selector(".tisa-map-marker")
    page.wait_for_selector("path.tisa-map-ellipse", state="attached")
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.reload()
    page.wait_for_selector("#figures tbody tr[data-quantity=range_km]")
    page.wait_for_selector(".tisa-map-marker")
    page.wait_for_function(
        "() => document.querySelectorAll('.leaflet-overlay-pane path').length > 3"
    )
    origin = desk.url("JPN", "")
    assert requested
    assert all(url.startswith(origin) for url in requested), requested
    desk.shot(page, "jpn-event-map-ja")
    assert page.errors == []


def test_every_page_renders_keyboard_first_at_both_sizes(desk: Desk) -> None:
    for size in ((1280, 800), (1920, 1080)):
        for party, role, path, name in (
            ("USA", "analyst", "/ui/inbox", "usa-inbox-en"),
            ("USA", "admin", "/ui/peers", "usa-peers-en"),
            ("USA", "auditor", "/ui/audit", "usa-audit-en"),
            ("KOR", "analyst", "/ui/events", "kor-events-ko"),
            ("JPN", "officer", "/ui/consents", "jpn-consents-ja"),
            ("KOR", "analyst", "/ui/compose", "kor-compose-empty-ko"),
            ("JPN", "analyst", "/ui/tracks", "jpn-tracks-ja"),
        ):
            page = desk.page(party, role, size)
            page.goto(desk.url(party, path))
            # No horizontal scrolling: the layout fits the window.
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
                path,
                size,
            )
            # The first Tab reaches the skip link; Enter moves focus to the content.
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.className") == "skip"
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.id") == "main"
            desk.shot(page, f"{name}-{size[0]}x{size[1]}")
            assert page.errors == []
            page.context.close()
    sign_in = desk.browser.new_context(ignore_https_errors=True).new_page()
    sign_in.goto(desk.url("JPN", "/ui/sign-in"))
    desk.shot(sign_in, "jpn-sign-in")
    sign_in.context.close()
