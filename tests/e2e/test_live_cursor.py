"""A live page misses nothing: its stream starts where the log stood when the page was
rendered, and a browser that reconnects resumes after the last event it heard."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from harness.network import Net

pytestmark = pytest.mark.e2e


@contextmanager
def _browser(net: Net, party: str) -> Iterator[httpx.Client]:
    node = net.cluster.nodes[party]
    context = ssl.create_default_context(cadata=node.settings.paths.tls_cert.read_text())
    timeout = httpx.Timeout(10.0, read=30.0)
    with httpx.Client(base_url=node.settings.api_url, verify=context, timeout=timeout) as http:
        user = f"{party.lower()}-analyst"
        http.post("/ui/sign-in", data={"username": user, "password": net.cluster.passwords[user]})
        yield http


def _events(http: httpx.Client, query: str, headers: dict[str, str], want: int) -> list[Any]:
    """The first `want` events of the page's stream: (id, data)."""
    found: list[Any] = []
    with http.stream("GET", f"/ui/live{query}", headers=headers) as stream:
        seq = None
        for line in stream.iter_lines():
            if line.startswith("id: "):
                seq = int(line.removeprefix("id: "))
            elif line.startswith("data: "):
                found.append((seq, json.loads(line.removeprefix("data: "))))
                if len(found) >= want:
                    return found
    return found


def test_what_happens_between_render_and_stream_reaches_the_page(network):
    net = network
    with _browser(net, "KOR") as page:
        inbox = page.get("/ui/inbox")
        (after,) = re.findall(r'data-live-after="(\d+)"', inbox.text)
        # The page is rendered; before its script opens the stream, a product is released.
        product_id = net.publish("KOR", title="Released between render and stream")
        heard = _events(page, f"?after={after}", {}, want=2)
        assert [e[1]["id"] for e in heard] == [product_id, product_id]
        assert [e[1]["action"] for e in heard] == ["product.create", "product.release"]
        first, second = (seq for seq, _ in heard)
        assert int(after) < first < second
        # A reconnecting browser sends the last id it heard: it hears what came after only.
        resumed = _events(page, "", {"Last-Event-ID": str(first)}, want=1)
        assert [(seq, e["action"]) for seq, e in resumed] == [(second, "product.release")]
        refused = page.get("/ui/live", headers={"Last-Event-ID": "yesterday"})
        assert refused.status_code == 422
