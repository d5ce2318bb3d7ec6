"""Attachments KOR → USA (hub) → JPN: throughput, peak memory per node, FLASH under a bulk load.

Starts a fresh three-node cluster on 127.0.0.1, has KOR give USA a standing rule for
dprk.missile.* to JPN, and then:

  1. FLASH latency on an idle network: a few FLASH products (no attachment), each released at
     KOR and polled at JPN until it is held (release returned → visible at JPN), plus the
     node-side figure (JPN received_at − KOR released_at, no polling in it).
  2. Upload of a SIZE MiB data file (application/octet-stream) at KOR, timed on its own:
     the streamed POST /api/v1/uploads until the node answers (it has then typed, "scrubbed"
     (copied), encrypted and stored it).
  3. Release of a ROUTINE product naming it, and the whole path through the hub: from KOR's
     released_at to JPN's received_at (node-side clocks, same machine), split into the two hops
     with USA's received_at; MB/s = SIZE / that. The client-observed figure (release call →
     the poll that found it at JPN) is reported too.
  4. While the bulk moves, FLASH products released one after another (with a pause between)
     and timed as in 1; each is classed by where the bulk was when it was released (on its way
     to USA, or on its way to JPN) from the node-side timestamps.
  5. The file downloaded back from JPN and its SHA-256 checked (and timed), unless --no-verify.

Memory: every 0.2 s a sampler reads VmRSS of each node process from /proc/<pid>/status and
keeps the highest per phase; VmHWM (the kernel's own high-water mark since the process
started) is read at the end. Disk usage of each node's data directory is reported too.

Targets (issue): ≥ 150 MB/s through the hub; ≤ 200 MB peak RSS per node.

    python bench/attachments.py [--size-mb 2048] [--json]

The data file is a random 1 MiB block written over and over (nothing on the path compresses,
so this is as good as random data and quick to make); MB here are MiB (2**20 bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
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
    start_cluster,
    stop_on_sigterm,
    summary_ms,
    wait_for,
)

from tisa.api.client import ApiClient
from tisa.blobs.format import HEADER_SIZE
from tisa.demo.network import Cluster

MIB = 1024 * 1024
TARGET_MBPS = 150.0
TARGET_RSS_MB = 200.0
PARTIES = ("KOR", "USA", "JPN")


# -- memory ----------------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class RssSampler:
    """Samples VmRSS of each node process every `every` seconds in a thread; the peak per
    node for each phase (the phase is whatever `phase` was set to when sampled)."""

    def __init__(self, cluster: Cluster, every: float = 0.2) -> None:
        self.cluster = cluster
        self.every = every
        self.phase = "idle"
        self.peaks: dict[str, dict[str, int]] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _pids(self) -> dict[str, int]:
        return {
            p: h.process.pid
            for p, h in self.cluster.nodes.items()
            if h.process is not None and h.process.poll() is None
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            phase = self.phase
            for party, pid in self._pids().items():
                kb = _status_kb(pid, "VmRSS")
                if kb is not None:
                    at = self.peaks.setdefault(phase, {})
                    at[party] = max(at.get(party, 0), kb)
            self.samples += 1
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def high_water(self) -> dict[str, int | None]:
        """VmHWM (kB) of each running node: its peak RSS since it started."""
        return {p: _status_kb(pid, "VmHWM") for p, pid in self._pids().items()}


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


# -- files and the raw API ------------------------------------------------------------------


def make_file(path: Path, size_mb: int) -> str:
    """Write `size_mb` MiB (one random block, repeated) to `path`; its sha256 address."""
    block = os.urandom(MIB)
    hasher = hashlib.sha256()
    with path.open("wb") as handle:
        for _ in range(size_mb):
            handle.write(block)
            hasher.update(block)
    return "sha256:" + hasher.hexdigest()


def upload(cluster: Cluster, token: str, path: Path, timeout: float) -> dict[str, Any]:
    """Stream `path` to KOR's POST /api/v1/uploads; the node's answer."""
    handle = cluster.nodes["KOR"]
    context = ssl.create_default_context(cadata=handle.cert_pem.decode("ascii"))

    def blocks() -> Any:
        with path.open("rb") as f:
            while block := f.read(MIB):
                yield block

    with httpx.Client(
        base_url=handle.settings.api_url,
        verify=context,
        timeout=httpx.Timeout(timeout, connect=10),
    ) as http:
        answer = http.post(
            "/api/v1/uploads",
            params={"name": path.name},
            content=blocks(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/octet-stream",
                "Content-Length": str(path.stat().st_size),
            },
        )
    if answer.status_code != 201:
        raise BenchFailed(f"upload refused: HTTP {answer.status_code} {answer.text[:300]}")
    return answer.json()  # type: ignore[no-any-return]


def download_digest(client: ApiClient, product_id: str, digest: str) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    for block in client.stream(f"/api/v1/products/{product_id}/versions/1/attachments/{digest}"):
        hasher.update(block)
        size += len(block)
    return "sha256:" + hasher.hexdigest(), size


def partial_started(cluster: Cluster, party: str) -> bool:
    """Whether `party` is receiving a blob (a partial with more than its header on disk)."""
    partials = cluster.nodes[party].settings.paths.blobs / "partials"
    for part in partials.glob("*.part"):
        try:
            if part.stat().st_size > HEADER_SIZE:
                return True
        except FileNotFoundError:
            continue
    return False


def du_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_blocks * 512
        except OSError:
            continue
    return round(total / MIB, 1)


# -- FLASH ------------------------------------------------------------------------------------


def flash(
    kor_analyst: ApiClient,
    kor_officer: ApiClient,
    jpn: ApiClient,
    label: str,
    *,
    interval: float,
    timeout: float,
) -> dict[str, Any]:
    """Create (untimed), release and poll JPN for one FLASH product; client-side seconds."""
    draft = kor_analyst.post(
        "/api/v1/products",
        draft_body(
            title=f"FLASH {label}: ballistic missile launch detected",
            text="JCS: launch detected; details to follow.",
            precedence="FLASH",
        ),
    )
    pid = draft["id"]
    t_call = time.perf_counter()
    kor_officer.post(f"/api/v1/products/{pid}/versions/1/release")
    t_released = time.perf_counter()
    while True:
        view = held(jpn, pid)
        back = time.perf_counter()
        if view is not None:
            break
        if back - t_released > timeout:
            raise BenchFailed(f"FLASH {label} ({pid}) not at JPN after {timeout:.0f}s")
        time.sleep(interval)
    return {
        "id": pid,
        "observed_s": back - t_released,
        "from_call_s": back - t_call,
        "jpn_received_at": view["received_at"],
    }


def node_side(kor: ApiClient, samples: list[dict[str, Any]]) -> None:
    """Add each sample's KOR released_at and the node-side KOR → JPN seconds."""
    for s in samples:
        at_kor = held(kor, s["id"])
        if at_kor is None:
            raise BenchFailed(f"{s['id']} missing at KOR")
        s["kor_released_at"] = at_kor["released_at"]
        s["node_s"] = (
            parse_ts(s["jpn_received_at"]) - parse_ts(s["kor_released_at"])
        ).total_seconds()


# -- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    before = machine()
    size = args.size_mb * MIB
    workdir = args.workdir
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(workdir or tempfile.gettempdir()).free
    # The source file, KOR's upload in flight, its copy and blob, USA's and JPN's blobs.
    if free < 7 * size:
        raise BenchFailed(
            f"{free / 2**30:.1f} GiB free in the work folder; {args.size_mb} MiB needs about "
            f"{7 * size / 2**30:.1f} GiB"
        )
    with (
        stop_on_sigterm(),
        tempfile.TemporaryDirectory(prefix="tisa-bench-attach-", dir=workdir) as tmp,
        Cluster(Path(tmp) / "net") as cluster,
        node_logs_on_error(cluster),
    ):
        start_cluster(cluster, log)
        rule = grant_standing_rule(cluster, args.timeout)
        log(f"KOR standing rule {rule[:8]} held at USA")
        with (
            RssSampler(cluster) as rss,
            cluster.session("KOR", "analyst") as kor_analyst,
            cluster.session("KOR", "officer") as kor_officer,
            cluster.session("USA", "analyst") as usa,
            cluster.session("JPN", "analyst") as jpn,
        ):
            # 1. FLASH on an idle network (after two untimed ones).
            for w in range(2):
                flash(
                    kor_analyst,
                    kor_officer,
                    jpn,
                    f"warm-up {w}",
                    interval=args.interval,
                    timeout=args.timeout,
                )
            idle = []
            for i in range(args.flash_n):
                time.sleep(args.flash_gap / 4)
                idle.append(
                    flash(
                        kor_analyst,
                        kor_officer,
                        jpn,
                        f"idle {i}",
                        interval=args.interval,
                        timeout=args.timeout,
                    )
                )
            node_side(kor_analyst, idle)
            log(f"idle FLASH: {[round(s['observed_s'] * 1000) for s in idle]} ms")

            # 2. The upload, timed on its own.
            source = Path(tmp) / "bulk-data.bin"
            t = time.perf_counter()
            digest = make_file(source, args.size_mb)
            log(f"{args.size_mb} MiB data file written in {time.perf_counter() - t:.1f}s")
            rss.phase = "upload"
            upload_cpu: dict[str, Any] = {}
            with cpu_used(cluster, upload_cpu):
                t = time.perf_counter()
                answer = upload(cluster, kor_analyst.token or "", source, args.timeout)
                upload_s = time.perf_counter() - t
            source.unlink()
            if answer["digest"] != digest or answer["size"] != size:
                raise BenchFailed(f"KOR stored something else: {answer}")
            log(f"upload: {upload_s:.1f}s, {args.size_mb / upload_s:.1f} MB/s")

            # 3 and 4. Release; FLASH products while the bulk moves.
            rss.phase = "transfer"
            body = draft_body(
                title=f"bulk {args.size_mb} MiB", text="SAR scene.", precedence="ROUTINE"
            )
            body["attachments"] = [digest]
            bulk = kor_analyst.post("/api/v1/products", body)["id"]
            transfer_cpu: dict[str, Any] = {}
            during: list[dict[str, Any]] = []
            with cpu_used(cluster, transfer_cpu):
                t_call = time.perf_counter()
                kor_officer.post(f"/api/v1/products/{bulk}/versions/1/release")
                # Half the FLASH products while the bulk goes to USA, half while it goes on.
                for hop, (party, count) in enumerate(
                    (("USA", (args.flash_n + 1) // 2), ("JPN", args.flash_n // 2))
                ):
                    if hop == 1:
                        wait_for(lambda: held(usa, bulk), "bulk at USA", args.timeout, 0.05)
                    wait_for(
                        lambda party=party: partial_started(cluster, party) or held(jpn, bulk),
                        f"bulk moving to {party}",
                        args.timeout,
                        every=0.005,
                    )
                    for _ in range(count):
                        if held(jpn, bulk) is not None:
                            break
                        during.append(
                            flash(
                                kor_analyst,
                                kor_officer,
                                jpn,
                                f"during {len(during)}",
                                interval=args.interval,
                                timeout=args.timeout,
                            )
                        )
                        pause_until = time.perf_counter() + args.flash_gap
                        while time.perf_counter() < pause_until and held(jpn, bulk) is None:
                            time.sleep(0.1)
                bulk_view = wait_for(lambda: held(jpn, bulk), "bulk at JPN", args.timeout, 0.05)
                observed_s = time.perf_counter() - t_call
            at_kor = held(kor_analyst, bulk)
            at_usa = held(usa, bulk)
            if at_kor is None or at_usa is None:
                raise BenchFailed("bulk product missing at KOR or USA")
            released = parse_ts(at_kor["released_at"])
            usa_at = parse_ts(at_usa["received_at"])
            jpn_at = parse_ts(bulk_view["received_at"])
            hop1 = (usa_at - released).total_seconds()
            hop2 = (jpn_at - usa_at).total_seconds()
            total = (jpn_at - released).total_seconds()
            node_side(kor_analyst, during)
            for s in during:
                t_rel = parse_ts(s["kor_released_at"])
                s["bulk_was"] = (
                    "on its way to USA"
                    if t_rel < usa_at
                    else "on its way to JPN"
                    if t_rel < jpn_at
                    else "already at JPN"
                )
            log(f"bulk at JPN: {total:.1f}s node-side ({args.size_mb / total:.1f} MB/s)")

            # 5. Back out of JPN, checked.
            rss.phase = "download"
            download: dict[str, Any] | None = None
            if not args.no_verify:
                t = time.perf_counter()
                got, got_size = download_digest(jpn, bulk, digest)
                took = time.perf_counter() - t
                if (got, got_size) != (digest, size):
                    raise BenchFailed(f"JPN served {got} ({got_size} bytes), not {digest}")
                download = {
                    "s": round(took, 2),
                    "MBps": round(args.size_mb / took, 1),
                    "sha256_matches": True,
                }
                log(f"download from JPN verified: {took:.1f}s")
            rss.phase = "end"
            time.sleep(0.3)
            hwm = rss.high_water()
            samples = rss.samples
            peaks = {phase: dict(v) for phase, v in rss.peaks.items()}
        disk = {p: du_mb(cluster.nodes[p].root) for p in PARTIES}
    after = machine()

    peak_rss = {p: max((v.get(p, 0) for v in peaks.values()), default=0) for p in PARTIES}
    mbps = args.size_mb / total
    during_real = [s for s in during if s["bulk_was"] != "already at JPN"]
    return {
        "benchmark": "attachments",
        "command": args.command,
        "params": {
            "size_mb": args.size_mb,
            "flash_n": args.flash_n,
            "flash_gap_s": args.flash_gap,
            "poll_interval_s": args.interval,
            "rss_sample_every_s": 0.2,
            "verify": not args.no_verify,
        },
        "machine_before": before,
        "machine_after": after,
        "upload": {
            "s": round(upload_s, 2),
            "MBps": round(args.size_mb / upload_s, 1),
            "cpu": upload_cpu,
        },
        "transfer": {
            "node_side_s": {
                "kor_released_to_usa_received": round(hop1, 2),
                "usa_received_to_jpn_received": round(hop2, 2),
                "kor_released_to_jpn_received": round(total, 2),
            },
            "MBps_through_hub": round(mbps, 1),
            "MBps_hop_kor_usa": round(args.size_mb / hop1, 1),
            "MBps_hop_usa_jpn": round(args.size_mb / hop2, 1),
            "observed_release_call_to_visible_at_jpn_s": round(observed_s, 2),
            "cpu": transfer_cpu,
        },
        "download_from_jpn": download,
        "rss_mb": {
            "peak_sampled_vmrss": {p: _mb(peak_rss[p]) for p in PARTIES},
            "peak_sampled_vmrss_by_phase": {
                phase: {p: _mb(v.get(p)) for p in PARTIES} for phase, v in peaks.items()
            },
            "vmhwm_at_end": {p: _mb(hwm.get(p)) for p in PARTIES},
            "samples": samples,
        },
        "flash_ms": {
            "idle_observed": summary_ms([s["observed_s"] for s in idle]),
            "idle_node_side": summary_ms([s["node_s"] for s in idle]),
            "during_transfer_observed": (
                summary_ms([s["observed_s"] for s in during_real]) if during_real else None
            ),
            "during_transfer_node_side": (
                summary_ms([s["node_s"] for s in during_real]) if during_real else None
            ),
            "during_samples": [
                {
                    "bulk_was": s["bulk_was"],
                    "observed_ms": round(s["observed_s"] * 1000, 1),
                    "node_side_ms": round(s["node_s"] * 1000, 1),
                }
                for s in during
            ],
        },
        "disk_mb_per_node_dir": disk,
        "targets": {"MBps_through_hub": TARGET_MBPS, "peak_rss_mb_per_node": TARGET_RSS_MB},
        "met": {
            "MBps_through_hub": mbps >= TARGET_MBPS,
            "peak_rss": {p: (hwm.get(p) or peak_rss[p]) / 1024 <= TARGET_RSS_MB for p in PARTIES},
        },
    }


def report(r: dict[str, Any]) -> None:
    m = r["machine_before"]
    t = r["transfer"]
    print(
        f"attachment of {r['params']['size_mb']} MiB KOR → USA → JPN, {m['cpus']} cpus, "
        f"load {m['loadavg_1_5_15']} at start, {m['date']}"
    )
    print(f"upload at KOR: {r['upload']['s']:.1f} s, {r['upload']['MBps']:.1f} MB/s")
    ns = t["node_side_s"]
    print(
        f"through the hub: {t['MBps_through_hub']:.1f} MB/s "
        f"({ns['kor_released_to_jpn_received']:.1f} s: "
        f"KOR→USA {ns['kor_released_to_usa_received']:.1f} s "
        f"= {t['MBps_hop_kor_usa']:.1f} MB/s, USA→JPN {ns['usa_received_to_jpn_received']:.1f} s "
        f"= {t['MBps_hop_usa_jpn']:.1f} MB/s); target ≥ {TARGET_MBPS:.0f}: "
        f"{'MET' if r['met']['MBps_through_hub'] else 'MISSED'}"
    )
    print(f"cores busy during the transfer: {t['cpu']['cores_busy']}")
    if r["download_from_jpn"]:
        d = r["download_from_jpn"]
        print(f"download from JPN, sha256 checked: {d['s']:.1f} s, {d['MBps']:.1f} MB/s")
    rss = r["rss_mb"]
    for p in PARTIES:
        phases = ", ".join(
            f"{phase} {v[p]}"
            for phase, v in rss["peak_sampled_vmrss_by_phase"].items()
            if v.get(p) is not None
        )
        print(
            f"{p} peak RSS sampled {rss['peak_sampled_vmrss'][p]} MB, VmHWM "
            f"{rss['vmhwm_at_end'][p]} MB ({phases}); target ≤ {TARGET_RSS_MB:.0f}: "
            f"{'MET' if r['met']['peak_rss'][p] else 'MISSED'}"
        )
    f = r["flash_ms"]
    idle = f["idle_observed"]
    print(
        f"FLASH idle: observed p50 {idle['p50']:.1f} max {idle['max']:.1f} ms; node-side p50 "
        f"{f['idle_node_side']['p50']:.1f} max {f['idle_node_side']['max']:.1f} ms (n={idle['n']})"
    )
    if f["during_transfer_observed"]:
        d = f["during_transfer_observed"]
        print(
            f"FLASH during transfer: observed p50 {d['p50']:.1f} max {d['max']:.1f} ms; "
            f"node-side p50 {f['during_transfer_node_side']['p50']:.1f} max "
            f"{f['during_transfer_node_side']['max']:.1f} ms (n={d['n']})"
        )
    for s in f["during_samples"]:
        print(
            f"  {s['observed_ms']:8.1f} ms observed, {s['node_side_ms']:8.1f} node-side; "
            f"bulk {s['bulk_was']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=2048, help="attachment size, MiB (2048)")
    parser.add_argument("--flash-n", type=int, default=5, help="FLASH products per phase (5)")
    parser.add_argument(
        "--flash-gap", type=float, default=1.0, help="pause between FLASH during transfer, s (1)"
    )
    parser.add_argument(
        "--interval", type=float, default=0.005, help="sleep between polls of JPN, s (0.005)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after, s (1800)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the cluster and file go (a temp dir)"
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the download check")
    parser.add_argument("--json", action="store_true", help="write bench/results/<name>.json")
    parser.add_argument("--name", default="attachments", help="results file name (attachments)")
    args = parser.parse_args()
    if args.size_mb < 1 or args.flash_n < 1:
        parser.error("--size-mb and --flash-n must be at least 1")
    return finish(args, "attachments.py", run, report)


if __name__ == "__main__":
    raise SystemExit(main())
