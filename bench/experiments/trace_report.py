"""Read the trace files written by nodes running with trace-points.patch applied.

    TISA_TRACE_DIR=/tmp/tr python bench/flash_latency.py -n 100     # patched tree
    python bench/experiments/trace_report.py /tmp/tr [--products M]

Prints, per FLASH product, the median/p90/max time between consecutive stages on the path
KOR release → USA → JPN commit, and (with --products, for a throughput run) the SQL
statements and write transactions each node executed per product, and the sender's batch
sizes. Stage names: release.* (KOR analyst API), send>PEER.* (outbox sender), fed.* (the
federation request at the receiver), inbox.* (the per-message transaction).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import statistics
from pathlib import Path

PATH = [
    "KOR:release.start",
    "KOR:release.commit",
    "KOR:send>USA.leased",
    "KOR:send>USA.post",
    "USA:fed.in",
    "USA:fed.body",
    "USA:fed.sender_checked",
    "USA:fed.parsed",
    "USA:inbox.begin",
    "USA:inbox.locked",
    "USA:inbox.handled",
    "USA:inbox.committed",
    "USA:send>JPN.leased",
    "USA:send>JPN.post",
    "JPN:fed.in",
    "JPN:fed.body",
    "JPN:fed.sender_checked",
    "JPN:fed.parsed",
    "JPN:inbox.begin",
    "JPN:inbox.locked",
    "JPN:inbox.handled",
    "JPN:inbox.committed",
]
SIDE = [
    ("USA:inbox.committed", "USA:fed.handled"),
    ("USA:fed.handled", "USA:fed.exchanged"),
    ("KOR:send>USA.post", "KOR:send>USA.answered"),
    ("KOR:send>USA.answered", "KOR:send>USA.recorded"),
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q / 100 * len(ordered)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--products", type=int, default=0, help="M of a throughput run")
    args = parser.parse_args()

    events: dict[str, dict[str, float]] = collections.defaultdict(dict)
    party_of: dict[str, str] = {}
    posts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for path in sorted(args.dir.glob("*.trace")):
        for line in path.read_text().splitlines():
            t, party, event, key = line.split()
            name = f"{party}:{event}"
            party_of[path.stem] = party
            events[key].setdefault(name, float(t))
            first[name] = min(first.get(name, float(t)), float(t))
            last[name] = max(last.get(name, float(t)), float(t))
            if event.endswith(".post"):
                posts[name][t] += 1

    complete = [e for e in events.values() if all(s in e for s in PATH)]
    print(f"{len(complete)} products seen at every stage")
    if complete:
        for a, b in [*itertools.pairwise(PATH), *SIDE]:
            gaps = [(e[b] - e[a]) * 1000 for e in complete if a in e and b in e]
            if gaps:
                print(
                    f"{a:>24} → {b:<24} p50 {statistics.median(gaps):7.2f}  "
                    f"p90 {pct(gaps, 90):7.2f}  max {max(gaps):7.2f} ms"
                )
        total = [(e[PATH[-1]] - e[PATH[1]]) * 1000 for e in complete]
        print(
            f"{'KOR release.commit → JPN inbox.committed':>51} p50 {statistics.median(total):7.2f}"
            f"  p90 {pct(total, 90):7.2f}  p99 {pct(total, 99):7.2f} ms"
        )

    if args.products and "USA:fed.in" in first and "JPN:inbox.committed" in last:
        t0, t1 = first["USA:fed.in"] - 0.01, last["JPN:inbox.committed"] + 0.01
        print(f"\nper product, while the hub worked ({t1 - t0:.1f} s):")
        for path in sorted(args.dir.glob("*.counts")):
            if path.stem not in party_of:
                continue
            rows = [tuple(map(float, ln.split())) for ln in path.read_text().splitlines()]
            before = [r for r in rows if r[0] <= t0] or rows[:1]
            after = [r for r in rows if r[0] >= t1] or rows[-1:]
            statements = (after[0][1] - before[-1][1]) / args.products
            writes = (after[0][2] - before[-1][2]) / args.products
            print(
                f"  {party_of[path.stem]}: {statements:5.1f} SQL statements, "
                f"{writes:4.2f} write transactions"
            )
        for name, batches in sorted(posts.items()):
            sizes = list(batches.values())
            print(
                f"  {name}: {len(sizes)} requests with envelopes, mean "
                f"{sum(sizes) / len(sizes):.1f} per request, max {max(sizes)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
