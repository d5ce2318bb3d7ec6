"""A node with pages open on its live stream still stops cleanly when told to."""

from __future__ import annotations

import signal
import ssl
import threading
from pathlib import Path

import httpx
import pytest

from tisa.demo.network import Cluster

pytestmark = pytest.mark.e2e


def test_open_live_streams_end_when_the_node_stops(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "net")
    cluster.create()
    cluster.start("JPN")
    try:
        node = cluster.nodes["JPN"]
        context = ssl.create_default_context(cadata=node.settings.paths.tls_cert.read_text())
        context.check_hostname = False
        with httpx.Client(base_url=node.settings.api_url, verify=context) as browser:
            browser.post(
                "/ui/sign-in",
                data={"username": "jpn-analyst", "password": cluster.passwords["jpn-analyst"]},
            )
            cookie = browser.cookies["tisa_session"]
        ended: list[str] = []
        opened = threading.Event()

        def listen() -> None:
            timeout = httpx.Timeout(10.0, read=60.0)
            with httpx.Client(base_url=node.settings.api_url, verify=context, timeout=timeout) as h:
                h.cookies.set("tisa_session", cookie)
                with h.stream("GET", "/ui/live") as stream:
                    opened.set()
                    for _ in stream.iter_lines():
                        pass
                ended.append("closed by the node")

        page = threading.Thread(target=listen, daemon=True)
        page.start()
        assert opened.wait(30)
        process = node.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        # It exits by itself (code 0), well before Cluster.stop would resort to SIGKILL.
        assert process.wait(timeout=15) == 0
        page.join(10)
        assert ended == ["closed by the node"]
    finally:
        cluster.stop()
