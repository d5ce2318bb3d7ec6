"""The warning webhook: each warning change on record reaches the administrator's HTTPS
endpoint once, in order, from where it left off; a refusal, an endpoint that is down or one
whose certificate is not trusted ends the task with the reason and loses nothing."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from harness.trio import Trio

from tisa.crypto.certs import make_tls_identity
from tisa.domain.markings import Classification
from tisa.errors import DeliveryFailed
from tisa.services.warning_webhook import WarningWebhook
from tisa.store import audit


class Endpoint:
    """A real HTTPS endpoint on 127.0.0.1 that keeps what it is sent and answers `status`."""

    def __init__(self, folder: Path) -> None:
        key, cert = make_tls_identity("HOOK", now=datetime.now(UTC))
        (folder / "hook.key").write_bytes(key)
        self.ca = folder / "hook.crt"
        self.ca.write_bytes(cert)
        self.received: list[dict[str, Any]] = []
        self.status = 204
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if endpoint.status < 300:
                    endpoint.received.append(json.loads(body))
                self.send_response(endpoint.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca, folder / "hook.key")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/warnings"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    served = Endpoint(tmp_path)
    yield served
    served.stop()


def _hook(
    trio: Trio,
    url: str,
    cursor: Path,
    ca: Path | None,
    clearance: Classification = Classification.SECRET,
) -> WarningWebhook:
    tls = WarningWebhook.tls(ca)
    return WarningWebhook(
        trio.rt["JPN"].ctx,
        url,
        cursor,
        client=lambda: httpx.AsyncClient(verify=tls, timeout=5),
        clearance=clearance,
    )


def _record(
    trio: Trio, action: audit.Action, track: str, classification: str | None = "SECRET"
) -> None:
    jpn = trio.rt["JPN"]
    with jpn.ctx.db.begin() as conn:
        audit.record(
            conn,
            action,
            at=jpn.clock(),
            actor="JPN",
            party="JPN",
            detail={
                "track": track,
                "exercise": True,
                "label": f"EXERCISE {track}",
                "sources": ["JPN:J0001"],
                "classification": classification,
                "streams": []
                if classification is None
                else [
                    {
                        "source": "JPN:J0001",
                        "marking": f"{classification}//REL TO USA, JPN, KOR",
                        "exercise": True,
                    }
                ],
            },
        )


def _deliver(hook: WarningWebhook) -> int:
    return anyio.run(hook.deliver_pending)


def test_changes_on_record_are_delivered_once_in_order_from_where_it_left_off(
    trio: Trio, endpoint: Endpoint, tmp_path: Path
) -> None:
    _record(trio, audit.Action.WARNING_RAISED, "F0000")  # before the first start: not news
    cursor = tmp_path / "work" / "warning-webhook.cursor"  # the folder made when needed
    hook = _hook(trio, endpoint.url, cursor, endpoint.ca)
    assert _deliver(hook) == 0
    _record(trio, audit.Action.WARNING_RAISED, "F0001")
    _record(trio, audit.Action.WARNING_WITHDRAWN, "F0001")

    assert _deliver(hook) == 2
    assert [(b["change"], b["warning"]["track"], b["node"]) for b in endpoint.received] == [
        ("warning.raise", "F0001", "JPN"),
        ("warning.withdraw", "F0001", "JPN"),
    ]
    assert endpoint.received[0]["seq"] < endpoint.received[1]["seq"]
    assert int(cursor.read_text()) == endpoint.received[1]["seq"]
    assert _deliver(hook) == 0  # nothing twice
    # A node restarted reads its place again and sends only what is new.
    _record(trio, audit.Action.WARNING_ENDED, "F0001")
    assert _deliver(_hook(trio, endpoint.url, cursor, endpoint.ca)) == 1
    assert [b["change"] for b in endpoint.received][-1] == "warning.end"


def test_a_refusal_or_an_endpoint_down_ends_the_task_and_loses_nothing(
    trio: Trio, endpoint: Endpoint, tmp_path: Path
) -> None:
    cursor = tmp_path / "warning-webhook.cursor"
    hook = _hook(trio, endpoint.url, cursor, endpoint.ca)
    _deliver(hook)
    place = cursor.read_text()
    _record(trio, audit.Action.WARNING_RAISED, "F0002")
    endpoint.status = 503
    with pytest.raises(DeliveryFailed, match="answered 503 to audit entry"):
        _deliver(hook)
    assert cursor.read_text() == place
    endpoint.stop()
    with pytest.raises(DeliveryFailed, match="ConnectError"):
        _deliver(hook)
    assert cursor.read_text() == place

    again = Endpoint(tmp_path)
    try:
        assert _deliver(_hook(trio, again.url, cursor, again.ca)) == 1
        assert [b["warning"]["track"] for b in again.received] == ["F0002"]
    finally:
        again.stop()


def test_an_endpoint_whose_certificate_is_not_trusted_is_sent_nothing(
    trio: Trio, endpoint: Endpoint, tmp_path: Path
) -> None:
    cursor = tmp_path / "warning-webhook.cursor"
    untrusting = _hook(trio, endpoint.url, cursor, None)  # the system's roots only
    untrusting.position()
    _record(trio, audit.Action.WARNING_RAISED, "F0003")
    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
        _deliver(untrusting)
    assert endpoint.received == []


def test_a_warning_above_the_endpoints_clearance_or_unmarked_is_withheld(
    trio: Trio, endpoint: Endpoint, tmp_path: Path
) -> None:
    cursor = tmp_path / "warning-webhook.cursor"
    hook = _hook(trio, endpoint.url, cursor, endpoint.ca, clearance=Classification.CONFIDENTIAL)
    _deliver(hook)
    _record(trio, audit.Action.WARNING_RAISED, "F0010", "SECRET")
    _record(trio, audit.Action.WARNING_RAISED, "F0011", None)
    _record(trio, audit.Action.WARNING_RAISED, "F0012", "CONFIDENTIAL")
    _record(trio, audit.Action.WARNING_RAISED, "F0013", "secret")
    assert _deliver(hook) == 4  # each looked at once, so none waits forever
    assert [b["warning"]["track"] for b in endpoint.received] == ["F0012"]
    assert _deliver(hook) == 0
