"""The replay in a real browser (Debian's Chromium, Playwright) against a real node process:
the slider moves the picture, the tables follow, and each predicted impact is drawn as its
true 1-sigma ellipse, oriented as predicted and shrinking as the track matures."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from harness.factories import draft
from harness.flights import ORIENTATION_DEG, flight, stream
from harness.web import ARTIFACTS

from tisa.demo.launches import KOR_LAUNCH
from tisa.demo.network import Cluster
from tisa.tracks.scenario import DEFAULT_START_MS

CHROMIUM = "/usr/bin/chromium"

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _sync_api() -> Any:
    """Playwright's sync API, or a skip (a failure in CI)."""
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
    if sync_api is None or shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") == "true":
            pytest.fail("browser tests must run in CI: Chromium or Playwright is missing")
        pytest.skip("Chromium or Playwright is missing")
    return sync_api


@pytest.fixture(scope="module")
def usa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, str]]:
    """A running network where USA holds its own exercise tracks of a missile from Sunan
    (published through the API) and its analyst's report of the launch; the event's id."""
    sync = _sync_api()
    assert sync is not None
    cluster = Cluster(tmp_path_factory.mktemp("replay-browser") / "net")
    cluster.create()
    cluster.start()
    try:
        with (
            cluster.client("USA", "officer") as officer,
            cluster.client("USA", "analyst") as analyst,
        ):
            event_id = _hold_a_flight_and_its_report(officer, analyst)
        yield cluster, event_id
    finally:
        cluster.stop()


def _hold_a_flight_and_its_report(officer: Any, analyst: Any) -> str:
    """USA's tracks published, its launch report released; the event's id."""
    updates = flight(("USA",), start_ms=DEFAULT_START_MS + 60_000)["USA"]
    bodies = [
        {k: v for k, v in dataclasses.asdict(u).items() if k not in ("nation", "network")}
        for u in updates
    ]
    published = officer.post(
        "/api/v1/tracks",
        {"stream": dataclasses.asdict(stream("USA")), "updates": bodies},
    )
    assert published["published"] == len(updates)
    made = analyst.post(
        "/api/v1/products", draft("USA", observations=[{"kind": "missile-launch", **KOR_LAUNCH}])
    )
    officer.post(f"/api/v1/products/{made['id']}/versions/1/release")
    (event,) = analyst.get("/api/v1/events")["events"]
    return str(event["id"])


@pytest.fixture(scope="module")
def browser(usa: tuple[Cluster, str]) -> Iterator[Any]:
    with _sync_api().sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def _page(browser: Any, cluster: Cluster, path: str) -> Any:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    base = cluster.nodes["USA"].settings.api_url
    page.goto(base + "/ui/inbox")
    page.fill("#username", "usa-analyst")
    page.fill("#password", cluster.passwords["usa-analyst"])
    page.press("#password", "Enter")
    page.wait_for_url("**/ui/inbox")
    page.goto(base + path)
    return page


def _shape(page: Any, selector: str) -> tuple[float, float, float]:
    """The drawn path's orientation (degrees clockwise from screen-up, in [0, 180)) and its
    semi-axes in pixels: the major axis from the vertices' second moments, the semi-axes as
    the farthest reach of the vertices along it and across it."""
    d = page.get_attribute(selector, "d")
    xy = [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+)[ ,](-?[\d.]+)", d)]
    n = len(xy)
    mx, my = sum(p[0] for p in xy) / n, sum(p[1] for p in xy) / n
    sxx = sum((p[0] - mx) ** 2 for p in xy) / n
    syy = sum((p[1] - my) ** 2 for p in xy) / n
    sxy = sum((p[0] - mx) * (p[1] - my) for p in xy) / n
    # The major axis direction in screen coordinates (x right, y down); north is -y.
    angle = 0.5 * math.atan2(2 * sxy, sxx - syy)
    ux, uy = math.cos(angle), math.sin(angle)
    major = max(abs((x - mx) * ux + (y - my) * uy) for x, y in xy)
    minor = max(abs(-(x - mx) * uy + (y - my) * ux) for x, y in xy)
    bearing = math.degrees(math.atan2(ux, -uy)) % 180
    return bearing, major, minor


def test_the_slider_replays_the_flight_and_the_ellipse_is_true(
    usa: tuple[Cluster, str], browser: Any
) -> None:
    cluster, event_id = usa
    # The event page lists the track and links its replay.
    page = _page(browser, cluster, f"/ui/events/{event_id}")
    page.wait_for_selector("#event-tracks tbody tr[data-fused=F0001]")
    assert "USA" in page.inner_text("#event-tracks tbody tr[data-fused=F0001]")
    assert "USA:U0001" in page.inner_text("#event-nation-tracks")
    page.click("#event-replay")
    page.wait_for_url("**/ui/tracks/replay?event=*")
    page.wait_for_function("() => document.getElementById('replay').dataset.frames === '6'")

    ellipse = "path.tisa-map-ellipse[data-originator=USA]"
    page.wait_for_selector(ellipse, state="attached")
    # Close in on the predicted impact, so a pixel's rounding is small against the ellipse.
    page.evaluate(
        "document.getElementById('map').tisaMap.map.setView([40, 136], 9, {animate: false})"
    )
    # The path is redrawn for the new view in a later frame: measure that one, not the small
    # one of the old view (a few pixels across, where rounding alone skews the axes).
    first_row = page.inner_text("#replay-nations tr")
    assert "T+0:30" in page.inner_text("#replay-clock")  # the middle of the reported minute
    assert "EXERCISE" in page.inner_text("#replay-fused")
    bearing, major, minor = _shape(page, ellipse)
    assert abs(bearing - ORIENTATION_DEG) < 2, bearing
    # Leaflet draws on whole pixels: the minor axis, a few pixels across at the map's deepest
    # zoom, is a quarter of the major one to within that rounding.
    assert minor == pytest.approx(major / 4, abs=1.5)
    assert page.get_attribute(ellipse, "data-semi-major-km") == "40"
    assert page.get_attribute(ellipse, "data-orientation-deg") == str(int(ORIENTATION_DEG))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "usa-replay-start-en.png"), full_page=True)

    # The slider has a label and answers the keyboard: End goes to the last frame.
    assert page.get_by_label("Replay time").count() == 1
    page.focus("#replay-time")
    page.keyboard.press("End")
    page.wait_for_function("() => document.getElementById('replay-time').value === '5'")
    assert "T+1:20" in page.inner_text("#replay-clock")
    assert page.inner_text("#replay-nations tr") != first_row
    later_bearing, later_major, later_minor = _shape(page, ellipse)
    assert abs(later_bearing - ORIENTATION_DEG) < 2, later_bearing
    # 40 km, then 40/6 km: a few pixels across, so to within a pixel's rounding.
    assert later_major == pytest.approx(major / 6, abs=1.0)
    assert later_minor == pytest.approx(minor / 6, abs=1.0)
    assert later_major < major / 3
    # The trail grows with the flight; the fused track's own ellipse is drawn too.
    assert page.locator("path.tisa-map-trail--usa").count() == 1
    assert page.locator("path.tisa-map-ellipse--fused").count() == 1
    page.screenshot(path=str(ARTIFACTS / "usa-replay-end-en.png"), full_page=True)

    # Play from the start runs to the end and stops itself.
    page.keyboard.press("Home")
    page.click("#replay-play")
    assert page.get_attribute("#replay-play", "aria-pressed") == "true"
    page.wait_for_function(
        "() => document.getElementById('replay-play').getAttribute('aria-pressed') === 'false'",
        timeout=15_000,
    )
    assert page.input_value("#replay-time") == "5"
    assert page.errors == []
