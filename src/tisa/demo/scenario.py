"""`tisa demo`: three real nodes on this machine, the arrangement exercised end to end.

Every step checks what it claims by reading the store of the node concerned (through its API)
and verifying signatures against the pinned keys; a step that cannot show its result fails.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tisa.demo.checks import Report
from tisa.demo.network import Cluster
from tisa.demo.steps import Steps
from tisa.node.settings import load_arrangement


def run_demo(
    *, workdir: Path | None = None, keep: bool = False, echo: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the scenario; returns {"ok", "steps", "nodes"?}."""
    base = workdir or Path(tempfile.mkdtemp(prefix="tisa-demo-"))
    report = Report(echo)
    cluster = Cluster(base)
    started = time.perf_counter()
    try:
        report.step(
            "create three nodes (own keys, no common CA) and pin the arrangement",
            lambda: _create(cluster),
        )
        report.step(
            "start USA (hub), KOR and JPN as separate processes over mutual TLS",
            lambda: _start(cluster),
        )
        if all(s["ok"] for s in report.steps):
            steps = Steps(cluster)
            try:
                steps.run(report)
            finally:
                steps.close()
    finally:
        nodes = cluster.addresses()
        if keep and cluster.nodes:
            if echo:
                echo(f"nodes left running (data in {base}; users in {base / 'users.json'}):")
                for party, where in nodes.items():
                    echo(f"  {party}: api {where['api']}  federation {where['federation']}")
                    echo(f"       web UI {where['api']}/ui/ (self-signed certificate: see README)")
        else:
            cluster.stop()
    ok = all(s["ok"] for s in report.steps)
    total = (time.perf_counter() - started) * 1000
    if echo:
        passed = sum(s["ok"] for s in report.steps)
        echo(f"{passed}/{len(report.steps)} steps checked and passed in {total:.0f} ms")
    result: dict[str, Any] = {"ok": ok, "steps": report.steps, "total_ms": round(total, 1)}
    if keep:
        result["nodes"] = nodes
        result["workdir"] = str(base)
    return result


def _create(cluster: Cluster) -> str:
    cluster.create()
    arrangement = load_arrangement(cluster.nodes["USA"].settings.paths.arrangement)
    return f"arrangement {arrangement.id}, digest {arrangement.digest[:23]}…, in {cluster.base}"


def _start(cluster: Cluster) -> str:
    cluster.start()
    return "\n".join(
        f"{p}: api {a['api']}, federation {a['federation']} (pid {a['pid']})"
        for p, a in cluster.addresses().items()
    )
