"""A hub whose database file is damaged while it is stopped: three leaf pages of `products`
overwritten with zeros, as a failing disk would.

The node starts, but readiness fails naming the damaged table; a product whose row was on a
damaged page answers Damaged with its reason (never a bare 500, never as if whole), every
other product still reads, the listing leaves the damaged ones out and says how many, and
`tisa check` names the pages and each product lost, and exits 1.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from harness import pages
from harness.network import Networks

from tisa.errors import Damaged

pytestmark = pytest.mark.e2e

PRODUCTS = 40


def test_a_corrupted_page_of_products_is_named_and_the_rest_is_served(
    make_network: Networks,
) -> None:
    net = make_network(rules=False)
    ids = [
        net.publish(
            "USA",
            title=f"assessment {i}",
            text=f"assessment {i}: " + "tracked, assessed and reported. " * 30,
            precedence="ROUTINE",
            observations=[],
        )
        for i in range(PRODUCTS)
    ]
    usa = net.cluster.nodes["USA"]
    net.cluster.stop("USA")
    net.forget_clients("USA")
    path = usa.root / "tisa.db"
    victims = pages.leaves(path, "products")[2:5]
    lost = pages.holding(path, victims, ids)
    assert 0 < len(lost) < PRODUCTS
    pages.zero(path, victims)
    net.cluster.start("USA")

    ready = net("USA")._http.get("/healthz/ready")
    assert ready.status_code == 503
    integrity = ready.json()["checks"]["integrity"]
    assert not integrity["ok"]
    assert integrity["detail"].startswith("table products: pages ")
    assert integrity["detail"].endswith("; run `tisa check`")

    for product_id in sorted(lost):
        answer = net("USA")._http.get(
            f"/api/v1/products/{product_id}",
            headers={"Authorization": f"Bearer {net('USA').token}"},
        )
        assert answer.status_code == 500
        assert answer.json() == {
            "error": "Damaged",
            "detail": f"product {product_id} v1: the products table is damaged "
            "(database disk image is malformed); run `tisa check`",
        }
        with pytest.raises(Damaged, match="the products table is damaged"):
            net("USA").get(f"/api/v1/products/{product_id}/versions/1")
    for product_id in sorted(set(ids) - lost):
        assert net("USA").get(f"/api/v1/products/{product_id}")["id"] == product_id

    listing = net("USA").get("/api/v1/products", params={"limit": 1000})
    assert {p["id"] for p in listing["products"]} == set(ids) - lost
    assert listing["withheld"] == len(lost)
    assert "could not be read whole and are left out" in listing["note"]

    checked = subprocess.run(
        [sys.executable, "-m", "tisa", "check", "--dir", str(usa.root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "Traceback" not in checked.stdout + checked.stderr
    assert "✗ table products: pages " in checked.stdout
    for product_id in lost:
        assert f"✗ product {product_id} v1 cannot be read" in checked.stdout
    assert f"✓ {PRODUCTS - len(lost)} product versions read and verified" in checked.stdout

    log = usa.log.read_text(errors="replace")
    assert "ERROR tisa.node.runtime: integrity: table products: pages " in log
    assert "ERROR tisa.services.reading: not shown: product " in log
