"""Created (not started) three-node clusters for in-process tests, and their runtimes.

Creating a cluster makes keys, certificates, users (argon2) and migrated stores for three
nodes. Tests that need a cluster of their own copy one created per session instead:
`copy_cluster(template, base)` is a few file copies.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tisa.demo.network import Cluster, NodeHandle
from tisa.node.runtime import Runtime
from tisa.node.settings import Settings

PARTIES: tuple[str, ...] = ("USA", "KOR", "JPN")


def create_cluster(base: Path, databases: Mapping[str, str] | None = None) -> Cluster:
    """A newly created three-node cluster in `base` (SQLite stores unless `databases` names a
    URL for a party)."""
    cluster = Cluster(base, databases=databases)
    cluster.create()
    return cluster


def copy_cluster(template: Cluster, base: Path) -> Cluster:
    """A copy of the created SQLite cluster `template` in `base`: the same keys, arrangement,
    users and passwords, in files of its own. `template`'s runtimes must be closed (the copy
    takes its stores as they are on disk)."""
    if template.databases:
        raise ValueError("only SQLite clusters can be copied: their stores are files")
    shutil.copytree(template.base, base)
    cluster = Cluster(base, parties=template.parties)
    for party in template.parties:
        root = base / party.lower()
        cluster.nodes[party] = NodeHandle(party, root, Settings.load(root, env={}))
    cluster.passwords.update(template.passwords)
    return cluster


def open_runtimes(cluster: Cluster, parties: tuple[str, ...] = PARTIES) -> dict[str, Runtime]:
    """Open a runtime (no servers, no sender) for each of `parties`; the caller closes them."""
    opened: dict[str, Runtime] = {}
    try:
        for party in parties:
            opened[party] = Runtime(cluster.nodes[party].settings).open()
    except BaseException:
        for rt in opened.values():
            rt.close()
        raise
    return opened


@contextmanager
def runtime(cluster: Cluster, party: str) -> Iterator[Runtime]:
    """`party`'s runtime, opened beside whatever else uses its store, closed afterwards."""
    rt = Runtime(cluster.nodes[party].settings).open()
    try:
        yield rt
    finally:
        rt.close()
