"""`tisa demo`: three real nodes on this machine, the arrangement exercised end to end.

Every step checks what it claims by reading the store of the node concerned (through its API)
and verifying signatures against the pinned keys; a step that cannot show its result fails.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tisa.demo.checks import Report
from tisa.demo.kept import record
from tisa.demo.network import Cluster
from tisa.demo.steps import Steps
from tisa.node.settings import load_arrangement


def run_demo(
    *, workdir: Path | None = None, keep: bool = False, echo: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the scenario; returns {"ok", "steps", "total_ms", "workdir"?, "nodes"?}.

    Without `keep` the nodes are stopped at the end, and a temporary folder (no `workdir`)
    is removed if every step passed, or kept for its logs if one failed; `echo` says which.
    With `keep` the nodes run on, recorded for `tisa demo stop`."""
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
        kept_in = (
            record(base, nodes)
            if keep and any(where["pid"] is not None for where in nodes.values())
            else None
        )
        if kept_in is None:
            cluster.stop()
    ok = all(s["ok"] for s in report.steps)
    total = (time.perf_counter() - started) * 1000
    if echo:
        passed = sum(s["ok"] for s in report.steps)
        echo(f"{passed}/{len(report.steps)} steps checked and passed in {total:.0f} ms")
    result: dict[str, Any] = {"ok": ok, "steps": report.steps, "total_ms": round(total, 1)}
    if kept_in is not None:
        if echo:
            _say_kept(base, nodes, kept_in, echo)
        result["nodes"] = nodes
        result["workdir"] = str(base)
        result["stop"] = f"tisa demo stop {base}"
    elif _tidy(base, temporary=workdir is None, ok=ok, echo=echo):
        result["workdir"] = str(base)
    return result


def _say_kept(
    base: Path, nodes: dict[str, dict[str, Any]], kept_in: Path, echo: Callable[[str], None]
) -> None:
    echo(f"nodes left running (data in {base}; users in {base / 'users.json'}):")
    for party, where in nodes.items():
        echo(f"  {party}: api {where['api']}  federation {where['federation']}")
        echo(f"       web UI {where['api']}/ui/ (self-signed certificate: see README)")
    echo(f"their process ids are in {kept_in}; to stop them: tisa demo stop {base}")


def _tidy(base: Path, *, temporary: bool, ok: bool, echo: Callable[[str], None] | None) -> bool:
    """Remove the demo's own temporary folder once every step passed; keep it otherwise (its
    node logs say what failed) or if it was given; whether it is kept, said through `echo`."""
    if temporary and ok:
        shutil.rmtree(base, ignore_errors=True)
        if echo:
            echo(f"its temporary folder {base} (keys, users.json, stores) is removed")
        return False
    if echo:
        why = "kept for its node logs (*/node.log)" if temporary else "where --workdir put it"
        echo(f"its folder {base} (keys, users.json, stores, node logs) stays, {why}")
    return True


def _create(cluster: Cluster) -> str:
    cluster.create()
    arrangement = load_arrangement(cluster.nodes["USA"].settings.paths.arrangement)
    return (
        f"arrangement {arrangement.id} pinned with the three cards, digest "
        f"{arrangement.digest[:23]}… (the shipped file's differs: pinning adds the keys), "
        f"in {cluster.base}"
    )


def _start(cluster: Cluster) -> str:
    cluster.start()
    return "\n".join(
        f"{p}: api {a['api']}, federation {a['federation']} (pid {a['pid']})"
        for p, a in cluster.addresses().items()
    )
