"""Web UI fixtures: the in-process harness of the UI (`harness.web.Web`) over a copy of the
session's created cluster. `Browser` tests (test_browser.py) start real node processes and
drive Debian's Chromium with Playwright."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness.clusters import copy_cluster
from harness.web import Web, opened_web

from tisa.demo.network import Cluster


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory, cluster_template: Cluster) -> Iterator[Web]:
    with opened_web(copy_cluster(cluster_template, tmp_path_factory.mktemp("web") / "net")) as h:
        yield h
