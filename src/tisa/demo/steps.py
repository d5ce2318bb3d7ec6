"""The demo's scenario, one method per step; each checks what it claims by reading the store
of the node concerned (through its API) and verifying signatures against the pinned keys."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tisa.crypto import jws
from tisa.crypto.keys import SigningKey
from tisa.crypto.trust import Signed
from tisa.demo.checks import Report, StepFailed, held, wait_for
from tisa.demo.launches import JPN_LAUNCH, KOR_LAUNCH
from tisa.demo.network import Cluster
from tisa.demo.tracks_step import stream_tracks
from tisa.domain.wire import iso
from tisa.errors import PolicyDenied
from tisa.node.runtime import Runtime
from tisa.node.settings import load_arrangement
from tisa.relay.messages import MessageKind, message
from tisa.relay.transmission import HEADER, sign_transmission


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


class Steps:
    """The scenario's steps over a started cluster, with a signed-in client per role."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.ids: dict[str, str] = {}
        self.kor_analyst = cluster.client("KOR", "analyst")
        self.kor_officer = cluster.client("KOR", "officer")
        self.jpn_analyst = cluster.client("JPN", "analyst")
        self.jpn_officer = cluster.client("JPN", "officer")
        self.usa_analyst = cluster.client("USA", "analyst")
        self.usa_officer = cluster.client("USA", "officer")
        self.usa_admin = cluster.client("USA", "admin")
        self.arrangement = load_arrangement(cluster.nodes["USA"].settings.paths.arrangement)

    def close(self) -> None:
        for client in (
            self.kor_analyst,
            self.kor_officer,
            self.jpn_analyst,
            self.jpn_officer,
            self.usa_analyst,
            self.usa_officer,
            self.usa_admin,
        ):
            client.close()

    def run(self, report: Report) -> None:
        """Every step in order, each recorded in `report`."""
        report.step("KOR and JPN give USA standing rules for missile reports", self.standing_rules)
        report.step(
            "KOR files a FLASH launch report; relayed to JPN under the standing rule", self.flash
        )
        report.step(
            "KOR files an ORCON product: held at USA until KOR consents, then delivered", self.orcon
        )
        report.step("USA files a product to both partners", self.from_usa)
        report.step(
            "JPN files its own report of the same launch, with its own figures", self.from_jpn
        )
        report.step("KOR sees one fused event of the launch, both nations' figures", self.fused)
        report.step("KOR tries an out-of-scope product", self.out_of_scope)
        report.step("a forged envelope sent to the hub", self.forged)
        report.step("KOR tries to reach JPN directly", self.spoke_to_spoke)
        report.step("receipts arrive back at KOR", self.receipts)
        report.step("KOR recalls the ORCON product", self.recall)
        report.step(
            "three trackers stream an exercise lofted ICBM; every node fuses it, JPN warns",
            self.live_tracks,
        )

    def standing_rules(self) -> str:
        lines = []
        for officer, party, recipient in (
            (self.kor_officer, "KOR", "JPN"),
            (self.jpn_officer, "JPN", "KOR"),
        ):
            rule = officer.post(
                "/api/v1/consents",
                {
                    "recipient": recipient,
                    "topics": ["dprk.missile.*"],
                    "max_classification": "SECRET",
                },
            )
            self.ids[f"rule-{party}"] = rule["id"]
            rule_id: str = rule["id"]

            def at_hub(rid: str = rule_id) -> dict[str, Any] | None:
                listed = self.usa_admin.get("/api/v1/consents")["consents"]
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

    def flash(self) -> str:
        draft = self.kor_analyst.post(
            "/api/v1/products",
            _launch(
                "KOR",
                KOR_LAUNCH,
                title="ICBM launch from the Pyongyang area (Hwasong-18), lofted",
                text="JCS: detected 08:24 KST; flew about 1,000 km on a lofted trajectory.",
            ),
        )
        pid = self.ids["flash"] = draft["id"]
        t0 = time.perf_counter()
        self.kor_officer.post(f"/api/v1/products/{pid}/versions/1/release")
        at_jpn = wait_for(lambda: held(self.jpn_analyst, pid), "JPN holding the KOR FLASH")
        ms = (time.perf_counter() - t0) * 1000
        prov = at_jpn["provenance"]
        if prov["originator"] != "KOR" or prov["relayed_by"] != "USA":
            raise StepFailed(f"unexpected provenance {prov}")
        if prov["consent"] != self.ids["rule-KOR"]:
            raise StepFailed("relayed under another consent than KOR's standing rule")
        return (
            f"released at KOR → stored at JPN in {ms:.0f} ms, via USA\n"
            f"JPN sees: {at_jpn['banner']}\n"
            f"signatures verified at JPN: KOR manifest {prov['signed_by'][:16]}…, "
            f"USA attestation, KOR consent {prov['consent'][:8]}"
        )

    def orcon(self) -> str:
        draft = self.kor_analyst.post(
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
        pid = self.ids["orcon"] = draft["id"]
        self.kor_officer.post(f"/api/v1/products/{pid}/versions/1/release")
        wait_for(lambda: held(self.usa_analyst, pid), "USA holding the ORCON product")
        request = wait_for(
            lambda: next(
                (
                    r
                    for r in self.kor_officer.get(
                        "/api/v1/consent-requests", params={"state": "open"}
                    )["requests"]
                    if r["product_id"] == pid
                ),
                None,
            ),
            "KOR receiving USA's consent request",
        )
        if held(self.jpn_analyst, pid) is not None:
            raise StepFailed("JPN holds the ORCON product before KOR consented")
        t0 = time.perf_counter()
        self.kor_officer.post(f"/api/v1/consent-requests/{request['id']}/grant")
        at_jpn = wait_for(lambda: held(self.jpn_analyst, pid), "JPN holding the ORCON product")
        ms = (time.perf_counter() - t0) * 1000
        return (
            f"held at USA (standing rules never cover ORCON); consent request "
            f"{request['id'][:8]} reached KOR; JPN did not hold it\n"
            f"KOR's release officer granted → stored at JPN in {ms:.0f} ms "
            f"under consent {at_jpn['provenance']['consent'][:8]}\n"
            f"JPN sees: {at_jpn['banner']}"
        )

    def from_usa(self) -> str:
        draft = self.usa_analyst.post(
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
        pid = self.ids["usa"] = draft["id"]
        self.usa_officer.post(f"/api/v1/products/{pid}/versions/1/release")
        at_kor = wait_for(lambda: held(self.kor_analyst, pid), "KOR holding the USA product")
        at_jpn = wait_for(lambda: held(self.jpn_analyst, pid), "JPN holding the USA product")
        return f"KOR sees: {at_kor['banner']}\nJPN sees: {at_jpn['banner']}"

    def from_jpn(self) -> str:
        draft = self.jpn_analyst.post(
            "/api/v1/products",
            _launch(
                "JPN",
                JPN_LAUNCH,
                title="ICBM-class launch; impact outside the EEZ west of Okushiri",
                text="MOD: about 73 minutes of flight, apogee over 6,000 km, about 1,000 km.",
            ),
        )
        pid = self.ids["jpn"] = draft["id"]
        self.jpn_officer.post(f"/api/v1/products/{pid}/versions/1/release")
        at_kor = wait_for(lambda: held(self.kor_analyst, pid), "KOR holding JPN's report")
        kor_obs = held(self.kor_analyst, self.ids["flash"])
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

    def fused(self) -> str:
        # Each node fuses what it holds: KOR now has both reports of the launch.
        def both() -> dict[str, Any] | None:
            listed = self.kor_analyst.get("/api/v1/events")["events"]
            match = next((e for e in listed if set(e["parties"]) >= {"KOR", "JPN"}), None)
            return None if match is None else self.kor_analyst.get(f"/api/v1/events/{match['id']}")

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

    def out_of_scope(self) -> str:
        before = len(self.kor_analyst.get("/api/v1/products")["products"])
        try:
            self.kor_analyst.post(
                "/api/v1/products",
                {
                    "title": "PLA Navy exercise in the Yellow Sea",
                    "classification": "SECRET",
                    "rel_to": ["USA", "KOR", "JPN"],
                    "topics": ["prc.navy.exercise"],
                },
            )
        except PolicyDenied as exc:
            after = len(self.kor_analyst.get("/api/v1/products")["products"])
            if after != before:
                raise StepFailed("something was stored at KOR") from exc
            return f"refused at KOR: {exc.reason}; nothing stored"
        raise StepFailed("KOR accepted an out-of-scope product")

    def forged(self) -> str:
        kor = self.cluster.nodes["KOR"]
        rt = Runtime(kor.settings)
        rt.open()
        try:
            impostor = SigningKey.generate()
            fake_id = str(uuid.uuid4())
            manifest = {
                "type": "product",
                "self.arrangement": self.arrangement.digest,
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
        if held(self.usa_analyst, fake_id) is not None:
            raise StepFailed("USA stored the forged product")
        return f"USA refused it: {result['reason']}\nUSA's store does not hold {fake_id[:8]}"

    def spoke_to_spoke(self) -> str:
        kor = self.cluster.nodes["KOR"]
        jpn_url = self.cluster.nodes["JPN"].settings.federation_url
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

    def receipts(self) -> str:
        pid = self.ids["flash"]

        def both() -> list[dict[str, Any]] | None:
            ds = self.kor_officer.get(f"/api/v1/products/{pid}/deliveries")["deliveries"]
            done = {d["party"]: d for d in ds if d["state"] == "delivered"}
            return [done["USA"], done["JPN"]] if {"USA", "JPN"} <= done.keys() else None

        usa, jpn = wait_for(both, "receipts from USA and JPN at KOR")
        lines = []
        for d in (usa, jpn):
            signer = d["party"]
            pin = load_arrangement(self.cluster.nodes["KOR"].settings.paths.arrangement)
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

    def recall(self) -> str:
        pid = self.ids["orcon"]
        self.kor_officer.post(
            f"/api/v1/products/{pid}/versions/1/recall",
            {"reason": "source protection: imagery re-assessed"},
        )
        at_jpn = wait_for(
            lambda: (p := held(self.jpn_analyst, pid)) and p["recalled"] and p,
            "JPN showing the recall",
        )
        at_usa = held(self.usa_analyst, pid)
        if not (at_usa and at_usa["recalled"]):
            raise StepFailed("USA does not show the recall")
        return f"recalled at USA and JPN: {at_jpn['recalled']['reason']}"

    def live_tracks(self) -> str:
        return stream_tracks(
            {"KOR": self.kor_officer, "JPN": self.jpn_officer, "USA": self.usa_officer},
            {"KOR": self.kor_analyst, "JPN": self.jpn_analyst, "USA": self.usa_analyst},
            self.usa_admin,
        )
