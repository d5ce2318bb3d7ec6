"""End-to-end fixtures: real node processes on 127.0.0.1, talking HTTPS with pinned mutual TLS
(`harness.network`). Every node process is stopped when its fixture ends, whatever happened.

`network` is one three-node network shared by the whole session (tests that only add
products and consents of their own); `make_network` builds private ones for tests that
suspend channels, kill nodes or run on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.network import Net, Networks, give_standing_rules, running


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """One network for every test that only adds products and consents of its own.

    KOR and JPN have given the hub standing rules for dprk.missile.* up to SECRET to each
    other (`net.rules[("KOR", "JPN")]`, `net.rules[("JPN", "KOR")]`).
    """
    with running(tmp_path_factory.mktemp("shared-net")) as net:
        give_standing_rules(net)
        yield net


@pytest.fixture(scope="module")
def private_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """A network of one test module's own, without standing rules: for tests that suspend
    channels, revoke rules and alter stores, and leave each other alone."""
    with running(tmp_path_factory.mktemp("private-net")) as net:
        yield net


@pytest.fixture
def make_network(tmp_path: Path) -> Iterator[Networks]:
    """Build private networks: `make_network(databases=None, rules=True)`; all stopped at the
    end."""
    networks = Networks(tmp_path)
    try:
        yield networks
    finally:
        networks.close()
