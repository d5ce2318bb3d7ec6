"""The in-process harness of the web UI.

Each node of a created cluster is opened with `Runtime(settings).open()`, and its analyst app
(API + UI) driven by Starlette's TestClient over https://testserver, so Secure cookies behave
as in a browser.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from harness.clusters import open_runtimes
from harness.users import party_of
from tisa.demo.network import Cluster
from tisa.web.app import analyst_server

with warnings.catch_warnings():
    # starlette >= 1.x warns once, at import, that it prefers httpx2; httpx works the same.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
REVIEWED = re.compile(r'name="reviewed" value="([^"]+)"')

#: Where browser tests leave their screenshots.
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


class Web:
    """Open runtimes of a created cluster and browser-like clients of their UIs."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.rt = open_runtimes(cluster)
        self._apps: dict[str, FastAPI] = {}
        self._clients: list[TestClient] = []

    def close(self) -> None:
        for client in self._clients:
            client.close()
        for rt in self.rt.values():
            rt.close()

    def app(self, party: str) -> FastAPI:
        """`party`'s analyst server (API and UI), built once and shared by every client, as
        one running node serves every browser."""
        if party not in self._apps:
            self._apps[party] = analyst_server(self.rt[party])[0]
        return self._apps[party]

    def client(self, party: str) -> TestClient:
        """A fresh browser-like client (its own cookie jar) of `party`'s UI."""
        client = TestClient(self.app(party), base_url="https://testserver", follow_redirects=False)
        self._clients.append(client)
        return client

    def password(self, username: str) -> str:
        """A cluster user's password."""
        return self.cluster.passwords[username]

    def signed_in(self, username: str, language: str = "en") -> TestClient:
        """A client that signed in through the sign-in form, reading pages in `language`."""
        party = party_of(username)
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

    def release(self, officer: TestClient, product_id: str, version: int = 1) -> httpx.Response:
        """Release through the UI's two steps: the preview, then its confirmation."""
        token = self.csrf(officer)
        path = f"/ui/products/{product_id}/versions/{version}/release"
        preview = officer.post(path, data={"csrf": token})
        assert preview.status_code == 200, preview.text
        found = REVIEWED.search(preview.text)
        assert found is not None
        answer: httpx.Response = officer.post(
            path, data={"csrf": token, "confirm": "yes", "reviewed": found.group(1)}
        )
        return answer

    def api_post(self, client: TestClient, path: str, body: object) -> httpx.Response:
        """A JSON call from a page's script: the cookie plus the page's CSRF header."""
        answer: httpx.Response = client.post(
            path, json=body, headers={"X-CSRF-Token": self.csrf(client)}
        )
        return answer


@contextmanager
def opened_web(cluster: Cluster) -> Iterator[Web]:
    """A web harness over the created `cluster`, closed afterwards."""
    web = Web(cluster)
    try:
        yield web
    finally:
        web.close()
