"""Benchmark the tamper-evident audit log.

1. Append: what one chained append (lock head, hash, insert, move head) adds to a
   transaction on the release path; measured inside real transactions on the node's store.
2. Verify: `tisa audit verify` (chain + Merkle root + checkpoints) over N entries.

    python bench/audit_log.py                 # 5,000 appends; verify 1,000,000 entries
    python bench/audit_log.py --json          # also write bench/results/audit_log.json
    python bench/audit_log.py --database postgresql+psycopg://postgres@127.0.0.1:5432/DB
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update

from tisa.audit.chain import chain_hash, content
from tisa.audit.proofs import verify_log
from tisa.demo.network import Cluster
from tisa.node.runtime import Runtime
from tisa.store import audit
from tisa.store.audit import Action
from tisa.store.tables import audit_entries, audit_head

RESULTS = Path(__file__).parent / "results"


def append_cost(rt: Runtime, n: int) -> dict[str, float]:
    """Microseconds each append adds inside a write transaction."""
    costs = []
    now = datetime.now(UTC)
    for i in range(n):
        with rt.ctx.db.begin() as conn:
            started = time.perf_counter()
            audit.record(
                conn,
                Action.RELEASE,
                at=now,
                actor="kor-officer",
                party="KOR",
                product_id="00000000-0000-4000-8000-000000000000",
                version=1,
                detail={"digest": "sha256:" + "ab" * 32, "to": {"USA": "queued"}, "i": i},
            )
            costs.append((time.perf_counter() - started) * 1e6)
    costs.sort()
    return {
        "appends": n,
        "p50_us": round(statistics.median(costs), 1),
        "p99_us": round(costs[int(len(costs) * 0.99) - 1], 1),
        "mean_us": round(statistics.fmean(costs), 1),
    }


def fill(rt: Runtime, total: int) -> None:
    """Bring the log to `total` entries quickly (bulk inserts of correctly chained entries)."""
    with rt.ctx.db.read() as conn:
        size, prev = audit.head(conn)
    at = datetime.now(UTC)
    batch: list[dict[str, object]] = []
    seq = size
    while seq < total:
        seq += 1
        moment = at + timedelta(microseconds=seq)
        fields = content(
            seq=seq,
            at=moment,
            actor="bench",
            action="product.view",
            party=None,
            product_id=None,
            version=None,
            detail={"n": seq},
        )
        digest = chain_hash(fields, prev)
        batch.append(
            {
                "seq": seq,
                "at": moment,
                "actor": "bench",
                "action": "product.view",
                "party": None,
                "product_id": None,
                "version": None,
                "detail": {"n": seq},
                "prev_hash": prev,
                "entry_hash": digest,
            }
        )
        prev = digest
        if len(batch) == 20_000 or seq == total:
            with rt.ctx.db.begin() as conn:
                conn.execute(insert(audit_entries), batch)
                conn.execute(
                    update(audit_head).where(audit_head.c.id == 1).values(size=seq, head=prev)
                )
            batch = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=5000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database", help="node database URL (default SQLite)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tisa-bench-audit-") as tmp:
        databases = {"KOR": args.database} if args.database else None
        cluster = Cluster(Path(tmp) / "net", databases=databases)
        cluster.create()
        with Runtime(cluster.nodes["KOR"].settings) as rt:
            appended = append_cost(rt, args.appends)
            print(
                f"append: p50 {appended['p50_us']} µs, p99 {appended['p99_us']} µs, "
                f"mean {appended['mean_us']} µs over {args.appends} appends"
            )
            fill(rt, args.entries)
            checkpoint = rt.audit.checkpoint()
            assert checkpoint is not None
            started = time.perf_counter()
            report = verify_log(rt.ctx.db, rt.ctx.trust, {})
            seconds = time.perf_counter() - started
            if not report["ok"]:
                raise SystemExit(f"verify failed: {report['problems']}")
            print(
                f"verify: {report['size']:,} entries in {seconds:.1f} s "
                f"({report['size'] / seconds:,.0f} entries/s)"
            )
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "postgresql" if args.database else "sqlite",
        "append": appended,
        "verify": {"entries": report["size"], "seconds": round(seconds, 2)},
        "targets": {"append_us": 200, "verify_1m_seconds": 30},
    }
    if args.json:
        RESULTS.mkdir(exist_ok=True)
        name = "audit_log_postgresql.json" if args.database else "audit_log.json"
        (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
