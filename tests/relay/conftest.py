"""Three open runtimes (USA hub, KOR, JPN) on fresh stores, for the relay's unit tests.

The keys, certificates and pinned arrangement are made once per module (about a second) and
copied for each test, so every test starts from empty stores and outboxes of its own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay.world import Trio

from tisa.demo.network import Cluster


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trio")
    Cluster(root).create()
    return root


@pytest.fixture
def trio(_template: Path, tmp_path: Path) -> Iterator[Trio]:
    root = tmp_path / "trio"
    shutil.copytree(_template, root)
    world = Trio(root)
    try:
        yield world
    finally:
        world.close()
