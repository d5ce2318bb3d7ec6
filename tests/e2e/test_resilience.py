"""A node never stops silently, over real nodes: each fault that used to end a task for good
(a database outage, nonsense from a peer, a message whose bytes are gone, a retry after a
lost answer) is survived, shown, and followed by normal work; after an outage FLASH goes
first."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from harness.factories import gps_photo
from harness.network import Net

from tisa.blobs import keyfile
from tisa.blobs.store import BlobStore
from tisa.crypto.tls import server_context

pytestmark = pytest.mark.e2e

MISSILE = ["dprk.missile.*"]


def _upload(net: Net, party: str, content: bytes) -> str:
    handle = net.cluster.nodes[party]
    context = ssl.create_default_context(cadata=handle.cert_pem.decode("ascii"))
    headers = {"Authorization": f"Bearer {net(party).token}", "Content-Type": "image/jpeg"}
    with httpx.Client(base_url=handle.settings.api_url, verify=context, timeout=60) as http:
        answer = http.post(
            "/api/v1/uploads", params={"name": "p.jpg"}, content=content, headers=headers
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["digest"])


def _ready(net: Net, party: str) -> dict[str, Any] | None:
    """`party`'s readiness report once every check passes, else None."""
    report: dict[str, Any] = net(party)._http.get("/healthz/ready").json()
    return report if report["status"] == "ok" else None


def test_a_message_whose_attachment_is_gone_is_its_own_dead_letter(make_network):
    """The hub lost a blob while the relay naming it was queued: that relay is refused for
    good, with the reason, and the hub goes on sending everything else."""
    net = make_network()
    admin = net("USA", "admin")
    admin.post("/api/v1/channels/USA-JPN/suspend")
    digest = _upload(net, "KOR", gps_photo((320, 240)))
    product_id = net.publish("KOR", attachments=[digest], title="Its bytes will be lost")
    net.wait_for(
        lambda: (d := net.delivery("USA", product_id, "JPN")) and d["state"] == "queued",
        "USA queueing the relay for JPN",
    )
    paths = net.cluster.nodes["USA"].settings.paths
    with BlobStore(paths.blobs, keyfile.load_key(paths.blob_key)) as store:
        store.delete(digest)
    admin.post("/api/v1/channels/USA-JPN/resume")

    dead = net.wait_for(
        lambda: next(
            (
                d
                for d in admin.get("/api/v1/status")["dead_letters"]
                if d["product_id"] == product_id
            ),
            None,
        ),
        "USA filing the relay as a dead letter",
    )
    assert "attachment not sendable" in dead["last_error"]
    assert "not held here" in dead["last_error"]
    net.flush(originator="KOR", precedence="FLASH", to="JPN")
    assert net.held("JPN", product_id) is None
    assert net.wait_for(lambda: _ready(net, "USA"), "USA ready")["checks"]["tasks"]["ok"]


class _Nonsense:
    """A server at JPN's federation address, with JPN's TLS identity, that answers every
    question from the hub with well-formed nonsense."""

    def __init__(self, net: Net) -> None:
        jpn = net.cluster.nodes["JPN"]
        usa_cert = net.cluster.nodes["USA"].cert_pem
        app = FastAPI()
        self.asked: list[str] = []

        @app.get("/federation/v1/blobs/{digest}")
        async def blob_status(digest: str) -> JSONResponse:
            self.asked.append("blob status")
            return JSONResponse([digest, "complete"])

        @app.post("/federation/v1/messages")
        async def messages() -> JSONResponse:
            self.asked.append("messages")
            return JSONResponse({"results": "all stored, trust me"})

        @app.post("/federation/v1/audit/exchange")
        async def exchange() -> JSONResponse:
            self.asked.append("exchange")
            return JSONResponse([1, 2, 3])

        context = server_context(
            jpn.settings.paths.tls_cert,
            jpn.settings.paths.tls_key,
            [usa_cert],
            on_refused=lambda _port, _reason: None,
        )
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=jpn.settings.federation_port,
                log_level="warning",
                ssl_context_factory=lambda _c, _d: context,
            )
        )

    @contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self.server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            yield
        finally:
            self.server.should_exit = True
            thread.join(timeout=20)


def test_nonsense_from_a_peer_is_survived_and_the_peer_served_once_it_is_itself(make_network):
    net = make_network()
    net.cluster.stop("JPN")
    fake = _Nonsense(net)
    with fake.running():
        digest = _upload(net, "KOR", gps_photo((320, 240)))
        product_id = net.publish("KOR", attachments=[digest], title="Sent into nonsense")
        net.wait_for(lambda: "blob status" in fake.asked, "USA asking the fake JPN")
        only_usa = net.publish("KOR", rel_to=["USA", "KOR"], title="For the hub alone")
        net.wait_delivered("KOR", only_usa, ("USA",))
        time.sleep(2)  # a few more rounds of nonsense
        report = net("USA")._http.get("/healthz/ready").json()
        assert report["checks"]["tasks"]["ok"], report
        status = net("USA", "admin").get("/api/v1/status")
        jpn = next(c for c in status["channels"] if c["peer"] == "JPN")
        assert "blob status from JPN is not a JSON object" in (jpn["last_error"] or "") or (
            "bad answer" in (jpn["last_error"] or "")
        ), jpn
    net.cluster.start("JPN")
    net.forget_clients("JPN")
    net.wait_held("JPN", product_id)
    net.wait_delivered("KOR", product_id, ("USA", "JPN"))


def test_after_an_outage_flash_reaches_the_peer_first(make_network):
    """JPN is down while ROUTINE and then FLASH products queue for it at the hub, each
    retried with a growing backoff. When JPN is back the backoffs reset, and every FLASH
    product is stored at JPN before any ROUTINE one."""
    net = make_network()
    net.cluster.stop("JPN", kill=True)
    routine = [
        net.publish("KOR", precedence="ROUTINE", observations=[], title=f"routine {i}")
        for i in range(6)
    ]
    flash = [net.publish("KOR", title=f"flash {i}") for i in range(4)]
    for product_id in routine + flash:
        net.wait_held("USA", product_id)
    time.sleep(6)  # long enough for the early retries to back off
    net.cluster.start("JPN")
    net.forget_clients("JPN")
    for product_id in routine + flash:
        net.wait_held("JPN", product_id)
    stored = {e["product_id"]: e["seq"] for e in net.audit("JPN", action="product.receive")}
    assert max(stored[p] for p in flash) < min(stored[p] for p in routine), stored


@pytest.mark.postgres
def test_a_database_outage_stops_nothing_for_good(make_network, pg_databases):
    """JPN's PostgreSQL refuses every connection for a few seconds while products arrive:
    afterwards JPN stores them, its receipts reach KOR, and every task runs."""
    url = pg_databases.new()
    net = make_network(databases={"JPN": url})
    net.wait_held("JPN", net.publish("KOR", title="before the outage"))
    name = url.rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as pg:
        pg.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        pg.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        try:
            during = [net.publish("KOR", title=f"during the outage {i}") for i in range(5)]
            time.sleep(5)
            report = net("JPN")._http.get("/healthz/ready")
            assert report.status_code == 503
            assert not report.json()["checks"]["database"]["ok"]
        finally:
            pg.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    for product_id in during:
        net.wait_held("JPN", product_id)
        net.wait_delivered("KOR", product_id, ("USA", "JPN"))
    after = net.publish("KOR", title="after the outage")
    net.wait_delivered("KOR", after, ("USA", "JPN"))
    ready = net.wait_for(lambda: _ready(net, "JPN"), "JPN ready again")
    assert ready["checks"]["tasks"]["ok"]


def _titled(net: Net, title: str) -> bool:
    listed = net("KOR").get("/api/v1/products", params={"limit": 1000})["products"]
    return any(p["title"] == title for p in listed)


def test_a_create_retried_after_a_lost_answer_makes_one_product(network):
    """The answer to a create is lost (the connection dropped after the request went out);
    the client retries with the same Idempotency-Key and gets the first answer."""
    net = network
    handle = net.cluster.nodes["KOR"]
    title = f"Lost answer {uuid.uuid4().hex[:8]}"
    body = json.dumps(
        {
            "title": title,
            "classification": "SECRET",
            "rel_to": ["USA", "KOR", "JPN"],
            "topics": ["dprk.missile.launch"],
        }
    ).encode()
    key = uuid.uuid4().hex
    token = net("KOR").token
    context = ssl.create_default_context(cadata=handle.cert_pem.decode("ascii"))
    with (
        socket.create_connection(("127.0.0.1", handle.settings.api_port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"POST /api/v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {token}\r\nIdempotency-Key: {key}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        # The node made the product; the connection drops before its answer is read, so the
        # client cannot know whether the product was made.
        net.wait_for(lambda: _titled(net, title), "KOR making the product")

    def retried() -> httpx.Response | None:
        with httpx.Client(base_url=handle.settings.api_url, verify=context, timeout=10) as http:
            answer = http.post(
                "/api/v1/products",
                content=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Idempotency-Key": key,
                    "Content-Type": "application/json",
                },
            )
        return None if answer.status_code == 409 else answer  # 409: the first still running

    answer = net.wait_for(retried, "the retried create")
    assert answer.status_code == 201, answer.text
    assert answer.headers["idempotent-replayed"] == "true"
    listed = net("KOR").get("/api/v1/products", params={"limit": 1000})["products"]
    assert [p["id"] for p in listed if p["title"] == title] == [answer.json()["id"]]
