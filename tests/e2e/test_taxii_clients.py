"""Real TAXII clients, unchanged, against a real node over HTTPS: taxii2-client discovers,
lists collections, pages through objects with `added_after` and `next`, posts a bundle and
polls its status; stix2's TAXII data source queries a collection. What KOR publishes
reaches JPN through the hub and shows in JPN's collections, FLASH first among them."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from stix2 import Filter, TAXIICollectionSource
from taxii2client.common import TokenAuth
from taxii2client.v21 import Server, as_pages
from typer.testing import CliRunner

from tisa.cli.main import app

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _pinned_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) override a session's own `verify`;
    the clients here pin the node's certificate, as a deployment would."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def _server(net: Any, party: str, role: str = "analyst") -> Server:
    settings = net.cluster.nodes[party].settings
    username = f"{party.lower()}-{role}"
    return Server(
        f"{settings.api_url}/taxii2/",
        user=username,
        password=net.cluster.passwords[username],
        verify=str(settings.paths.tls_cert),
    )


def _collection(server: Server, title: str) -> Any:
    root = server.default
    assert root is not None
    return next(c for c in root.collections if c.title == title)


def _reports(collection: Any, **filters: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in as_pages(collection.get_objects, per_request=5, **filters):
        for obj in page.get("objects", []):
            if obj["type"] == "report":
                found[obj["name"]] = obj
    return found


def test_taxii2_client_reads_what_jpn_may_see_and_pages_with_next(network: Any) -> None:
    net = network
    server = _server(net, "JPN")
    assert server.title.startswith("tisa JPN")
    titles = {c.title for c in server.default.collections}
    assert {"Everything", "FLASH", "dprk.missile.*", "Drafts inbox"} <= titles
    everything = _collection(server, "Everything")
    start = everything.get_manifest()
    mark = start.get("objects", [])[-1]["date_added"] if start.get("objects") else None

    routine = f"routine {uuid.uuid4().hex[:6]}"
    flash = f"flash {uuid.uuid4().hex[:6]}"
    for title, precedence in ((routine, "ROUTINE"), (flash, "FLASH")):
        product_id = net.publish("KOR", title=title, precedence=precedence)
        net.wait_held("JPN", product_id)

    later = _reports(everything, added_after=mark) if mark else _reports(everything)
    assert {routine, flash} <= set(later)
    assert later[flash]["created_by_ref"].startswith("identity--")
    flash_only = _reports(_collection(server, "FLASH"), added_after=mark) if mark else {}
    assert flash in flash_only
    assert routine not in flash_only


def test_a_bundle_posted_with_taxii2_client_becomes_a_draft(network: Any) -> None:
    net = network
    product_id = net.publish("KOR", title=f"to re-import {uuid.uuid4().hex[:6]}")
    net.wait_held("JPN", product_id)
    bundle = net("JPN").stream(f"/api/v1/products/{product_id}/stix")
    raw = b"".join(bundle)

    server = _server(net, "JPN")
    inbox = _collection(server, "Drafts inbox")
    status = inbox.add_objects(raw.decode(), wait_for_completion=True, poll_interval=1)
    assert status.status == "complete"
    assert status.success_count == 1, status.failures
    (done,) = status.successes
    draft_id = done["message"].split()[1]
    drafted = net("JPN").get(f"/api/v1/products/{draft_id}")
    assert drafted["state"] == "draft"
    assert drafted["originator"] == "JPN"


def test_stix2s_taxii_data_source_queries_a_collection_with_a_bearer_token(network: Any) -> None:
    net = network
    title = f"for stix2 {uuid.uuid4().hex[:6]}"
    product_id = net.publish("KOR", title=title, precedence="FLASH")
    net.wait_held("JPN", product_id)
    settings = net.cluster.nodes["JPN"].settings
    server = Server(
        f"{settings.api_url}/taxii2/",
        auth=TokenAuth(net("JPN").token),
        verify=str(settings.paths.tls_cert),
    )
    source = TAXIICollectionSource(_collection(server, "FLASH"))
    found = source.query([Filter("type", "=", "report")])
    assert title in {r.name for r in found}


def test_polling_each_second_sees_a_flash_soon_after_it_arrives(network: Any) -> None:
    net = network
    everything = _collection(_server(net, "JPN"), "Everything")
    last = everything.get_manifest().get("objects", [])
    mark = last[-1]["date_added"] if last else "2000-01-01T00:00:00Z"
    title = f"polled {uuid.uuid4().hex[:6]}"
    net.publish("KOR", title=title, precedence="FLASH")
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while title not in seen and time.monotonic() < deadline:
        time.sleep(1)
        page = everything.get_objects(added_after=mark)
        seen |= {o.get("name", "") for o in page.get("objects", [])}
    assert title in seen


def test_the_cli_exports_byte_stable_stix_and_imports_it_as_a_draft(
    network: Any, tmp_path: Path
) -> None:
    net = network
    product_id = net.publish("KOR", title=f"cli {uuid.uuid4().hex[:6]}")
    net.wait_held("JPN", product_id)
    jpn = str(net.cluster.nodes["JPN"].root)
    login = [
        "--dir",
        jpn,
        "--user",
        "jpn-analyst",
        "--password",
        net.cluster.passwords["jpn-analyst"],
    ]
    first = CliRunner().invoke(app, ["stix", "export", *login, product_id])
    again = CliRunner().invoke(app, ["stix", "export", *login, product_id])
    assert first.exit_code == 0, first.output
    assert first.stdout_bytes == again.stdout_bytes
    bundle = json.loads(first.stdout_bytes)
    assert bundle["type"] == "bundle"
    source = tmp_path / "bundle.json"
    source.write_bytes(first.stdout_bytes)
    imported = CliRunner().invoke(app, ["stix", "import", *login, str(source)])
    assert imported.exit_code == 0, imported.output
    assert "drafted" in imported.output
    draft_id = imported.output.split("draft ")[1].split()[0]
    assert net("JPN").get(f"/api/v1/products/{draft_id}")["state"] == "draft"
    missing = CliRunner().invoke(app, ["stix", "export", *login, str(uuid.uuid4())])
    assert missing.exit_code != 0
