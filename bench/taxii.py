"""TAXII 2.1: tisa's server against the OASIS reference server (medallion) on the same objects.

Default mode (the issue's comparison, about 10,000 small objects):
1. A fresh cluster is created and KOR's node is seeded in process, before it starts, with
   N/4 released launch products through the node's own services (`drafts.create`, then
   `releases.release` by the release officer: real signed releases that enter the STIX feed
   in the release transaction). KOR's channel to the hub is suspended first, so nothing
   leaves. Each product is a `report`, a `note` and two `location`s (launch and impact point),
   marked by the three marking definitions every product shares; the feed also holds six
   common objects (identities, extension definitions). Only KOR's node is started.
2. Everything KOR serves is read once over HTTPS (bearer token, "Everything", limit 100 +
   next). Those objects, grouped per product into envelopes of `--per-post` products (each
   with the marking definitions it needs), are the data for both servers.
3. medallion 3.0.0 runs as a process on 127.0.0.1 (memory backend, HTTP, one read-write
   collection). The envelopes are POSTed to it (objects/s; a status still pending is polled
   until complete). tisa's two extension definitions are left out: medallion cannot serve a
   collection holding one (see MEDALLION_FAILS_ON).
4. On both: paging through every object (limit 100 + next), then a filtered read,
   match[type]=location + added_after halfway (the first half of the envelopes excluded),
   paged the same way. Both must return the same objects.
5. Last, the same envelopes are POSTed to tisa's "Drafts inbox": each report becomes a draft
   at KOR, checked as an analyst's draft is. That is not what medallion does with a POST
   (it appends the objects to a list); both rates are objects posted per second.

`--pg-objects N`: a node on a fresh PostgreSQL database holding N feed rows (N/7 products),
then ~200 filtered pages (match[type]=location, added_after at random points, limit 100).
The products are real signed releases written in batches by the bench with the release's
own store calls (see `fill_feed`), not through the release service, which would take hours.

Targets (issue, reported, not asserted): POST ≥ 20× medallion, paging and filtered reads
≥ 1,000× medallion; a filtered page from a node holding 1,000,000 objects p99 ≤ 50 ms on
PostgreSQL.

    python bench/taxii.py [--objects 10000] [--json]
    python bench/taxii.py --pg-objects 1000000 [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import (
    BenchFailed,
    finish,
    format_row,
    log,
    machine,
    node_logs_on_error,
    stop_on_sigterm,
    summary_ms,
)
from sqlalchemy import func, insert, select, text

from tisa.crypto.jws import payload_digest
from tisa.crypto.trust import Signed
from tisa.demo.network import Cluster, free_port
from tisa.domain.states import ProductState
from tisa.domain.wire import DraftIn, manifest_to_wire, parse, to_product
from tisa.errors import ConfigInvalid
from tisa.node.runtime import Runtime
from tisa.node.settings import Settings
from tisa.relay import stix_feed
from tisa.services.taxii import stamp
from tisa.store import products as stored
from tisa.store import stix
from tisa.store.database import Database
from tisa.store.tables import products as products_table
from tisa.store.tables import stix_objects

TAXII = "application/taxii+json;version=2.1"
ROOT = "/taxii2/tisa"
PARTY = "KOR"
# A product's objects: report, note, launch and impact location; and its feed rows, which
# add the three marking definitions (one row each per product; served once).
OBJECTS_PER_PRODUCT = 4
ROWS_PER_PRODUCT = 7
# In every feed once: tisa's identity, two extension definitions, three parties' identities;
# and the three marking definitions the products share (one row per product, served once).
COMMON_OBJECTS = 6
SHARED_MARKINGS = 3
TARGET_POST = 20.0
TARGET_READS = 1000.0
TARGET_PG_P99_MS = 50.0
# medallion 3.0.0 answers 500 to every GET of a collection holding an extension-definition:
# it reads that object's `version` property ("1.0.0") as a timestamp. tisa's two extension
# definitions are left out of medallion's data (and so of the posts); tisa serves them.
MEDALLION_FAILS_ON = frozenset({"extension-definition"})
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_NODE = "postgresql+psycopg://postgres@127.0.0.1:5432"


def launch_body(i: int) -> dict[str, Any]:
    """A small KOR launch report (API JSON): one observation with a launch and an impact
    point, SECRET, REL TO all three parties."""
    return {
        "title": f"TAXII bench launch {i}",
        "text": "One ballistic missile, tracked to impact.",
        "classification": "SECRET",
        "rel_to": ["USA", "KOR", "JPN"],
        "topics": ["dprk.missile.launch"],
        "source_reliability": "B",
        "information_credibility": "2",
        "observations": [
            {
                "kind": "missile-launch",
                "time": {"original": "2031-03-01T07:12+09:00", "qualifier": "about"},
                "missile_class": "SRBM",
                "launch_position": {"lat": 39.2 + (i % 97) / 1000, "lon": 125.67, "sigma_km": 5},
                "impact_position": {"lat": 39.8, "lon": 131.0 + (i % 89) / 1000, "sigma_km": 20},
                "apogee_km": {"value": 50, "qualifier": "about"},
            }
        ],
    }


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) a process has used so far (Linux /proc; else None)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@contextmanager
def busy(pid: int | None, into: dict[str, Any]) -> Iterator[None]:
    """Fill `into` with the CPU seconds a server process used while inside, and its share
    of one core (1.0 = a core busy the whole time: the server, not the client, is the limit)."""
    before, t0 = cpu_seconds(pid), time.perf_counter()
    try:
        yield
    finally:
        after, wall = cpu_seconds(pid), time.perf_counter() - t0
        if before is not None and after is not None:
            into["server_cpu_s"] = round(after - before, 2)
            into["server_cores_busy"] = round((after - before) / wall, 2)


# -- talking TAXII ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One response: its JSON body, headers, and the round trip (body read, not parsed)."""

    body: dict[str, Any]
    headers: httpx.Headers
    seconds: float


class Server:
    """One TAXII collection as the benchmark talks to it. Constructing it does no I/O."""

    def __init__(
        self, name: str, http: httpx.Client, objects: str, status: str, pid: int | None
    ) -> None:
        self.name = name
        self.http = http
        self.objects = objects
        self.status_path = status
        self.pid = pid

    def get(self, params: dict[str, str], path: str | None = None) -> Answer:
        """GET the collection's objects (or `path`).

        Raises:
            BenchFailed: any answer but 200.
        """
        t0 = time.perf_counter()
        response = self.http.get(path or self.objects, params=params)
        seconds = time.perf_counter() - t0
        if response.status_code != 200:
            raise BenchFailed(
                f"{self.name} GET {path or self.objects} {params}: "
                f"{response.status_code} {response.text[:300]}"
            )
        return Answer(response.json(), response.headers, seconds)

    def post(self, envelope: dict[str, Any]) -> Answer:
        """POST an envelope; the round trip includes polling a status that is still pending.

        Raises:
            BenchFailed: not accepted (202), or still pending after 10 minutes.
        """
        content = json.dumps(envelope).encode()
        headers = {"Content-Type": TAXII}
        t0 = time.perf_counter()
        response = self.http.post(self.objects, content=content, headers=headers)
        if response.status_code != 202:
            raise BenchFailed(f"{self.name} POST: {response.status_code} {response.text[:300]}")
        status = response.json()
        while status.get("status") == "pending":
            if time.perf_counter() - t0 > 600:
                raise BenchFailed(f"{self.name} status {status['id']} still pending")
            time.sleep(0.01)
            status = self.get({}, self.status_path.format(status["id"])).body
        return Answer(status, response.headers, time.perf_counter() - t0)


@dataclass
class Pass:
    """Paging through one query: every object, and each request's round trip."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What the results keep of a pass."""
        return {
            "objects": len(self.objects),
            "requests": len(self.seconds),
            "wall_s": round(self.wall, 3),
            "objects_per_s": round(len(self.objects) / self.wall, 1),
            "first_request_ms": round(self.seconds[0] * 1000, 2),
            "per_request_ms": summary_ms(self.seconds),
            **self.cpu,
        }


def page_through(server: Server, params: dict[str, str], what: str) -> Pass:
    """Every object a query returns, following `next` until `more` is false.

    Raises:
        BenchFailed: a request fails, or `more` comes without `next`.
    """
    done = Pass()
    query = dict(params)
    t0 = time.perf_counter()
    with busy(server.pid, done.cpu):
        while True:
            answer = server.get(query)
            done.seconds.append(answer.seconds)
            done.objects.extend(answer.body.get("objects", []))
            if len(done.seconds) == 1 and answer.seconds > 5:
                log(f"  {server.name} {what}: first page took {answer.seconds:.1f}s")
            if not answer.body.get("more"):
                break
            token = answer.body.get("next")
            if not token:
                raise BenchFailed(f"{server.name} {what}: more without next")
            query = {**params, "next": token}
    done.wall = time.perf_counter() - t0
    log(
        f"  {server.name} {what}: {len(done.objects)} objects in {len(done.seconds)} requests, "
        f"{done.wall:.2f}s"
    )
    return done


@dataclass
class Posted:
    """Posting envelopes: each status and each round trip."""

    statuses: list[dict[str, Any]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    objects: int = 0
    wall: float = 0.0
    cpu: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What the results keep of the posts."""
        return {
            "posts": len(self.seconds),
            "objects_posted": self.objects,
            "wall_s": round(self.wall, 3),
            "objects_per_s": round(self.objects / self.wall, 1),
            "status_total": sum(s.get("total_count", 0) for s in self.statuses),
            "status_success": sum(s.get("success_count", 0) for s in self.statuses),
            "status_failure": sum(s.get("failure_count", 0) for s in self.statuses),
            "per_post_ms": summary_ms(self.seconds),
            **self.cpu,
        }


def post_all(server: Server, envelopes: list[dict[str, Any]]) -> Posted:
    """POST every envelope, one after another.

    Raises:
        BenchFailed: a post is refused.
    """
    done = Posted(objects=sum(len(e["objects"]) for e in envelopes))
    t0 = time.perf_counter()
    with busy(server.pid, done.cpu):
        for i, envelope in enumerate(envelopes):
            answer = server.post(envelope)
            done.statuses.append(answer.body)
            done.seconds.append(answer.seconds)
            if (i + 1) % max(1, len(envelopes) // 5) == 0:
                log(f"  {server.name} POST: {i + 1}/{len(envelopes)} envelopes")
    done.wall = time.perf_counter() - t0
    log(f"  {server.name} POST: {done.objects} objects in {done.wall:.2f}s")
    return done


def envelopes_of(objects: list[dict[str, Any]], per_post: int) -> list[dict[str, Any]]:
    """The served objects as envelopes to post: `per_post` products each (every report with
    the notes and locations it refers to), with the marking definitions they carry (a report
    is only a draft with its markings, so every envelope carries them); the common objects no
    product refers to go in the first. Every other object is posted once, in feed order."""
    by_id = {o["id"]: o for o in objects}
    reports = [o for o in objects if o["type"] == "report"]
    groups: list[list[dict[str, Any]]] = []
    for start in range(0, len(reports), per_post):
        group: list[dict[str, Any]] = []
        for report in reports[start : start + per_post]:
            notes = [by_id[r] for r in report["object_refs"] if r.startswith("note--")]
            places = [r for n in notes for r in n["object_refs"] if r.startswith("location--")]
            group += [report, *notes, *(by_id[r] for r in places)]
        markings = dict.fromkeys(m for o in group for m in o.get("object_marking_refs", []))
        groups.append(group + [by_id[m] for m in markings])
    placed = {o["id"] for group in groups for o in group}
    groups[0] = [o for o in objects if o["id"] not in placed] + groups[0]
    return [{"objects": group} for group in groups]


def versions(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(id, version) of each object, to compare what two servers returned."""
    return {(o["id"], str(o.get("modified") or o.get("created"))) for o in objects}


# -- the servers -----------------------------------------------------------------------------


def seed_releases(settings: Settings, passwords: dict[str, str], count: int) -> float:
    """Release `count` launch products at KOR in process, through the node's own services
    (`drafts.create`, then `releases.release` by the release officer), before the node
    starts; KOR's channel to the hub is suspended first, so they stay queued. Returns the
    seconds it took.

    Raises:
        TisaError: a draft or release refused (the products are within every rule).
    """
    with Runtime(settings) as rt:
        analyst, officer, admin = (
            rt.accounts.authenticate(f"kor-{role}", passwords[f"kor-{role}"])
            for role in ("analyst", "officer", "admin")
        )
        rt.channels.set_channel(admin, "KOR-USA", suspended=True)
        t0 = time.perf_counter()
        for i in range(count):
            product = rt.drafts.create(analyst, parse(DraftIn, launch_body(i)))
            rt.releases.release(officer, product.id, 1)
            if (i + 1) % max(1, count // 5) == 0:
                log(f"  seeded {i + 1}/{count} products")
        return time.perf_counter() - t0


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Trust exactly the node's own certificate (as tisa's ApiClient does)."""
    return ssl.create_default_context(cadata=settings.paths.tls_cert.read_text(encoding="ascii"))


@contextmanager
def tisa_collections(
    cluster: Cluster, timeout: float
) -> Iterator[tuple[Server, Server, dict[str, str]]]:
    """KOR's "Everything" collection (read, as KOR's analyst) and its "Drafts inbox" (write),
    over HTTPS with a bearer token from `POST /api/v1/session`; and every collection's id by
    title."""
    handle = cluster.nodes[PARTY]
    with cluster.session(PARTY, "analyst") as api:
        token = api.token
    headers = {"Accept": TAXII, "Authorization": f"Bearer {token}"}
    pid = None if handle.process is None else handle.process.pid
    with httpx.Client(
        base_url=handle.settings.api_url,
        verify=tls_context(handle.settings),
        headers=headers,
        timeout=timeout,
        trust_env=False,
    ) as http:
        listed = http.get(f"{ROOT}/collections/")
        if listed.status_code != 200:
            raise BenchFailed(f"tisa collections: {listed.status_code} {listed.text[:300]}")
        ids = {c["title"]: c["id"] for c in listed.json()["collections"]}
        status = ROOT + "/status/{}/"
        read = Server("tisa", http, f"{ROOT}/collections/{ids['Everything']}/objects/", status, pid)
        inbox = Server(
            "tisa", http, f"{ROOT}/collections/{ids['Drafts inbox']}/objects/", status, pid
        )
        yield read, inbox, ids


@contextmanager
def medallion(workdir: Path, timeout: float) -> Iterator[Server]:
    """medallion (the OASIS TAXII 2.1 reference server) as a process on 127.0.0.1: memory
    backend, HTTP Basic, one empty read-write collection; stopped on the way out.

    Raises:
        BenchFailed: it did not answer within 30 s (its log tail is shown).
    """
    port = free_port()
    password = secrets.token_urlsafe(12)
    collection = str(uuid.uuid4())
    root = f"http://127.0.0.1:{port}/bench/"
    data = {
        "/discovery": {
            "title": "medallion (tisa benchmark)",
            "default": root,
            "api_roots": [root],
        },
        "bench": {
            "information": {
                "title": "bench",
                "versions": [TAXII],
                "max_content_length": 100 * 1024 * 1024,
            },
            "status": [],
            "collections": [
                {
                    "id": collection,
                    "title": "bench",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(workdir / "medallion-data.json"),
            # `next` sessions outlive the slowest first page (the default is 30 s).
            "session_timeout": 24 * 3600,
            "check_interval": 60,
        },
        "users": {"bench": password},
        "taxii": {"max_page_size": 1000},
    }
    (workdir / "medallion-data.json").write_text(json.dumps(data), encoding="utf-8")
    (workdir / "medallion.json").write_text(json.dumps(config), encoding="utf-8")
    log_path = workdir / "medallion.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "medallion.scripts.run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                str(workdir / "medallion.json"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            auth=("bench", password),
            headers={"Accept": TAXII},
            timeout=timeout,
            trust_env=False,
        ) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/taxii2/").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace").splitlines()[-15:]
                    raise BenchFailed("medallion did not start:\n" + "\n".join(tail))
                time.sleep(0.1)
            yield Server(
                "medallion",
                http,
                f"/bench/collections/{collection}/objects/",
                "/bench/status/{}/",
                process.pid,
            )
    except BaseException:
        tail = log_path.read_text(errors="replace").splitlines()[-25:]
        log("--- medallion log (last lines) ---\n" + "\n".join(tail))
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the comparison --------------------------------------------------------------------------


def added_of(server: Server, object_id: str) -> str:
    """When tisa added an object to its feed (X-TAXII-Date-Added-First of the object)."""
    answer = server.get({}, f"{server.objects}{object_id}/")
    return str(answer.headers["X-TAXII-Date-Added-First"])


def just_before(moment: str) -> str:
    """A TAXII timestamp 1 µs before `moment`, so `added_after` includes what was added then."""
    return stamp(stix_feed.micros(moment) - 1)


def run_compare(args: argparse.Namespace) -> dict[str, Any]:
    before = machine()
    count = max(1, round((args.objects - COMMON_OBJECTS - SHARED_MARKINGS) / OBJECTS_PER_PRODUCT))
    limit = {"limit": str(args.limit)}
    with (
        stop_on_sigterm(),
        tempfile.TemporaryDirectory(prefix="tisa-bench-taxii-") as tmp,
        Cluster(Path(tmp)) as cluster,
        node_logs_on_error(cluster),
    ):
        seeded: dict[str, float] = {}

        def seed(c: Cluster) -> None:
            log(f"seeding KOR with {count} released products (in process, before it starts)")
            seeded["s"] = seed_releases(c.nodes[PARTY].settings, c.passwords, count)

        start_kor(cluster, seed)
        with (
            tisa_collections(cluster, args.timeout) as (tisa, inbox, _),
            medallion(Path(tmp), args.timeout) as med,
        ):
            log("tisa: reading everything once (the data for both servers; warms its caches)")
            served = page_through(tisa, limit, "first pass")
            if len(versions(served.objects)) != len(served.objects):
                raise BenchFailed("tisa served an object twice")
            objects = [o for o in served.objects if o["type"] not in MEDALLION_FAILS_ON]
            envelopes = envelopes_of(objects, args.per_post)
            half = len(envelopes) // 2
            later = {o["id"] for e in envelopes[half:] for o in e["objects"]}
            expected_filtered = {
                o["id"] for o in objects if o["type"] == "location" and o["id"] in later
            }

            log("tisa: paging through everything, timed")
            tisa_pages = page_through(tisa, limit, "paging")
            first_later = envelopes[half]["objects"][0]
            if first_later["type"] != "report":
                raise BenchFailed("the second half's first envelope does not start with a report")
            tisa_after = just_before(added_of(tisa, first_later["id"]))
            log(f"tisa: match[type]=location, added_after={tisa_after}")
            tisa_filtered = page_through(
                tisa, {"match[type]": "location", "added_after": tisa_after, **limit}, "filtered"
            )

            log(f"medallion: POST {len(envelopes)} envelopes")
            med_post = post_all(med, envelopes)
            if med_post.summary()["status_success"] != len(objects):
                raise BenchFailed(
                    f"medallion stored {med_post.summary()['status_success']} objects, "
                    f"not {len(objects)}"
                )
            log("medallion: paging through everything (its first page filters the whole list)")
            med_pages = page_through(med, limit, "paging")
            med_after = str(med_post.statuses[half - 1]["request_timestamp"])
            log(f"medallion: match[type]=location, added_after={med_after}")
            med_filtered = page_through(
                med, {"match[type]": "location", "added_after": med_after, **limit}, "filtered"
            )

            log(f"tisa: POST the same {len(envelopes)} envelopes to the drafts inbox")
            tisa_post = post_all(inbox, envelopes)

        checks = {
            "same_objects_paged": versions(tisa_pages.objects) == versions(served.objects)
            and versions(med_pages.objects) == versions(objects),
            "same_objects_filtered": {o["id"] for o in tisa_filtered.objects}
            == {o["id"] for o in med_filtered.objects}
            == expected_filtered,
            "every_report_drafted": tisa_post.summary()["status_success"]
            == sum(1 for o in objects if o["type"] == "report"),
        }
        if not all(checks.values()):
            raise BenchFailed(f"the servers disagree: {checks}")

    result_tisa = {
        "post": tisa_post.summary(),
        "paging": tisa_pages.summary(),
        "paging_first_pass": served.summary(),
        "filtered": tisa_filtered.summary(),
    }
    result_med = {
        "post": med_post.summary(),
        "paging": med_pages.summary(),
        "filtered": med_filtered.summary(),
    }
    ratios = {
        "post_objects_per_s_tisa_over_medallion": round(
            result_tisa["post"]["objects_per_s"] / result_med["post"]["objects_per_s"], 3
        ),
        "paging_wall_medallion_over_tisa": round(med_pages.wall / tisa_pages.wall, 1),
        "filtered_wall_medallion_over_tisa": round(med_filtered.wall / tisa_filtered.wall, 1),
        "filtered_first_page_medallion_over_tisa": round(
            med_filtered.seconds[0] / tisa_filtered.seconds[0], 1
        ),
        "paging_first_page_medallion_over_tisa": round(
            med_pages.seconds[0] / tisa_pages.seconds[0], 1
        ),
    }
    return {
        "benchmark": "taxii",
        "command": args.command,
        "params": {"objects": args.objects, "limit": args.limit, "per_post": args.per_post},
        "machine_before": before,
        "machine_after": machine(),
        "data": {
            "products": count,
            "objects_tisa_serves": len(served.objects),
            "objects": len(objects),
            "left_out_for_medallion": sorted(MEDALLION_FAILS_ON),
            "by_type": dict(Counter(o["type"] for o in served.objects)),
            "feed_rows": count * ROWS_PER_PRODUCT + COMMON_OBJECTS,
            "envelopes": len(envelopes),
            "objects_posted": med_post.objects,
            "filtered_expected": len(expected_filtered),
            "seed_s": round(seeded["s"], 2),
            "seed_ms_per_product": round(seeded["s"] / count * 1000, 2),
        },
        "checks": checks,
        "tisa": result_tisa,
        "medallion": result_med,
        "ratios": ratios,
        "targets": {
            "post_x_medallion": TARGET_POST,
            "paging_x_medallion": TARGET_READS,
            "filtered_x_medallion": TARGET_READS,
        },
        "met": {
            "post": ratios["post_objects_per_s_tisa_over_medallion"] >= TARGET_POST,
            "paging": ratios["paging_wall_medallion_over_tisa"] >= TARGET_READS,
            "filtered": ratios["filtered_wall_medallion_over_tisa"] >= TARGET_READS,
        },
    }


def start_kor(cluster: Cluster, prepare: Callable[[Cluster], None]) -> None:
    """Create the three nodes, `prepare` KOR's store, and start KOR's node alone (the
    benchmark reads and writes one node; nothing it holds is sent anywhere).

    Raises:
        BenchFailed: a node could not be created or KOR's did not come up.
    """
    t0 = time.perf_counter()
    try:
        cluster.create()
        prepare(cluster)
        cluster.start(PARTY)
    except ConfigInvalid as exc:
        raise BenchFailed(f"KOR's node did not start: {exc}") from exc
    url = cluster.nodes[PARTY].settings.api_url
    log(f"KOR up {time.perf_counter() - t0:.1f}s after creating the cluster: {url}")


# -- PostgreSQL: a filtered page from a large feed -------------------------------------------


@contextmanager
def pg_database(keep: bool) -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1 (trust auth), dropped afterwards unless kept.

    Raises:
        BenchFailed: PostgreSQL is not there.
    """
    import psycopg

    name = f"tisa_bench_taxii_{secrets.token_hex(4)}"
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


def fill_feed(settings: Settings, rows: int, batch: int) -> dict[str, Any]:
    """Fill the node's store with about `rows` feed rows: rows / 7 launch products released
    at KOR, `batch` to a transaction.

    Each product is what a release writes: the draft's body (`manifest_to_wire`), signed with
    the node's key (`Trust.sign`), stored as released with its manifest and digest (the row
    `insert_product` + `mark_released` leave, inserted for the whole batch at once), and
    added to the STIX feed by `stix_feed.add_version`, the release's own call. Left out: the
    gate's release rules (these products pass them), the outbox and deliveries (nothing is
    sent) and the audit entry. Reading checks each of them as any other: its signature, its
    stored body, the gate.

    Raises:
        TisaError: a product the node refuses to sign or export.
    """
    count = math.ceil(rows / ROWS_PER_PRODUCT)
    t0 = time.perf_counter()
    with Runtime(settings) as rt:
        ctx = rt.ctx
        for start in range(0, count, batch):
            made = []
            for i in range(start, min(count, start + batch)):
                now = ctx.clock()
                product = to_product(
                    parse(DraftIn, launch_body(i)),
                    id=str(uuid.uuid4()),
                    version=1,
                    originator=ctx.party,
                    author="kor-analyst",
                    created_at=now,
                )
                body = manifest_to_wire(product, ctx.arrangement.digest)
                token = ctx.trust.sign(Signed.PRODUCT, body)
                new = stored.NewVersion(
                    product_id=product.id,
                    version=1,
                    originator=product.originator,
                    classification=int(product.classification),
                    precedence=product.precedence.value,
                    title=product.title,
                    topics=sorted(product.topics),
                    state=ProductState.RELEASED,
                    body=body,
                    author=product.author,
                    created_at=now,
                    manifest=token,
                    digest=payload_digest(token),
                )
                made.append((product, new))
            with ctx.db.begin() as conn:
                conn.execute(
                    insert(products_table),
                    [
                        {
                            **new.__dict__,
                            "state": new.state.value,
                            "released_at": new.created_at,
                            "released_by": "kor-officer",
                        }
                        for _, new in made
                    ],
                )
                for product, new in made:
                    stix_feed.add_version(conn, ctx.arrangement, ctx.party, product, new.created_at)
            done = min(count, start + batch)
            if done % max(batch, (count // 10) // batch * batch) == 0 or done == count:
                elapsed = time.perf_counter() - t0
                log(f"  {done}/{count} products, {done * ROWS_PER_PRODUCT / elapsed:,.0f} rows/s")
        with ctx.db.begin() as conn:
            t = stix_objects.c
            held = conn.execute(select(func.count()).select_from(stix_objects)).scalar_one()
            first, last = conn.execute(select(func.min(t.added_us), func.max(t.added_us))).one()
        fill_s = time.perf_counter() - t0
        # What autovacuum would do on a node that has been running: statistics for the planner.
        t1 = time.perf_counter()
        with ctx.db.begin() as conn:
            conn.execute(text("ANALYZE stix_objects"))
            conn.execute(text("ANALYZE products"))
        analyze_s = time.perf_counter() - t1
    return {
        "products": count,
        "rows": int(held),
        "seconds": round(fill_s, 1),
        "rows_per_s": round(held / fill_s),
        "analyze_s": round(analyze_s, 2),
        "added_us": [int(first), int(last)],
    }


def store_pages(settings: Settings, points: list[int]) -> dict[str, Any]:
    """The first query of each filtered request alone (`stix.page`, as the TAXII service runs
    it: 200 rows of the collection after the point, in feed order), timed in this process
    on the same database; and PostgreSQL's plans at the earliest, median and latest point."""
    seconds = []
    with Database(settings.database_url) as db:
        for point in points:
            query = stix.Query(added_after_us=point, types=frozenset({"location"}))
            t0 = time.perf_counter()
            with db.read() as conn:
                found = stix.page(conn, query, 200)
            seconds.append(time.perf_counter() - t0)
            if not found:
                raise BenchFailed(f"stix.page found nothing after {point}")
        plans = {}
        ordered = sorted(points)
        at = {"earliest": ordered[0], "median": ordered[len(ordered) // 2], "latest": ordered[-1]}
        for name, point in at.items():
            query = stix.Query(added_after_us=point, types=frozenset({"location"}))
            with db.read() as conn:
                statement = stix.page_statement(conn, query, 200)
                compiled = statement.compile(conn, compile_kwargs={"literal_binds": True})
                lines = conn.execute(text(f"EXPLAIN ANALYZE {compiled}")).scalars().all()
            plans[name] = [str(line) for line in lines]
    return {"per_query_ms": summary_ms(seconds), "plans": plans}


def run_pg(args: argparse.Namespace) -> dict[str, Any]:
    before = machine()
    rng = random.Random(args.seed)
    with (
        stop_on_sigterm(),
        pg_database(args.keep) as url,
        tempfile.TemporaryDirectory(prefix="tisa-bench-taxii-pg-") as tmp,
        Cluster(Path(tmp), databases={PARTY: url}) as cluster,
        node_logs_on_error(cluster),
    ):
        filled: dict[str, Any] = {}

        def fill(c: Cluster) -> None:
            log(f"filling KOR's store on PostgreSQL with {args.pg_objects:,} feed rows")
            filled.update(fill_feed(c.nodes[PARTY].settings, args.pg_objects, args.batch))
            log(
                f"filled: {filled['rows']:,} rows in {filled['seconds']:.0f}s "
                f"({filled['rows_per_s']:,}/s); ANALYZE {filled['analyze_s']}s"
            )

        start_kor(cluster, fill)
        first, last = filled["added_us"]
        # Points in the feed's first 99 %: every request can fill its page.
        points = [rng.randint(first, first + (last - first) * 99 // 100) for _ in range(args.n)]
        with tisa_collections(cluster, args.timeout) as (tisa, _, _):
            for point in points[: args.warmup]:
                tisa.get({"match[type]": "location", "added_after": stamp(point), "limit": "100"})
            seconds: list[float] = []
            returned: list[int] = []
            cpu: dict[str, Any] = {}
            log(f"timing {args.n} filtered pages at random points")
            t0 = time.perf_counter()
            with busy(tisa.pid, cpu):
                for point in points:
                    answer = tisa.get(
                        {
                            "match[type]": "location",
                            "added_after": stamp(point),
                            "limit": str(args.limit),
                        }
                    )
                    objects = answer.body.get("objects", [])
                    seconds.append(answer.seconds)
                    returned.append(len(objects))
            wall = time.perf_counter() - t0
            if min(returned) < args.limit:
                raise BenchFailed(f"a page held {min(returned)} objects, not {args.limit}")
        log("timing the store's page query alone at the same points")
        sql = store_pages(cluster.nodes[PARTY].settings, points)
    stats = summary_ms(seconds)
    return {
        "benchmark": "taxii_pg",
        "command": args.command,
        "params": {
            "pg_objects": args.pg_objects,
            "n": args.n,
            "warmup": args.warmup,
            "limit": args.limit,
            "batch": args.batch,
            "seed": args.seed,
        },
        "machine_before": before,
        "machine_after": machine(),
        "fill": filled,
        "filtered_page": {
            "query": "match[type]=location, added_after at a random point, limit "
            f"{args.limit}, over HTTPS with a bearer token",
            "objects_per_page": args.limit,
            "wall_s": round(wall, 2),
            "per_request_ms": stats,
            **cpu,
        },
        "store_page_query": sql,
        "target_p99_ms": TARGET_PG_P99_MS,
        "met": {"p99": stats["p99"] <= TARGET_PG_P99_MS},
    }


# -- report ------------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> None:
    if result["benchmark"] == "taxii_pg":
        fill = result["fill"]
        print(
            f"TAXII on PostgreSQL: {fill['rows']:,} feed rows ({fill['products']:,} products), "
            f"filled in {fill['seconds']:.0f}s"
        )
        page = result["filtered_page"]
        print(format_row("filtered page (location, added_after, 100)", page["per_request_ms"]))
        alone = result["store_page_query"]["per_query_ms"]
        print(format_row("  its first store query alone", alone))
        for name, plan in result["store_page_query"]["plans"].items():
            said = [line.strip() for line in plan if "Scan" in line or "Removed" in line]
            print(f"  plan at the {name} point: " + "; ".join(said))
        met = "met" if result["met"]["p99"] else "MISSED"
        print(f"target p99 ≤ {TARGET_PG_P99_MS:.0f} ms: {met}")
        return
    data = result["data"]
    print(
        f"TAXII: tisa (KOR, SQLite, HTTPS) vs medallion 3.0.0 (memory, HTTP), "
        f"{data['objects']:,} objects from {data['products']:,} products"
    )
    for label, key in (("POST", "post"), ("paging", "paging"), ("filtered", "filtered")):
        for name in ("tisa", "medallion"):
            part = result[name][key]
            rate = f"{part['objects_per_s']:>10,.1f} objects/s"
            count = part.get("requests", part.get("posts"))
            print(f"{label:<9} {name:<10} wall {part['wall_s']:9.2f}s  {rate}  {count:>4} requests")
            per = part.get("per_request_ms", part.get("per_post_ms"))
            print(format_row(f"            {name} per request", per))
    ratios = result["ratios"]
    met = result["met"]
    print(
        f"POST tisa/medallion {ratios['post_objects_per_s_tisa_over_medallion']}× "
        f"(target ≥ {TARGET_POST:.0f}×: {'met' if met['post'] else 'MISSED'})"
    )
    print(
        f"paging medallion/tisa {ratios['paging_wall_medallion_over_tisa']}× "
        f"(target ≥ {TARGET_READS:.0f}×: {'met' if met['paging'] else 'MISSED'})"
    )
    print(
        f"filtered medallion/tisa {ratios['filtered_wall_medallion_over_tisa']}× "
        f"(target ≥ {TARGET_READS:.0f}×: {'met' if met['filtered'] else 'MISSED'})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=10_000, help="objects to compare on")
    parser.add_argument("--per-post", type=int, default=25, help="products per envelope")
    parser.add_argument("--limit", type=int, default=100, help="page size")
    parser.add_argument(
        "--pg-objects", type=int, default=None, help="instead: a PostgreSQL feed of N rows"
    )
    parser.add_argument("-n", type=int, default=200, help="filtered pages timed (PG mode)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed pages first (PG mode)")
    parser.add_argument("--batch", type=int, default=1000, help="products a transaction (PG)")
    parser.add_argument("--seed", type=int, default=1, help="random points (PG mode)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per request")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--name", default=None, help="results file (taxii or taxii_pg)")
    args = parser.parse_args()
    pg = args.pg_objects is not None
    args.name = args.name or ("taxii_pg" if pg else "taxii")
    return finish(args, "taxii.py", run_pg if pg else run_compare, report)


if __name__ == "__main__":
    raise SystemExit(main())
