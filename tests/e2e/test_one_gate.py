"""The gate over real nodes: every rule is asked again when a product moves or opens, with the
state of that moment. Each test is one of the ways the rules held when a product was queued
but not when it moved, tried as an ally's careless operator or an adversary would."""

from __future__ import annotations

import json
import ssl
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from harness.factories import gps_photo
from harness.network import Net
from sqlalchemy import select, text
from typer.testing import CliRunner

from tisa.cli.main import app
from tisa.crypto import jws
from tisa.crypto.jws import payload_digest
from tisa.crypto.keys import SigningKey
from tisa.crypto.trust import Signed
from tisa.domain.wire import iso
from tisa.errors import InputInvalid, NotFound, PolicyDenied, TisaError
from tisa.relay.messages import Attestation, MessageKind, message, payload
from tisa.services.accounts import Role
from tisa.store import consents
from tisa.store.database import Database
from tisa.store.tables import recalls, revocations

pytestmark = pytest.mark.e2e

MISSILE = ["dprk.missile.*"]


@pytest.fixture(scope="module")
def gated(private_network: Net) -> Any:
    """This module's own network: its tests suspend and resume channels."""
    return private_network


def _store(net: Net, party: str) -> Database:
    return Database(net.cluster.nodes[party].settings.database_url)


def _rows(net: Net, party: str, table: Any, **where: Any) -> list[Any]:
    with _store(net, party) as db, db.read() as conn:
        query = select(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return list(conn.execute(query))


def _upload(net: Net, party: str, name: str, content: bytes, content_type: str) -> str:
    handle = net.cluster.nodes[party]
    context = ssl.create_default_context(cadata=handle.cert_pem.decode("ascii"))
    headers = {"Authorization": f"Bearer {net(party).token}", "Content-Type": content_type}
    with httpx.Client(base_url=handle.settings.api_url, verify=context, timeout=60) as http:
        answer = http.post(
            "/api/v1/uploads", params={"name": name}, content=content, headers=headers
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["digest"])


def _state_at(net: Net, party: str, product_id: str, recipient: str, state: str) -> Any:
    return net.wait_for(
        lambda: (d := net.delivery(party, product_id, recipient)) and d["state"] == state and d,
        f"{party} recording {product_id[:8]} {state} for {recipient}",
    )


def _ready(net: Net, party: str) -> dict[str, Any]:
    answer: dict[str, Any] = net(party)._http.get("/healthz/ready").json()
    return answer


def test_a_recall_cancels_the_relay_queued_at_the_hub_and_the_hub_keeps_sending(gated):
    """Issue cases 1 and 2: a product waiting at the hub (USA–JPN suspended) is recalled by
    KOR. On resume JPN gets neither its body nor its attachment, and the hub, whose blob the
    recall withdrew while the relay was queued, goes on sending everything else."""
    net = gated
    rule = net.standing_rule("KOR", "JPN", MISSILE)
    admin = net("USA", "admin")
    admin.post("/api/v1/channels/USA-JPN/suspend")
    try:
        digest = _upload(net, "KOR", "site.jpg", gps_photo((640, 480)), "image/jpeg")
        product_id = net.publish("KOR", attachments=[digest], title="Recalled while queued")
        net.wait_held("USA", product_id)
        _state_at(net, "USA", product_id, "JPN", "queued")

        net("KOR", "officer").post(
            f"/api/v1/products/{product_id}/versions/1/recall", {"reason": "wrong launch site"}
        )
        cancelled = _state_at(net, "USA", product_id, "JPN", "cancelled")
        assert "recalled by KOR before it was sent: wrong launch site" in cancelled["detail"]
    finally:
        admin.post("/api/v1/channels/USA-JPN/resume")

    # Lanes are first in, first out: once a later FLASH is at JPN, nothing earlier is coming.
    net.flush(originator="KOR", precedence="FLASH", to="JPN")
    assert net.held("JPN", product_id) is None
    assert not net.audit("JPN", product_id=product_id, action="product.receive")
    cancels = net.audit("USA", product_id=product_id, action="delivery.cancel")
    assert [(e["party"], e["detail"]["reason"][:11]) for e in cancels] == [("JPN", "recalled by")]
    # JPN keeps the recall it heard of, for a version it never held.
    net.wait_for(lambda: _rows(net, "JPN", recalls, product_id=product_id), "JPN keeping it")
    tasks = _ready(net, "USA")["checks"]["tasks"]
    assert tasks["ok"], tasks
    assert not net("USA", "admin").get("/api/v1/status")["dead_letters"]
    net("KOR", "officer").post(f"/api/v1/consents/{rule}/revoke")


def test_a_revocation_cancels_the_relays_queued_under_it_and_reaches_the_recipient(gated):
    """Issue case 3: a relay queued under a standing rule does not go out after KOR revokes
    the rule, and JPN, told of the revocation by the hub, refuses any relay citing it."""
    net = gated
    rule = net.standing_rule("KOR", "JPN", MISSILE)
    admin = net("USA", "admin")
    admin.post("/api/v1/channels/USA-JPN/suspend")
    try:
        product_id = net.publish("KOR", title="Queued under a rule about to be revoked")
        _state_at(net, "USA", product_id, "JPN", "queued")
        net("KOR", "officer").post(f"/api/v1/consents/{rule}/revoke")
        cancelled = _state_at(net, "USA", product_id, "JPN", "cancelled")
        assert f"consent {rule} was revoked by KOR" in cancelled["detail"]
    finally:
        admin.post("/api/v1/channels/USA-JPN/resume")
    net.wait_for(lambda: _rows(net, "JPN", revocations, consent_id=rule), "JPN told of it")
    other = net.standing_rule("KOR", "JPN", MISSILE)
    net.flush(originator="KOR", precedence="ROUTINE", to="JPN")
    assert net.held("JPN", product_id) is None

    # The hub (or anyone holding its key) relays a new product under the revoked rule anyway.
    with net.runtime("KOR") as kor, net.runtime("USA") as usa:
        body = net.manifest("KOR")
        token = kor.ctx.trust.sign(Signed.PRODUCT, body)
        with _store(net, "USA") as db, db.read() as conn:
            consent_token = consents.get(conn, rule).token  # type: ignore[union-attr]
        attestation = usa.ctx.trust.sign(
            Signed.ATTESTATION,
            payload(
                Attestation(
                    type="relay-attestation",
                    product_id=body["id"],
                    version=1,
                    digest=payload_digest(token),
                    originator="KOR",
                    hub="USA",
                    recipient="JPN",
                    consent_id=rule,
                    relayed_at=datetime.now(UTC),
                )
            ),
        )
        batch = {
            "messages": [
                message(MessageKind.ENVELOPE, token, attestation=attestation, consent=consent_token)
            ]
        }
        answer = net.federation_post(usa, "JPN", json.dumps(batch).encode())
    [result] = answer.json()["results"]
    assert (result["status"], result["error"]) == ("rejected", "PolicyDenied")
    assert f"consent {rule} from KOR was revoked" in result["reason"]
    assert net.held("JPN", body["id"]) is None
    net("KOR", "officer").post(f"/api/v1/consents/{other}/revoke")


def test_a_spoke_consents_only_for_its_own_products_and_within_the_ceiling(gated):
    """Issue case 4, and standing rules above a channel's ceiling."""
    net = gated
    rule = net.standing_rule("JPN", "KOR", MISSILE)
    jpn_product = net.publish("JPN", title="JPN's own report")
    net.wait_held("KOR", jpn_product)
    officer = net("KOR", "officer")
    with pytest.raises(InputInvalid, match="is JPN's; only its originator consents"):
        officer.post("/api/v1/consents", {"recipient": "JPN", "product_id": jpn_product})
    with pytest.raises(InputInvalid, match="above the USA–JPN channel's ceiling SECRET"):
        officer.post(
            "/api/v1/consents",
            {"recipient": "JPN", "topics": MISSILE, "max_classification": "TOP SECRET"},
        )
    with pytest.raises(InputInvalid, match="unknown classification 'secret'"):
        officer.post(
            "/api/v1/consents",
            {"recipient": "JPN", "topics": MISSILE, "max_classification": "secret"},
        )
    # Signed by KOR and sent to the hub by hand: the hub refuses it too.
    with net.runtime("KOR") as kor:
        grant = {
            "type": "consent",
            "id": str(uuid.uuid4()),
            "originator": "KOR",
            "hub": "USA",
            "recipient": "JPN",
            "product_id": jpn_product,
            "issued_at": iso(datetime.now(UTC)),
        }
        token = kor.ctx.trust.sign(Signed.CONSENT, grant)
        body = json.dumps({"messages": [message(MessageKind.CONSENT, token)]}).encode()
        [result] = net.federation_post(kor, "USA", body).json()["results"]
    assert result["status"] == "rejected"
    assert "KOR may consent only for its own products" in result["reason"]
    assert net.hub_consent(grant["id"]) is None
    net("JPN", "officer").post(f"/api/v1/consents/{rule}/revoke")


def test_rel_to_names_only_parties_of_the_arrangement(gated):
    """Issue case 5."""
    net = gated
    analyst = net("KOR")
    with pytest.raises(PolicyDenied) as refused:
        net.create("KOR", rel_to=["USA", "KOR", "GBR", "PRK"])
    assert set(refused.value.reasons) == {
        "REL TO names GBR, which is not a party to tisa-2014",
        "REL TO names PRK, which is not a party to tisa-2014",
    }
    problems = analyst.post(
        "/api/v1/products/check",
        {
            "title": "t",
            "classification": "SECRET",
            "rel_to": ["USA", "KOR", "GBR"],
            "topics": ["dprk.missile.launch"],
        },
    )["problems"]
    assert "REL TO names GBR, which is not a party to tisa-2014" in problems


def test_deliveries_only_of_versions_the_reader_may_see_and_no_oracle(gated):
    """Issue case 7: a reader cleared for v2 only sees v2's deliveries, and a product the
    reader may not see is not found, exactly as one that does not exist."""
    net = gated
    net.add_user("KOR", "conf", Role.ANALYST, "CONFIDENTIAL")
    product_id = net.publish("KOR", title="Secret at first", observations=[])
    net.wait_delivered("KOR", product_id, ("USA",))
    amended = net("KOR").post(
        f"/api/v1/products/{product_id}/amend",
        {
            "title": "Downgraded",
            "classification": "CONFIDENTIAL",
            "rel_to": ["USA", "KOR"],
            "topics": ["dprk.missile.launch"],
            "precedence": "ROUTINE",
        },
    )
    net.release("KOR", product_id, amended["version"])
    net.wait_delivered("KOR", product_id, ("USA",), version=2)
    low = net("KOR", "conf")
    seen = low.get(f"/api/v1/products/{product_id}/deliveries")["deliveries"]
    assert {d["version"] for d in seen} == {2}
    with pytest.raises(NotFound) as hidden:
        low.get(f"/api/v1/products/{product_id}/versions/1")
    with pytest.raises(NotFound) as unknown:
        low.get(f"/api/v1/products/{uuid.uuid4()}/versions/1")
    assert "clearance" not in hidden.value.reason
    assert "SECRET" not in hidden.value.reason
    assert type(hidden.value) is type(unknown.value)
    for path in ("/api/v1/status", "/metrics"):
        with pytest.raises(TisaError, match="403"):
            low.text(path) if path == "/metrics" else low.get(path)


def test_every_opening_verifies_the_stored_envelope_again(gated):
    """Issue case 8: a row altered behind the node's back is not listed, not read, not
    downloaded and not fused as if whole."""
    net = gated
    rule = net.standing_rule("KOR", "JPN", MISSILE)
    digest = _upload(net, "KOR", "site.jpg", gps_photo((320, 240)), "image/jpeg")
    product_id = net.publish("KOR", attachments=[digest], title="Altered at JPN later")
    net.wait_held("JPN", product_id)
    jpn = str(net.cluster.nodes["JPN"].root)
    proved = CliRunner().invoke(app, ["audit", "prove", "--dir", jpn, "--no-peers", product_id])
    assert proved.exit_code == 0, proved.output
    for claim in ("✓ KOR released", "✓ USA relayed v1 to JPN under consent", "✓ KOR consented"):
        assert claim in proved.output, proved.output
    with _store(net, "JPN") as db, db.begin() as conn:
        row = conn.execute(
            text("SELECT body FROM products WHERE product_id = :p"), {"p": product_id}
        ).scalar_one()
        body = json.loads(row) if isinstance(row, str) else row
        body["title"] = "Nothing happened"
        conn.execute(
            text("UPDATE products SET body = :b, title = 'Nothing happened' WHERE product_id = :p"),
            {"b": json.dumps(body), "p": product_id},
        )
    listed = net("JPN").get("/api/v1/products", params={"limit": 1000})["products"]
    assert product_id not in {p["id"] for p in listed}
    with pytest.raises(TisaError, match="stored content differs from what KOR signed"):
        net("JPN").get(f"/api/v1/products/{product_id}")
    with pytest.raises(TisaError, match="500"):
        net("JPN").text(f"/api/v1/products/{product_id}/versions/1/attachments/{digest}")
    for event in net("JPN").events():
        reports = net("JPN").event(event["id"])["reports"]
        assert product_id not in {r["product_id"] for r in reports}
    # `audit prove` asks the same verifier: the altered version proves nothing.
    disproved = CliRunner().invoke(app, ["audit", "prove", "--dir", jpn, "--no-peers", product_id])
    assert disproved.exit_code == 1, disproved.output
    assert "✗ KOR released" in disproved.output
    assert "stored content differs from what KOR signed" in " ".join(disproved.output.split())
    net("KOR", "officer").post(f"/api/v1/consents/{rule}/revoke")


def test_status_asks_the_running_node_what_it_says_of_itself(gated):
    net = gated
    usa = str(net.cluster.nodes["USA"].root)
    net.wait_for(lambda: _ready(net, "USA")["status"] == "ok", "USA ready")
    shown = CliRunner().invoke(app, ["status", "--dir", usa])
    assert shown.exit_code == 0, shown.output
    assert "node ready" in shown.output
    for check in ("database", "tasks", "disk", "checkpoint", "peers", "integrity"):
        assert f"✓ {check}:" in shown.output, shown.output


def test_a_token_whose_kid_names_another_key_is_refused(gated):
    """Issue case 10: signed with KOR's key, labelled as JPN's: the kid must name the key
    that verifies, so the hub refuses it and stores nothing."""
    net = gated
    kor = net.cluster.nodes["KOR"].settings.paths
    body = net.manifest("KOR")
    token = jws.sign(
        body,
        SigningKey.from_pem(kor.signing_key.read_bytes()),
        kid=net.kid("JPN"),
        typ=Signed.PRODUCT.value,
    )
    with net.runtime("KOR") as rt:
        [result] = net.federation_post(rt, "USA", net.batch(token)).json()["results"]
    assert (result["status"], result["error"]) == ("rejected", "SignatureInvalid")
    assert f"JWS kid is '{net.kid('JPN')}', not the pinned '{net.kid('KOR')}'" in result["reason"]
    assert net.held("USA", body["id"]) is None


def test_the_cli_changes_channels_through_the_service(gated):
    """Issue case 8: `tisa channel` asks the same service as the API, which refuses a
    channel that does not join this node."""
    net = gated
    kor = str(net.cluster.nodes["KOR"].root)
    refused = CliRunner().invoke(app, ["channel", "suspend", "--dir", kor, "USA-JPN"])
    assert refused.exit_code != 0
    assert "channel USA–JPN does not join KOR" in str(refused.exception) + refused.output
