"""A chaos soak: three nodes, thousands of products, faults on a seeded schedule, and at the
end every store checked against what should be there.

Traffic: KOR, JPN and USA each stream products (precedences with some FLASH, some ORCON, some
with small attachments, some amended, a few recalled); the spokes' release officers answer the
hub's consent requests, granting or denying at random (per product, so every version of a
product gets the same answer). Faults, one at a time, each logged with its start and end:

    kill      kill -9 of a node, restarted after a few seconds
    sigstop   SIGSTOP of a node for seconds, then SIGCONT
    suspend   a channel suspended at one of its ends for seconds, then resumed
    db        PostgreSQL: the node's database refuses connections for seconds (ALLOW_CONNECTIONS
              false and its sessions terminated); SQLite: another process holds BEGIN EXCLUSIVE
              on the node's database file
    disk      JPN's data directory is a small tmpfs (where mount is permitted): it is filled
              below the node's disk reserve, then completely, then freed

After a fault that cuts a sender off from a recipient, a few ROUTINE and then a few FLASH
products are released across it; once it recovers, the recipient's audit log says in which
order they arrived (a ROUTINE in flight, or stored, before the FLASH was released is excused).

At the end (after a bounded wait for the network to settle) every node's store is read and
checked: nothing lost, duplicated or misrouted, every receipt back at the originator and its
signature verified, every attachment present with its digest (re-hashed through the blob
store), delivery states that match the holdings, `tisa audit verify --peers` on every node,
/healthz/ready everywhere, no supervised task down, FLASH first after each recovery.

Only 127.0.0.1; every loop is bounded in count and time; the soak stops by itself.

    python bench/soak.py --products 3000 --minutes 15 --database sqlite --json
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from _common import (
    BenchFailed,
    finish,
    log,
    log_tails,
    machine,
    node_logs_on_error,
    stop_on_sigterm,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from tisa.api.client import ApiClient
from tisa.blobs import keyfile
from tisa.blobs.store import BlobStore
from tisa.crypto.keys import SigningKey
from tisa.crypto.trust import Signed, Trust
from tisa.demo.network import Cluster
from tisa.domain.model import topic_matches
from tisa.errors import Conflict, DeliveryFailed, DiskFull, TisaError
from tisa.node.settings import load_arrangement
from tisa.store import tables

T = TypeVar("T")
PARTIES = ("USA", "KOR", "JPN")
HUB = "USA"
SPOKES = ("KOR", "JPN")
FAULT_KINDS = ("kill", "sigstop", "suspend", "db", "disk")
PG = "postgresql://postgres@127.0.0.1:5432"
SCOPE = (
    "dprk.missile.launch",
    "dprk.missile.development",
    "dprk.missile.deployment",
    "dprk.missile.engine-test",
    "dprk.missile.slbm",
    "dprk.missile.satellite-launch",
    "dprk.nuclear.test",
    "dprk.nuclear.fissile-material",
    "dprk.nuclear.weapon-development",
    "dprk.nuclear.site-activity",
)
LEVELS = {"CONFIDENTIAL": 1, "SECRET": 2}
# Standing rules the spokes give the hub at the start: (recipient, topics, ceiling). What
# they do not cover (ORCON, other topics, above the ceiling) the hub holds and asks about.
STANDING = {
    "KOR": ("JPN", ["dprk.missile.*"], "SECRET"),
    "JPN": ("KOR", ["dprk.missile.*", "dprk.nuclear.*"], "CONFIDENTIAL"),
}
SHARE = {"KOR": 0.4, "JPN": 0.3, "USA": 0.3}
DISK_NODE = "JPN"
DISK_RESERVE_MB = 24
RETRY_FOR = 240.0  # seconds an API operation is retried through faults before it counts as failed
PROBE_ROUTINE = 4
PROBE_FLASH = 3


# -- what was sent -----------------------------------------------------------------------------


@dataclass
class Version:
    """One released (or attempted) product version, as the soak made it."""

    product_id: str
    version: int
    originator: str
    rel_to: tuple[str, ...]
    orcon: bool
    precedence: str
    topic: str
    classification: str
    attachments: dict[str, int] = field(default_factory=dict)
    released: bool = False
    recalled: bool = False
    probe: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.product_id, self.version)


@dataclass
class Product:
    """A product and the answer its originator gives any consent request for it."""

    product_id: str
    originator: str
    consent: str  # "grant" or "deny"
    versions: list[Version] = field(default_factory=list)


class Ledger:
    """Everything the soak created, shared by the traffic threads (under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.products: dict[str, Product] = {}
        self.counts: Counter[str] = Counter()
        self.errors: list[dict[str, Any]] = []

    def add(self, product: Product) -> None:
        with self._lock:
            self.products[product.product_id] = product

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def error(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self.errors.append({"at": _now_iso(), "what": what, "error": f"{exc}"[:400]})
        log(f"  ! {what}: {exc}")

    def versions(self) -> list[Version]:
        with self._lock:
            return [v for p in self.products.values() for v in p.versions]

    def consent_of(self, product_id: str) -> str | None:
        with self._lock:
            product = self.products.get(product_id)
            return None if product is None else product.consent


def covered_by_standing(v: Version) -> bool:
    """Whether the originator's standing rule lets the hub relay `v` to the other spoke."""
    if v.originator not in STANDING or v.orcon:
        return False
    _recipient, patterns, ceiling = STANDING[v.originator]
    return LEVELS[v.classification] <= LEVELS[ceiling] and any(
        topic_matches(p, v.topic) for p in patterns
    )


def allowed_parties(v: Version, product: Product) -> set[str]:
    """Every party that may hold `v`: its originator, the hub, and the parties REL TO names
    that the rules and the originator's consent let it reach."""
    allowed = {v.originator}
    if v.originator == HUB:
        return allowed | {p for p in v.rel_to if p in SPOKES}
    allowed.add(HUB)
    other = next(s for s in SPOKES if s != v.originator)
    if other in v.rel_to and (covered_by_standing(v) or product.consent == "grant"):
        allowed.add(other)
    return allowed


# -- talking to nodes through faults -----------------------------------------------------------


def _status(exc: TisaError) -> int | None:
    text = str(exc)
    if text.startswith("HTTP "):
        with contextlib.suppress(ValueError):
            return int(text[5:8])
    return None


def retrying(
    action: Callable[[], T], what: str, stop: threading.Event, *, limit: float = RETRY_FOR
) -> T:
    """Run `action`, retrying while the node is unreachable or answers 5xx, 507 included (a
    fault in progress).

    Raises:
        TisaError: a refusal that retrying cannot change (4xx), or the node stayed
            unreachable for `limit` seconds.
    """
    deadline = time.monotonic() + limit
    while True:
        try:
            return action()
        except DeliveryFailed as exc:
            last: TisaError = exc
        except DiskFull as exc:
            last = exc  # 507: the disk (or the reserve) is full; it will be freed
        except Conflict as exc:
            if "still being carried out" not in str(exc):
                raise
            last = exc  # the first try with this Idempotency-Key has not answered yet
        except TisaError as exc:
            code = _status(exc)
            if type(exc) is not TisaError or code is None or (code < 500 and code != 429):
                raise
            last = exc
        if time.monotonic() > deadline or stop.is_set():
            raise TisaError(f"{what}: gave up after {limit:.0f}s: {last}")
        time.sleep(0.5)


class Sessions:
    """Signed-in clients per (party, role), made on first use; one set per thread."""

    def __init__(self, cluster: Cluster, stop: threading.Event) -> None:
        self._cluster = cluster
        self._stop = stop
        self._clients: dict[tuple[str, str], ApiClient] = {}

    def __call__(self, party: str, role: str = "analyst") -> ApiClient:
        key = (party, role)
        if key not in self._clients:
            self._clients[key] = retrying(
                lambda: self._cluster.client(party, role), f"sign in {party}", self._stop
            )
        return self._clients[key]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _draft(v: Version, title: str) -> dict[str, Any]:
    return {
        "title": title,
        "text": f"Soak report {v.product_id or ''} from {v.originator}: {secrets.token_hex(48)}",
        "classification": v.classification,
        "rel_to": list(v.rel_to),
        "orcon": v.orcon,
        "precedence": v.precedence,
        "topics": [v.topic],
        "source_reliability": "B",
        "information_credibility": "2",
        "attachments": sorted(v.attachments),
    }


def release_version(sessions: Sessions, stop: threading.Event, v: Version, title: str) -> None:
    """Create (or amend) and release one version at its originator.

    Raises:
        TisaError: refused, or the node stayed unreachable (see `retrying`).
    """
    analyst, officer = sessions(v.originator), sessions(v.originator, "officer")
    body = _draft(v, title)
    # One key per change: a retry after a lost answer gets the first answer, not a second
    # product (the node keeps it; see tisa.api.idempotency).
    once = {"Idempotency-Key": secrets.token_hex(16)}
    if v.version == 1:
        made = retrying(
            lambda: analyst.post("/api/v1/products", body, headers=dict(once)), "create", stop
        )
        v.product_id = made["id"]
    else:
        try:
            made = retrying(
                lambda: analyst.post(
                    f"/api/v1/products/{v.product_id}/amend", body, headers=dict(once)
                ),
                "amend",
                stop,
            )
        except Conflict:
            # An amend whose answer was lost: the draft is there; find its version.
            made = retrying(lambda: analyst.get(f"/api/v1/products/{v.product_id}"), "read", stop)
        v.version = int(made["version"])
    path = f"/api/v1/products/{v.product_id}/versions/{v.version}/release"
    with contextlib.suppress(Conflict):  # released by an earlier try whose answer was lost
        retrying(lambda: officer.post(path), "release", stop)
    v.released = True


def upload(sessions: Sessions, stop: threading.Event, party: str, data: bytes, n: int) -> str:
    """Upload `data` at `party`; its digest."""
    analyst = sessions(party)
    answer = retrying(
        lambda: analyst.call(
            "POST",
            "/api/v1/uploads",
            params={"name": f"soak-{n}.bin"},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        ),
        "upload",
        stop,
    )
    return str(answer["digest"])


def attachment_size(rng: random.Random) -> int:
    """KB to MB: mostly small."""
    roll = rng.random()
    if roll < 0.7:
        return rng.randint(1024, 32 * 1024)
    if roll < 0.95:
        return rng.randint(32 * 1024, 256 * 1024)
    return rng.randint(512 * 1024, 2 * 1024 * 1024)


class Traffic(threading.Thread):
    """One originator's stream of products, paced over the traffic window."""

    def __init__(
        self,
        party: str,
        count: int,
        window: float,
        cluster: Cluster,
        ledger: Ledger,
        stop: threading.Event,
        seed: int,
    ) -> None:
        super().__init__(name=f"traffic {party}", daemon=True)
        self.party, self.count, self.window = party, count, window
        self.cluster, self.ledger, self.stop = cluster, ledger, stop
        self.rng = random.Random(f"{seed}:{party}")
        self.later: list[tuple[float, str, Product]] = []

    def _new(self, n: int) -> Product:
        rng, party = self.rng, self.party
        if party == HUB:
            rel_to = rng.choices(
                [("USA", "KOR", "JPN"), ("USA", "KOR"), ("USA", "JPN")], [6, 2, 2]
            )[0]
        else:
            other = next(s for s in SPOKES if s != party)
            rel_to = rng.choices([("USA", party, other), ("USA", party)], [8, 2])[0]
        v = Version(
            product_id="",
            version=1,
            originator=party,
            rel_to=tuple(sorted(rel_to)),
            orcon=rng.random() < 0.12,
            precedence=rng.choices(["FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE"], [5, 10, 25, 60])[
                0
            ],
            topic=rng.choice(SCOPE),
            classification=rng.choices(["SECRET", "CONFIDENTIAL"], [7, 3])[0],
        )
        consent = "grant" if rng.random() < 0.6 else "deny"
        return Product("", party, consent, [v])

    def run(self) -> None:
        sessions = Sessions(self.cluster, self.stop)
        start = time.monotonic()
        try:
            for n in range(self.count):
                if self.stop.is_set():
                    break
                target = start + n * self.window / max(1, self.count)
                self._due_actions(sessions, until=target)
                product = self._new(n)
                v = product.versions[0]
                try:
                    if self.rng.random() < 0.15:
                        for _ in range(self.rng.choice([1, 1, 2])):
                            size = attachment_size(self.rng)
                            data = b"SOAK" + os.urandom(size - 4)
                            v.attachments[upload(sessions, self.stop, self.party, data, n)] = size
                            self.ledger.count("attachments")
                            self.ledger.count("attachment_bytes", size)
                    release_version(sessions, self.stop, v, f"soak {self.party} {n} v1")
                except TisaError as exc:
                    self.ledger.error(f"{self.party} product {n}", exc)
                    continue
                product.product_id = v.product_id
                self.ledger.add(product)
                self.ledger.count(f"released {self.party}")
                roll = self.rng.random()
                if roll < 0.04:
                    self.later.append(
                        (time.monotonic() + self.rng.uniform(2, 20), "amend", product)
                    )
                elif roll < 0.055:
                    self.later.append(
                        (time.monotonic() + self.rng.uniform(0, 3), "recall", product)
                    )
            self._due_actions(sessions, until=time.monotonic() + 30, everything=True)
        finally:
            sessions.close()

    def _due_actions(self, sessions: Sessions, *, until: float, everything: bool = False) -> None:
        """Amend and recall what is due, then wait for `until` (bounded by the stop event)."""
        while True:
            self.later.sort(key=lambda item: item[0])
            now = time.monotonic()
            if self.later and (everything or self.later[0][0] <= now):
                _when, action, product = self.later.pop(0)
                try:
                    if action == "amend":
                        self._amend(sessions, product)
                    else:
                        self._recall(sessions, product)
                except TisaError as exc:
                    self.ledger.error(f"{action} {product.product_id}", exc)
                continue
            if now >= until or self.stop.is_set() or everything:
                return
            next_due = self.later[0][0] if self.later else until
            self.stop.wait(max(0.0, min(until, next_due) - now))

    def _amend(self, sessions: Sessions, product: Product) -> None:
        first = product.versions[0]
        v = Version(
            product_id=product.product_id,
            version=len(product.versions) + 1,
            originator=first.originator,
            rel_to=first.rel_to,
            orcon=first.orcon,
            precedence=first.precedence,
            topic=first.topic,
            classification=first.classification,
            attachments=dict(first.attachments),
        )
        product.versions.append(v)
        release_version(sessions, self.stop, v, f"soak {product.product_id} amended")
        self.ledger.count("amended")

    def _recall(self, sessions: Sessions, product: Product) -> None:
        v = product.versions[-1]
        officer = sessions(product.originator, "officer")
        path = f"/api/v1/products/{v.product_id}/versions/{v.version}/recall"
        v.recalled = True  # from the first try on: the recall may land with its answer lost
        with contextlib.suppress(Conflict):  # recalled by an earlier try
            retrying(lambda: officer.post(path, {"reason": "soak: recalled"}), "recall", self.stop)
        self.ledger.count("recalled")


class ConsentDesk(threading.Thread):
    """The spokes' release officers: answer every open consent request, as the product's
    originator decided for it (grant or deny)."""

    def __init__(self, cluster: Cluster, ledger: Ledger, stop: threading.Event) -> None:
        super().__init__(name="consent desk", daemon=True)
        self.cluster, self.ledger, self.stop = cluster, ledger, stop
        self.answered: Counter[str] = Counter()

    def run(self) -> None:
        sessions = Sessions(self.cluster, self.stop)
        try:
            while not self.stop.wait(1.0):
                for party in SPOKES:
                    with contextlib.suppress(TisaError):
                        self._answer(sessions(party, "officer"))
        finally:
            sessions.close()

    def _answer(self, officer: ApiClient) -> None:
        for request in officer.get("/api/v1/consent-requests", params={"state": "open"})[
            "requests"
        ]:
            decision = self.ledger.consent_of(request["product_id"])
            if decision is None:
                continue  # not yet in the ledger (its release call is still returning)
            base = f"/api/v1/consent-requests/{request['id']}"
            try:
                if decision == "grant":
                    officer.post(f"{base}/grant")
                else:
                    officer.post(f"{base}/deny", {"reason": "soak: the originator declines"})
            except Conflict:
                continue
            self.answered[decision] += 1


# -- reading stores ----------------------------------------------------------------------------


def engine_for(url: str) -> Engine:
    """A read engine on a node's database that keeps no connection between uses (so a
    database outage leaves nothing stale behind)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url.removeprefix(plain)
    return create_engine(url, poolclass=NullPool)


class Stores:
    """Direct reads of every node's store."""

    def __init__(self, cluster: Cluster) -> None:
        self.engines = {p: engine_for(h.settings.database_url) for p, h in cluster.nodes.items()}

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()

    def held(self, party: str, ids: list[str]) -> dict[tuple[str, int], dict[str, Any]]:
        p = tables.products.c
        with self.engines[party].connect() as conn:
            rows = conn.execute(
                select(p.product_id, p.version, p.received_at).where(p.product_id.in_(ids))
            )
            return {(r.product_id, r.version): {"received_at": r.received_at} for r in rows}

    def receive_order(self, party: str, ids: list[str]) -> dict[str, int]:
        """The audit sequence number of each product's arrival at `party`."""
        a = tables.audit_entries.c
        with self.engines[party].connect() as conn:
            rows = conn.execute(
                select(a.product_id, a.seq).where(
                    a.action == "product.receive", a.product_id.in_(ids)
                )
            )
            return {r.product_id: int(r.seq) for r in rows}

    def in_flight(self, party: str, ids: list[str]) -> set[str]:
        """Products whose envelope `party`'s sender holds leased (on its way) right now."""
        o = tables.outbox.c
        now = datetime.now(UTC)
        with self.engines[party].connect() as conn:
            rows = conn.execute(
                select(o.product_id, o.lease_until).where(
                    o.kind == "envelope", o.state == "pending", o.product_id.in_(ids)
                )
            )
            found = set()
            for r in rows:
                lease = r.lease_until
                if lease is not None and lease.tzinfo is None:
                    lease = lease.replace(tzinfo=UTC)
                if lease is not None and lease > now:
                    found.add(r.product_id)
            return found

    def tries(self, party: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """How many tries each product's envelope took from `party`, and the last error."""
        o = tables.outbox.c
        with self.engines[party].connect() as conn:
            rows = conn.execute(
                select(o.product_id, o.attempts, o.last_error, o.state).where(
                    o.kind == "envelope", o.product_id.in_(ids)
                )
            )
            return {
                r.product_id: {
                    "attempts": r.attempts,
                    "state": r.state,
                    "last_error": (r.last_error or "")[:160] or None,
                }
                for r in rows
            }

    def backlog(self, party: str) -> dict[str, int]:
        """Pending outbox entries and open consent requests at `party`."""
        o, r = tables.outbox.c, tables.consent_requests.c
        with self.engines[party].connect() as conn:
            pending = conn.execute(
                select(func.count()).select_from(tables.outbox).where(o.state == "pending")
            ).scalar_one()
            requests = [
                (x.product_id, x.version)
                for x in conn.execute(select(r.product_id, r.version).where(r.state == "open"))
            ]
        return {"pending": int(pending), "open_requests": requests}  # type: ignore[dict-item]

    def snapshot(self, party: str) -> dict[str, Any]:
        """Everything the final checks read from one store."""
        t = tables
        with self.engines[party].connect() as conn:
            products = [
                dict(r._mapping)
                for r in conn.execute(
                    select(
                        t.products.c.product_id,
                        t.products.c.version,
                        t.products.c.originator,
                        t.products.c.state,
                        t.products.c.digest,
                        t.products.c.recalled_at,
                        t.products.c.received_from,
                    )
                )
            ]
            deliveries = [dict(r._mapping) for r in conn.execute(select(t.deliveries))]
            receives = Counter(
                (r.product_id, r.version)
                for r in conn.execute(
                    select(t.audit_entries.c.product_id, t.audit_entries.c.version).where(
                        t.audit_entries.c.action == "product.receive"
                    )
                )
            )
            links = [
                (r.product_id, r.version, r.digest)
                for r in conn.execute(select(t.product_attachments))
            ]
            outbox = Counter(
                (r.kind, r.state) for r in conn.execute(select(t.outbox.c.kind, t.outbox.c.state))
            )
            alarms = [
                {"peer": r.party, "at": r.at, "problem": (r.detail or {}).get("problem")}
                for r in conn.execute(
                    select(
                        t.audit_entries.c.party, t.audit_entries.c.at, t.audit_entries.c.detail
                    ).where(t.audit_entries.c.action == "audit.inconsistent")
                )
            ]
            dead = [
                dict(r._mapping)
                for r in conn.execute(
                    select(
                        t.outbox.c.peer,
                        t.outbox.c.kind,
                        t.outbox.c.product_id,
                        t.outbox.c.last_error,
                    ).where(t.outbox.c.state == "dead")
                )
            ]
        return {
            "products": products,
            "deliveries": deliveries,
            "receives": receives,
            "links": links,
            "outbox": outbox,
            "dead": dead,
            "alarms": alarms,
        }


# -- faults ------------------------------------------------------------------------------------


@dataclass
class FaultRecord:
    """One fault as it happened."""

    kind: str
    target: str
    detail: str
    started: float
    ended: float | None = None
    started_at: str = ""
    ended_at: str = ""
    probe: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self, t0: float) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "detail": self.detail,
            "start_s": round(self.started - t0, 2),
            "end_s": None if self.ended is None else round(self.ended - t0, 2),
            "duration_s": None if self.ended is None else round(self.ended - self.started, 2),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "probe": self.probe,
            "notes": self.notes,
        }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TmpfsDisk:
    """A small tmpfs as one node's data directory, so its disk can be filled for real."""

    def __init__(self, root: Path, size_mb: int) -> None:
        self.root = root
        self.size_mb = size_mb
        self.mounted = False
        self.filler = root / "soak-filler"

    def mount(self) -> str | None:
        """Mount it (before the node is created); None, or why it could not be."""
        if os.geteuid() != 0 or shutil.which("mount") is None:
            return "not root (mount needs it)"
        self.root.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={self.size_mb}m,mode=0700",
                "tmpfs",
                str(self.root),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return f"mount refused: {done.stderr.strip() or done.returncode}"
        self.mounted = True
        return None

    def free(self) -> int:
        return shutil.disk_usage(self.root).free

    def fill(self, leave: int) -> int:
        """Write the filler until at most `leave` bytes are free (0: until ENOSPC)."""
        block = b"\0" * (1 << 20)
        written = 0
        # Unbuffered: a write the full disk refused must not be retried at close.
        with self.filler.open("ab", buffering=0) as handle:
            while True:
                room = self.free() - leave
                if room <= 0:
                    break
                try:
                    n = handle.write(block[: min(len(block), room)] if leave else block)
                except OSError:
                    break
                if not n:
                    break
                written += n
        return written

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.root)], check=False)
            self.mounted = False


def sqlite_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding BEGIN EXCLUSIVE on a SQLite database for `seconds`."""
    script = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "c.execute('COMMIT')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path), f"{seconds:.2f}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "locked": the lock is held from here on
    return proc


def pg_database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def pg_admin(sql: str, *params: Any) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql, params or None)  # type: ignore[arg-type]


class Chaos:
    """Runs the faults, one at a time, and the FLASH probes around them."""

    def __init__(
        self,
        cluster: Cluster,
        stores: Stores,
        ledger: Ledger,
        stop: threading.Event,
        args: argparse.Namespace,
        disk: TmpfsDisk | None,
        t0: float,
    ) -> None:
        self.cluster, self.stores, self.ledger, self.stop = cluster, stores, ledger, stop
        self.args, self.disk, self.t0 = args, disk, t0
        self.rng = random.Random(f"{args.seed}:faults")
        self.sessions = Sessions(cluster, stop)
        self.records: list[FaultRecord] = []
        self.unexpected: list[dict[str, Any]] = []
        self.probe_counter = 0

    # -- the schedule --------------------------------------------------------------------------

    def plan(self) -> list[tuple[str, str]]:
        """The faults in order: (kind, target), each kind's targets round-robin, shuffled."""
        kinds = [k for k in self.args.faults if k in FAULT_KINDS]
        if "disk" in kinds and self.disk is None:
            kinds.remove("disk")
        targets = {
            "kill": ["USA", "KOR", "JPN"],
            "sigstop": ["JPN", "USA", "KOR"],
            "suspend": ["USA-KOR@USA", "USA-JPN@JPN", "USA-JPN@USA", "USA-KOR@KOR"],
            "db": ["KOR", "USA", "JPN"],
            "disk": [DISK_NODE],
        }
        order: list[tuple[str, str]] = []
        for round_ in range(50):
            batch = [(k, targets[k][round_ % len(targets[k])]) for k in kinds]
            self.rng.shuffle(batch)
            order.extend(batch)
        return order

    def run(self, until: float) -> None:
        """Faults one after another until `until` (monotonic), then every node healthy."""
        plan = self.plan()
        self.stop.wait(self.args.warmup)
        for kind, target in plan:
            if self.stop.is_set() or time.monotonic() > until:
                break
            self.watchdog()
            try:
                self.one(kind, target)
            except (TisaError, OSError, BenchFailed) as exc:
                self.ledger.error(f"fault {kind} {target}", exc)
            self.watchdog()
            self.stop.wait(self.rng.uniform(*self.args.gap))
        self.watchdog()

    def watchdog(self) -> None:
        """A node that exited without being killed by the soak: recorded, then restarted."""
        for party, handle in self.cluster.nodes.items():
            process = handle.process
            if process is not None and process.poll() is not None:
                self.unexpected.append(
                    {
                        "party": party,
                        "at": _now_iso(),
                        "returncode": process.returncode,
                        "log_tail": log_tails(self.cluster, 20),
                    }
                )
                log(f"  ! {party} exited by itself ({process.returncode}); restarting it")
                handle.process = None
                self.cluster.start(party)

    # -- one fault ------------------------------------------------------------------------------

    def one(self, kind: str, target: str) -> None:
        record = FaultRecord(kind, target, "", time.monotonic(), started_at=_now_iso())
        self.records.append(record)
        log(f"[{time.monotonic() - self.t0:7.1f}s] fault {kind} {target}")
        handler = getattr(self, f"_{kind}")
        handler(record, target)
        log(
            f"[{time.monotonic() - self.t0:7.1f}s] fault {kind} {target} ended "
            f"({record.detail}){'' if record.probe is None else ' ' + _probe_line(record.probe)}"
        )

    def _end(self, record: FaultRecord) -> None:
        record.ended = time.monotonic()
        record.ended_at = _now_iso()

    def _kill(self, record: FaultRecord, party: str) -> None:
        down = self.rng.uniform(*self.args.down)
        record.detail = f"kill -9, down {down:.1f}s"
        self.cluster.stop(party, kill=True)
        probe = self._release_probe(party, record)
        self.stop.wait(max(0.0, down - 0.5))
        self.cluster.start(party)
        self._end(record)
        self._finish_probe(probe, record)

    def _sigstop(self, record: FaultRecord, party: str) -> None:
        frozen = self.rng.uniform(*self.args.frozen)
        record.detail = f"SIGSTOP for {frozen:.1f}s"
        process = self.cluster.nodes[party].process
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)
        try:
            probe = self._release_probe(party, record)
            self.stop.wait(max(0.0, frozen - 0.5))
        finally:
            os.kill(process.pid, signal.SIGCONT)
        self._end(record)
        self._finish_probe(probe, record)

    def _suspend(self, record: FaultRecord, target: str) -> None:
        channel, side = target.split("@")
        spoke = channel.split("-")[1]
        held = self.rng.uniform(*self.args.suspended)
        record.detail = f"{channel} suspended at {side} for {held:.1f}s"
        admin = self.sessions(side, "admin")
        retrying(lambda: admin.post(f"/api/v1/channels/{channel}/suspend"), "suspend", self.stop)
        # Across the channel: the hub to the spoke, or the spoke to the hub, at random.
        sender, recipient = (HUB, spoke) if self.rng.random() < 0.5 else (spoke, HUB)
        try:
            probe = self._release_probe(recipient, record, sender=sender)
            self.stop.wait(max(0.0, held - 0.5))
        finally:
            retrying(lambda: admin.post(f"/api/v1/channels/{channel}/resume"), "resume", self.stop)
        self._end(record)
        self._finish_probe(probe, record)

    def _db(self, record: FaultRecord, party: str) -> None:
        if self.args.database == "postgresql":
            self._pg_outage(record, party)
        else:
            self._sqlite_lock(record, party)

    def _pg_outage(self, record: FaultRecord, party: str) -> None:
        name = pg_database(self.cluster.nodes[party].settings.database_url)
        out = self.rng.uniform(*self.args.outage)
        record.detail = f"PostgreSQL database {name} refusing connections for {out:.1f}s"
        pg_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            pg_admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                name,
            )
            probe = self._release_probe(party, record)
            self.stop.wait(max(0.0, out - 0.5))
        finally:
            pg_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        self._end(record)
        self._finish_probe(probe, record)

    def _sqlite_lock(self, record: FaultRecord, party: str) -> None:
        path = self.cluster.nodes[party].root / "tisa.db"
        # Mostly within the node's 30 s busy timeout (writers wait), sometimes past it
        # (writers fail with "database is locked" and must recover).
        seconds = (
            self.rng.uniform(*self.args.outage)
            if self.rng.random() < 0.6
            else self.rng.uniform(33, 40)
        )
        record.detail = f"BEGIN EXCLUSIVE on {path.name} held {seconds:.1f}s by another process"
        holder = sqlite_lock(path, seconds)
        try:
            probe = self._release_probe(party, record)
        finally:
            try:
                holder.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait()
        self._end(record)
        self._finish_probe(probe, record)

    def _disk(self, record: FaultRecord, party: str) -> None:
        disk = self.disk
        assert disk is not None
        below = self.rng.uniform(*self.args.full)
        full = self.rng.uniform(*self.args.full)
        reserve = DISK_RESERVE_MB << 20
        disk.fill(leave=reserve // 2)
        record.notes.append(
            f"filled to {disk.free() >> 20} MiB free (reserve {DISK_RESERVE_MB} MiB) for "
            f"{below:.1f}s"
        )
        probe = attachment = None
        try:
            # Attachments to the node while it is below its reserve (products still fit).
            attachment = self._attachment_to(party, record)
            self.stop.wait(below)
            disk.fill(leave=0)
            record.notes.append(f"filled to {disk.free()} bytes free for {full:.1f}s")
            probe = self._release_probe(party, record)
            self.stop.wait(max(0.0, full - 0.5))
        finally:
            disk.clear()
        record.detail = f"tmpfs below reserve {below:.1f}s, then full {full:.1f}s"
        self._end(record)
        self._finish_probe(probe, record)
        if attachment is not None:
            self._attachment_arrival(attachment, party, record)

    def _attachment_arrival(self, product_id: str, party: str, record: FaultRecord) -> None:
        """When the attachment product released below the reserve reached `party`."""
        deadline = time.monotonic() + self.args.probe_wait
        held: dict[tuple[str, int], dict[str, Any]] = {}
        while time.monotonic() < deadline and not self.stop.is_set():
            with contextlib.suppress(Exception):
                held = self.stores.held(party, [product_id])
            if held:
                break
            time.sleep(0.25)
        if not held:
            record.notes.append(f"attachment product not at {party} {self.args.probe_wait}s on")
            return
        at = held[(product_id, 1)]["received_at"]
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        ended = datetime.fromisoformat(record.ended_at.replace("Z", "+00:00"))
        record.notes.append(
            f"attachment product stored at {party} {(at - ended).total_seconds():+.1f}s after "
            "the disk was freed" + (" (taken below the reserve)" if at < ended else "")
        )

    def _attachment_to(self, party: str, record: FaultRecord) -> str | None:
        """A product with an attachment from the hub to `party` (it must arrive once the disk
        is freed)."""
        try:
            v = Version(
                "", 1, HUB, tuple(sorted({HUB, party})), False, "PRIORITY", SCOPE[0], "SECRET"
            )
            size = 64 * 1024
            v.attachments[upload(self.sessions, self.stop, HUB, os.urandom(size), 0)] = size
            release_version(self.sessions, self.stop, v, "soak disk-full attachment")
            self.ledger.add(Product(v.product_id, HUB, "grant", [v]))
            self.ledger.count("attachments")
            record.notes.append(f"attachment product {v.product_id} released to {party}")
        except TisaError as exc:
            self.ledger.error("disk-full attachment", exc)
            return None
        return v.product_id

    # -- FLASH first after recovery --------------------------------------------------------------

    def _release_probe(
        self, recipient: str, record: FaultRecord, *, sender: str | None = None
    ) -> dict[str, Any] | None:
        """While `recipient` is cut off, release ROUTINE then FLASH products to it from a
        sender that can reach it only across the fault."""
        if sender is None:
            sender = "KOR" if recipient == HUB else HUB
        self.probe_counter += 1
        tag = f"probe{self.probe_counter}"
        made: dict[str, list[Version]] = {"ROUTINE": [], "FLASH": []}
        flash_released: datetime | None = None
        try:
            for precedence, n in (("ROUTINE", PROBE_ROUTINE), ("FLASH", PROBE_FLASH)):
                if precedence == "FLASH":
                    flash_released = datetime.now(UTC)
                for i in range(n):
                    v = Version(
                        "",
                        1,
                        sender,
                        tuple(sorted({sender, recipient})),
                        False,
                        precedence,
                        "dprk.missile.launch",
                        "SECRET",
                        probe=tag,
                    )
                    release_version(self.sessions, self.stop, v, f"{tag} {precedence} {i}")
                    self.ledger.add(Product(v.product_id, sender, "grant", [v]))
                    made[precedence].append(v)
        except TisaError as exc:
            record.notes.append(f"probe not released: {exc}")
            return None
        ids = [v.product_id for vs in made.values() for v in vs]
        try:
            in_flight = sorted(self.stores.in_flight(sender, ids))
        except Exception as exc:
            in_flight = []
            record.notes.append(f"sender outbox unreadable: {type(exc).__name__}")
        return {
            "tag": tag,
            "sender": sender,
            "recipient": recipient,
            "routine": [v.product_id for v in made["ROUTINE"]],
            "flash": [v.product_id for v in made["FLASH"]],
            "routine_in_flight_at_flash_release": [i for i in in_flight if i in ids],
            "flash_released_at": None if flash_released is None else flash_released.isoformat(),
        }

    def _finish_probe(self, probe: dict[str, Any] | None, record: FaultRecord) -> None:
        if probe is None:
            return
        record.probe = probe
        ids = probe["routine"] + probe["flash"]
        recipient = probe["recipient"]
        deadline = time.monotonic() + self.args.probe_wait
        held: dict[tuple[str, int], dict[str, Any]] = {}
        while time.monotonic() < deadline and not self.stop.is_set():
            with contextlib.suppress(Exception):
                held = self.stores.held(recipient, ids)
            if len(held) == len(ids):
                break
            time.sleep(0.25)
        order = {}
        with contextlib.suppress(Exception):
            order = self.stores.receive_order(recipient, ids)
        with contextlib.suppress(Exception):
            tries = self.stores.tries(probe["sender"], ids)
            probe["tries"] = [
                {"precedence": "FLASH" if i in probe["flash"] else "ROUTINE", **tries[i]}
                for i in ids
                if i in tries
            ]
        probe["received"] = len(held)
        probe["complete"] = len(held) == len(ids) and len(order) == len(ids)
        if not probe["complete"]:
            probe["flash_first"] = None
            probe["note"] = f"only {len(held)} of {len(ids)} arrived within {self.args.probe_wait}s"
            return
        ended = datetime.fromisoformat(record.ended_at.replace("Z", "+00:00"))
        times = {i: held[(i, 1)]["received_at"] for i in ids}
        times = {i: (t if t.tzinfo else t.replace(tzinfo=UTC)) for i, t in times.items()}
        flash_released = datetime.fromisoformat(probe["flash_released_at"])
        # A ROUTINE on its way (leased) when the FLASH was released, or stored before it was,
        # never waited with the FLASH: excused.
        excused = set(probe["routine_in_flight_at_flash_release"]) | {
            i for i in probe["routine"] if times[i] < flash_released
        }
        probe["arrivals_s_after_recovery"] = [
            ["F" if i in probe["flash"] else "R", round((times[i] - ended).total_seconds(), 3)]
            for i in sorted(ids, key=lambda x: order[x])
        ]
        probe["arrival_order"] = [
            "F" if i in probe["flash"] else ("r" if i in excused else "R")
            for i in sorted(ids, key=lambda x: order[x])
        ]
        probe["first_flash_after_recovery_s"] = round(
            min((times[i] - ended).total_seconds() for i in probe["flash"]), 3
        )
        probe["all_after_recovery_s"] = round(
            max((times[i] - ended).total_seconds() for i in ids), 3
        )
        if all(times[i] < ended for i in ids):
            # The fault never cut the recipient off from these (PostgreSQL is not on the full
            # disk, say): they arrived as released, and say nothing about a recovery.
            probe["flash_first"] = None
            probe["note"] = "not cut off: every probe product arrived during the fault"
            return
        flash = [order[i] for i in probe["flash"]]
        routine = [order[i] for i in probe["routine"] if i not in excused]
        probe["flash_first"] = not routine or max(flash) < min(routine)


def _probe_line(probe: dict[str, Any]) -> str:
    if probe.get("flash_first") is None:
        order = "".join(probe.get("arrival_order", []))
        return f"[probe {order} {probe.get('note', 'incomplete')}]"
    return (
        f"[probe {''.join(probe['arrival_order'])}: FLASH first {probe['flash_first']}, "
        f"first FLASH {probe['first_flash_after_recovery_s']:+.2f}s after recovery]"
    )


# -- settling and the final checks -------------------------------------------------------------


def settle(stores: Stores, ledger: Ledger, timeout: float, stop: threading.Event) -> dict[str, Any]:
    """Wait (bounded) until no node has anything pending and no consent request is open
    (except for recalled versions, which stay held for good)."""
    t0 = time.monotonic()
    quiet = 0
    last: dict[str, Any] = {}
    while time.monotonic() - t0 < timeout and not stop.is_set():
        recalled = {v.key for v in ledger.versions() if v.recalled}
        last = {}
        busy = False
        for party in PARTIES:
            try:
                backlog = stores.backlog(party)
            except Exception as exc:
                last[party] = f"unreadable: {type(exc).__name__}"
                busy = True
                continue
            open_requests = [r for r in backlog["open_requests"] if tuple(r) not in recalled]
            last[party] = {"pending": backlog["pending"], "open_requests": len(open_requests)}
            busy = busy or backlog["pending"] > 0 or bool(open_requests)
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            return {"settled": True, "seconds": round(time.monotonic() - t0, 1), "last": last}
        time.sleep(2.0)
    return {"settled": False, "seconds": round(time.monotonic() - t0, 1), "last": last}


class Checks:
    """The verdicts, each with how many things it looked at and what failed (a sample)."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}

    def add(self, name: str, checked: int, failures: list[Any], **extra: Any) -> None:
        self.results[name] = {
            "ok": not failures,
            "checked": checked,
            "failures": len(failures),
            "sample": [_plain(f) for f in failures[:10]],
            **extra,
        }

    @property
    def ok(self) -> bool:
        return all(r["ok"] for r in self.results.values())


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def check_stores(cluster: Cluster, stores: Stores, ledger: Ledger, checks: Checks) -> None:
    """Lost, duplicated, misrouted, receipts, delivery states, attachments."""
    snaps = {p: stores.snapshot(p) for p in PARTIES}
    held = {
        p: {
            (r["product_id"], r["version"]): r
            for r in snaps[p]["products"]
            if r["state"] != "draft"
        }
        for p in PARTIES
    }
    versions = [v for v in ledger.versions() if v.released]
    products = {v.product_id: ledger.products[v.product_id] for v in versions}
    known = {v.key for v in versions}

    lost, misrouted, recall_unmarked, stray = [], [], [], []
    expected_copies = 0
    for v in versions:
        allowed = allowed_parties(v, products[v.product_id])
        holders = {p for p in PARTIES if v.key in held[p]}
        for p in holders - allowed:
            misrouted.append({"product": v.key, "at": p, "allowed": sorted(allowed)})
        if v.recalled:
            for p in holders - {v.originator}:
                if held[p][v.key]["recalled_at"] is None:
                    recall_unmarked.append({"product": v.key, "at": p})
            continue
        expected_copies += len(allowed)
        for p in allowed - holders:
            lost.append({"product": v.key, "missing_at": p, "precedence": v.precedence})
    for p in PARTIES:
        for key, row in held[p].items():
            if key not in known and row["originator"] in PARTIES:
                stray.append({"product": key, "at": p, "state": row["state"]})
    checks.add(
        "lost",
        expected_copies,
        lost,
        note="every released, non-recalled version at every party its REL TO and consents allow",
    )
    checks.add("misrouted", sum(len(h) for h in held.values()), misrouted)
    checks.add("recalls marked at every holder", sum(v.recalled for v in versions), recall_unmarked)
    checks.add(
        "no version the soak did not release",
        sum(len(h) for h in held.values()),
        stray,
    )

    duplicates = []
    for p in PARTIES:
        for key, n in snaps[p]["receives"].items():
            if n > 1:
                duplicates.append({"product": key, "at": p, "received": n})
    checks.add(
        "duplicated",
        sum(sum(snaps[p]["receives"].values()) for p in PARTIES),
        duplicates,
        note="product.receive audit entries per version and node (rows are keyed, so a second "
        "arrival can only show there)",
    )

    # Receipts: at the originator, for every party that holds a version; each signature
    # verified against the recipient's pinned key.
    arrangement = load_arrangement(cluster.nodes[HUB].settings.paths.arrangement)
    trusts = {
        p: Trust(
            arrangement,
            p,
            SigningKey.from_pem(cluster.nodes[p].settings.paths.signing_key.read_bytes()),
        )
        for p in PARTIES
    }
    deliveries = {
        p: {(d["product_id"], d["version"], d["party"]): d for d in snaps[p]["deliveries"]}
        for p in PARTIES
    }
    missing_receipts, bad_receipts, wrong_states = [], [], []
    receipts_checked = 0
    for v in versions:
        holders = {p for p in PARTIES if v.key in held[p]} - {v.originator}
        for recipient in sorted(holders):
            d = deliveries[v.originator].get((*v.key, recipient))
            if d is None or d["receipt"] is None:
                missing_receipts.append(
                    {
                        "product": v.key,
                        "from": recipient,
                        "state": None if d is None else d["state"],
                    }
                )
                continue
            receipts_checked += 1
            try:
                body = trusts[v.originator].verify(Signed.RECEIPT, d["receipt"], signer=recipient)
            except TisaError as exc:
                bad_receipts.append({"product": v.key, "from": recipient, "error": str(exc)})
                continue
            digest = held[v.originator][v.key]["digest"]
            if (
                body.get("product_id") != v.product_id
                or body.get("version") != v.version
                or body.get("digest") != digest
                or body.get("recipient") != recipient
            ):
                bad_receipts.append({"product": v.key, "from": recipient, "error": "wrong fields"})
    checks.add(
        "receipts back at the originator",
        receipts_checked + len(missing_receipts),
        missing_receipts,
    )
    checks.add("receipt signatures", receipts_checked, bad_receipts)

    # Delivery states: at every node, "delivered" only where the party holds the version,
    # and where the party holds it (and was sent it by this node), "delivered".
    states: Counter[str] = Counter()
    recalled = {v.key for v in versions if v.recalled}
    for p in PARTIES:
        for (pid, version, party), d in deliveries[p].items():
            states[d["state"]] += 1
            holds = (pid, version) in held.get(party, {})
            wrong = (
                (d["state"] == "delivered" and not holds)
                or (holds and d["state"] != "delivered")
                # Still on its way after settling: only a recalled version may stay so.
                or (
                    not holds
                    and d["state"] in ("queued", "sent", "held")
                    and (pid, version) not in recalled
                )
            )
            if wrong:
                wrong_states.append(
                    {
                        "at": p,
                        "product": (pid, version),
                        "party": party,
                        "state": d["state"],
                        "holds": holds,
                    }
                )
    checks.add(
        "delivery states",
        sum(states.values()),
        wrong_states,
        states=dict(states),
    )

    # Attachments: every holder of a non-recalled version has each blob, and it hashes to
    # its digest when read back through the node's blob store.
    blob_failures = []
    blob_reads = 0
    blob_bytes = 0
    for p in PARTIES:
        paths = cluster.nodes[p].settings.paths
        blobs = BlobStore(paths.blobs, keyfile.load_key(paths.blob_key))
        blobs.open_store()
        hashed: dict[str, str] = {}
        for v in versions:
            if v.recalled or v.key not in held[p] or not v.attachments:
                continue
            for digest in v.attachments:
                if digest not in hashed:
                    h = hashlib.sha256()
                    try:
                        for chunk in blobs.open(digest):
                            h.update(chunk)
                            blob_bytes += len(chunk)
                        hashed[digest] = "sha256:" + h.hexdigest()
                    except TisaError as exc:
                        hashed[digest] = f"unreadable: {exc}"
                    blob_reads += 1
                if hashed[digest] != digest:
                    blob_failures.append(
                        {"product": v.key, "at": p, "digest": digest, "found": hashed[digest]}
                    )
    checks.add(
        "attachment digests",
        blob_reads,
        blob_failures,
        bytes_rehashed=blob_bytes,
    )

    dead = [dict(d, at=p) for p in PARTIES for d in snaps[p]["dead"]]
    checks.add("no dead letters", sum(sum(snaps[p]["outbox"].values()) for p in PARTIES), dead)
    pending = [
        {"at": p, "kind": k, "n": n}
        for p in PARTIES
        for (k, s), n in snaps[p]["outbox"].items()
        if s == "pending"
    ]
    checks.add("outboxes empty", len(PARTIES), pending)
    alarms = [dict(a, at_node=p) for p in PARTIES for a in snaps[p]["alarms"]]
    checks.add(
        "no audit alarms",
        len(PARTIES),
        alarms,
        note="audit.inconsistent entries: a peer's checkpoints that did not hold together",
    )


def audit_verify(cluster: Cluster, checks: Checks) -> None:
    failures = []
    outputs = {}
    for party, handle in cluster.nodes.items():
        done = subprocess.run(
            [sys.executable, "-m", "tisa", "audit", "verify", "--dir", str(handle.root), "--peers"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, "COLUMNS": "200"},
        )
        lines = (done.stdout + done.stderr).strip().splitlines()
        outputs[party] = lines[-1] if lines else ""
        if done.returncode != 0 or "not asked" in done.stdout + done.stderr:
            failures.append({"party": party, "rc": done.returncode, "output": lines[-12:]})
    checks.add("audit verify --peers", len(cluster.nodes), failures, last_lines=outputs)


def health(cluster: Cluster, checks: Checks) -> dict[str, Any]:
    """/healthz/ready on every node, and each node's supervised tasks from /metrics."""
    not_ready, tasks_down = [], []
    metrics: dict[str, Any] = {}
    for party, handle in cluster.nodes.items():
        with ApiClient(handle.settings.api_url, handle.cert_pem, timeout=30) as client:
            answer = client._http.get("/healthz/ready")
            body = answer.json()
            if answer.status_code != 200 or body.get("status") != "ok":
                not_ready.append(
                    {"party": party, "status": answer.status_code, "checks": body.get("checks")}
                )
        with cluster.session(party, "admin") as admin:
            text = admin.text("/metrics")
        mine: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            if family.name in (
                "tisa_task_restarts",
                "tisa_task_up",
                "tisa_sender_faults",
                "tisa_disk_full",
            ):
                for sample in family.samples:
                    if sample.name.endswith("_created"):
                        continue
                    label = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    mine[f"{sample.name}{{{label}}}"] = sample.value
                    if sample.name == "tisa_task_up" and sample.value != 1:
                        tasks_down.append({"party": party, "task": sample.labels})
        metrics[party] = mine
    checks.add("/healthz/ready", len(cluster.nodes), not_ready)
    checks.add(
        "supervised tasks up",
        sum(1 for m in metrics.values() for k in m if k.startswith("tisa_task_up")),
        tasks_down,
    )
    return metrics


# -- the run -----------------------------------------------------------------------------------


@contextlib.contextmanager
def pg_databases(enabled: bool, keep: bool) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database per node (dropped afterwards unless kept)."""
    if not enabled:
        yield {}
        return
    import psycopg

    tag = secrets.token_hex(4)
    names = {p: f"tisa_soak_{tag}_{p.lower()}" for p in PARTIES}
    try:
        with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=5) as conn:
            for name in names.values():
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchFailed(f"PostgreSQL at 127.0.0.1:5432: {exc}") from exc
    try:
        yield {p: f"{PG}/{n}" for p, n in names.items()}
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=5) as conn:
            for name in names.values():
                conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
                if not keep:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_reserve(cluster: Cluster, party: str, mb: int) -> None:
    """Give one node a smaller disk reserve (its data directory is a small tmpfs)."""
    import tomllib

    import tomli_w

    path = cluster.nodes[party].settings.paths.config
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["disk_reserve_mb"] = mb
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


def grant_standing_rules(cluster: Cluster, stop: threading.Event) -> list[str]:
    """The spokes' standing rules (STANDING), held at the hub before traffic starts."""
    ids = []
    with cluster.session("USA", "admin") as usa:
        for spoke, (recipient, topics, ceiling) in STANDING.items():
            with cluster.session(spoke, "officer") as officer:
                rule = officer.post(
                    "/api/v1/consents",
                    {"recipient": recipient, "topics": topics, "max_classification": ceiling},
                )
            ids.append(rule["id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop.is_set():
            held = {c["id"] for c in usa.get("/api/v1/consents")["consents"]}
            if set(ids) <= held:
                return ids
            time.sleep(0.2)
    raise BenchFailed("the hub did not receive the spokes' standing rules within 60 s")


_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


def node_log_findings(cluster: Cluster) -> dict[str, Any]:
    """Errors and warnings in each node's log, grouped by their first words (digits blanked)."""
    found: dict[str, Any] = {}
    for party, handle in cluster.nodes.items():
        kinds: Counter[str] = Counter()
        try:
            text = handle.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        in_traceback = False
        for line in text.splitlines():
            if in_traceback and line and not line.startswith((" ", "Traceback", "During", "The ")):
                # The exception that ended a traceback: what actually went wrong.
                kinds["raised: " + "".join("#" if c.isdigit() else c for c in line)[:140]] += 1
                in_traceback = False
            if line.startswith("Traceback"):
                in_traceback = True
            if any(word in line for word in ("ERROR", "WARNING", "CRITICAL")):
                line = _STAMP.sub("", line)
                key = "".join("#" if c.isdigit() else c for c in line)[:140]
                kinds[key] += 1
        found[party] = {"lines": sum(kinds.values()), "top": kinds.most_common(12)}
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    before = machine()
    base = Path(tempfile.mkdtemp(prefix="tisa-soak-"))
    disk: TmpfsDisk | None = None
    skipped: dict[str, str] = {}
    if "disk" in args.faults:
        disk = TmpfsDisk(base / DISK_NODE.lower(), args.tmpfs_mb)
        why = disk.mount()
        if why is not None:
            log(f"note: the full-filesystem fault is skipped: {why}")
            skipped["disk"] = why
            disk = None
    t_start = time.monotonic()
    try:
        with (
            pg_databases(args.database == "postgresql", args.keep) as databases,
            Cluster(base, databases=databases) as cluster,
            stop_on_sigterm(),
            node_logs_on_error(cluster),
        ):
            result = soak(args, cluster, disk)
            result["skipped_faults"] = skipped
            result["node_log_findings"] = node_log_findings(cluster)
            if args.keep:
                result["kept"] = str(base)
    finally:
        if disk is not None:
            disk.clear()
            if args.keep:
                log(f"{disk.root} stays mounted (tmpfs): `umount {disk.root}` when done")
            else:
                disk.unmount()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    result["machine_before"] = before
    result["machine_after"] = machine()
    result["command"] = args.command
    result["wall_s"] = round(time.monotonic() - t_start, 1)
    return result


def soak(args: argparse.Namespace, cluster: Cluster, disk: TmpfsDisk | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    cluster.create()
    if disk is not None:
        set_reserve(cluster, DISK_NODE, DISK_RESERVE_MB)
    cluster.start()
    stop = threading.Event()
    rules = grant_standing_rules(cluster, stop)
    log(f"network up in {time.perf_counter() - t0:.1f}s on {args.database}; standing rules held")
    stores = Stores(cluster)
    ledger = Ledger()
    window = args.minutes * 60.0
    traffic = [
        Traffic(
            party, round(args.products * SHARE[party]), window, cluster, ledger, stop, args.seed
        )
        for party in PARTIES
    ]
    desk_stop = threading.Event()
    desk = ConsentDesk(cluster, ledger, desk_stop)
    t_traffic = time.monotonic()
    for thread in traffic:
        thread.start()
    desk.start()
    chaos = Chaos(cluster, stores, ledger, stop, args, disk, t_traffic)
    try:
        chaos.run(until=t_traffic + window - 20)
        log(f"[{time.monotonic() - t_traffic:7.1f}s] faults done; waiting for traffic to finish")
        for thread in traffic:
            thread.join(timeout=max(1.0, t_traffic + window + 600 - time.monotonic()))
        if any(t.is_alive() for t in traffic):
            ledger.error("traffic", TisaError("a traffic thread did not finish in time"))
            stop.set()
        traffic_s = time.monotonic() - t_traffic
        log(f"[{traffic_s:7.1f}s] traffic done: {dict(ledger.counts)}; settling")
        settled = settle(stores, ledger, args.settle, threading.Event())
        log(f"settled: {settled}")
    finally:
        stop.set()
        desk_stop.set()
        desk.join(timeout=30)
        chaos.sessions.close()
    chaos.watchdog()

    checks = Checks()
    t_checks = time.monotonic()
    check_stores(cluster, stores, ledger, checks)
    audit_verify(cluster, checks)
    metrics = health(cluster, checks)
    probes = [r.probe for r in chaos.records if r.probe is not None]
    not_first = [
        {
            "fault": f"{r.kind} {r.target}",
            "order": r.probe.get("arrival_order"),
            "note": r.probe.get("note"),
        }
        for r in chaos.records
        if r.probe is not None
        and r.probe.get("flash_first") is not True
        and not str(r.probe.get("note", "")).startswith("not cut off")
    ]
    checks.add("FLASH first after each recovery", len(probes), not_first)
    checks.add("no node stopped by itself", len(PARTIES), chaos.unexpected)
    operations = sum(n for k, n in ledger.counts.items() if k != "attachment_bytes")
    checks.add("every operation of the workload done", operations, ledger.errors)
    checks.add("settled in time", 1, [] if settled["settled"] else [settled])
    stores.close()
    checks_s = time.monotonic() - t_checks

    versions = [v for v in ledger.versions() if v.released]
    after = [p for p in probes if p.get("first_flash_after_recovery_s") is not None]
    return {
        "benchmark": "soak",
        "ok": checks.ok,
        "database": args.database,
        "seed": args.seed,
        "config": {
            "products": args.products,
            "minutes": args.minutes,
            "faults": args.faults,
            "standing_rules": {k: list(v) for k, v in STANDING.items()},
            "standing_rule_ids": rules,
            "disk_node": DISK_NODE if disk is not None else None,
            "tmpfs_mb": args.tmpfs_mb if disk is not None else None,
            "disk_reserve_mb": DISK_RESERVE_MB if disk is not None else None,
            "tmpfs_used_mb_at_end": None
            if disk is None
            else round((shutil.disk_usage(disk.root).used) / 2**20, 1),
        },
        "workload": {
            "versions_released": len(versions),
            "products": len({v.product_id for v in versions}),
            "by_originator": dict(Counter(v.originator for v in versions)),
            "by_precedence": dict(Counter(v.precedence for v in versions)),
            "orcon": sum(v.orcon for v in versions),
            "with_attachments": sum(bool(v.attachments) for v in versions),
            "probe_products": sum(v.probe is not None for v in versions),
            "recalled": sum(v.recalled for v in versions),
            "amended": sum(v.version > 1 for v in versions),
            "consent_answers": dict(desk.answered),
            "counts": dict(ledger.counts),
            "traffic_s": round(traffic_s, 1),
        },
        "faults": [r.as_dict(t_traffic) for r in chaos.records],
        "fault_counts": dict(Counter(r.kind for r in chaos.records)),
        "flash_first": {
            "probes": len(probes),
            "flash_first": sum(p.get("flash_first") is True for p in probes),
            "not_cut_off": sum(str(p.get("note", "")).startswith("not cut off") for p in probes),
            "first_flash_after_recovery_s": sorted(
                p["first_flash_after_recovery_s"] for p in after
            ),
        },
        "settle": settled,
        "checks": checks.results,
        "checks_s": round(checks_s, 1),
        "metrics": metrics,
    }


def report(result: dict[str, Any]) -> None:
    w = result["workload"]
    print(
        f"soak on {result['database']} (seed {result['seed']}): {w['versions_released']} versions "
        f"of {w['products']} products in {w['traffic_s']:.0f}s "
        f"({w['by_originator']}; {w['orcon']} ORCON, {w['with_attachments']} with attachments, "
        f"{w['amended']} amendments, {w['recalled']} recalled; consents {w['consent_answers']})"
    )
    print(
        f"faults: {result['fault_counts']}"
        + (f"; skipped {result['skipped_faults']}" if result.get("skipped_faults") else "")
    )
    for f in result["faults"]:
        probe = "" if f["probe"] is None else " " + _probe_line(f["probe"])
        print(f"  {f['start_s']:7.1f}s  {f['kind']:<8} {f['target']:<12} {f['detail']}{probe}")
    print(f"settled: {result['settle']['settled']} after {result['settle']['seconds']}s")
    for name, r in result["checks"].items():
        mark = "ok  " if r["ok"] else "FAIL"
        print(f"  {mark} {name:<42} checked {r['checked']:>7}  failures {r['failures']}")
        for sample in r["sample"][:3]:
            print(f"         e.g. {json.dumps(sample, default=str)[:300]}")
    ff = result["flash_first"]
    print(
        f"FLASH first after recovery: {ff['flash_first']} of "
        f"{ff['probes'] - ff['not_cut_off']} probes "
        f"({ff['not_cut_off']} not cut off by their fault)"
    )
    print(f"verdict: {'PASS' if result['ok'] else 'FAIL'}; wall {result['wall_s']:.0f}s")


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=3000, help="products to release in all")
    parser.add_argument(
        "--minutes", type=float, default=12.0, help="traffic window (faults within it)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--faults",
        type=lambda s: [k.strip() for k in s.split(",") if k.strip()],
        default=list(FAULT_KINDS),
        help=f"comma-separated, from {','.join(FAULT_KINDS)}",
    )
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before the first fault")
    parser.add_argument("--gap", type=_range, default=(12.0, 25.0), help="seconds between faults")
    parser.add_argument("--down", type=_range, default=(3.0, 8.0), help="kill: seconds down")
    parser.add_argument("--frozen", type=_range, default=(4.0, 10.0), help="SIGSTOP: seconds")
    parser.add_argument("--suspended", type=_range, default=(5.0, 15.0), help="suspension: seconds")
    parser.add_argument(
        "--outage", type=_range, default=(4.0, 10.0), help="database outage: seconds"
    )
    parser.add_argument("--full", type=_range, default=(4.0, 8.0), help="disk: seconds per phase")
    parser.add_argument("--tmpfs-mb", type=int, default=512, help="size of the small filesystem")
    parser.add_argument(
        "--probe-wait", type=float, default=120.0, help="bound on a probe's arrival"
    )
    parser.add_argument("--settle", type=float, default=600.0, help="bound on the final settling")
    parser.add_argument("--keep", action="store_true", help="keep the nodes' folder and databases")
    parser.add_argument("--json", action="store_true", help="write bench/results/<name>.json")
    parser.add_argument("--name", default=None, help="results file name (default soak_<database>)")
    args = parser.parse_args()
    unknown = [k for k in args.faults if k not in FAULT_KINDS]
    if unknown:
        parser.error(f"unknown faults {unknown}; choose from {FAULT_KINDS}")
    args.name = args.name or f"soak_{args.database}"
    return finish(args, "soak.py", run, report)


if __name__ == "__main__":
    sys.exit(main())
