"""Benchmark live tracks under load: 20 missiles in the air, three nations' trackers at 10 Hz.

A fresh three-node cluster on 127.0.0.1 (USA hub, KOR, JPN; each node with its localhost-only
metrics port). KOR and JPN each give the hub a live-track consent for the other spoke
(exercise streams, up to SECRET), as `tisa demo` does. Then each nation's "tracker" (a thread
of this script with a release officer's session) publishes one batch of its 20 tracks every
100 ms through `POST /api/v1/tracks`: one batch per output cycle, 200 updates/s per nation,
600 updates/s into the hub. The hub passes each spoke's updates on to the other spoke and its
own to both, so every node keeps 600 updates/s.

**Where the tracks come from.** One seeded scenario (`tisa.tracks.scenario.run`): 20 MRBMs
from five DPRK sites, launched within 34 s, on the scenario's 10 s report grid. The replay
starts at the first report at which every nation tracks all 20 and runs in real time, one
frame per cycle: each nation's newest report of each missile **propagated** to the cycle's
moment with the trackers' motion model (`fusion.align`, state and covariance, as the hub
aligns), phase, quality, launch point and predicted impact as the report had them. When the
batch is sent, `time_ms` is **re-stamped** to the wall clock (ms) of that moment (a few ms
after the frame's moment; the impact time moves with it), so every update is new to the
network and its `time_ms` is when it was published, which is where the latency figures
start. The three nations' states of one missile agree at every stamp, so the nodes' fusion
associates them as it would live tracks.

**Measured**, over a timed window after a warm-up, publishing all the while:
* originator's update → recipient's fused picture: each node's
  `tisa_live_fusion_latency_seconds{originator}` histogram (from an update's `time_ms` to the
  moment that node's fused picture first included it), read from /metrics before and after the
  window; percentiles from the bucket deltas, interpolated within a bucket as Prometheus'
  `histogram_quantile` does, and the bucket bound each lies under. Absent on a build without
  that metric (then reported as such);
* the hop latency each node already counts: `tisa_live_update_age_seconds{peer}` (an update's
  `time_ms` to stored, by the peer it came from), the same way;
* originator's update → stored at the recipient, exact per update: `stored_at − time_ms` of
  every row in each node's `track_updates` (stored_at is read when the recipient takes the
  update, before its commit);
* the publish call's round trip and how late each cycle started; cycles skipped;
* CPU per node (user + system from /proc/<pid>/stat) and of this script, over the window;
* each link's updates offered, superseded (latest-wins drops) and sent, and each node's updates
  received by outcome, over the window and the whole run.

**Durable history**, after the publishing stops: every update each nation published that the
rules let each node hold (all of them, everywhere, here) must be in that node's `track_updates`
(read from its store directly); the script waits up to `--settle` seconds for the live links
and the catch-up task, then counts what is missing (target 0), and reports what was missing
when the publishing stopped and how long it took to be complete.

Target (issue): p99 ≤ 50 ms originator's update → recipient's fused picture; 0 missing.

    python bench/live_load.py --json                 # 10 s warm-up, 60 s timed, ~3 min
    python bench/live_load.py --duration 20          # a short look
    python bench/live_load.py --profile /tmp/prof    # py-spy on each node during the window
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import tempfile
import threading
import time
import tomllib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import tomli_w
from _common import (
    BenchFailed,
    cpu_used,
    finish,
    log,
    machine,
    node_logs_on_error,
    profiled,
    start_cluster,
    stop_on_sigterm,
    summary_ms,
    wait_for,
)
from sqlalchemy import func, select

from tisa.demo.network import Cluster, free_port
from tisa.errors import DeliveryFailed
from tisa.node.settings import Settings
from tisa.relay.backfill import MARGIN_MS
from tisa.store.database import Database
from tisa.store.tables import track_updates
from tisa.tracks.ballistics import MissileType
from tisa.tracks.fusion import align
from tisa.tracks.scenario import Launch, Scenario, ScenarioResult, run
from tisa.tracks.track import TrackStatus
from tisa.tracks.wire import update_to_wire

NATIONS = ("USA", "KOR", "JPN")
HUB = "USA"
MISSILES = 20
SITES = ("sunan", "wonsan", "sinpo", "kusong", "pyongsong")
TARGET_P99_MS = 50.0
FUSION_METRIC = "tisa_live_fusion_latency_seconds"
AGE_METRIC = "tisa_live_update_age_seconds"
_SAMPLE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


# -- the tracks ------------------------------------------------------------------------------


def salvo(seed: int, duration_ms: int) -> Scenario:
    """20 MRBMs, four from each of five sites, launched within 34 s, fanned east to south-east
    (far enough apart that no nation's tracks of two missiles meet)."""
    launches = tuple(
        Launch(
            f"M{i + 1:02d}",
            MissileType.MRBM,
            SITES[i % len(SITES)],
            offset_ms=(i // len(SITES)) * 10_000 + (i % len(SITES)) * 1_000,
            azimuth_deg=95.0 + 6.0 * (i // len(SITES)) - 6.0 * (i % len(SITES)),
        )
        for i in range(MISSILES)
    )
    return Scenario(launches=launches, seed=seed, duration_ms=duration_ms)


@dataclass(frozen=True)
class Replay:
    """What each nation publishes: its stream, and for each tracker cycle its 20 update bodies
    (of `POST /api/v1/tracks`; `time_ms` and the impact's time to be re-stamped)."""

    streams: dict[str, dict[str, Any]]
    frames: dict[str, list[list[dict[str, Any]]]]
    start_s: int
    prepared_s: float


def replay(seed: int, seconds: float, period_s: float) -> Replay:
    """Fly the salvo and cut `seconds` of replay, one frame per tracker cycle, from the first
    report at which every nation tracks all 20 missiles (ACTIVE): each frame holds every
    nation's newest report of each missile coasted to the frame's moment (`fusion.align`, as
    the hub aligns; `time_ms` is that moment, to be re-stamped when published).

    Raises:
        BenchFailed: the nations do not all track all 20 for long enough.
    """
    started = time.perf_counter()
    # Every nation holds all 20 from ~150 s after the first launch (the TPY-2s last).
    result = run(salvo(seed, duration_ms=(160 + math.ceil(seconds) + 20) * 1000))
    reports = list(result.report_times)
    newest = {t: {n: _newest(result, n, t) for n in NATIONS} for t in reports}
    covered = [t for t in reports if all(len(newest[t][n]) == MISSILES for n in NATIONS)]
    if not covered:
        raise BenchFailed("no report at which every nation tracks all 20 missiles")
    first = covered[0]
    period_ms = round(period_s * 1000)
    cycles = math.ceil(seconds / period_s) + 1
    last = first + cycles * period_ms
    needed = [t for t in reports if first <= t <= last]
    if any(t not in covered for t in needed):
        lost = [(t - result.scenario.start_ms) // 1000 for t in needed if t not in covered]
        raise BenchFailed(f"a nation loses a missile during the replay (at {lost} s)")
    config = result.scenario.tracker
    frames: dict[str, list[list[dict[str, Any]]]] = {n: [] for n in NATIONS}
    for k in range(cycles):
        moment = first + k * period_ms
        grid = max(t for t in needed if t <= moment)
        for n in NATIONS:
            frames[n].append(
                [
                    _body(
                        result,
                        n,
                        dataclasses.replace(
                            u,
                            time_ms=moment,
                            state=align(u.state, (moment - u.time_ms) / 1000, config),
                        ),
                    )
                    for u in sorted(newest[grid][n], key=_track)
                ]
            )
    streams = {
        n: {
            "nation": st.nation,
            "network": st.network,
            "marking": st.marking,
            "exercise": st.exercise,
        }
        for n, st in result.streams.items()
    }
    took = round(time.perf_counter() - started, 1)
    return Replay(streams, frames, (first - result.scenario.start_ms) // 1000, took)


def _track(u: Any) -> str:
    return str(u.track_id)


def _newest(result: ScenarioResult, nation: str, time_ms: int) -> list[Any]:
    """The nation's ACTIVE report of each missile at `time_ms` (one per missile)."""
    by_missile = {}
    for u in result.updates[nation]:
        missile = result.truth_of.get(u.key)
        if u.time_ms == time_ms and u.status is TrackStatus.ACTIVE and missile is not None:
            by_missile[missile] = u
    return list(by_missile.values())


def _body(result: ScenarioResult, nation: str, update: Any) -> dict[str, Any]:
    wire = update_to_wire(result.streams[nation], update)
    return {k: v for k, v in wire.items() if k not in ("type", "originator", "stream")}


# -- the trackers ----------------------------------------------------------------------------


@dataclass
class Tracker:
    """One nation's publishing thread and what it did."""

    nation: str
    period_s: float
    published: list[tuple[str, int]] = field(default_factory=list)
    cycles: list[dict[str, float]] = field(default_factory=list)
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    error: BaseException | None = None


def publish_loop(
    tracker: Tracker,
    cluster: Cluster,
    rp: Replay,
    t0: float,
    stop_at: float,
) -> None:
    """Publish one batch of the nation's 20 tracks every period from `t0` (monotonic) until
    `stop_at`; a cycle that cannot start on time starts at once and the ones it overran are
    skipped (a tracker's output is never sent twice to catch up)."""
    try:
        with cluster.session(tracker.nation, "officer") as officer:
            stream = rp.streams[tracker.nation]
            frames = rp.frames[tracker.nation]
            last_ms = 0
            k = 0
            while True:
                due = t0 + k * tracker.period_s
                if due >= stop_at:
                    return
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                began = time.monotonic()
                now_ms = max(int(time.time() * 1000), last_ms + 1)
                last_ms = now_ms
                updates = [_stamped(body, now_ms) for body in frames[min(k, len(frames) - 1)]]
                try:
                    answer = officer.post(
                        "/api/v1/tracks", {"stream": stream, "updates": updates}, timeout=30.0
                    )
                except DeliveryFailed as exc:
                    # No answer (a timeout): whether the batch was kept is unknown, so it is
                    # not expected anywhere; counted, and the tracker goes on.
                    tracker.failed.append(f"cycle {k}: {exc.reason}")
                    answer, updates = None, []
                ended = time.monotonic()
                if answer is not None and answer["published"] != len(updates):
                    raise BenchFailed(
                        f"{tracker.nation} cycle {k}: {answer['published']} of {len(updates)} new"
                    )
                tracker.published.extend((u["track_id"], now_ms) for u in updates)
                tracker.cycles.append(
                    {"at": began - t0, "late_s": began - due, "call_s": ended - began}
                )
                k += 1
                behind = math.floor((time.monotonic() - t0) / tracker.period_s)
                if behind > k:
                    tracker.skipped += behind - k
                    k = behind
    except BaseException as exc:  # handed to the main thread, which raises it
        tracker.error = exc


def _stamped(body: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """An update body re-stamped to `now_ms`, its predicted impact time moved with it."""
    shift = now_ms - body["time_ms"]
    out = {**body, "time_ms": now_ms}
    if "impact" in body:
        out["impact"] = {**body["impact"], "time_ms": body["impact"]["time_ms"] + shift}
    return out


# -- metrics ---------------------------------------------------------------------------------


def set_metrics_ports(cluster: Cluster) -> dict[str, int]:
    """Give every node a localhost-only metrics port (node.toml, before it starts)."""
    ports = {}
    for party, handle in cluster.nodes.items():
        path = handle.settings.paths.config
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        data["metrics_port"] = ports[party] = free_port()
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
        handle.settings = Settings.load(handle.root, env={})
    return ports


def scrape(port: int) -> dict[str, float]:
    """Every tisa_ sample of a node's /metrics (plain HTTP on 127.0.0.1): 'name{labels}' → v."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10.0).text
    out = {}
    for line in text.splitlines():
        if line.startswith("tisa_"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def _split(key: str) -> tuple[str, dict[str, str]]:
    name, _, rest = key.partition("{")
    return name, dict(_SAMPLE.findall(rest))


def delta(
    before: dict[str, float], after: dict[str, float], name: str, by: str
) -> dict[str, float]:
    """Counter `name` grown between two scrapes, summed by the label `by`."""
    out: defaultdict[str, float] = defaultdict(float)
    for key, value in after.items():
        metric, labels = _split(key)
        if metric in (name, f"{name}_total"):
            out[labels.get(by, "")] += value - before.get(key, 0.0)
    return dict(out)


def histogram(
    before: dict[str, float], after: dict[str, float], name: str, by: str
) -> dict[str, dict[str, Any]]:
    """Histogram `name` between two scrapes, per value of the label `by`: count, mean and
    p50/p95/p99 (ms; interpolated within the bucket, and the bucket's upper bound)."""
    buckets: dict[str, defaultdict[float, float]] = {}
    sums: defaultdict[str, float] = defaultdict(float)
    for key, value in after.items():
        metric, labels = _split(key)
        group = labels.get(by, "")
        grown = value - before.get(key, 0.0)
        if metric == f"{name}_bucket":
            buckets.setdefault(group, defaultdict(float))[float(labels["le"])] += grown
        elif metric == f"{name}_sum":
            sums[group] += grown
    out = {}
    for group, counts in sorted(buckets.items()):
        total = counts[math.inf]
        if not total:
            continue
        entry: dict[str, Any] = {"n": int(total), "mean": round(1000 * sums[group] / total, 2)}
        for q in (50, 95, 99):
            entry[f"p{q}"], entry[f"p{q}_under"] = _quantile(counts, q / 100)
        entry["buckets_ms"] = {
            ("+Inf" if le == math.inf else f"{1000 * le:g}"): int(c)
            for le, c in sorted(counts.items())
        }
        out[group] = entry
    return out


def _quantile(cumulative: Mapping[float, float], q: float) -> tuple[float, float | str]:
    """(interpolated ms, the bucket's upper bound in ms) of quantile q of a cumulative histogram."""
    bounds = sorted(cumulative)
    target = q * cumulative[math.inf]
    lower, below = 0.0, 0.0
    for le in bounds:
        if cumulative[le] >= target:
            if le == math.inf:
                return round(1000 * lower, 2), f"> {1000 * lower:g}"
            inside = cumulative[le] - below
            frac = 0.0 if inside <= 0 else (target - below) / inside
            return round(1000 * (lower + (le - lower) * frac), 2), round(1000 * le, 2)
        lower, below = le, cumulative[le]
    return math.nan, math.nan


# -- the stores ------------------------------------------------------------------------------


def stored(cluster: Cluster, since_ms: int) -> dict[str, dict[tuple[str, str, int], Any]]:
    """Every node's kept updates at or after `since_ms`: (originator, track, time) → (sender,
    stored_at), read from its store directly."""
    out = {}
    t = track_updates.c
    for party, handle in cluster.nodes.items():
        with Database(handle.settings.database_url) as db, db.read() as conn:
            rows = conn.execute(
                select(t.originator, t.track_id, t.time_ms, t.received_from, t.stored_at).where(
                    t.time_ms >= since_ms
                )
            )
            out[party] = {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}
    return out


def counts(cluster: Cluster, since_ms: int) -> dict[str, dict[str, int]]:
    """How many updates of each originator each node keeps from `since_ms` on."""
    out = {}
    t = track_updates.c
    for party, handle in cluster.nodes.items():
        with Database(handle.settings.database_url) as db, db.read() as conn:
            rows = conn.execute(
                select(t.originator, func.count())
                .where(t.time_ms >= since_ms)
                .group_by(t.originator)
            )
            out[party] = {str(r[0]): int(r[1]) for r in rows}
    return out


def picture(cluster: Cluster, party: str) -> dict[str, Any]:
    """What a node's fused picture holds as the publishing ends: how many fused tracks, and
    how many rest on one, two or three nations (20 on three when association keeps up)."""
    with cluster.session(party, "analyst") as analyst:
        fused = analyst.get("/api/v1/tracks/fused")
    by_nations: dict[int, int] = defaultdict(int)
    for track in fused["fused"]:
        by_nations[len(track["nations"])] += 1
    return {
        "fused_tracks": len(fused["fused"]),
        "by_nations": dict(sorted(by_nations.items())),
        "warnings": len(fused["warnings"]),
    }


# -- the run ---------------------------------------------------------------------------------


@contextmanager
def trackers_running(
    cluster: Cluster, rp: Replay, period_s: float, seconds: float
) -> Iterator[tuple[list[Tracker], float]]:
    """Start the three trackers; yields them and their common start (monotonic); joins them."""
    t0 = time.monotonic() + 0.5
    trackers = [Tracker(n, period_s) for n in NATIONS]
    threads = [
        threading.Thread(
            target=publish_loop,
            args=(tr, cluster, rp, t0, t0 + seconds),
            name=f"tracker {tr.nation}",
        )
        for tr in trackers
    ]
    for th in threads:
        th.start()
    try:
        yield trackers, t0
    finally:
        for th in threads:
            th.join()
    for tr in trackers:
        if tr.error is not None:
            raise BenchFailed(f"{tr.nation}'s tracker failed: {tr.error!r}") from tr.error


def grant_live_tracks(cluster: Cluster, timeout: float) -> dict[str, str]:
    """KOR's and JPN's live-track consents for the other spoke, held at the hub."""
    ids = {}
    with cluster.session(HUB, "admin") as admin:
        for originator, recipient in (("KOR", "JPN"), ("JPN", "KOR")):
            with cluster.session(originator, "officer") as officer:
                consent = officer.post(
                    "/api/v1/consents",
                    {
                        "recipient": recipient,
                        "kind": "live-tracks",
                        "max_classification": "SECRET",
                        "modes": ["exercise"],
                    },
                )
            ids[originator] = consent_id = str(consent["id"])

            def held(cid: str = consent_id) -> dict[str, Any] | None:
                listed = admin.get("/api/v1/consents")["consents"]
                return next((c for c in listed if c["id"] == cid), None)

            wait_for(held, f"{HUB} holding {originator}'s live-track consent", timeout, 0.1)
    return ids


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    before_machine = machine()
    seconds = args.warmup + args.duration
    log(f"flying the salvo ({MISSILES} MRBMs) and cutting {math.ceil(seconds)} s of replay")
    rp = replay(args.seed, seconds + 1, args.period)
    log(f"  prepared in {rp.prepared_s} s; replay from {rp.start_s} s after the first launch")
    with (
        stop_on_sigterm(),
        tempfile.TemporaryDirectory(prefix="tisa-bench-live-") as tmp,
        Cluster(Path(tmp)) as cluster,
        node_logs_on_error(cluster),
    ):
        ports: dict[str, int] = {}
        start_cluster(cluster, log, lambda c: ports.update(set_metrics_ports(c)))
        consents = grant_live_tracks(cluster, args.timeout)
        log(f"live-track consents held at {HUB}: {consents}")
        first_ms = int(time.time() * 1000)
        at_start = {p: scrape(port) for p, port in ports.items()}
        cpu: dict[str, Any] = {}
        with trackers_running(cluster, rp, args.period, seconds) as (trackers, t0):
            time.sleep(max(0.0, t0 + args.warmup - time.monotonic()))
            window_from_ms = int(time.time() * 1000)
            before = {p: scrape(port) for p, port in ports.items()}
            log(f"warm-up over; timing {args.duration:g} s")
            with cpu_used(cluster, cpu), profiled(cluster, args.profile, idle=not args.profile_cpu):
                time.sleep(max(0.0, t0 + seconds - time.monotonic()))
            after = {p: scrape(port) for p, port in ports.items()}
            window_to_ms = int(time.time() * 1000)
        stopped = time.monotonic()
        pictures = {p: picture(cluster, p) for p in NATIONS}
        log("publishing stopped; waiting for every node to hold every update")
        expected = {tr.nation: len(tr.published) for tr in trackers}
        at_stop = counts(cluster, first_ms)
        missing_at_stop = _missing_counts(at_stop, expected)

        def complete() -> bool | None:
            return True if not _missing_counts(counts(cluster, first_ms), expected) else None

        settled_s: float | None
        try:
            wait_for(complete, "every node holding every update", args.settle, 0.5)
            settled_s = round(time.monotonic() - stopped, 2)
        except BenchFailed:
            settled_s = None
        at_end = {p: scrape(port) for p, port in ports.items()}
        held = stored(cluster, first_ms)
    after_machine = machine()

    published = {tr.nation: tr.published for tr in trackers}
    missing = {
        node: {
            o: sum((o, track, ms) not in held[node] for track, ms in published[o]) for o in NATIONS
        }
        for node in NATIONS
    }
    behind = _beyond_catch_up(held, published)
    store_latency: dict[str, Any] = {}
    late: dict[str, int] = {}
    for node in NATIONS:
        for o in NATIONS:
            if o == node:
                continue
            values = []
            for track, ms in published[o]:
                if not window_from_ms <= ms < window_to_ms:
                    continue
                row = held[node].get((o, track, ms))
                if row is not None:
                    values.append(row[1].timestamp() - ms / 1000)
            key = f"{o} → {node}"
            store_latency[key] = summary_ms(values) if values else None
            late[key] = sum(v > 1.0 for v in values)
    timed_cycles = [c for tr in trackers for c in tr.cycles if args.warmup <= c["at"] < seconds]
    fusion = {p: histogram(before[p], after[p], FUSION_METRIC, "originator") for p in NATIONS}
    result = {
        "benchmark": "live_load",
        "command": args.command,
        "machine_before": before_machine,
        "machine_after": after_machine,
        "params": {
            "missiles": MISSILES,
            "period_s": args.period,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "seed": args.seed,
            "replay_from_s_after_first_launch": rp.start_s,
            "offered_updates_per_s_into_hub": round(len(NATIONS) * MISSILES / args.period),
        },
        "target_p99_ms": TARGET_P99_MS,
        "fusion_latency_ms": fusion if any(fusion.values()) else None,
        "hop_latency_ms": {p: histogram(before[p], after[p], AGE_METRIC, "peer") for p in NATIONS},
        "stored_latency_ms": store_latency,
        "stored_more_than_1s_after": late,
        "publish": {
            "updates": expected,
            "timed_updates": {
                tr.nation: sum(window_from_ms <= ms < window_to_ms for _, ms in tr.published)
                for tr in trackers
            },
            "cycles_skipped": {tr.nation: tr.skipped for tr in trackers},
            "calls_failed": {tr.nation: tr.failed for tr in trackers},
            "call_ms": summary_ms([c["call_s"] for c in timed_cycles]),
            "late_start_ms": summary_ms([max(0.0, c["late_s"]) for c in timed_cycles]),
        },
        "cpu_during_window": cpu,
        "fused_picture_at_end": pictures,
        "links_window": _links(before, after),
        "links_whole_run": _links(at_start, at_end),
        "history": {
            "missing_when_publishing_stopped": missing_at_stop,
            "complete_after_s": settled_s,
            "settle_limit_s": args.settle,
            "missing": missing,
            "missing_total": sum(v for m in missing.values() for v in m.values()),
            "missing_older_than_catch_up_looks": behind,
        },
    }
    p99s = [
        g["p99_under"]
        for node, groups in (fusion or {}).items()
        for o, g in groups.items()
        if o != node
    ]
    result["met"] = {
        "fusion_p99": None
        if not p99s
        else all(isinstance(v, float) and v <= TARGET_P99_MS for v in p99s),
        "no_update_missing": result["history"]["missing_total"] == 0,
    }
    return result


def _beyond_catch_up(
    held: dict[str, dict[tuple[str, str, int], Any]], published: dict[str, list[tuple[str, int]]]
) -> dict[str, dict[str, int]]:
    """Of the updates missing at each node, how many are older than its catch-up will ever
    ask for: the catch-up asks the peer an update comes through (the hub, or the originator
    at the hub) for what is newer than the newest update it holds from that peer, less
    `backfill.MARGIN_MS`; an update the link dropped that is older than that stays missing."""
    out: dict[str, dict[str, int]] = {}
    for node in NATIONS:
        for originator in NATIONS:
            if originator == node:
                continue
            via = originator if node == HUB else HUB
            newest = max(
                (key[2] for key, (sender, _) in held[node].items() if sender == via), default=0
            )
            older = sum(
                (originator, track, ms) not in held[node] and ms < newest - MARGIN_MS
                for track, ms in published[originator]
            )
            if older:
                out.setdefault(node, {})[originator] = older
    return out


def _missing_counts(
    held: dict[str, dict[str, int]], expected: dict[str, int]
) -> dict[str, dict[str, int]]:
    return {
        node: {o: n - held[node].get(o, 0) for o, n in expected.items() if held[node].get(o, 0) < n}
        for node in held
        if any(held[node].get(o, 0) < n for o, n in expected.items())
    }


def _links(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> Any:
    return {
        p: {
            "offered": delta(before[p], after[p], "tisa_live_updates_offered", "peer"),
            "superseded": delta(before[p], after[p], "tisa_live_updates_superseded", "peer"),
            "sent": delta(before[p], after[p], "tisa_live_updates_sent", "peer"),
            "received": {
                f"{peer}/{outcome}": v
                for (peer, outcome), v in _received(before[p], after[p]).items()
            },
        }
        for p in NATIONS
    }


def _received(before: dict[str, float], after: dict[str, float]) -> dict[tuple[str, str], float]:
    out: defaultdict[tuple[str, str], float] = defaultdict(float)
    for key, value in after.items():
        metric, labels = _split(key)
        if metric == "tisa_live_updates_received_total":
            out[(labels["peer"], labels["outcome"])] += value - before.get(key, 0.0)
    return dict(out)


def _row(label: str, s: dict[str, Any] | None) -> str:
    if s is None:
        return f"  {label:<28} —"
    return (
        f"  {label:<28} p50 {s['p50']:7.1f}  p95 {s.get('p95', s.get('p90', math.nan)):7.1f}"
        f"  p99 {s['p99']:7.1f}"
        + (f" (bucket ≤ {s['p99_under']})" if "p99_under" in s else f"  max {s['max']:7.1f}")
        + f"  ms, n={s['n']}"
    )


def report(r: dict[str, Any]) -> None:
    m, p = r["machine_before"], r["params"]
    print(
        f"live load: {p['missiles']} missiles × 3 nations every {p['period_s'] * 1000:.0f} ms"
        f" ({p['offered_updates_per_s_into_hub']} updates/s into the hub), {p['duration_s']:g} s"
        f" timed after {p['warmup_s']:g} s; {m['cpus']} cpus, load {m['loadavg_1_5_15']} at start"
    )
    print("originator's update → recipient's fused picture (tisa_live_fusion_latency_seconds):")
    if r["fusion_latency_ms"] is None:
        print("  not measured: the nodes do not have the metric on this build")
    else:
        for node, groups in r["fusion_latency_ms"].items():
            for o, s in groups.items():
                print(_row(f"{o} → {node}", s))
    print("originator's update → stored at the recipient (stored_at − time_ms, every update):")
    for key, s in r["stored_latency_ms"].items():
        print(_row(key, s))
    print("hop: update's time → stored, by the peer it came from (tisa_live_update_age_seconds):")
    for node, groups in r["hop_latency_ms"].items():
        for peer, s in groups.items():
            print(_row(f"at {node} from {peer}", s))
    pub = r["publish"]
    print(_row("publish call round trip", pub["call_ms"]))
    print(_row("cycle started late by", pub["late_start_ms"]))
    print(
        f"  cycles skipped {pub['cycles_skipped']}; calls failed"
        f" { {n: len(v) for n, v in pub['calls_failed'].items()} }; updates published"
        f" {pub['updates']}"
    )
    cpu = r["cpu_during_window"]
    print(f"cores busy during the window: {cpu['cores_busy']}")
    for node, link in r["links_window"].items():
        print(
            f"  {node}: offered {link['offered']} superseded {link['superseded']}"
            f" sent {link['sent']} received {link['received']}"
        )
    print(f"fused picture as the publishing ended: {r['fused_picture_at_end']}")
    h = r["history"]
    print(
        f"durable history: missing when publishing stopped {h['missing_when_publishing_stopped']};"
        f" complete after {h['complete_after_s']} s; missing at the end {h['missing_total']}"
        f" (older than the catch-up asks for: {h['missing_older_than_catch_up_looks']})"
    )
    met = r["met"]
    fusion = met["fusion_p99"]
    print(
        f"target p99 ≤ {r['target_p99_ms']:.0f} ms: "
        + ("not measured" if fusion is None else "MET" if fusion else "MISSED")
        + f"; 0 missing: {'MET' if met['no_update_missing'] else 'MISSED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="timed window, s (60)")
    parser.add_argument("--warmup", type=float, default=10.0, help="publishing before it, s (10)")
    parser.add_argument("--period", type=float, default=0.1, help="tracker cycle, s (0.1)")
    parser.add_argument("--seed", type=int, default=1, help="the scenario's seed (1)")
    parser.add_argument("--settle", type=float, default=120.0, help="wait for history, s (120)")
    parser.add_argument("--timeout", type=float, default=30.0, help="set-up waits, s (30)")
    parser.add_argument("--json", action="store_true", help="write bench/results/<name>.json")
    parser.add_argument("--name", default="live_load", help="results file name (live_load)")
    parser.add_argument(
        "--profile", type=Path, default=None, metavar="DIR", help="py-spy each node in the window"
    )
    parser.add_argument(
        "--profile-cpu", action="store_true", help="with --profile: on-CPU samples only"
    )
    args = parser.parse_args()
    if args.duration <= 0 or args.warmup < 0 or args.period <= 0:
        parser.error("--duration and --period must be > 0, --warmup >= 0")
    return finish(args, "live_load.py", run_bench, report)


if __name__ == "__main__":
    raise SystemExit(main())
