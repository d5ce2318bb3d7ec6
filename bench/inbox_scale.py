"""The inbox at size: filters, keyset pages and full-text search over N products on PostgreSQL.

1. A fresh PostgreSQL database and a created KOR node on it (migrated to head).
2. N products are written straight into the store with COPY (no services: a million drafts
   through `drafts.create` would take hours): each a valid KOR draft manifest (so the gate
   and the parser can open it), with a topic of the arrangement's scope, a classification,
   a precedence, an originator, an English, Korean or Japanese title and text drawn from a
   small vocabulary, and the side rows the store keeps for it (topic families, search terms
   made by `tisa.domain.terms`, exactly as `insert_product` would). One product in 50 has a
   second version; the user `bench-reader` has opened one product in 10. Then ANALYZE.
3. Store level (`tisa.store.inbox.page`, one statement, page size `--limit`): page one, a
   deep page (a cursor at a random point of the walk), each filter (topic family, originator,
   classification, precedence, state, a date range, unread), and searches (a common word, a
   rarer word, a Korean and a Japanese word, two words). `--n` timings each, after a warm-up.
4. Through the service (`Inbox.page`: the store, then the gate's READ policy on every row
   through `Reading`, rows parsed as every opening parses them), for a reader cleared TOP
   SECRET with need-to-know for every topic: page one, topic, search.

Targets (issue 15, item 6; reported, not asserted): at 1,000,000 products, inbox queries p99
≤ 50 ms, search p99 ≤ 100 ms.

    python bench/inbox_scale.py [--products 1000000] [--n 200] [--limit 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import BenchFailed, finish, format_row, log, machine, stop_on_sigterm, summary_ms

from tisa.demo.network import Cluster
from tisa.domain.terms import index_terms, query_terms
from tisa.domain.wire import DraftIn, manifest_to_wire, parse, to_product
from tisa.node.runtime import Runtime
from tisa.services.accounts import Role
from tisa.services.inbox import InboxQuery
from tisa.store import inbox
from tisa.store.inbox import Filters, Position
from tisa.store.products import families, micros

PARTY = "KOR"
CHUNK = 20_000
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_NODE = "postgresql+psycopg://postgres@127.0.0.1:5432"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
TOPICS = [
    "dprk.missile.launch",
    "dprk.missile.engine-test",
    "dprk.missile.site",
    "dprk.nuclear.test",
    "dprk.nuclear.site",
    "dprk.nuclear.material",
]
LEVELS = ["CONFIDENTIAL", "SECRET", "TOP_SECRET"]
PRECEDENCES = ["ROUTINE"] * 6 + ["PRIORITY"] * 2 + ["IMMEDIATE", "FLASH"]
ORIGINATORS = ["KOR", "KOR", "USA", "JPN"]
WORDS = [
    "launch",
    "missile",
    "ballistic",
    "tracked",
    "impact",
    "apogee",
    "range",
    "solid",
    "fuel",
    "engine",
    "test",
    "site",
    "tunnel",
    "reactor",
    "enrichment",
    "uranium",
    "plutonium",
    "yield",
    "seismic",
    "satellite",
    "imagery",
    "transporter",
    "erector",
    "submarine",
    "cruise",
    "hypersonic",
    "glide",
    "vehicle",
    "warhead",
    "reentry",
    "telemetry",
    "radar",
]
RARE = [f"kn{i}" for i in range(1, 60)]
KOREAN = ["탄도미사일", "발사", "핵실험", "동해상", "고체연료", "잠수함", "순항미사일", "정찰위성"]
JAPANESE = ["弾道ミサイル", "発射", "核実験", "日本海", "固体燃料", "潜水艦", "巡航ミサイル"]


@contextmanager
def pg_database(keep: bool) -> Iterator[str]:
    """A fresh PostgreSQL database (trust auth), dropped afterwards unless kept.

    Raises:
        BenchFailed: PostgreSQL is not there.
    """
    import psycopg

    name = f"tisa_bench_inbox_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchFailed(f"PostgreSQL at 127.0.0.1:5432: {exc}") from exc
    try:
        yield f"{PG_NODE}/{name}"
    finally:
        if keep:
            log(f"kept database {name}")
        else:
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _text(rng: random.Random) -> tuple[str, str]:
    """A title and a text: English most often, else Korean or Japanese, with a rare word
    now and then."""
    script = rng.random()
    if script < 0.6:
        title = " ".join(rng.choices(WORDS, k=5))
        text = " ".join(rng.choices(WORDS, k=30))
    elif script < 0.8:
        title = " ".join(rng.choices(KOREAN, k=3))
        text = " ".join(rng.choices(KOREAN + WORDS, k=20))
    else:
        title = "".join(rng.choices(JAPANESE, k=3))
        text = "、".join(rng.choices(JAPANESE, k=12))
    if rng.random() < 0.05:
        text += " " + rng.choice(RARE)
    return title, text


def fill(url: str, rt: Runtime, count: int, seed: int) -> dict[str, Any]:
    """Write `count` products (and 1 in 50 a second version) with COPY; see the docstring."""
    import psycopg

    rng = random.Random(seed)
    ctx = rt.ctx
    template = to_product(
        parse(
            DraftIn,
            {
                "title": "template",
                "text": "template",
                "classification": "SECRET",
                "rel_to": ["USA", "KOR", "JPN"],
                "topics": ["dprk.missile.launch"],
                "source_reliability": "B",
                "information_credibility": "2",
            },
        ),
        id=str(uuid.uuid4()),
        version=1,
        originator=PARTY,
        author="kor-analyst",
        created_at=T0,
    )
    base = manifest_to_wire(template, ctx.arrangement.digest)
    columns = (
        "product_id, version, originator, classification, precedence, title, topics, state, "
        "body, author, created_at, listed_us, superseded_us"
    )
    t0 = time.perf_counter()
    listed = micros(T0)
    versions = 0
    dsn = url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for chunk in range(0, count, CHUNK):
            rows: list[tuple[Any, ...]] = []
            topics: list[tuple[Any, ...]] = []
            terms: list[tuple[Any, ...]] = []
            for _ in range(chunk, min(count, chunk + CHUNK)):
                pid = str(uuid.uuid4())
                again = rng.random() < 0.02
                for version in (1, 2) if again else (1,):
                    listed += rng.randint(1, 60_000_000)  # up to a minute apart
                    versions += 1
                    when = T0 + timedelta(microseconds=listed - micros(T0))
                    title, text = _text(rng)
                    topic = rng.choice(TOPICS)
                    level = rng.choice(LEVELS)
                    body = {
                        **base,
                        "id": pid,
                        "version": version,
                        "created_at": when.isoformat(),
                        "title": title,
                        "text": text,
                        "topics": [topic],
                        "classification": level,
                        "precedence": rng.choice(PRECEDENCES),
                    }
                    rows.append(
                        (
                            pid,
                            version,
                            rng.choice(ORIGINATORS) if version == 1 else "KOR",
                            LEVELS.index(level) + 1,
                            body["precedence"],
                            title,
                            json.dumps([topic]),
                            "draft" if rng.random() < 0.1 else "received",
                            json.dumps(body, ensure_ascii=False),
                            "kor-analyst",
                            when,
                            listed,
                            None,
                        )
                    )
                    if again and version == 2:
                        # The first version was superseded when this one was listed.
                        rows[-2] = (*rows[-2][:-1], listed)
                    topics.extend((pid, version, f, listed) for f in sorted(families([topic])))
                    words = index_terms(title, text)
                    terms.append((listed, " ".join(f"'{w}'" for w in words)))
            with cur.copy(f"COPY products ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            with cur.copy(
                "COPY product_topics (product_id, version, family, listed_us) FROM STDIN"
            ) as copy:
                for row in topics:
                    copy.write_row(row)
            with cur.copy("COPY product_terms (listed_us, terms) FROM STDIN") as copy:
                for row in terms:
                    copy.write_row(row)
            conn.commit()
            log(f"  {min(count, chunk + CHUNK):,} products")
        # One product in ten opened by the reader (its newest version).
        cur.execute(
            "INSERT INTO reads (username, product_id, version, read_at) "
            "SELECT 'bench-reader', product_id, version, now() FROM products "
            "WHERE superseded_us IS NULL AND abs(hashtext(product_id)) % 10 = 0"
        )
        conn.commit()
        filled_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        conn.autocommit = True
        conn.execute("ANALYZE")
    return {
        "products": count,
        "versions": versions,
        "seconds": round(filled_s, 1),
        "analyze_s": round(time.perf_counter() - t1, 1),
        "first_us": micros(T0),
        "last_us": listed,
    }


def timed(n: int, warmup: int, call: Callable[[int], object]) -> dict[str, float]:
    """`call(i)` `warmup` times unmeasured, then `n` times measured."""
    for i in range(warmup):
        call(i)
    seconds = []
    for i in range(n):
        t = time.perf_counter()
        call(i)
        seconds.append(time.perf_counter() - t)
    return summary_ms(seconds)


def run(args: argparse.Namespace) -> dict[str, Any]:
    before = machine()
    rng = random.Random(args.seed)
    with (
        stop_on_sigterm(),
        pg_database(args.keep) as url,
        tempfile.TemporaryDirectory(prefix="tisa-bench-inbox-") as tmp,
        Cluster(Path(tmp), databases={PARTY: url}) as cluster,
    ):
        cluster.create()
        with Runtime(cluster.nodes[PARTY].settings) as rt:
            log(f"filling KOR's store on PostgreSQL with {args.products:,} products")
            filled = fill(url, rt, args.products, args.seed)
            log(f"filled in {filled['seconds']}s, ANALYZE {filled['analyze_s']}s")
            store: dict[str, dict[str, float]] = {}
            db = rt.ctx.db
            with db.read() as conn:
                top = inbox.horizon(conn)
            first = Position(top, top + 1)
            span = top - filled["first_us"]
            deep = [Position(top, top - span * rng.randint(50, 99) // 100) for _ in range(args.n)]
            # Dates: a week somewhere in the walk's span.
            weeks = [filled["first_us"] + span * rng.randint(0, 95) // 100 for _ in range(args.n)]
            week = 7 * 86_400_000_000
            cases: dict[str, Callable[[int], Any]] = {
                "page one": lambda i: (Filters(), first),
                "deep page (50-99 % into the walk)": lambda i: (Filters(), deep[i % len(deep)]),
                "topic family dprk.missile": lambda i: (Filters(family="dprk.missile"), first),
                "topic dprk.nuclear.material, deep": lambda i: (
                    Filters(family="dprk.nuclear.material"),
                    deep[i % len(deep)],
                ),
                "originator JPN": lambda i: (Filters(originator="JPN"), first),
                "classification TOP SECRET": lambda i: (Filters(classification=3), first),
                "precedence FLASH": lambda i: (Filters(precedence="FLASH"), first),
                "state draft": lambda i: (Filters(states=("draft",)), first),
                "one week": lambda i: (
                    Filters(since_us=weeks[i % len(weeks)], until_us=weeks[i % len(weeks)] + week),
                    first,
                ),
                "unread by bench-reader": lambda i: (Filters(unread_by="bench-reader"), first),
                "FLASH + JPN + TOP SECRET": lambda i: (
                    Filters(precedence="FLASH", originator="JPN", classification=3),
                    first,
                ),
            }
            searches: dict[str, Callable[[int], Any]] = {
                "search: a common word": lambda i: (
                    Filters(terms=tuple(query_terms(WORDS[i % len(WORDS)]))),
                    first,
                ),
                "search: a rare word (kn12)": lambda i: (
                    Filters(terms=tuple(query_terms(RARE[i % len(RARE)]))),
                    first,
                ),
                "search: Korean 미사일": lambda i: (
                    Filters(terms=tuple(query_terms("미사일"))),
                    first,
                ),
                "search: Japanese ミサイル": lambda i: (
                    Filters(terms=tuple(query_terms("ミサイル"))),
                    first,
                ),
                "search: two words": lambda i: (
                    Filters(terms=tuple(query_terms(f"{WORDS[i % 30]} {WORDS[(i * 7) % 30]}"))),
                    first,
                ),
                "search: rare word + topic": lambda i: (
                    Filters(terms=tuple(query_terms(RARE[i % len(RARE)])), family="dprk.missile"),
                    first,
                ),
            }
            for name, case in {**cases, **searches}.items():

                def page(i: int, case: Callable[[int], Any] = case) -> None:
                    filters, at = case(i)
                    with db.read() as conn:
                        inbox.page(conn, filters, at, args.limit)

                store[name] = timed(args.n, args.warmup, page)
                log(format_row(name, store[name]))

            reader = rt.accounts.add(
                "bench-reader", secrets.token_urlsafe(16), Role.ANALYST, "TOP SECRET", ["*"]
            )
            service: dict[str, dict[str, float]] = {}
            queries = {
                "service page one": InboxQuery(),
                "service topic dprk.nuclear": InboxQuery(topic="dprk.nuclear"),
                "service search 미사일": InboxQuery(q="미사일"),
                "service unread": InboxQuery(unread=True),
            }
            for name, query in queries.items():
                sizes: list[int] = []

                def open_page(i: int, query: InboxQuery = query, sizes: list[int] = sizes) -> None:
                    sizes.append(len(rt.inbox.page(reader, query, limit=args.limit).held))

                service[name] = timed(max(10, args.n // 10), 2, open_page)
                # What the gate let through: a page of the full size shows it decided them all.
                service[name]["shown_min"] = min(sizes)
                log(format_row(name, service[name]))
    return {
        "benchmark": "inbox_scale",
        "command": args.command,
        "before": before,
        "after": machine(),
        "filled": filled,
        "limit": args.limit,
        "store": store,
        "service": service,
        "targets_ms": {"filters_p99": 50, "search_p99": 100},
    }


def report(result: dict[str, Any]) -> None:
    filled = result["filled"]
    print(
        f"inbox at {filled['products']:,} products ({filled['versions']:,} versions), "
        f"page size {result['limit']}, PostgreSQL"
    )
    print("store (one statement):")
    for name, s in result["store"].items():
        print("  " + format_row(name, s))
    print("service (store + gate on every row):")
    for name, s in result["service"].items():
        print("  " + format_row(name, s))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--n", type=int, default=200, help="timings per query")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--limit", type=int, default=200, help="page size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--name", default="inbox_scale")
    return finish(parser.parse_args(), "inbox_scale.py", run, report)


if __name__ == "__main__":
    raise SystemExit(main())
