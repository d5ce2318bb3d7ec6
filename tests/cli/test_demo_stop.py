"""`tisa demo --keep` leaves three real nodes running and says how to stop them;
`tisa demo stop DIR` stops them. Whatever happens, no node outlives the test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tisa.demo import kept

pytestmark = pytest.mark.e2e


def _tisa(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tisa", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    base = tmp_path / "demo"
    yield base
    record = base / kept.RECORD
    if record.exists():  # the test failed before stopping them: kill what is still a node
        for node in json.loads(record.read_text()).values():
            if kept._running(node["pid"], node["dir"]):
                os.kill(node["pid"], signal.SIGKILL)


def test_a_kept_demo_says_how_to_stop_it_and_stop_does(demo_dir: Path) -> None:
    demo = _tisa("demo", "--keep", "--workdir", str(demo_dir), timeout=240)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    said = " ".join(demo.stdout.split())
    assert f"to stop them: tisa demo stop {demo_dir}" in said
    nodes = json.loads((demo_dir / kept.RECORD).read_text())
    assert set(nodes) == {"USA", "KOR", "JPN"}
    assert all(kept._running(n["pid"], n["dir"]) for n in nodes.values())

    stop = _tisa("demo", "stop", str(demo_dir), timeout=60)

    assert stop.returncode == 0, stop.stdout + stop.stderr
    for party, node in nodes.items():
        assert f"{party} (pid {node['pid']}): stopped" in stop.stdout
        assert not kept._running(node["pid"], node["dir"])
    assert "its data stays in" in stop.stdout
    again = _tisa("demo", "stop", str(demo_dir), timeout=60)
    assert again.returncode == 2
    assert "holds no nodes left running" in again.stderr
