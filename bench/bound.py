"""What this machine can do for one relayed product: the floor every benchmark is held to.

A product released at KOR and relayed by the hub to JPN needs, at the least: two JWS
signatures (KOR's attestation, the hub's relay), five verifications (the hub checks KOR's;
JPN checks KOR's and the hub's; each receipt is checked at the node it returns to), three
durable commits (one per node) and two mutual-TLS round trips (KOR→USA, USA→JPN). This
script times each of those on this machine, with tisa's own code and server stack — the
JWS over canonical JSON from `tisa.crypto.jws`, the store's SQLite settings through
`tisa.store.database.Database`, PostgreSQL through the same, uvicorn with the pinned TLS 1.3
contexts of `tisa.crypto.tls` — and derives two bounds:

- latency: one product, alone, KOR → USA → JPN: 2 sign + 5 verify + 3 commits + 2 round
  trips, each at its median;
- throughput on the machine's cores: signing and verifying cannot be shared between
  products, commits and round trips can (a batch of `--batch` products per commit and per
  request), so products/s = cores / (2 sign + 5 verify + (3 commits + 2 round trips) / batch).

Other benchmarks call `measure()` in the same run and print their results as a ratio to
these bounds (`ratio()`), so a figure taken on a busy machine still compares with one taken
on a quiet machine.

    python bench/bound.py [--json] [--postgres URL | --no-postgres] [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _common import finish, log, machine, summary_ms
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tisa.crypto import jws
from tisa.crypto.certs import make_tls_identity
from tisa.crypto.keys import SigningKey
from tisa.crypto.tls import client_context, server_context
from tisa.demo.network import free_port
from tisa.errors import ConfigInvalid
from tisa.server.uvicorn import Server
from tisa.store.database import Database

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# What one relayed product costs, by the count in the module docstring.
SIGNS, VERIFIES, COMMITS, ROUND_TRIPS = 2, 5, 3, 2
TYP = "tisa-product+jws"


def product_payload() -> dict[str, Any]:
    """A ~1 KB product body, shaped like what KOR signs (title, text, marking, topics)."""
    return {
        "id": "0f8e2b8c-6a55-4f51-9a5e-3b1d4c2a7e10",
        "version": 1,
        "originator": "KOR",
        "title": "SRBM launch from Sunan toward the East Sea",
        "text": "Two short-range ballistic missiles launched from the Sunan area. " * 10,
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "precedence": "ROUTINE",
        "topics": ["dprk.missile.launch"],
        "created_at": "2026-11-30T23:24:00.000Z",
        "observations": [
            {
                "kind": "missile-launch",
                "time": "2026-11-30T23:24:00Z",
                "site": "Sunan",
                "apogee_km": {"value": 100, "plus_minus": 10},
                "range_km": {"value": 350, "plus_minus": 20},
            }
        ],
    }


def timed(step: Callable[[], object], seconds: float, *, at_least: int = 50) -> list[float]:
    """Durations (s) of `step`, repeated for about `seconds` and at least `at_least` times."""
    for _ in range(3):  # warm caches and the connection pool
        step()
    out: list[float] = []
    stop = time.perf_counter() + seconds
    while len(out) < at_least or time.perf_counter() < stop:
        t0 = time.perf_counter()
        step()
        out.append(time.perf_counter() - t0)
    return out


def crypto(seconds: float) -> dict[str, list[float]]:
    """Raw Ed25519 on 1 KB and the JWS over canonical JSON tisa signs products with."""
    key = SigningKey.generate()
    public = key.public()
    data = os.urandom(1024)
    raw_sig = key.sign_raw(data)
    payload = product_payload()
    token = jws.sign(payload, key, kid="bound", typ=TYP)
    return {
        "ed25519_sign": timed(lambda: key.sign_raw(data), seconds),
        "ed25519_verify": timed(lambda: public.verify_raw(raw_sig, data), seconds),
        "jws_sign": timed(lambda: jws.sign(payload, key, kid="bound", typ=TYP), seconds),
        "jws_verify": timed(lambda: jws.verify(token, public, typ=TYP, kid="bound"), seconds),
    }


def commits(url: str, seconds: float) -> list[float]:
    """One ~1 KB row written and committed per transaction, through tisa's `Database` (the
    store's own engine settings: WAL and BEGIN IMMEDIATE on SQLite)."""
    body = "x" * 1024
    rows = Table(
        f"bound_rows_{os.getpid()}",
        MetaData(),
        Column("n", Integer, primary_key=True),
        Column("body", Text),
    )
    with Database(url) as db:
        rows.create(db.engine)
        counter = iter(range(1, 10**9))

        def one() -> None:
            with db.begin() as conn:
                conn.execute(insert(rows).values(n=next(counter), body=body))

        try:
            return timed(one, seconds)
        finally:
            rows.drop(db.engine)


@contextmanager
def mtls_server(work: Path) -> Iterator[tuple[str, Any]]:
    """A uvicorn server with tisa's federation TLS context (TLS 1.3, pinned client
    certificate) answering POST /echo with 204, on its own thread; yields its URL and the
    client's TLS context."""
    now = datetime.now(UTC)
    paths = {}
    for who in ("server", "client"):
        key_pem, cert_pem = make_tls_identity(who.upper()[:3], now=now)
        (work / f"{who}.key").write_bytes(key_pem)
        (work / f"{who}.crt").write_bytes(cert_pem)
        paths[who] = (work / f"{who}.crt", work / f"{who}.key", cert_pem)

    def refused(*_args: object) -> None:
        return None

    s_cert, s_key, s_pem = paths["server"]
    c_cert, c_key, c_pem = paths["client"]
    server_tls = server_context(s_cert, s_key, [c_pem], on_refused=refused)
    client_tls = client_context(c_cert, c_key, [s_pem], on_refused=refused)

    async def echo(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    port = free_port()
    server = Server(app, "127.0.0.1", port, server_tls)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise ConfigInvalid("the mTLS echo server did not start")
        time.sleep(0.01)
    try:
        yield f"https://localhost:{port}/echo", client_tls
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def round_trips(seconds: float) -> list[float]:
    """POST of 1 KB and its answer over one kept-alive mutual-TLS connection on loopback."""
    body = os.urandom(1024)
    with (
        tempfile.TemporaryDirectory(prefix="tisa-bound-") as tmp,
        mtls_server(Path(tmp)) as (url, tls),
        httpx.Client(verify=tls) as client,
    ):

        def one() -> None:
            client.post(url, content=body).raise_for_status()

        return timed(one, seconds)


def _p50_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def derive(p50: dict[str, float], *, cores: int, batch: int) -> dict[str, Any]:
    """The two bounds from the medians (ms): latency alone, products/s on `cores`."""
    commit = p50["sqlite_commit"]
    latency = (
        SIGNS * p50["jws_sign"]
        + VERIFIES * p50["jws_verify"]
        + COMMITS * commit
        + ROUND_TRIPS * p50["mtls_round_trip"]
    )
    per_product = (
        SIGNS * p50["jws_sign"]
        + VERIFIES * p50["jws_verify"]
        + (COMMITS * commit + ROUND_TRIPS * p50["mtls_round_trip"]) / batch
    )
    out: dict[str, Any] = {
        "latency_ms": round(latency, 3),
        "products_per_s": round(cores * 1000 / per_product),
        "cores": cores,
        "batch": batch,
        "counted": {
            "signs": SIGNS,
            "verifies": VERIFIES,
            "commits": COMMITS,
            "round_trips": ROUND_TRIPS,
        },
    }
    if "postgres_commit" in p50:
        pg_latency = latency - COMMITS * commit + COMMITS * p50["postgres_commit"]
        pg_per = per_product + COMMITS * (p50["postgres_commit"] - commit) / batch
        out["latency_ms_postgres"] = round(pg_latency, 3)
        out["products_per_s_postgres"] = round(cores * 1000 / pg_per)
    return out


def measure(*, seconds: float = 0.5, postgres: str | None = PG, batch: int = 100) -> dict[str, Any]:
    """Time each step and derive the bounds; `postgres` None skips the PostgreSQL commit.

    Raises:
        ConfigInvalid: a store could not be opened or the echo server did not start.
    """
    t0 = time.perf_counter()
    steps = crypto(seconds)
    with tempfile.TemporaryDirectory(prefix="tisa-bound-") as tmp:
        steps["sqlite_commit"] = commits(f"sqlite:///{tmp}/bound.db", seconds)
    if postgres:
        steps["postgres_commit"] = commits(postgres, seconds)
    steps["mtls_round_trip"] = round_trips(seconds)
    p50 = {name: _p50_ms(values) for name, values in steps.items()}
    return {
        "steps_ms": {name: summary_ms(values) for name, values in steps.items()},
        "bound": derive(p50, cores=os.cpu_count() or 1, batch=batch),
        "took_s": round(time.perf_counter() - t0, 1),
    }


def latency_ratio(bound: dict[str, Any], ms: float, *, postgres: bool = False) -> float:
    """A latency as a multiple of the bound (1.0 = at the floor; higher is further off)."""
    b = bound["bound"]
    return round(ms / (b["latency_ms_postgres"] if postgres else b["latency_ms"]), 2)


def throughput_ratio(bound: dict[str, Any], per_s: float, *, postgres: bool = False) -> float:
    """How many times below the bound's products/s a rate is (1.0 = at the ceiling)."""
    b = bound["bound"]
    ceiling = b["products_per_s_postgres"] if postgres else b["products_per_s"]
    return round(ceiling / per_s, 2) if per_s > 0 else float("inf")


def in_run(*, postgres: str | None = None) -> dict[str, Any]:
    """The bound, measured quickly (0.3 s per step) at the start of another benchmark."""
    log("measuring the machine's bound first (bench/bound.py) …")
    bound = measure(seconds=0.3, postgres=postgres)
    log(describe(bound))
    return bound


def describe(bound: dict[str, Any]) -> str:
    """One line naming the bound, for other benchmarks' reports."""
    b = bound["bound"]
    line = (
        f"bound on this machine now: {b['latency_ms']:.2f} ms per relayed product, "
        f"{b['products_per_s']:,} products/s on {b['cores']} cores (SQLite)"
    )
    if "latency_ms_postgres" in b:
        line += (
            f"; {b['latency_ms_postgres']:.2f} ms, {b['products_per_s_postgres']:,}"
            " products/s (PostgreSQL)"
        )
    return line


def run(args: argparse.Namespace) -> dict[str, Any]:
    postgres = None if args.no_postgres else args.postgres
    log("timing signatures, commits and mTLS round trips …")
    result = measure(seconds=args.seconds, postgres=postgres, batch=args.batch)
    result.update(machine=machine(), command=args.command)
    return result


def report(result: dict[str, Any]) -> None:
    print(f"{'step':<18} {'p50':>8} {'p99':>8}  (ms)")
    for name, s in result["steps_ms"].items():
        print(f"{name:<18} {s['p50']:8.3f} {s['p99']:8.3f}  n={s['n']}")
    print(describe(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per step")
    parser.add_argument("--batch", type=int, default=100, help="products per commit/request")
    parser.add_argument("--postgres", default=PG, help="PostgreSQL URL for the commit")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--name", default="bound")
    return finish(parser.parse_args(), "bound.py", run, report)


if __name__ == "__main__":
    sys.exit(main())
