"""Web UI fixtures.

In-process: one created (not started) three-node cluster per session; each node opened with
`Runtime(settings).open()` and its analyst app (API + UI) driven by Starlette's TestClient
over https://testserver, so Secure cookies behave as in a browser. `Browser` tests start
real node processes and drive Debian's Chromium with Playwright.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web_harness import Web

from tisa.demo.network import Cluster


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    cluster = Cluster(tmp_path_factory.mktemp("web") / "net")
    cluster.create()
    harness = Web(cluster)
    try:
        yield harness
    finally:
        harness.close()
