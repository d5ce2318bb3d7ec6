"""`tisa demo`: three real nodes on this machine, the arrangement exercised end to end.

Every step checks what it claims by reading the store of the node concerned (through its API)
and verifying signatures against the pinned keys; a step that cannot show its result fails.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tisa.api.client import ApiClient
from tisa.crypto import jws
from tisa.crypto.keys import SigningKey
from tisa.crypto.trust import Signed
from tisa.demo.network import Cluster
from tisa.domain.wire import iso
from tisa.errors import NotFound, PolicyDenied
from tisa.node.runtime import Runtime
from tisa.node.settings import load_arrangement
from tisa.relay.messages import MessageKind, message
from tisa.relay.transmission import HEADER, sign_transmission

T = TypeVar("T")
WAIT = 30.0


class StepFailed(Exception):
    """A demo step could not show what it claims."""


def wait_for(check: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll `check` until it returns a value.

    Raises:
        StepFailed: nothing within `timeout` seconds.
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
        time.sleep(0.01)
    raise StepFailed(f"{what}: not seen within {timeout:.0f}s" + (f" ({last})" if last else ""))


def held(client: ApiClient, product_id: str, version: int = 1) -> dict[str, Any] | None:
    """The product as `client`'s node holds it, or None."""
    try:
        return client.get(f"/api/v1/products/{product_id}/versions/{version}")  # type: ignore[no-any-return]
    except NotFound:
        return None


@dataclass
class Report:
    """Steps, each with its outcome, detail and duration."""

    echo: Callable[[str], None] | None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def step(self, title: str, action: Callable[[], str]) -> None:
        started = time.perf_counter()
        try:
            detail = action()
            ok = True
        except Exception as exc:
            detail, ok = f"FAILED: {type(exc).__name__}: {exc}", False
        ms = (time.perf_counter() - started) * 1000
        self.steps.append({"step": title, "ok": ok, "ms": round(ms, 1), "detail": detail})
        if self.echo:
            mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
            self.echo(f"{mark} {title}  [dim]({ms:.0f} ms)[/dim]")
            for line in detail.splitlines():
                self.echo(f"    {line}")


def _launch(originator: str, reported: dict[str, Any], **markings: Any) -> dict[str, Any]:
    return {
        "title": markings.pop("title"),
        "text": markings.pop("text", ""),
        "classification": markings.pop("classification", "SECRET"),
        "rel_to": markings.pop("rel_to", ["USA", "KOR", "JPN"]),
        "precedence": markings.pop("precedence", "FLASH"),
        "topics": markings.pop("topics", ["dprk.missile.launch"]),
        "source_reliability": "B",
        "information_credibility": "2",
        "observations": [{"kind": "missile-launch", **reported}],
        **markings,
    }


# 18 December 2023, Hwasong-18, as the two nations reported it (domain-facts.md).
KOR_LAUNCH = {
    "time": {"original": "2023-12-18T08:24+09:00", "qualifier": "about", "sigma_s": 60},
    "missile_class": "ICBM",
    "launch_position": {
        "lat": 39.03,
        "lon": 125.75,
        "sigma_km": 15,
        "description": "Pyongyang area",
    },
    "range_km": {"value": 1000, "qualifier": "about", "sigma": 50},
    "lofted": True,
}
JPN_LAUNCH = {
    "time": {"original": "2023-12-18T08:24+09:00", "qualifier": "about", "sigma_s": 60},
    "missile_class": "ICBM",
    "range_km": {"value": 1000, "qualifier": "about", "sigma": 50},
    "apogee_km": {"value": 6000, "qualifier": "more_than"},
    "flight_time_min": {"value": 73, "qualifier": "about", "sigma": 1},
    "impact_time": {"original": "2023-12-18T09:37+09:00", "qualifier": "about"},
    "impact_position": {
        "lat": 42.15,
        "lon": 136.4,
        "sigma_km": 20,
        "description": "about 250 km west of Okushiri Island",
    },
    "inside_eez": False,
    "lofted": True,
}


def run_demo(
    *, workdir: Path | None = None, keep: bool = False, echo: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the scenario; returns {"ok", "steps", "nodes"?}."""
    base = workdir or Path(tempfile.mkdtemp(prefix="tisa-demo-"))
    report = Report(echo)
    cluster = Cluster(base)
    ids: dict[str, str] = {}
    started = time.perf_counter()
    try:
        report.step(
            "create three nodes (own keys, no common CA) and pin the arrangement",
            lambda: _create(cluster),
        )
        report.step(
            "start USA (hub), KOR and JPN as separate processes over mutual TLS",
            lambda: _start(cluster),
        )
        if all(s["ok"] for s in report.steps):
            _scenario(cluster, report, ids)
    finally:
        nodes = cluster.addresses()
        if keep and cluster.nodes:
            if echo:
                echo(f"nodes left running (data in {base}; users in {base / 'users.json'}):")
                for party, where in nodes.items():
                    echo(f"  {party}: api {where['api']}  federation {where['federation']}")
                    echo(f"       web UI {where['api']}/ui/ (self-signed certificate: see README)")
        else:
            cluster.stop()
    ok = all(s["ok"] for s in report.steps)
    total = (time.perf_counter() - started) * 1000
    if echo:
        passed = sum(s["ok"] for s in report.steps)
        echo(f"{passed}/{len(report.steps)} steps checked and passed in {total:.0f} ms")
    result: dict[str, Any] = {"ok": ok, "steps": report.steps, "total_ms": round(total, 1)}
    if keep:
        result["nodes"] = nodes
        result["workdir"] = str(base)
    return result


def _create(cluster: Cluster) -> str:
    cluster.create()
    arrangement = load_arrangement(cluster.nodes["USA"].settings.paths.arrangement)
    return f"arrangement {arrangement.id}, digest {arrangement.digest[:23]}…, in {cluster.base}"


def _start(cluster: Cluster) -> str:
    cluster.start()
    return "\n".join(
        f"{p}: api {a['api']}, federation {a['federation']} (pid {a['pid']})"
        for p, a in cluster.addresses().items()
    )


def _scenario(cluster: Cluster, report: Report, ids: dict[str, str]) -> None:
    kor_analyst = cluster.client("KOR", "analyst")
    kor_officer = cluster.client("KOR", "officer")
    jpn_analyst = cluster.client("JPN", "analyst")
    jpn_officer = cluster.client("JPN", "officer")
    usa_analyst = cluster.client("USA", "analyst")
    usa_officer = cluster.client("USA", "officer")
    usa_admin = cluster.client("USA", "admin")
    arrangement = load_arrangement(cluster.nodes["USA"].settings.paths.arrangement)

    def standing_rules() -> str:
        lines = []
        for officer, party, recipient in ((kor_officer, "KOR", "JPN"), (jpn_officer, "JPN", "KOR")):
            rule = officer.post(
                "/api/v1/consents",
                {
                    "recipient": recipient,
                    "topics": ["dprk.missile.*"],
                    "max_classification": "SECRET",
                },
            )
            ids[f"rule-{party}"] = rule["id"]
            rule_id: str = rule["id"]

            def at_hub(rid: str = rule_id) -> dict[str, Any] | None:
                listed = usa_admin.get("/api/v1/consents")["consents"]
                return next((c for c in listed if c["id"] == rid), None)

            wait_for(
                at_hub,
                f"USA holding {party}'s standing rule",
            )
            lines.append(
                f"{party} lets USA relay dprk.missile.* up to SECRET to {recipient}; "
                f"USA holds the signed rule {rule['id'][:8]}"
            )
        return "\n".join(lines)

    def flash() -> str:
        draft = kor_analyst.post(
            "/api/v1/products",
            _launch(
                "KOR",
                KOR_LAUNCH,
                title="ICBM launch from the Pyongyang area (Hwasong-18), lofted",
                text="JCS: detected 08:24 KST; flew about 1,000 km on a lofted trajectory.",
            ),
        )
        pid = ids["flash"] = draft["id"]
        t0 = time.perf_counter()
        kor_officer.post(f"/api/v1/products/{pid}/versions/1/release")
        at_jpn = wait_for(lambda: held(jpn_analyst, pid), "JPN holding the KOR FLASH")
        ms = (time.perf_counter() - t0) * 1000
        prov = at_jpn["provenance"]
        if prov["originator"] != "KOR" or prov["relayed_by"] != "USA":
            raise StepFailed(f"unexpected provenance {prov}")
        if prov["consent"] != ids["rule-KOR"]:
            raise StepFailed("relayed under another consent than KOR's standing rule")
        return (
            f"released at KOR → stored at JPN in {ms:.0f} ms, via USA\n"
            f"JPN sees: {at_jpn['banner']}\n"
            f"signatures verified at JPN: KOR manifest {prov['signed_by'][:16]}…, "
            f"USA attestation, KOR consent {prov['consent'][:8]}"
        )

    def orcon() -> str:
        draft = kor_analyst.post(
            "/api/v1/products",
            {
                "title": "Activity at the Sohae launch site: new engine test stand",
                "text": "Imagery shows a new vertical engine test stand; source protected.",
                "classification": "SECRET",
                "rel_to": ["USA", "KOR", "JPN"],
                "orcon": True,
                "precedence": "PRIORITY",
                "topics": ["dprk.missile.engine-test"],
                "source_reliability": "A",
                "information_credibility": "2",
            },
        )
        pid = ids["orcon"] = draft["id"]
        kor_officer.post(f"/api/v1/products/{pid}/versions/1/release")
        wait_for(lambda: held(usa_analyst, pid), "USA holding the ORCON product")
        request = wait_for(
            lambda: next(
                (
                    r
                    for r in kor_officer.get("/api/v1/consent-requests", params={"state": "open"})[
                        "requests"
                    ]
                    if r["product_id"] == pid
                ),
                None,
            ),
            "KOR receiving USA's consent request",
        )
        if held(jpn_analyst, pid) is not None:
            raise StepFailed("JPN holds the ORCON product before KOR consented")
        t0 = time.perf_counter()
        kor_officer.post(f"/api/v1/consent-requests/{request['id']}/grant")
        at_jpn = wait_for(lambda: held(jpn_analyst, pid), "JPN holding the ORCON product")
        ms = (time.perf_counter() - t0) * 1000
        return (
            f"held at USA (standing rules never cover ORCON); consent request "
            f"{request['id'][:8]} reached KOR; JPN did not hold it\n"
            f"KOR's release officer granted → stored at JPN in {ms:.0f} ms "
            f"under consent {at_jpn['provenance']['consent'][:8]}\n"
            f"JPN sees: {at_jpn['banner']}"
        )

    def from_usa() -> str:
        draft = usa_analyst.post(
            "/api/v1/products",
            _launch(
                "USA",
                {
                    "time": {"original": "2023-12-17T13:24-10:00", "qualifier": "about"},
                    "missile_class": "ICBM",
                },
                title="INDOPACOM: aware of DPRK ballistic missile launch",
                precedence="IMMEDIATE",
                text="Assessed as not an immediate threat to US personnel or territory.",
            ),
        )
        pid = ids["usa"] = draft["id"]
        usa_officer.post(f"/api/v1/products/{pid}/versions/1/release")
        at_kor = wait_for(lambda: held(kor_analyst, pid), "KOR holding the USA product")
        at_jpn = wait_for(lambda: held(jpn_analyst, pid), "JPN holding the USA product")
        return f"KOR sees: {at_kor['banner']}\nJPN sees: {at_jpn['banner']}"

    def from_jpn() -> str:
        draft = jpn_analyst.post(
            "/api/v1/products",
            _launch(
                "JPN",
                JPN_LAUNCH,
                title="ICBM-class launch; impact outside the EEZ west of Okushiri",
                text="MOD: about 73 minutes of flight, apogee over 6,000 km, about 1,000 km.",
            ),
        )
        pid = ids["jpn"] = draft["id"]
        jpn_officer.post(f"/api/v1/products/{pid}/versions/1/release")
        at_kor = wait_for(lambda: held(kor_analyst, pid), "KOR holding JPN's report")
        kor_obs = held(kor_analyst, ids["flash"])
        assert kor_obs is not None
        ours = kor_obs["observations"][0]
        theirs = at_kor["observations"][0]
        return (
            f"reached KOR via USA under JPN's standing rule; KOR sees: {at_kor['banner']}\n"
            f"same launch, two reports: KOR range {ours['range_km']['value']:.0f} km, "
            f"no apogee; JPN apogee {theirs['apogee_km']['qualifier']} "
            f"{theirs['apogee_km']['value']:.0f} km, flight "
            f"{theirs['flight_time_min']['value']:.0f} min"
        )

    def fused() -> str:
        # Each node fuses what it holds: KOR now has both reports of the launch.
        def both() -> dict[str, Any] | None:
            listed = kor_analyst.get("/api/v1/events")["events"]
            match = next((e for e in listed if set(e["parties"]) >= {"KOR", "JPN"}), None)
            return None if match is None else kor_analyst.get(f"/api/v1/events/{match['id']}")

        event = wait_for(both, "KOR fusing its and JPN's reports into one event")
        range_km = event["fused"].get("range_km")
        if range_km is None:
            raise StepFailed(f"no fused range in event {event['id']}")
        sources = sorted(f"{s['originator']} v{s['version']}" for s in range_km["sources"])
        if sources != ["JPN v1", "KOR v1"]:
            raise StepFailed(f"fused range should come from both reports, not {sources}")
        apogee = event["fused"].get("apogee_km", {})
        return (
            f"one event ({event['label']}) from {len(event['reports'])} reports; fused range "
            f"{range_km['text']} from {', '.join(sources)}; apogee {apogee.get('text', '—')} "
            f"(JPN's bound kept as a bound); {len(event['disagreements'])} disagreement(s)"
        )

    def out_of_scope() -> str:
        before = len(kor_analyst.get("/api/v1/products")["products"])
        try:
            kor_analyst.post(
                "/api/v1/products",
                {
                    "title": "PLA Navy exercise in the Yellow Sea",
                    "classification": "SECRET",
                    "rel_to": ["USA", "KOR", "JPN"],
                    "topics": ["prc.navy.exercise"],
                },
            )
        except PolicyDenied as exc:
            after = len(kor_analyst.get("/api/v1/products")["products"])
            if after != before:
                raise StepFailed("something was stored at KOR") from exc
            return f"refused at KOR: {exc.reason}; nothing stored"
        raise StepFailed("KOR accepted an out-of-scope product")

    def forged() -> str:
        kor = cluster.nodes["KOR"]
        rt = Runtime(kor.settings)
        rt.open()
        try:
            impostor = SigningKey.generate()
            fake_id = str(uuid.uuid4())
            manifest = {
                "type": "product",
                "arrangement": arrangement.digest,
                "id": fake_id,
                "version": 1,
                "originator": "KOR",
                "author": "impostor",
                "created_at": iso(datetime.now(UTC)),
                "title": "Fabricated launch report",
                "text": "",
                "classification": "SECRET",
                "rel_to": ["JPN", "KOR", "USA"],
                "orcon": False,
                "precedence": "FLASH",
                "topics": ["dprk.missile.launch"],
                "source_reliability": "A",
                "information_credibility": "1",
                "observations": [],
            }
            token = jws.sign(
                manifest, impostor, kid=rt.ctx.trust.kid("KOR"), typ=Signed.PRODUCT.value
            )
            body = json.dumps({"messages": [message(MessageKind.ENVELOPE, token)]}).encode()
            header = sign_transmission(rt.ctx.trust, "USA", body, datetime.now(UTC))
            with httpx.Client(
                base_url=kor.settings.peers["USA"], verify=rt.client_context_for("USA")
            ) as http:
                answer = http.post(
                    "/federation/v1/messages",
                    content=body,
                    headers={HEADER: header, "Content-Type": "application/json"},
                )
        finally:
            rt.close()
        result = answer.json()["results"][0]
        if result.get("status") != "rejected" or not result.get("permanent"):
            raise StepFailed(f"hub answered {result}")
        if held(usa_analyst, fake_id) is not None:
            raise StepFailed("USA stored the forged product")
        return f"USA refused it: {result['reason']}\nUSA's store does not hold {fake_id[:8]}"

    def spoke_to_spoke() -> str:
        kor = cluster.nodes["KOR"]
        jpn_url = cluster.nodes["JPN"].settings.federation_url
        rt = Runtime(kor.settings)
        rt.open()
        try:
            context = rt.client_context_for("JPN")
            with httpx.Client(base_url=jpn_url, verify=context) as http:
                http.get("/healthz")
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError) as exc:
            return f"KOR → JPN directly: refused at the TLS handshake ({type(exc).__name__})"
        finally:
            rt.close()
        raise StepFailed("JPN accepted a TLS connection from KOR")

    def receipts() -> str:
        pid = ids["flash"]

        def both() -> list[dict[str, Any]] | None:
            ds = kor_officer.get(f"/api/v1/products/{pid}/deliveries")["deliveries"]
            done = {d["party"]: d for d in ds if d["state"] == "delivered"}
            return [done["USA"], done["JPN"]] if {"USA", "JPN"} <= done.keys() else None

        usa, jpn = wait_for(both, "receipts from USA and JPN at KOR")
        lines = []
        for d in (usa, jpn):
            signer = d["party"]
            pin = load_arrangement(cluster.nodes["KOR"].settings.paths.arrangement)
            from tisa.crypto.keys import VerifyKey

            key_jwk = pin.party(signer).signing_key
            assert key_jwk is not None
            key = VerifyKey.from_jwk(key_jwk)
            body = jws.verify(
                d["receipt"],
                key,
                typ=Signed.RECEIPT.value,
                kid=f"{signer}:{key.thumbprint()}",
            )
            if body["product_id"] != pid or body["recipient"] != signer:
                raise StepFailed(f"receipt from {signer} names something else")
            via = f", via {d['via']}" if d["via"] else ""
            lines.append(
                f"delivered to {signer} {d['delivered_at']}{via} "
                f"(receipt signed by {signer}, verified at KOR)"
            )
        return "\n".join(lines)

    def recall() -> str:
        pid = ids["orcon"]
        kor_officer.post(
            f"/api/v1/products/{pid}/versions/1/recall",
            {"reason": "source protection: imagery re-assessed"},
        )
        at_jpn = wait_for(
            lambda: (p := held(jpn_analyst, pid)) and p["recalled"] and p,
            "JPN showing the recall",
        )
        at_usa = held(usa_analyst, pid)
        if not (at_usa and at_usa["recalled"]):
            raise StepFailed("USA does not show the recall")
        return f"recalled at USA and JPN: {at_jpn['recalled']['reason']}"

    report.step("KOR and JPN give USA standing rules for missile reports", standing_rules)
    report.step("KOR files a FLASH launch report; relayed to JPN under the standing rule", flash)
    report.step("KOR files an ORCON product: held at USA until KOR consents, then delivered", orcon)
    report.step("USA files a product to both partners", from_usa)
    report.step("JPN files its own report of the same launch, with its own figures", from_jpn)
    report.step("KOR sees one fused event of the launch, both nations' figures", fused)
    report.step("KOR tries an out-of-scope product", out_of_scope)
    report.step("a forged envelope sent to the hub", forged)
    report.step("KOR tries to reach JPN directly", spoke_to_spoke)
    report.step("receipts arrive back at KOR", receipts)
    report.step("KOR recalls the ORCON product", recall)
    for client in (
        kor_analyst,
        kor_officer,
        jpn_analyst,
        jpn_officer,
        usa_analyst,
        usa_officer,
        usa_admin,
    ):
        client.close()
