"""Tests for tisa.node.runtime's TLS: the node's own certificate at start, and refusals counted.

Nodes are opened with `Runtime(settings).open()` (no servers, no sender); the handshakes are
real, over 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import socket
import ssl
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from harness import pages
from harness.factories import legacy_tls_identity
from prometheus_client.parser import text_string_to_metric_families

from tisa.crypto.certs import make_tls_identity
from tisa.domain.states import ProductState
from tisa.errors import ConfigInvalid, DiskFull
from tisa.node.runtime import Runtime
from tisa.node.settings import (
    NodePaths,
    Settings,
    default_arrangement_text,
    init_node,
    pin_arrangement,
    rotate_tls,
)
from tisa.store import products

NOW = datetime.now(UTC)
TIMEOUT = 10.0
PARTIES = ("USA", "KOR", "JPN")


def _network(base: Path, *, legacy: tuple[str, ...] = ()) -> dict[str, Path]:
    """Three node directories with the arrangement pinned at each; the parties in `legacy`
    have CA certificates, as tisa made them before leaf identities. Their roots."""
    roots = {party: base / party.lower() for party in PARTIES}
    cards = []
    for party, root in roots.items():
        card = init_node(root, party, host="127.0.0.1", federation_port=1, api_port=2, now=NOW)
        if party in legacy:
            key_pem, cert_pem = legacy_tls_identity(party)
            NodePaths(root).tls_key.write_bytes(key_pem)
            NodePaths(root).tls_cert.write_bytes(cert_pem)
            card["tls_certificate"] = cert_pem.decode()
        cards.append(card)
    _pin(roots, cards)
    return roots


def _pin(roots: dict[str, Path], cards: list[dict[str, object]]) -> None:
    pinned = pin_arrangement(default_arrangement_text(), cards)
    for root in roots.values():
        NodePaths(root).arrangement.write_text(pinned, encoding="utf-8")


def _open(root: Path) -> Runtime:
    return Runtime(Settings.load(root, env={}))


def test_a_node_with_a_ca_certificate_starts_and_warns_naming_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    roots = _network(tmp_path, legacy=("KOR",))
    with _open(roots["KOR"]) as rt, caplog.at_level(logging.WARNING, logger="tisa.node.runtime"):
        rt.federation_server_context()
    [warning] = [r for r in caplog.records if r.name == "tisa.node.runtime"]
    assert warning.levelno == logging.WARNING
    assert f"tisa init --rotate-tls --dir {roots['KOR']}" in warning.getMessage()


def test_a_node_with_a_leaf_certificate_starts_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    roots = _network(tmp_path, legacy=("KOR",))
    with _open(roots["USA"]) as rt, caplog.at_level(logging.WARNING):
        rt.federation_server_context()
        rt.client_context_for("KOR")
    assert caplog.records == []


def test_a_rotated_node_starts_once_the_arrangement_pins_its_new_certificate(
    tmp_path: Path,
) -> None:
    roots = _network(tmp_path, legacy=("KOR",))
    card = rotate_tls(roots["KOR"], now=NOW)
    with pytest.raises(ConfigInvalid, match="is not the certificate"), _open(roots["KOR"]):
        pass
    cards = [json.loads(NodePaths(root).card.read_text()) for root in roots.values()]
    assert card in cards
    _pin(roots, cards)
    with _open(roots["KOR"]) as rt:
        assert rt.ctx.arrangement.party("KOR").tls_certificate == card["tls_certificate"]


def _impostor_server(directory: Path) -> tuple[socket.socket, threading.Thread]:
    """A TLS server on 127.0.0.1 presenting a certificate nobody pinned, for one connection."""
    key_pem, cert_pem = make_tls_identity("USA", now=NOW)
    (directory / "impostor.key").write_bytes(key_pem)
    (directory / "impostor.crt").write_bytes(cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "impostor.crt", directory / "impostor.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)

    def serve() -> None:
        # The client gives up mid-handshake; whatever that raises here is expected.
        with contextlib.suppress(OSError):
            raw, _ = listener.accept()
            with context.wrap_socket(raw, server_side=True) as conn:
                conn.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_a_refused_handshake_is_counted_in_the_node_metrics(tmp_path: Path) -> None:
    roots = _network(tmp_path)
    listener, thread = _impostor_server(tmp_path)
    with _open(roots["KOR"]) as rt, listener:
        port = listener.getsockname()[1]
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        with pytest.raises(ssl.SSLCertVerificationError):
            rt.client_context_for("USA").wrap_socket(raw, server_hostname="127.0.0.1")
        raw.close()
        thread.join(TIMEOUT)
        samples = {
            (s.name, s.labels["port"], s.labels["reason"]): s.value
            for family in text_string_to_metric_families(rt.metrics.render().decode())
            if family.name == "tisa_tls_handshakes_refused"
            for s in family.samples
            if s.name.endswith("_total")
        }
    assert samples[("tisa_tls_handshakes_refused_total", "client", "untrusted")] == 1
    assert samples[("tisa_tls_handshakes_refused_total", "federation", "unpinned")] == 0
    assert sum(samples.values()) == 1


# -- the store at start-up, and its disk ------------------------------------------------------


def test_damage_found_at_start_up_is_logged_and_fails_readiness_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    roots = _network(tmp_path)
    with _open(roots["KOR"]) as rt:
        assert _check(rt, "integrity") == (True, "not checked (the node is not serving)")
        with rt.ctx.db.begin() as conn:
            for i in range(80):
                products.insert_product(
                    conn,
                    products.NewVersion(
                        product_id=str(uuid.uuid4()),
                        version=1,
                        originator="KOR",
                        classification=2,
                        precedence="ROUTINE",
                        title=f"report {i}",
                        topics=["dprk.missile.launch"],
                        state=ProductState("draft"),
                        body={"text": "tracked and assessed " * 20},
                        author="kor-analyst",
                        created_at=NOW,
                    ),
                )
        rt.integrity = rt.check_store()
        assert rt.integrity == ()
        assert _check(rt, "integrity") == (
            True,
            "the quick check at start-up found nothing damaged",
        )
        path = Path(rt.ctx.db.url.removeprefix("sqlite:///"))
        rt.ctx.db.close()
        pages.zero(path, pages.leaves(path, "products")[1:2])
        rt.ctx.db.open()
        with caplog.at_level(logging.ERROR, logger="tisa.node.runtime"):
            rt.integrity = rt.check_store()
        ok, detail = _check(rt, "integrity")
    assert not ok
    assert detail.startswith("table products: page ")
    assert detail.endswith("; run `tisa check`")
    [logged] = [r for r in caplog.records if r.name == "tisa.node.runtime"]
    assert logged.levelno == logging.ERROR
    assert logged.getMessage().startswith("integrity: table products: page ")
    assert f"run `tisa check --dir {roots['KOR']}`" in logged.getMessage()


def test_readiness_names_the_disk_below_the_reserve_and_recovers_when_freed(
    tmp_path: Path,
) -> None:
    roots = _network(tmp_path)
    free = shutil.disk_usage(tmp_path).free
    huge = Settings.load(roots["KOR"], env={"TISA_DISK_RESERVE_MB": str(2 * free // 2**20)})
    with Runtime(huge) as rt:
        ok, detail = _check(rt, "disk")
        assert not ok
        assert detail.endswith("attachments are refused until space is freed")
        with pytest.raises(DiskFull, match="attachments are refused"):
            rt.blobs.claim("upload", 1)
        rt.count_disk_full("upload")
        assert 'tisa_disk_full_total{what="upload"} 1.0' in rt.metrics.render().decode()
    with _open(roots["KOR"]) as rt:
        assert _check(rt, "disk")[0]
        rt.blobs.claim("upload", 1)


def _check(rt: Runtime, name: str) -> tuple[bool, str]:
    check = next(c for c in rt.health.ready().checks if c.name == name)
    return check.ok, check.detail
