"""Crash and store tests: the hub killed with SIGKILL in the middle of a flow of 500 products
(at-least-once sending + idempotent receiving = each product lands exactly once everywhere),
and the FLASH relay end to end on three nodes that keep their stores in PostgreSQL."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tisa.store import products
from tisa.store.database import Database

pytestmark = pytest.mark.e2e

FLOW = 500
KILL_AT = 50
CRASH_WAIT = 150.0  # leases held by the killed hub expire after 30 s (store/outbox.py LEASE)


def _held_count(net, party):
    return net(party, "admin").get("/api/v1/status")["products_held"]


def _listing(net, party):
    return net(party).get("/api/v1/products", params={"limit": 1000})["products"]


def test_hub_killed_mid_flow_every_product_lands_exactly_once(make_network):
    net = make_network()
    ids: list[str] = []
    held_at_kill: int | None = None
    for i in range(FLOW):
        draft = net.create(
            "KOR",
            title=f"routine report {i}",
            text=f"r{i}",
            precedence="ROUTINE",
            observations=[],
        )
        net.release("KOR", draft["id"])
        ids.append(draft["id"])
        if held_at_kill is None and i >= KILL_AT and i % 10 == 0:
            at_jpn = _held_count(net, "JPN")
            if at_jpn >= KILL_AT:
                net.cluster.stop("USA", kill=True)
                held_at_kill = at_jpn
        if held_at_kill is None and i == FLOW - 1:
            # The flow outran the check: kill as soon as JPN holds 50, if it does not hold all.
            at_jpn = net.wait_for(
                lambda: (n := _held_count(net, "JPN")) >= KILL_AT and n, "JPN holding 50"
            )
            net.cluster.stop("USA", kill=True)
            held_at_kill = at_jpn
    assert held_at_kill is not None
    assert held_at_kill < FLOW, "the hub was killed only after everything had arrived"
    assert len(set(ids)) == FLOW

    net.cluster.start("USA")
    net.forget_clients("USA")
    net.wait_for(
        lambda: _held_count(net, "JPN") >= FLOW, f"JPN holding all {FLOW}", timeout=CRASH_WAIT
    )

    for party in ("USA", "JPN"):
        listed = _listing(net, party)
        counts = Counter(p["id"] for p in listed)
        assert len(listed) == FLOW, party
        assert counts == Counter(ids), party
        assert {p["version"] for p in listed} == {1}, party
        assert {p["originator"] for p in listed} == {"KOR"}, party
        assert _held_count(net, party) == FLOW, party
    # JPN never restarted: its counter saw every envelope it took as new, and no more.
    assert _stored_envelopes(net, "JPN") == FLOW

    pending = set(ids)

    def all_delivered():
        for product_id in sorted(pending):
            states = {
                d["party"]: d["state"]
                for d in net.deliveries("KOR", product_id)
                if d["version"] == 1
            }
            if states.get("JPN") == "delivered" and states.get("USA") == "delivered":
                pending.discard(product_id)
        return not pending

    net.wait_for(all_delivered, "KOR recording USA and JPN delivered for all", CRASH_WAIT)


def _stored_envelopes(net, party):
    """How many envelopes `party`'s node took as new (a duplicate is counted apart)."""
    text = net(party, "admin").text("/metrics")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tisa_messages_received_total" and sample.labels == {
                "kind": "envelope",
                "outcome": "stored",
            }:
                return sample.value
    return 0


@pytest.mark.postgres
def test_flash_relay_and_receipts_on_postgresql(make_network, pg_databases):
    net = make_network(databases={p: pg_databases.new() for p in ("USA", "KOR", "JPN")})
    for party in ("USA", "KOR", "JPN"):
        assert net.cluster.nodes[party].settings.database_url.startswith("postgresql")

    product_id = net.publish("KOR", title="ICBM launch from the Pyongyang area, lofted")
    at_jpn = net.wait_held("JPN", product_id)
    assert at_jpn["banner"] == "極秘//FGI KOR//REL TO USA, JPN, KOR"
    prov = at_jpn["provenance"]
    assert (prov["originator"], prov["relayed_by"], prov["consent"]) == (
        "KOR",
        "USA",
        net.rules[("KOR", "JPN")],
    )
    assert net.wait_held("USA", product_id)["banner"] == "SECRET//FGI KOR//REL TO USA, JPN, KOR"

    delivered = net.wait_delivered("KOR", product_id, ("USA", "JPN"))
    assert net.verify_receipt(delivered["JPN"], product_id)["via"] == "USA"
    net.verify_receipt(delivered["USA"], product_id)

    # The rows are in each node's own PostgreSQL database.
    for party, state in (("KOR", "released"), ("USA", "received"), ("JPN", "received")):
        url = net.cluster.nodes[party].settings.database_url
        with Database(url) as db, db.read() as conn:
            row = products.get(conn, product_id, 1)
        assert row is not None
        assert (row.state, row.digest) == (state, prov["digest"])
