"""Originator control at the hub: held products, consent requests, grants, denials, revocations.
Real nodes, real TLS; every state is read from the node that holds it."""

from __future__ import annotations

import pytest

from tisa.errors import AccessDenied, NotFound

pytestmark = pytest.mark.e2e

ORCON = {
    "title": "Activity at the Sohae launch site: new engine test stand",
    "text": "Imagery shows a new vertical engine test stand; source protected.",
    "orcon": True,
    "precedence": "PRIORITY",
    "topics": ["dprk.missile.engine-test"],
    "observations": [],
}


def _held_at_hub(net, product_id, recipient="JPN"):
    """Wait until the hub records the product as held for `recipient`; that record."""
    return net.wait_for(
        lambda: (d := net.delivery("USA", product_id, recipient)) and d["state"] == "held" and d,
        f"USA holding {product_id} for {recipient}",
    )


def test_orcon_is_held_at_the_hub_until_kor_grants(network):
    net = network
    product_id = net.publish("KOR", **ORCON)
    at_usa = net.wait_held("USA", product_id)
    assert at_usa["banner"] == "SECRET//FGI KOR//ORCON/REL TO USA, JPN, KOR"

    request = net.wait_request("KOR", product_id)
    assert (request["recipient"], request["originator"], request["version"]) == ("JPN", "KOR", 1)
    assert "no consent from KOR for JPN" in _held_at_hub(net, product_id)["detail"]
    [filed] = net.requests("USA", product_id)
    assert (filed["id"], filed["state"]) == (request["id"], "open")
    at_kor = net.delivery("KOR", product_id, "JPN")
    assert at_kor is not None
    assert (at_kor["state"], at_kor["via"]) == ("held", "USA")
    net.flush(precedence="PRIORITY")
    assert net.held("JPN", product_id) is None

    answer = net("KOR", "officer").post(f"/api/v1/consent-requests/{request['id']}/grant")
    assert answer["state"] == "granted"
    consent_id = answer["consent"]["id"]
    assert answer["consent"]["product_id"] == product_id

    at_jpn = net.wait_held("JPN", product_id)
    assert at_jpn["banner"] == "極秘//FGI KOR//ORCON/REL TO USA, JPN, KOR"
    prov = at_jpn["provenance"]
    assert (prov["originator"], prov["relayed_by"], prov["consent"]) == ("KOR", "USA", consent_id)
    delivered = net.wait_delivered("KOR", product_id, ("USA", "JPN"))
    net.verify_receipt(delivered["JPN"], product_id)
    assert [r["state"] for r in net.requests("KOR", product_id)] == ["granted"]
    assert [r["state"] for r in net.requests("USA", product_id)] == ["granted"]


def test_denied_request_is_never_delivered(network):
    net = network
    product_id = net.publish("KOR", **ORCON)
    request = net.wait_request("KOR", product_id)
    answer = net("KOR", "officer").post(
        f"/api/v1/consent-requests/{request['id']}/deny",
        {"reason": "source cannot be shared beyond the USA"},
    )
    assert answer == {"request": request["id"], "state": "denied"}

    at_hub = net.wait_for(
        lambda: (d := net.delivery("USA", product_id, "JPN")) and d["state"] == "denied" and d,
        "USA recording the denial for JPN",
    )
    assert "source cannot be shared beyond the USA" in at_hub["detail"]
    [filed] = net.requests("USA", product_id)
    assert (filed["state"], filed["reason"]) == ("denied", "source cannot be shared beyond the USA")
    at_kor = net.delivery("KOR", product_id, "JPN")
    assert at_kor is not None
    assert at_kor["state"] == "denied"

    net.flush(precedence="PRIORITY")
    assert net.held("JPN", product_id) is None
    assert (net.delivery("USA", product_id, "JPN") or {}).get("state") == "denied"
    # A denied request cannot be answered again.
    with pytest.raises(Exception, match="HTTP 409"):
        net("KOR", "officer").post(f"/api/v1/consent-requests/{request['id']}/grant")


def test_revoking_a_standing_rule_stops_later_relays_only(network):
    net = network
    topic = {
        "topics": ["dprk.nuclear.site-activity"],
        "precedence": "IMMEDIATE",
        "observations": [],
    }
    rule_id = net.standing_rule("KOR", "JPN", ["dprk.nuclear.site-activity"])
    before = net.publish("KOR", title="Yongbyon: new activity at the reactor", **topic)
    at_jpn = net.wait_held("JPN", before)
    assert at_jpn["provenance"]["consent"] == rule_id

    assert net("KOR", "officer").post(f"/api/v1/consents/{rule_id}/revoke") == {
        "id": rule_id,
        "revoked": True,
    }
    net.wait_for(
        lambda: (c := net.hub_consent(rule_id)) and c["revoked_at"], "USA holding the revocation"
    )

    after = net.publish("KOR", title="Yongbyon: activity continues", **topic)
    net.wait_held("USA", after)
    request = net.wait_request("KOR", after)
    assert request["recipient"] == "JPN"
    assert _held_at_hub(net, after)["state"] == "held"
    net.flush(precedence="IMMEDIATE")
    assert net.held("JPN", after) is None

    # What was delivered before the revocation stays delivered (and is not recalled).
    kept = net.held("JPN", before)
    assert kept is not None
    assert kept["recalled"] is None
    assert kept["provenance"]["consent"] == rule_id
    assert net.delivery("KOR", before, "JPN")["state"] == "delivered"  # type: ignore[index]
    with pytest.raises(Exception, match="HTTP 409"):
        net("KOR", "officer").post(f"/api/v1/consents/{rule_id}/revoke")


@pytest.mark.parametrize(
    "topics",
    [["dprk.nuclear.test"], ["dprk.missile.launch", "dprk.nuclear.test"]],
    ids=["nuclear", "missile-and-nuclear"],
)
def test_missile_rule_does_not_cover_a_nuclear_test(network, topics):
    net = network
    rule = net.hub_consent(net.rules[("KOR", "JPN")])
    assert rule is not None
    assert rule["terms"]["topics"] == ["dprk.missile.*"]
    assert rule["revoked_at"] is None

    product_id = net.publish("KOR", topics=topics, title="Punggye-ri: seismic event")
    net.wait_held("USA", product_id)
    request = net.wait_request("KOR", product_id)
    assert request["recipient"] == "JPN"
    assert "no consent from KOR for JPN" in _held_at_hub(net, product_id)["detail"]
    net.flush()
    assert net.held("JPN", product_id) is None


def test_only_a_release_officer_answers_a_consent_request(network):
    net = network
    product_id = net.publish("KOR", **ORCON)
    request = net.wait_request("KOR", product_id)
    analyst = net("KOR", "analyst")
    with pytest.raises(AccessDenied, match="HTTP 403"):
        analyst.post(f"/api/v1/consent-requests/{request['id']}/grant")
    with pytest.raises(AccessDenied, match="HTTP 403"):
        analyst.post(f"/api/v1/consent-requests/{request['id']}/deny", {"reason": "no"})
    with pytest.raises(AccessDenied, match="HTTP 403"):
        analyst.get("/api/v1/consent-requests")
    # The hub cannot answer for the originator either.
    with pytest.raises(NotFound, match="HTTP 404"):
        net("USA", "officer").post(f"/api/v1/consent-requests/{request['id']}/grant")

    assert [r["state"] for r in net.requests("KOR", product_id)] == ["open"]
    assert net.held("JPN", product_id) is None
    net("KOR", "officer").post(f"/api/v1/consent-requests/{request['id']}/grant")
    net.wait_held("JPN", product_id)
