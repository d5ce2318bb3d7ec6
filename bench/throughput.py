"""Throughput of ~1 KB ROUTINE products KOR → USA (hub) → JPN.

Starts a fresh cluster on 127.0.0.1, has KOR give USA a standing rule for dprk.missile.* to
JPN, pre-creates M drafts at KOR (not timed), then releases them as fast as KOR's API takes
them (from --threads release officers' sessions at once). The clock runs from the first
release call until JPN holds all M (its /api/v1/status `products_held`, polled every
--poll seconds; then every product is checked at JPN by id).

Reported:
  * end-to-end products/s: M / (first release call → JPN holds all M);
  * release rate at KOR (client-side: how fast the release calls complete);
  * node-side rates from the nodes' own timestamps: KOR `released_at`, the hub's
    `received_at` (the hub relays in the same transaction in which it receives, so this is
    the rate at which USA takes and relays) and JPN's `received_at` (spread: first → last).

With --burst, KOR's channel to the hub is suspended while the M products are released (they
wait in KOR's outbox), then resumed; the clock runs from the resume until JPN holds all M.
That measures the relay path alone (sender batches of up to 64, the hub, JPN) with the
release calls out of the way.

Target (issue 15): ≥ 1,000 products/s of 1 KB end to end; reported also as how far below
the machine's bound (bench/bound.py, measured first in the same run) the rate is.

    python bench/throughput.py [-m 2000] [--threads 2] [--burst] [--json]
"""

from __future__ import annotations

import argparse
import random
import string
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import (
    BenchFailed,
    cpu_used,
    draft_body,
    finish,
    grant_standing_rule,
    held,
    log,
    machine,
    node_logs_on_error,
    parse_ts,
    profiled,
    scrape,
    start_cluster,
    stop_on_sigterm,
    summary_ms,
)
from bound import in_run, throughput_ratio

from tisa.api.client import ApiClient
from tisa.demo.network import Cluster

TARGET_PER_S = 1000.0
TEXT_BYTES = 1024


def text_of(index: int, rng: random.Random) -> str:
    """About 1 KB of report text, different for every product."""
    head = f"Routine report {index}: "
    words = []
    size = len(head)
    while size < TEXT_BYTES:
        word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))
        words.append(word)
        size += len(word) + 1
    return (head + " ".join(words))[:TEXT_BYTES]


def in_threads(
    cluster: Cluster,
    role: str,
    threads: int,
    items: list[Any],
    work: Callable[[ApiClient, Any], Any],
) -> tuple[list[Any], float, float]:
    """Run `work(client, item)` over `items` from `threads` sessions of KOR's `role`.

    Returns the results (in item order), and when the first call started and the last ended
    (perf_counter).

    Raises:
        BenchFailed: a call failed (the first error is named).
    """
    clients = [cluster.client("KOR", role) for _ in range(threads)]
    results: list[Any] = [None] * len(items)
    lock = threading.Lock()
    cursor = iter(range(len(items)))
    errors: list[BaseException] = []
    start_gate = threading.Barrier(threads + 1)
    ends: list[float] = []

    def worker(client: ApiClient) -> None:
        start_gate.wait()
        while not errors:
            with lock:
                i = next(cursor, None)
            if i is None:
                break
            try:
                results[i] = work(client, items[i])
            except Exception as exc:  # reported below, with the item
                errors.append(exc)
                break
        ends.append(time.perf_counter())

    pool = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    try:
        for t in pool:
            t.start()
        started = time.perf_counter()
        start_gate.wait()
        for t in pool:
            t.join()
    finally:
        for c in clients:
            c.close()
    if errors:
        raise BenchFailed(f"KOR {role} call failed: {type(errors[0]).__name__}: {errors[0]}")
    return results, started, max(ends)


def wait_all_at_jpn(
    jpn: ApiClient, want: int, *, poll: float, timeout: float, stall: float, since: float
) -> tuple[float, list[tuple[float, int]]]:
    """Poll JPN's products_held until it reaches `want`; returns when, and the progress seen.

    Raises:
        BenchFailed: not all held within `timeout`, or no progress for `stall` seconds.
    """
    progress: list[tuple[float, int]] = []
    last_count, last_change = -1, time.perf_counter()
    while True:
        count = int(jpn.get("/api/v1/status")["products_held"])
        now = time.perf_counter()
        progress.append((round(now - since, 3), count))
        if count >= want:
            return now, progress
        if count != last_count:
            last_count, last_change = count, now
        if now - since > timeout:
            raise BenchFailed(f"JPN holds {count}/{want} products after {timeout:.0f}s")
        if now - last_change > stall:
            raise BenchFailed(f"JPN stuck at {count}/{want} products for {stall:.0f}s")
        time.sleep(poll)


def spread_rate(stamps: list[str]) -> dict[str, float]:
    """How fast a node stamped the products: (n-1) / (last − first)."""
    times = sorted(parse_ts(s) for s in stamps)
    span = (times[-1] - times[0]).total_seconds()
    return {
        "first_to_last_s": round(span, 3),
        "per_s": round((len(times) - 1) / span, 1) if span > 0 else float("inf"),
    }


def node_times(cluster: Cluster, ids: list[str], threads: int) -> dict[str, list[dict[str, Any]]]:
    """Each product as KOR, USA and JPN show it (read after the timed part)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for party in ("KOR", "USA", "JPN"):
        clients = [cluster.client(party, "analyst") for _ in range(threads)]
        try:

            def read(i: int, party: str = party, clients: list[ApiClient] = clients) -> Any:
                view = held(clients[i % threads], ids[i])
                if view is None:
                    raise BenchFailed(f"{ids[i]} is not held at {party}")
                return view

            with ThreadPoolExecutor(threads) as pool:
                out[party] = list(pool.map(read, range(len(ids))))
        finally:
            for c in clients:
                c.close()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    bound = None if args.no_bound else in_run()
    before = machine()
    rng = random.Random(args.seed)
    bodies = [
        draft_body(title=f"Routine bench {i}", text=text_of(i, rng), precedence="ROUTINE")
        for i in range(args.m)
    ]
    with (
        stop_on_sigterm(),
        tempfile.TemporaryDirectory(prefix="tisa-bench-tput-") as tmp,
        Cluster(Path(tmp)) as cluster,
        node_logs_on_error(cluster),
    ):
        start_cluster(cluster, log)
        rule = grant_standing_rule(cluster, 30.0)
        log(f"KOR standing rule {rule[:8]} held at USA")
        with cluster.session("JPN", "analyst") as jpn:
            baseline = int(jpn.get("/api/v1/status")["products_held"])

            drafts, c0, c1 = in_threads(
                cluster,
                "analyst",
                args.create_threads,
                bodies,
                lambda c, body: c.post("/api/v1/products", body)["id"],
            )
            create_s = c1 - c0
            log(
                f"{args.m} drafts created in {create_s:.1f}s ({args.m / create_s:.0f}/s); releasing"
            )

            done: dict[str, Any] = {}

            def monitor() -> None:
                try:
                    done["at"], done["progress"] = wait_all_at_jpn(
                        jpn,
                        baseline + args.m,
                        poll=args.poll,
                        timeout=args.timeout,
                        stall=args.stall,
                        since=done["t0"],
                    )
                except BaseException as exc:
                    done["error"] = exc

            def release(client: ApiClient, pid: str) -> None:
                answer = client.post(f"/api/v1/products/{pid}/versions/1/release")
                if answer["recipients"].get("JPN") != "via USA":
                    raise BenchFailed(f"{pid} not routed to JPN via USA: {answer['recipients']}")

            cpu: dict[str, Any] = {}
            if args.burst:
                # Hold KOR's channel to the hub, release everything into KOR's outbox, then
                # open the channel: the clock runs from the resume, so the figure is what the
                # sender, the hub and JPN do with a full queue (batches of up to BATCH).
                with cluster.session("KOR", "admin") as admin:
                    channel = next(
                        c["channel"]
                        for c in admin.get("/api/v1/status")["channels"]
                        if c["peer"] == "USA"
                    )
                    admin.post(f"/api/v1/channels/{channel}/suspend")
                    _, r0, r1 = in_threads(cluster, "officer", args.threads, drafts, release)
                    release_s = r1 - r0
                    log(
                        f"{args.m} released into KOR's held queue in {release_s:.1f}s "
                        f"({args.m / release_s:.0f}/s); opening the channel"
                    )
                    if int(jpn.get("/api/v1/status")["products_held"]) != baseline:
                        raise BenchFailed("JPN received products while KOR's channel was held")
                    with (
                        cpu_used(cluster, cpu),
                        profiled(cluster, args.profile, idle=not args.profile_cpu),
                    ):
                        done["t0"] = start = time.perf_counter()
                        watcher = threading.Thread(target=monitor, daemon=True)
                        watcher.start()
                        admin.post(f"/api/v1/channels/{channel}/resume")
                        watcher.join()
            else:
                with (
                    cpu_used(cluster, cpu),
                    profiled(cluster, args.profile, idle=not args.profile_cpu),
                ):
                    done["t0"] = time.perf_counter()
                    watcher = threading.Thread(target=monitor, daemon=True)
                    watcher.start()
                    _, r0, r1 = in_threads(cluster, "officer", args.threads, drafts, release)
                    start, release_s = r0, r1 - r0
                    log(
                        f"{args.m} released in {release_s:.1f}s ({args.m / release_s:.0f}/s); "
                        "waiting for JPN"
                    )
                    watcher.join()
            if "error" in done:
                err = done["error"]
                raise err if isinstance(err, BenchFailed) else BenchFailed(repr(err))
            end_to_end = done["at"] - start
            log(f"JPN holds all {args.m} after {end_to_end:.1f}s; reading node timestamps")
        metrics = {}
        for party in ("KOR", "USA", "JPN"):
            with cluster.session(party, "analyst") as c:
                metrics[party] = scrape(c)
        views = node_times(cluster, drafts, args.read_threads)
    after = machine()

    kor = [v["released_at"] for v in views["KOR"]]
    usa = [v["received_at"] for v in views["USA"]]
    jpn_at = [v["received_at"] for v in views["JPN"]]
    per_product = [
        (parse_ts(j) - parse_ts(k)).total_seconds() for k, j in zip(kor, jpn_at, strict=True)
    ]
    retries = {
        f"{party}: {key}": value
        for party, samples in metrics.items()
        for key, value in samples.items()
        if key.startswith("tisa_messages_sent_total") and 'outcome="sent"' not in key and value
    }
    e2e_rate = args.m / end_to_end
    return {
        "benchmark": "throughput",
        "command": args.command,
        "params": {
            "mode": "burst (queue held at KOR, then released)" if args.burst else "streaming",
            "m": args.m,
            "text_bytes": TEXT_BYTES,
            "release_threads": args.threads,
            "create_threads": args.create_threads,
            "poll_s": args.poll,
        },
        "machine_before": before,
        "machine_after": after,
        "target_per_s": TARGET_PER_S,
        "met": e2e_rate >= TARGET_PER_S,
        "end_to_end": {"seconds": round(end_to_end, 3), "per_s": round(e2e_rate, 1)},
        "bound": bound,
        "end_to_end_x_below_bound": None if bound is None else throughput_ratio(bound, e2e_rate),
        "draft_creation": {"seconds": round(create_s, 3), "per_s": round(args.m / create_s, 1)},
        "release_calls_at_kor": {
            "seconds": round(release_s, 3),
            "per_s": round(args.m / release_s, 1),
        },
        "node_side": {
            "kor_released_at": spread_rate(kor),
            "usa_received_at": spread_rate(usa),
            "jpn_received_at": spread_rate(jpn_at),
            "last_jpn_received_after_first_kor_release_s": round(
                (max(map(parse_ts, jpn_at)) - min(map(parse_ts, kor))).total_seconds(), 3
            ),
        },
        "per_product_kor_released_to_jpn_received_ms": summary_ms(per_product),
        "sender_non_sent_outcomes": retries,
        "cpu_during_release_and_relay": cpu,
        "jpn_progress": done["progress"][:: max(1, len(done["progress"]) // 60)],
        "metrics": metrics,
    }


def report(result: dict[str, Any]) -> None:
    m, p = result["machine_before"], result["params"]
    n = result["node_side"]
    lat = result["per_product_kor_released_to_jpn_received_ms"]
    print(
        f"throughput KOR→USA→JPN, {p['m']} ROUTINE products of {p['text_bytes']} B text, "
        f"{p['release_threads']} release threads, {m['cpus']} cpus, load "
        f"{m['loadavg_1_5_15']} at start, {m['date']}"
    )
    rows = [
        (
            "end to end (channel opened → JPN holds all)"
            if p["mode"].startswith("burst")
            else "end to end (first release → JPN holds all)",
            result["end_to_end"],
        ),
        ("release calls at KOR (client)", result["release_calls_at_kor"]),
        ("KOR released_at spread", n["kor_released_at"]),
        ("USA (hub) received_at spread", n["usa_received_at"]),
        ("JPN received_at spread", n["jpn_received_at"]),
        ("draft creation at KOR (not in the figures)", result["draft_creation"]),
    ]
    for label, r in rows:
        seconds = r.get("seconds", r.get("first_to_last_s"))
        print(f"{label:<46} {r['per_s']:8.1f} products/s  ({seconds:.2f} s)")
    print(
        f"per product KOR released → JPN received: p50 {lat['p50']:.0f} ms, "
        f"p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms"
    )
    print(f"cores busy while timed: {result['cpu_during_release_and_relay']['cores_busy']}")
    if result["sender_non_sent_outcomes"]:
        print(f"sender retries/dead letters: {result['sender_non_sent_outcomes']}")
    if result.get("end_to_end_x_below_bound"):
        b = result["bound"]["bound"]
        print(
            f"end to end vs the bound ({b['products_per_s']:,} products/s on {b['cores']} "
            f"cores): {result['end_to_end_x_below_bound']}× below"
        )
    print(
        f"target ≥ {result['target_per_s']:.0f} products/s: "
        f"{'MET' if result['met'] else 'MISSED'} ({result['end_to_end']['per_s']:.1f}/s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-m", type=int, default=2000, help="products to push through (2000)")
    parser.add_argument("--threads", type=int, default=2, help="concurrent release sessions (2)")
    parser.add_argument(
        "--create-threads", type=int, default=2, help="concurrent draft-creating sessions (2)"
    )
    parser.add_argument(
        "--read-threads", type=int, default=2, help="sessions reading timestamps afterwards (2)"
    )
    parser.add_argument("--poll", type=float, default=0.05, help="JPN status poll interval, s")
    parser.add_argument("--timeout", type=float, default=900.0, help="overall limit, s (900)")
    parser.add_argument(
        "--stall", type=float, default=60.0, help="fail if JPN gains nothing for this long, s"
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="hold KOR's channel while releasing, then open it and time from there: "
        "the hub's relay rate with a full queue, without the release calls in the way",
    )
    parser.add_argument("--seed", type=int, default=1, help="text generator seed")
    parser.add_argument("--json", action="store_true", help="write bench/results/throughput.json")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="sample each node with py-spy during the timed part; stacks to DIR/<party>.txt",
    )
    parser.add_argument(
        "--profile-cpu",
        action="store_true",
        help="with --profile: sample only threads on a CPU (where CPU time goes), not waiting",
    )
    parser.add_argument("--name", default="throughput", help="results file name (throughput)")
    parser.add_argument(
        "--no-bound", action="store_true", help="skip measuring the machine's bound first"
    )
    args = parser.parse_args()
    if args.m < 2 or args.threads < 1 or args.create_threads < 1 or args.read_threads < 1:
        parser.error("-m must be at least 2 and thread counts at least 1")
    return finish(args, "throughput.py", run, report)


if __name__ == "__main__":
    raise SystemExit(main())
