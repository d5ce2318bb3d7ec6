"""The nodes `tisa demo --keep` leaves running: recorded in the demo's folder when it ends, found
again and stopped by `tisa demo stop DIR`.

A recorded process is stopped only while it is still that node: on Linux its command line must
still be `… serve --dir <the node's folder>`, so a process id reused since is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tisa.errors import ConfigInvalid, NotFound

RECORD = "nodes.json"
STOP_WAIT = 20.0
KILL_WAIT = 5.0


def record(base: Path, nodes: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write down each running node's process id and folder (`Cluster.addresses()`)."""
    kept = {
        party: {"pid": node["pid"], "dir": node["dir"], "api": node["api"]}
        for party, node in nodes.items()
        if node.get("pid") is not None
    }
    path = base / RECORD
    path.write_text(json.dumps(kept, indent=2), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Stopped:
    """What became of one recorded node."""

    party: str
    pid: int
    outcome: str  # "stopped", "killed" (not stopped in time), "not running", "still running"


def _running(pid: int, root: str) -> bool:
    """Whether `pid` is still the node serving `root`."""
    proc = Path("/proc")
    if not proc.is_dir():  # no /proc (not Linux): the process id is all there is to go on
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    try:
        args = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # A process that has ended but is not yet reaped has an empty command line.
    return b"serve" in args and os.fsencode(root) in args


def _read(base: Path) -> dict[str, tuple[int, str]]:
    path = base / RECORD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {party: (int(node["pid"]), str(node["dir"])) for party, node in data.items()}
    except FileNotFoundError as exc:
        raise NotFound(
            f"{base} holds no nodes left running by `tisa demo --keep` (no {RECORD})"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigInvalid(f"{path}: not a record of running nodes ({exc})") from exc


def _wait(nodes: Mapping[str, tuple[int, str]], seconds: float) -> set[str]:
    """The parties still running after waiting up to `seconds` for them to end."""
    deadline = time.monotonic() + seconds
    left = set(nodes)
    while left and time.monotonic() < deadline:
        left = {p for p in left if _running(*nodes[p])}
        if left:
            time.sleep(0.1)
    return left


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # ended meanwhile
        os.kill(pid, sig)


def stop(base: Path) -> list[Stopped]:
    """Stop every node the demo in `base` left running: SIGTERM, a wait, then SIGKILL for any
    that has not ended; the record is removed once none runs.

    Raises:
        NotFound: `base` holds no record (no demo kept there, or stopped already).
        ConfigInvalid: the record cannot be read.
    """
    nodes = _read(base)
    running = {p: n for p, n in nodes.items() if _running(*n)}
    for pid, _ in running.values():
        _signal(pid, signal.SIGTERM)
    stubborn = _wait(running, STOP_WAIT)
    for party in stubborn:
        _signal(running[party][0], signal.SIGKILL)
    left = _wait({p: running[p] for p in stubborn}, KILL_WAIT)
    if not left:  # kept while any runs, so `tisa demo stop` can be asked again
        (base / RECORD).unlink()

    def outcome(party: str) -> str:
        if party not in running:
            return "not running"
        if party in left:
            return "still running"
        return "killed" if party in stubborn else "stopped"

    return [Stopped(party, pid, outcome(party)) for party, (pid, _) in nodes.items()]
