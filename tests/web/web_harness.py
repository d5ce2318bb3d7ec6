"""The web UI's test harness (see conftest.py)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from tisa.api.analyst import analyst_app
from tisa.demo.network import Cluster
from tisa.node.runtime import Runtime

with warnings.catch_warnings():
    # starlette >= 1.x warns once, at import, that it prefers httpx2; httpx works the same.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PARTIES = ("USA", "KOR", "JPN")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


class Web:
    """Open runtimes of a created cluster and browser-like clients of their UIs."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.rt = {p: Runtime(cluster.nodes[p].settings).open() for p in PARTIES}
        self._clients: list[TestClient] = []

    def close(self) -> None:
        for client in self._clients:
            client.close()
        for rt in self.rt.values():
            rt.close()

    def client(self, party: str) -> TestClient:
        """A fresh browser-like client (its own cookie jar) of `party`'s UI."""
        client = TestClient(
            analyst_app(self.rt[party]), base_url="https://testserver", follow_redirects=False
        )
        self._clients.append(client)
        return client

    def password(self, username: str) -> str:
        return self.cluster.passwords[username]

    def signed_in(self, username: str, language: str = "en") -> TestClient:
        """A client that signed in through the sign-in form, reading pages in `language`."""
        party = username.split("-")[0].upper()
        self.rt[party].accounts.set_language(username, language)
        client = self.client(party)
        answer = client.post(
            "/ui/sign-in", data={"username": username, "password": self.password(username)}
        )
        assert answer.status_code == 303, answer.text
        return client

    @staticmethod
    def csrf(client: TestClient, page: str = "/ui/inbox") -> str:
        """The CSRF token a page of this session carries."""
        found = CSRF.search(client.get(page).text)
        assert found is not None
        return found.group(1)

    def api_post(self, client: TestClient, path: str, body: Any) -> Any:
        """A JSON call from a page's script: the cookie plus the page's CSRF header."""
        return client.post(path, json=body, headers={"X-CSRF-Token": self.csrf(client)})


ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
