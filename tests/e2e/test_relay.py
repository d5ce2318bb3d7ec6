"""Products moving through the hub: relay under consent, banners, amendments, receipts, recalls,
and the refusals an originator hears at once (ceiling, scope). Real nodes, real TLS."""

from __future__ import annotations

import uuid

import pytest

from tisa.crypto import jws
from tisa.crypto.trust import Signed
from tisa.errors import AccessDenied, NotFound, PolicyDenied, SignatureInvalid

pytestmark = pytest.mark.e2e


def test_kor_flash_reaches_jpn_via_usa_under_the_standing_rule(network):
    net = network
    product_id = net.create("KOR", title="ICBM launch from the Pyongyang area, lofted")["id"]
    outcome = net.release("KOR", product_id)
    assert outcome["recipients"] == {"USA": "queued", "JPN": "via USA"}

    at_jpn = net.wait_held("JPN", product_id)
    assert at_jpn["originator"] == "KOR"
    assert at_jpn["state"] == "received"
    assert at_jpn["received_from"] == "USA"
    prov = at_jpn["provenance"]
    assert prov["originator"] == "KOR"
    assert prov["relayed_by"] == "USA"
    assert prov["consent"] == net.rules[("KOR", "JPN")]
    assert prov["signed_by"] == net.kid("KOR")
    assert at_jpn["banner"] == "極秘//FGI KOR//REL TO USA, JPN, KOR"
    assert at_jpn["classification"]["originator_term"] == "군사Ⅱ급비밀"
    assert at_jpn["observations"][0]["range_km"]["value"] == 1000

    at_usa = net.wait_held("USA", product_id)
    assert at_usa["banner"] == "SECRET//FGI KOR//REL TO USA, JPN, KOR"
    assert at_usa["received_from"] == "KOR"
    assert at_usa["provenance"]["relayed_by"] is None
    assert at_usa["provenance"]["consent"] is None
    # The same signed bytes everywhere: one digest at KOR, USA and JPN.
    at_kor = net.held("KOR", product_id)
    assert at_kor is not None
    assert at_kor["digest"] == at_usa["digest"] == at_jpn["digest"] == prov["digest"]

    # Checked again from JPN's store against the pinned keys, not the node's word for it:
    # KOR's manifest, USA's relay attestation and KOR's standing rule, all naming each other.
    row = net.stored("JPN", product_id)
    manifest = net.verify(row.manifest, "KOR", Signed.PRODUCT)
    assert (manifest["id"], manifest["originator"]) == (product_id, "KOR")
    attestation = net.verify(row.attestation, "USA", Signed.ATTESTATION)
    assert attestation["digest"] == jws.payload_digest(row.manifest) == prov["digest"]
    assert (attestation["recipient"], attestation["consent_id"]) == ("JPN", prov["consent"])
    consent = net.verify(row.consent, "KOR", Signed.CONSENT)
    assert (consent["id"], consent["recipient"]) == (prov["consent"], "JPN")
    assert consent["topics"] == ["dprk.missile.*"]

    # The hub records the relay under the rule.
    relays = net.audit("USA", product_id=product_id, action="product.relay")
    assert [(e["party"], e["detail"]["consent"]) for e in relays] == [
        ("JPN", net.rules[("KOR", "JPN")])
    ]


def test_usa_product_reaches_both_partners(network):
    net = network
    product_id = net.publish(
        "USA", precedence="IMMEDIATE", title="INDOPACOM: aware of a DPRK launch", observations=[]
    )
    at_kor = net.wait_held("KOR", product_id)
    at_jpn = net.wait_held("JPN", product_id)
    for view, scheme in ((at_kor, "군사Ⅱ급비밀"), (at_jpn, "極秘")):
        assert view["banner"] == f"{scheme}//FGI USA//REL TO USA, JPN, KOR"
        assert view["received_from"] == "USA"
        assert view["provenance"]["originator"] == "USA"
        assert view["provenance"]["relayed_by"] is None
    delivered = net.wait_delivered("USA", product_id, ("KOR", "JPN"))
    for party in ("KOR", "JPN"):
        assert delivered[party]["via"] is None
        net.verify_receipt(delivered[party], product_id)


def test_jpn_report_reaches_kor_via_usa(network):
    net = network
    product_id = net.publish("JPN", title="ICBM-class launch; impact outside the EEZ")
    at_kor = net.wait_held("KOR", product_id)
    assert at_kor["banner"] == "군사Ⅱ급비밀//FGI JPN//REL TO USA, JPN, KOR"
    prov = at_kor["provenance"]
    assert (prov["originator"], prov["relayed_by"], prov["consent"]) == (
        "JPN",
        "USA",
        net.rules[("JPN", "KOR")],
    )
    assert at_kor["observations"][0]["apogee_km"]["value"] == 6000
    delivered = net.wait_delivered("JPN", product_id, ("USA", "KOR"))
    assert delivered["KOR"]["via"] == "USA"
    net.verify_receipt(delivered["KOR"], product_id)


def test_rel_to_usa_kor_never_reaches_jpn(network):
    net = network
    product_id = net.create("KOR", rel_to=["USA", "KOR"])["id"]
    assert net.release("KOR", product_id)["recipients"] == {"USA": "queued"}
    net.wait_held("USA", product_id)
    # A later product in the same lane reaches JPN: the hub has long dealt with the first.
    net.flush()
    net.wait_delivered("KOR", product_id, ("USA",))

    with pytest.raises(NotFound, match="HTTP 404"):
        net("JPN").get(f"/api/v1/products/{product_id}")
    at_hub = [d for d in net.deliveries("USA", product_id) if d["party"] == "JPN"]
    assert all(d["state"] not in ("queued", "sent", "delivered") for d in at_hub), at_hub
    assert [d["party"] for d in net.deliveries("KOR", product_id)] == ["USA"]
    assert net.audit("JPN", product_id=product_id, action="product.receive") == []


def test_amendment_reaches_jpn_as_version_two_and_keeps_version_one(network):
    net = network
    product_id = net.publish("KOR", title="Launch: first assessment")
    first = net.wait_held("JPN", product_id)
    assert first["versions"] == [1]

    amended = net("KOR").post(
        f"/api/v1/products/{product_id}/amend",
        {
            **_draft_of(first),
            "title": "Launch: revised assessment",
            "text": "Range revised after radar re-analysis.",
        },
    )
    assert (amended["id"], amended["version"], amended["state"]) == (product_id, 2, "draft")
    net.release("KOR", product_id, 2)

    second = net.wait_held("JPN", product_id, 2)
    assert second["title"] == "Launch: revised assessment"
    assert second["versions"] == [1, 2]
    assert second["provenance"]["relayed_by"] == "USA"
    assert second["digest"] != first["digest"]
    kept = net.held("JPN", product_id, 1)
    assert kept is not None
    assert kept["title"] == "Launch: first assessment"
    assert kept["digest"] == first["digest"]
    latest = net("JPN").get(f"/api/v1/products/{product_id}")
    assert latest["version"] == 2
    assert net.wait_held("USA", product_id, 2)["versions"] == [1, 2]


def test_receipts_from_usa_and_jpn_verify_against_the_pinned_keys(network):
    net = network
    product_id = net.publish("KOR")
    delivered = net.wait_delivered("KOR", product_id, ("USA", "JPN"))
    at_kor = net.held("KOR", product_id)
    assert at_kor is not None
    usa = net.verify_receipt(delivered["USA"], product_id)
    jpn = net.verify_receipt(delivered["JPN"], product_id)
    assert usa["digest"] == jpn["digest"] == at_kor["digest"]
    assert (usa["originator"], jpn["originator"]) == ("KOR", "KOR")
    assert usa.get("via") is None
    assert jpn["via"] == "USA"
    assert delivered["USA"]["via"] is None
    assert delivered["JPN"]["via"] == "USA"
    assert delivered["JPN"]["delivered_at"] is not None
    # A receipt is only ever signed by its recipient: USA's key does not verify JPN's.
    forged = dict(delivered["JPN"], party="USA")
    with pytest.raises(SignatureInvalid):
        net.verify_receipt(forged, product_id)


def test_recall_reaches_usa_and_jpn(network):
    net = network
    product_id = net.publish("KOR")
    net.wait_held("JPN", product_id)
    net.wait_delivered("KOR", product_id, ("USA", "JPN"))
    recalled = net("KOR", "officer").post(
        f"/api/v1/products/{product_id}/versions/1/recall",
        {"reason": "source re-assessed"},
    )
    assert recalled["recalled"]["reason"] == "source re-assessed"

    for party in ("USA", "JPN"):
        view = net.wait_for(
            lambda p=party: (v := net.held(p, product_id)) and v["recalled"] and v,
            f"{party} showing the recall",
        )
        assert view["recalled"] is not None
        assert view["recalled"]["reason"] == "source re-assessed"
        listed = net(party).get("/api/v1/products")["products"]
        assert [p["recalled"] for p in listed if p["id"] == product_id] == [True]


def test_top_secret_is_refused_at_release_naming_the_ceiling(network):
    net = network
    product = net.create("KOR", role="ts-analyst", classification="TOP_SECRET")
    product_id = product["id"]
    assert product["banner"].startswith("군사Ⅰ급비밀")

    with pytest.raises(PolicyDenied) as refused:
        net.release("KOR", product_id)
    reasons = refused.value.reasons
    assert any("ceiling" in r and "TOP SECRET" in r and "USA" in r for r in reasons), reasons

    assert net("KOR", "ts-analyst").get(f"/api/v1/products/{product_id}")["state"] == "draft"
    assert net("KOR", "ts-analyst").get(f"/api/v1/products/{product_id}/deliveries") == {
        "deliveries": []
    }
    assert "product.release" not in [e["action"] for e in net.audit("KOR", product_id=product_id)]
    # Nothing was sent: a later product in the same lane arrives, this one does not.
    net.flush(to="USA")
    assert net.held("USA", product_id) is None
    assert net.held("JPN", product_id) is None


def test_refused_release_is_in_the_audit_log_with_its_reasons(network):
    net = network
    product_id = net.create("KOR", role="ts-analyst", classification="TOP_SECRET")["id"]
    with pytest.raises(PolicyDenied):
        net.release("KOR", product_id)
    denials = net.audit("KOR", product_id=product_id, action="policy.deny")
    assert len(denials) == 1
    assert any("ceiling" in r for r in denials[0]["detail"]["reasons"])


def test_draft_above_the_authors_clearance_is_refused_and_not_stored(network):
    net = network
    title = f"Above my clearance {uuid.uuid4().hex[:8]}"
    with pytest.raises(AccessDenied, match="HTTP 403"):
        net.create("KOR", title=title, classification="TOP_SECRET")
    # Someone cleared to see it finds no such draft either.
    listed = net("KOR", "ts-analyst").get("/api/v1/products", params={"limit": 1000})["products"]
    assert [p for p in listed if p["title"] == title] == []


def test_out_of_scope_topic_is_refused_at_compose(network):
    net = network
    title = "PLA Navy exercise in the Yellow Sea"
    with pytest.raises(PolicyDenied) as refused:
        net.create("KOR", title=title, topics=["dprk.missile.launch", "prc.navy.exercise"])
    assert any("prc.navy.exercise" in r and "scope" in r for r in refused.value.reasons)
    assert not any("dprk.missile.launch" in r for r in refused.value.reasons)
    listed = net("KOR").get("/api/v1/products", params={"limit": 1000})["products"]
    assert [p for p in listed if p["title"] == title] == []


def _draft_of(view):
    """The analyst-editable fields of a product view (to amend it)."""
    return {
        "title": view["title"],
        "text": view["text"],
        "classification": view["classification"]["level"],
        "rel_to": view["rel_to"],
        "orcon": view["orcon"],
        "precedence": view["precedence"],
        "topics": view["topics"],
        "source_reliability": view["source_reliability"],
        "information_credibility": view["information_credibility"],
        "observations": view["observations"],
    }
