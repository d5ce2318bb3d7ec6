"""Shared pieces of the tisa benchmarks: a fresh three-node cluster, the standing rule, stats.

Not a benchmark itself. The scripts next to it import it (`python bench/<script>.py` puts
this directory first on sys.path).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from tisa.api.client import ApiClient
from tisa.demo.network import Cluster
from tisa.errors import ConfigInvalid, NotFound

T = TypeVar("T")
RESULTS = Path(__file__).resolve().parent / "results"
RULE_TOPICS = ["dprk.missile.*"]


class BenchFailed(Exception):
    """The benchmark could not measure what it claims (a timeout, a missing product)."""


def wait_for(check: Callable[[], T | None], what: str, timeout: float, every: float = 0.01) -> T:
    """Poll `check` until it returns something other than None.

    Raises:
        BenchFailed: nothing within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except NotFound as exc:
            value, last = None, exc
        if value is not None:
            return value
        time.sleep(every)
    raise BenchFailed(
        f"{what}: not seen within {timeout:.1f}s" + (f" (last: {last})" if last else "")
    )


def held(client: ApiClient, product_id: str, version: int = 1) -> dict[str, Any] | None:
    """The product version as `client`'s node shows it, or None if not held (404)."""
    try:
        return client.get(f"/api/v1/products/{product_id}/versions/{version}")  # type: ignore[no-any-return]
    except NotFound:
        return None


def parse_ts(text: str) -> datetime:
    """A node's ISO 8601 timestamp ('…Z')."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean/min of durations given in seconds, as milliseconds."""
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "min": round(min(ms), 2),
        "p50": round(percentile(ms, 50), 2),
        "p90": round(percentile(ms, 90), 2),
        "p99": round(percentile(ms, 99), 2),
        "max": round(max(ms), 2),
        "mean": round(statistics.fmean(ms), 2),
    }


def format_row(label: str, s: dict[str, float], width: int = 46) -> str:
    """One line of a latency table."""
    return (
        f"{label:<{width}} p50 {s['p50']:8.1f}  p90 {s['p90']:8.1f}  "
        f"p99 {s['p99']:8.1f}  max {s['max']:8.1f}  (ms, n={s['n']})"
    )


def source_digest() -> dict[str, Any]:
    """Which code was measured: a digest of tisa's source files and the newest file's time
    (the tree changes while others work; the results name the version they were taken on)."""
    import tisa

    root = Path(tisa.__file__).resolve().parent
    digest = hashlib.sha256()
    newest = 0.0
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
        newest = max(newest, path.stat().st_mtime)
    return {
        "tisa_src": str(root),
        "sha256_12": digest.hexdigest()[:12],
        "newest_file_mtime": datetime.fromtimestamp(newest, UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on, and how busy it was."""
    load = os.getloadavg()
    return {
        "source": source_digest(),
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "cpus": os.cpu_count(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(name: str, data: dict[str, Any]) -> Path:
    """Write results to bench/results/<name>.json; returns the path."""
    path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so `with Cluster(...)` still stops the node processes."""

    def _raise(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def log_tails(cluster: Cluster, lines: int = 15) -> str:
    """The last lines of every node's log (they live in a temporary directory that goes)."""
    out = []
    for party, handle in cluster.nodes.items():
        try:
            tail = handle.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        except OSError:
            continue
        if tail:
            out.append(f"--- {party} node log (last {len(tail)} lines) ---")
            out.extend(tail)
    return "\n".join(out)


@contextmanager
def node_logs_on_error(cluster: Cluster) -> Iterator[None]:
    """If anything fails inside, print the nodes' log tails before the cluster is removed."""
    try:
        yield
    except BaseException:
        tails = log_tails(cluster)
        if tails:
            print(tails, file=sys.stderr, flush=True)
        raise


def start_cluster(
    cluster: Cluster,
    log: Callable[[str], None],
    configure: Callable[[Cluster], None] | None = None,
) -> None:
    """Create and start the three nodes (the caller holds `cluster` as a context manager);
    `configure`, if given, is called between the two (to change a node's config file).

    Raises:
        BenchFailed: a node could not be created or did not come up (its log tail is shown).
    """
    t0 = time.perf_counter()
    try:
        cluster.create()
        if configure is not None:
            configure(cluster)
        cluster.start()
    except ConfigInvalid as exc:
        raise BenchFailed(f"cluster did not start: {exc}") from exc
    log(
        f"cluster up in {time.perf_counter() - t0:.1f}s: "
        + ", ".join(f"{p} api {a['api']}" for p, a in cluster.addresses().items())
    )


def grant_standing_rule(cluster: Cluster, timeout: float) -> str:
    """KOR lets USA relay dprk.missile.* up to SECRET to JPN; waits until USA holds the rule.

    Raises:
        BenchFailed: the hub did not receive the rule in time.
    """
    with cluster.session("KOR", "officer") as kor, cluster.session("USA", "admin") as usa:
        rule = kor.post(
            "/api/v1/consents",
            {"recipient": "JPN", "topics": RULE_TOPICS, "max_classification": "SECRET"},
        )
        rule_id: str = rule["id"]

        def at_hub() -> dict[str, Any] | None:
            return next(
                (c for c in usa.get("/api/v1/consents")["consents"] if c["id"] == rule_id), None
            )

        wait_for(at_hub, "USA holding KOR's standing rule", timeout)
    return rule_id


def draft_body(*, title: str, text: str, precedence: str) -> dict[str, Any]:
    """A KOR product within the standing rule (topic dprk.missile.launch, SECRET, REL TO all)."""
    return {
        "title": title,
        "text": text,
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "precedence": precedence,
        "topics": ["dprk.missile.launch"],
        "source_reliability": "B",
        "information_credibility": "2",
    }


def scrape(client: ApiClient) -> dict[str, float]:
    """A node's Prometheus counters and histogram sums (GET /metrics, no sign-in needed).

    Keys are 'name{label="v",...}' as in the exposition text; only samples, no comments.
    """
    text = client._http.get("/metrics").text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key.startswith(
            (
                "tisa_messages_",
                "tisa_delivery_latency_seconds_sum",
                "tisa_delivery_latency_seconds_count",
                "tisa_outbox_depth",
            )
        ):
            out[key] = float(value)
    return out


def node_cpu_seconds(cluster: Cluster) -> dict[str, float | None]:
    """CPU time (user + system) each node process has used so far (Linux /proc; else None)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: dict[str, float | None] = {}
    for party, handle in cluster.nodes.items():
        pid = None if handle.process is None else handle.process.pid
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[party] = (int(stat[11]) + int(stat[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            out[party] = None
    return out


@contextmanager
def cpu_used(cluster: Cluster, into: dict[str, Any]) -> Iterator[None]:
    """Fill `into` with CPU seconds and share of one core used by each node (and this
    benchmark process) while inside, so CPU-bound can be told from waiting."""
    before, mine, t0 = node_cpu_seconds(cluster), time.process_time(), time.perf_counter()
    try:
        yield
    finally:
        wall = time.perf_counter() - t0
        after = node_cpu_seconds(cluster)
        used = {
            p: None if before[p] is None or after.get(p) is None else after[p] - before[p]  # type: ignore[operator]
            for p in before
        }
        used["bench client"] = time.process_time() - mine
        into["wall_s"] = round(wall, 3)
        into["cpu_s"] = {p: None if v is None else round(v, 2) for p, v in used.items()}
        into["cores_busy"] = {p: None if v is None else round(v / wall, 2) for p, v in used.items()}


@contextmanager
def profiled(
    cluster: Cluster, outdir: Path | None, *, rate: int = 200, idle: bool = True
) -> Iterator[None]:
    """While inside, sample every node process with py-spy (if `outdir` is given).

    Writes <outdir>/<party>.txt: collapsed stacks ('frame;frame;... count'). With `idle`,
    idle threads are sampled too, so waiting (SQLite busy sleeps, thread hops) shows as well
    as computing; without it, only threads on a CPU (where the CPU time goes). Summarise with
    `python bench/profile_summary.py <outdir>/<party>.txt`.

    Raises:
        BenchFailed: py-spy is not installed (`pip install py-spy`).
    """
    if outdir is None:
        yield
        return
    spy = shutil.which("py-spy")
    if spy is None:
        raise BenchFailed("--profile needs py-spy: pip install py-spy")
    outdir.mkdir(parents=True, exist_ok=True)
    procs = []
    for party, handle in cluster.nodes.items():
        if handle.process is None:
            continue
        out = outdir / f"{party.lower()}.txt"
        procs.append(
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(handle.process.pid),
                    "--rate",
                    str(rate),
                    "--format",
                    "raw",
                    *(["--idle"] if idle else []),
                    "--threads",
                    "--nonblocking",
                    "--output",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(0.5)  # let py-spy attach before the measured part
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log(f"py-spy profiles in {outdir}")


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the result."""
    print(message, file=sys.stderr, flush=True)


def finish(
    args: argparse.Namespace,
    script: str,
    run: Callable[[argparse.Namespace], dict[str, Any]],
    report: Callable[[dict[str, Any]], None],
) -> int:
    """Run a benchmark, print its report, write its JSON if asked; 1 if it failed."""
    args.command = " ".join([f"python bench/{script}", *sys.argv[1:]])
    try:
        result = run(args)
    except BenchFailed as exc:
        log(f"benchmark failed: {exc}")
        return 1
    report(result)
    if args.json:
        log(f"wrote {write_json(args.name, result)}")
    return 0
