"""`tisa demo stop`: the nodes a kept demo recorded are stopped, and nothing else is.

Real processes stand in for the nodes: their command lines end `serve --dir <folder>`, as a
node's does; the whole demo with `--keep` is tests/cli/test_demo_stop.py (e2e)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tisa.demo import kept
from tisa.errors import NotFound

# A stand-in node: a stubborn one ignores SIGTERM; each says when its handler is set.
SLEEPER = """
import signal, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("up", flush=True)
time.sleep(120)
"""


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:  # whatever happened, nothing is left running
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _node(processes: list[subprocess.Popen[bytes]], root: Path, *, stubborn: bool = False) -> int:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLEEPER,
            "stubborn" if stubborn else "meek",
            "serve",
            "--dir",
            str(root),
        ],
        stdout=subprocess.PIPE,
    )
    processes.append(process)
    assert process.stdout is not None
    assert process.stdout.readline() == b"up\n"  # its signal handler is set
    return process.pid


def _record(base: Path, nodes: dict[str, tuple[int | None, Path]]) -> None:
    kept.record(
        base,
        {
            p: {"pid": pid, "dir": str(root), "api": "https://127.0.0.1:1"}
            for p, (pid, root) in nodes.items()
        },
    )


def test_stop_ends_each_recorded_node_and_says_so(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kept, "STOP_WAIT", 1.0)
    usa, kor, jpn = (tmp_path / p for p in ("usa", "kor", "jpn"))
    _record(
        tmp_path,
        {
            "USA": (_node(processes, usa), usa),
            "KOR": (_node(processes, kor, stubborn=True), kor),
            "JPN": (_node(processes, tmp_path / "elsewhere"), jpn),  # the pid is another's now
        },
    )

    stopped = kept.stop(tmp_path)

    assert [(s.party, s.outcome) for s in stopped] == [
        ("USA", "stopped"),
        ("KOR", "killed"),
        ("JPN", "not running"),
    ]
    usa_node, kor_node, other = processes
    assert usa_node.wait(timeout=5) != 0
    assert kor_node.wait(timeout=5) != 0
    assert other.poll() is None  # not a node of this demo: left alone
    assert not (tmp_path / kept.RECORD).exists()
    with pytest.raises(NotFound, match="no nodes left running"):
        kept.stop(tmp_path)


def test_only_nodes_with_a_process_are_recorded(tmp_path: Path) -> None:
    _record(tmp_path, {"USA": (None, tmp_path / "usa"), "KOR": (1234, tmp_path / "kor")})
    assert set(json.loads((tmp_path / kept.RECORD).read_text())) == {"KOR"}
