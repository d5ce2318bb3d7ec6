"""Browser tests' desk: three real node processes and Debian's Chromium driven by Playwright,
with signed-in pages, API clients and screenshots (build/screenshots/)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.waiting import wait_for
from harness.web import ARTIFACTS
from tisa.api.client import ApiClient
from tisa.demo.network import Cluster

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 30_000


def need_browser() -> Any:
    """Playwright's sync API, or a skip (a failure in CI)."""
    problem = None
    if shutil.which(CHROMIUM) is None:
        problem = f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        from playwright import sync_api
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[test]')"
        sync_api = None
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {problem}")
        pytest.skip(problem)
    return sync_api


class Desk:
    """Three running nodes and a browser: signed-in pages, API clients, screenshots."""

    def __init__(self, cluster: Cluster, browser: Any) -> None:
        self.cluster = cluster
        self.browser = browser
        self._api: dict[tuple[str, str], ApiClient] = {}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def url(self, party: str, path: str) -> str:
        return self.cluster.nodes[party].settings.api_url + path

    def api(self, party: str, role: str) -> ApiClient:
        key = (party, role)
        if key not in self._api:
            self._api[key] = self.cluster.client(party, role)
        return self._api[key]

    def page(self, party: str, role: str, size: tuple[int, int] = (1280, 800)) -> Any:
        """A new browser context signed in through the sign-in form as `<party>-<role>`."""
        context = self.browser.new_context(
            ignore_https_errors=True, viewport={"width": size[0], "height": size[1]}
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors
        username = f"{party.lower()}-{role}"
        page.goto(self.url(party, "/ui/inbox"))
        assert "/ui/sign-in" in page.url
        page.fill("#username", username)
        page.fill("#password", self.cluster.passwords[username])
        page.press("#password", "Enter")
        page.wait_for_url("**/ui/inbox")
        return page

    @staticmethod
    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    @staticmethod
    def wait(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        """Until `check` returns something truthy (the page shows it)."""
        return wait_for(lambda: check() or None, what, timeout, poll=0.1, missing=())

    def close(self) -> None:
        for client in self._api.values():
            client.close()


@contextmanager
def running_desk(folder: Path) -> Iterator[Desk]:
    """A created and started cluster in `folder` and a browser; all stopped afterwards."""
    sync_api = need_browser()
    cluster = Cluster(folder / "net")
    cluster.create()
    cluster.start()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        desk = Desk(cluster, browser)
        try:
            yield desk
        finally:
            desk.close()
            browser.close()
            cluster.stop()
