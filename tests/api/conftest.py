"""API fixtures: the in-process harness of the analyst and federation APIs
(`harness.nodes.Harness`), over copies of the session's created cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness.clusters import copy_cluster
from harness.nodes import Harness, opened_harness

from tisa.demo.network import Cluster


@pytest.fixture(scope="session")
def harness(
    tmp_path_factory: pytest.TempPathFactory, cluster_template: Cluster
) -> Iterator[Harness]:
    """The shared three-node harness (opened once per session: signing in costs argon2 time)."""
    cluster = copy_cluster(cluster_template, tmp_path_factory.mktemp("api-cluster") / "cluster")
    with opened_harness(cluster) as h:
        yield h


@pytest.fixture(scope="module")
def own_harness(
    tmp_path_factory: pytest.TempPathFactory, cluster_template: Cluster
) -> Iterator[Harness]:
    """A three-node harness for the requesting module alone: for tests that change what the
    shared one must keep (suspended channels, a user's language, products made at random)."""
    base = tmp_path_factory.mktemp("api-own-cluster") / "cluster"
    with opened_harness(copy_cluster(cluster_template, base)) as h:
        yield h
