"""The wire between nodes: pinned mutual TLS, signed transmissions, signed manifests,
idempotent receiving, channel suspension, and what an administrator watches (/metrics,
/healthz). Requests are crafted by hand with a node's own keys, as a peer (or an impostor)
would send them."""

from __future__ import annotations

import contextlib
import socket
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from harness.factories import minted_tls_identity
from prometheus_client.parser import text_string_to_metric_families

from tisa.crypto import jws
from tisa.crypto.certs import make_tls_identity
from tisa.crypto.keys import SigningKey
from tisa.crypto.tls import client_context
from tisa.crypto.trust import Signed
from tisa.domain.canonical import sha256_digest
from tisa.relay.messages import payload
from tisa.relay.transmission import Transmission

pytestmark = pytest.mark.e2e

REFUSED_AT_HANDSHAKE = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)


def _transmission(trust, recipient, body, **claims):
    """A transmission header payload for `body`, with `claims` overriding what is true."""
    return payload(
        Transmission(
            **{
                "type": "transmission",
                "sender": trust.party,
                "recipient": recipient,
                "arrangement": trust.arrangement.digest,
                "body": sha256_digest(body),
                "sent_at": datetime.now(UTC),
                **claims,
            }
        )
    )


def _envelope(net, rt, **fields):
    """A genuine KOR envelope (signed with KOR's own key) for a new product; (id, token)."""
    manifest = net.manifest("KOR", **fields)
    return manifest["id"], rt.ctx.trust.sign(Signed.PRODUCT, manifest)


def _metrics(client):
    """The node's /metrics (API port, an admin signed in): its text, and
    {(name, labels): value}."""
    text = client.text("/metrics")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def _at(name, **labels):
    """The key of one sample in what `_metrics` returns."""
    return (name, frozenset(labels.items()))


# -- TLS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spoke", "other"), [("KOR", "JPN"), ("JPN", "KOR")])
def test_spoke_to_spoke_is_refused_at_the_tls_handshake(network, spoke, other):
    net = network
    with net.runtime(spoke) as rt:
        # Control: the same identity is welcome at the hub.
        hub = net.cluster.nodes["USA"].settings.federation_url
        with httpx.Client(base_url=hub, verify=rt.client_context_for("USA"), timeout=10) as http:
            assert http.get("/healthz/live").json() == {"status": "ok", "party": "USA"}
        url = net.cluster.nodes[other].settings.federation_url
        with (
            httpx.Client(base_url=url, verify=rt.client_context_for(other), timeout=10) as http,
            pytest.raises(REFUSED_AT_HANDSHAKE),
        ):
            http.get("/healthz")


def test_unpinned_self_signed_client_is_refused_by_the_hub(network, tmp_path):
    net = network
    key_pem, cert_pem = make_tls_identity("KOR", now=datetime.now(UTC))
    (tmp_path / "key.pem").write_bytes(key_pem)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    usa = net.cluster.nodes["USA"]
    context = client_context(
        tmp_path / "cert.pem", tmp_path / "key.pem", [usa.cert_pem], on_refused=_ignore
    )
    with (
        httpx.Client(base_url=usa.settings.federation_url, verify=context, timeout=10) as http,
        pytest.raises(REFUSED_AT_HANDSHAKE),
    ):
        http.get("/healthz")


def _ignore(port, reason):
    """An `on_refused` for clients whose refusals the test does not count."""


def _tls_refusals(net, party):
    """`party`'s refused handshakes {(port, reason): count}, from its /metrics read as its
    admin (the bearer token is sent whether or not the endpoint asks for it)."""
    admin = net(party, "admin")
    response = admin._http.get("/metrics", headers={"Authorization": f"Bearer {admin.token}"})
    response.raise_for_status()
    return {
        (sample.labels["port"], sample.labels["reason"]): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "tisa_tls_handshakes_refused_total"
    }


def test_certificate_minted_with_a_nodes_tls_key_is_refused_logged_and_counted(network, tmp_path):
    net = network
    kor, usa = net.cluster.nodes["KOR"], net.cluster.nodes["USA"]
    # What whoever holds KOR's TLS key can make: a certificate for another name and key.
    key_pem, cert_pem = minted_tls_identity(
        kor.settings.paths.tls_key.read_bytes(), kor.cert_pem, "JPN"
    )
    (tmp_path / "key.pem").write_bytes(key_pem)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    context = client_context(
        tmp_path / "cert.pem", tmp_path / "key.pem", [usa.cert_pem], on_refused=_ignore
    )
    before = _tls_refusals(net, "USA")
    raw = socket.create_connection(("127.0.0.1", usa.settings.federation_port), timeout=10)
    client_port = raw.getsockname()[1]
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        # No answer: the hub refused before reading the request (an alert, a reset or EOF).
        with contextlib.suppress(OSError):
            assert conn.recv(1024) == b""
    after = _tls_refusals(net, "USA")
    assert after[("federation", "untrusted")] == before[("federation", "untrusted")] + 1
    assert {k: v for k, v in after.items() if k != ("federation", "untrusted")} == {
        k: v for k, v in before.items() if k != ("federation", "untrusted")
    }
    line = net.wait_for(
        lambda: next(
            (
                line
                for line in usa.log.read_text(encoding="utf-8").splitlines()
                if f"peer=127.0.0.1:{client_port} " in line
            ),
            None,
        ),
        "the hub logging the refused handshake",
    )
    assert "WARNING tisa.crypto.tls: TLS handshake refused: port=federation" in line
    assert "reason=untrusted" in line


# -- transmission headers --------------------------------------------------------------------


def test_header_signed_by_an_unpinned_key_is_refused_and_nothing_stored(network):
    net = network
    with net.runtime("KOR") as rt:
        product_id, token = _envelope(net, rt)
        body = net.batch(token)
        header = jws.sign(
            _transmission(rt.ctx.trust, "USA", body),
            SigningKey.generate(),
            kid=rt.ctx.trust.kid("KOR"),
            typ=Signed.TRANSMISSION.value,
        )
        answer = net.federation_post(rt, "USA", body, header)
        assert answer.status_code == 422
        assert answer.json()["error"] == "SignatureInvalid"
        missing = net.federation_post(rt, "USA", body, header=None)
        assert missing.status_code == 422
        assert missing.json()["error"] == "SignatureInvalid"
    assert net.held("USA", product_id) is None
    assert net.held("JPN", product_id) is None


def test_transmission_under_another_arrangement_is_refused(network):
    net = network
    with net.runtime("KOR") as rt:
        product_id, token = _envelope(net, rt)
        body = net.batch(token)
        other = sha256_digest(b"another arrangement")
        assert other != net.arrangement.digest
        header = rt.ctx.trust.sign(
            Signed.TRANSMISSION, _transmission(rt.ctx.trust, "USA", body, arrangement=other)
        )
        answer = net.federation_post(rt, "USA", body, header)
        assert answer.status_code == 409
        assert answer.json()["error"] == "PeerRefused"
        assert other in answer.json()["detail"]
        # Addressed to another party: refused the same way.
        header = rt.ctx.trust.sign(Signed.TRANSMISSION, _transmission(rt.ctx.trust, "JPN", body))
        assert net.federation_post(rt, "USA", body, header).status_code == 409
    assert net.held("USA", product_id) is None


def test_body_altered_after_signing_is_refused(network):
    net = network
    with net.runtime("KOR") as rt:
        signed_id, signed_token = _envelope(net, rt)
        sent_id, sent_token = _envelope(net, rt)
        header = rt.ctx.trust.sign(
            Signed.TRANSMISSION, _transmission(rt.ctx.trust, "USA", net.batch(signed_token))
        )
        answer = net.federation_post(rt, "USA", net.batch(sent_token), header)
        assert answer.status_code == 422
        assert "body" in answer.json()["detail"]
        # One byte more (whitespace, the JSON unchanged) is already another body.
        answer = net.federation_post(rt, "USA", net.batch(signed_token) + b" ", header)
        assert answer.status_code == 422
    assert net.held("USA", signed_id) is None
    assert net.held("USA", sent_id) is None


# -- what the batch carries ------------------------------------------------------------------


def test_forged_manifest_in_a_valid_batch_is_rejected_for_good(network):
    net = network
    with net.runtime("KOR") as rt:
        manifest = net.manifest("KOR", title="Fabricated launch report")
        forged = jws.sign(
            manifest, SigningKey.generate(), kid=rt.ctx.trust.kid("KOR"), typ=Signed.PRODUCT.value
        )
        genuine_id, genuine = _envelope(net, rt, rel_to=["USA", "KOR"])
        answer = net.federation_post(rt, "USA", net.batch(forged, genuine))
    assert answer.status_code == 200
    rejected, stored = answer.json()["results"]
    assert rejected["status"] == "rejected"
    assert rejected["permanent"] is True
    assert rejected["error"] == "SignatureInvalid"
    assert stored == {"status": "stored"}
    assert net.held("USA", manifest["id"]) is None
    assert net.held("USA", genuine_id) is not None
    refusals = net.audit("USA", action="message.refuse")
    assert any(e["detail"]["error"] == "SignatureInvalid" for e in refusals)


def test_replayed_envelope_is_a_duplicate_and_stored_once(network):
    net = network
    with net.runtime("KOR") as rt:
        product_id, token = _envelope(net, rt, rel_to=["USA", "KOR"])
        first = net.federation_post(rt, "USA", net.batch(token))
        second = net.federation_post(rt, "USA", net.batch(token))
        both = net.federation_post(rt, "USA", net.batch(token, token))
    assert first.json()["results"] == [{"status": "stored"}]
    assert second.json()["results"] == [{"status": "duplicate"}]
    assert both.json()["results"] == [{"status": "duplicate"}, {"status": "duplicate"}]
    listed = net("USA").get("/api/v1/products", params={"limit": 1000})["products"]
    assert [p["version"] for p in listed if p["id"] == product_id] == [1]
    assert net("USA").get(f"/api/v1/products/{product_id}")["versions"] == [1]
    received = net.audit("USA", product_id=product_id, action="product.receive")
    assert len(received) == 1


def test_same_version_with_other_content_is_a_conflict(network):
    net = network
    with net.runtime("KOR") as rt:
        manifest = net.manifest("KOR", rel_to=["USA", "KOR"])
        first = rt.ctx.trust.sign(Signed.PRODUCT, manifest)
        changed = rt.ctx.trust.sign(Signed.PRODUCT, {**manifest, "text": "changed afterwards"})
        answer = net.federation_post(rt, "USA", net.batch(first, changed))
    stored, conflict = answer.json()["results"]
    assert stored == {"status": "stored"}
    assert (conflict["status"], conflict["error"], conflict["permanent"]) == (
        "rejected",
        "Conflict",
        True,
    )
    assert net("USA").get(f"/api/v1/products/{manifest['id']}")["text"] == manifest["text"]


# -- channels --------------------------------------------------------------------------------


def test_suspended_channel_holds_deliveries_and_resuming_delivers_each_once(make_network):
    net = make_network()
    admin = net("USA", "admin")
    status = admin.post("/api/v1/channels/USA-JPN/suspend")
    states = {c["peer"]: c["state"] for c in status["channels"]}
    assert states == {"KOR": "up", "JPN": "suspended"}

    from_kor = [net.publish("KOR", title=f"KOR launch {i}") for i in range(3)]
    from_kor += [net.publish("KOR", precedence="ROUTINE", observations=[]) for _ in range(2)]
    from_usa = net.publish("USA", precedence="IMMEDIATE", observations=[])
    for product_id in from_kor:
        net.wait_held("USA", product_id)
    net.wait_held("KOR", from_usa)

    def queued_for_jpn():
        channel = next(c for c in admin.get("/api/v1/status")["channels"] if c["peer"] == "JPN")
        return channel["queue"] if sum(channel["queue"].values()) >= 6 else None

    queue = net.wait_for(queued_for_jpn, "USA queueing six envelopes for JPN")
    assert queue["FLASH"] == 3
    assert queue["IMMEDIATE"] == 1
    assert queue["ROUTINE"] == 2
    _, samples = _metrics(admin)
    assert samples[_at("tisa_outbox_depth", peer="JPN", lane="FLASH")] == 3
    assert samples[_at("tisa_outbox_depth", peer="JPN", lane="ROUTINE")] == 2
    # KOR and USA took everything; JPN holds none of it, and its own traffic cannot reach USA.
    net.wait_delivered("USA", from_usa, ("KOR",))
    for product_id in [*from_kor, from_usa]:
        assert net.held("JPN", product_id) is None
        assert net.delivery("USA", product_id, "JPN")["state"] == "queued"  # type: ignore[index]
    from_jpn = net.publish("JPN")
    net.wait_for(
        lambda: (d := net.delivery("JPN", from_jpn, "USA")) and d["state"] == "queued" and d,
        "JPN queueing its report for USA",
    )
    assert net.held("USA", from_jpn) is None

    status = admin.post("/api/v1/channels/USA-JPN/resume")
    assert {c["peer"]: c["state"] for c in status["channels"]}["JPN"] == "up"

    everything = [*from_kor, from_usa]
    for product_id in everything:
        net.wait_held("JPN", product_id)
    net.wait_held("USA", from_jpn, timeout=60)
    net.wait_held("KOR", from_jpn)
    for product_id in from_kor:
        net.wait_delivered("KOR", product_id, ("USA", "JPN"))
    net.wait_delivered("USA", from_usa, ("KOR", "JPN"))

    listed = net("JPN").get("/api/v1/products", params={"limit": 1000})["products"]
    counts = Counter(p["id"] for p in listed)
    assert {pid: counts[pid] for pid in everything} == dict.fromkeys(everything, 1)
    receives = Counter(e["product_id"] for e in net.audit("JPN", action="product.receive"))
    assert {pid: receives[pid] for pid in everything} == dict.fromkeys(everything, 1)
    net.wait_for(
        lambda: not any(sum(c["queue"].values()) for c in admin.get("/api/v1/status")["channels"]),
        "USA's queues draining",
    )


# -- what an administrator watches ------------------------------------------------------------


def test_metrics_expose_queues_sends_denials_and_latency(network):
    net = network
    product_id = net.publish("KOR")
    net.wait_held("JPN", product_id)
    net.wait_delivered("KOR", product_id, ("USA", "JPN"))
    usa = net("USA", "admin")
    _, before = _metrics(usa)
    scope = _at("tisa_policy_denials_total", rule="scope")

    # An out-of-scope product, genuinely signed by KOR, is refused at the hub (rule 2).
    with net.runtime("KOR") as rt:
        out_id, token = _envelope(net, rt, topics=["prc.navy.exercise"])
        answer = net.federation_post(rt, "USA", net.batch(token))
    [result] = answer.json()["results"]
    assert (result["status"], result["error"]) == ("rejected", "PolicyDenied")
    assert "prc.navy.exercise" in result["reason"]
    assert net.held("USA", out_id) is None

    text, after = _metrics(usa)
    for family, kind in (
        ("tisa_outbox_depth", "gauge"),
        ("tisa_messages_sent_total", "counter"),
        ("tisa_policy_denials_total", "counter"),
        ("tisa_delivery_latency_seconds", "histogram"),
    ):
        assert f"# TYPE {family} {kind}\n" in text, family
    assert after[scope] == before.get(scope, 0) + 1
    assert after[_at("tisa_messages_sent_total", peer="JPN", kind="envelope", outcome="sent")] >= 1
    assert after[_at("tisa_delivery_latency_seconds_count", peer="JPN", lane="FLASH")] >= 1
    assert _at("tisa_delivery_latency_seconds_bucket", peer="JPN", lane="FLASH", le="+Inf") in after
    _, at_kor = _metrics(net("KOR", "admin"))
    assert at_kor[_at("tisa_messages_sent_total", peer="USA", kind="envelope", outcome="sent")] >= 1


CHECKS = {"database", "tasks", "disk", "integrity", "checkpoint", "peers"}


@pytest.mark.parametrize("party", ["USA", "KOR", "JPN"])
def test_healthz_answers_on_both_ports(network, party):
    net = network
    assert net(party)._http.get("/healthz/live").json() == {"status": "ok", "party": party}
    ready = net(party)._http.get("/healthz/ready")
    report = ready.json()
    assert (report["party"], set(report["checks"])) == (party, CHECKS)
    assert ready.status_code == (200 if report["status"] == "ok" else 503)
    for name in ("database", "tasks", "disk", "integrity"):
        assert report["checks"][name]["ok"], report
    # Every sender lane, each peer's live track link and track catch-up, the checkpointer, the
    # heartbeat, the live feed, the sweeper of abandoned partial downloads and the missile
    # warnings run under the supervisor.
    peers = 2 if party == "USA" else 1
    assert report["checks"]["tasks"]["detail"] == f"{4 * peers + 2 * peers + 5} running"
    peer = "KOR" if party == "USA" else "USA"
    url = net.cluster.nodes[party].settings.federation_url
    with (
        net.runtime(peer) as rt,
        httpx.Client(base_url=url, verify=rt.client_context_for(party), timeout=10) as http,
    ):
        answer = http.get("/healthz")
    assert answer.json()["checks"].keys() == CHECKS
